"""The training loop: one file, read top to bottom.

setup (seed, adapter, optimizer, schedule, resume)  ->  loop (accumulate, clip, step, log)
->  periodic eval loss + early stopping  ->  checkpoints  ->  the adapter with the best eval loss.

The loss of a step and of an eval pass is :mod:`afinar.train.loss`. With
``train.packing`` a step's rows are packed into rows of ``max_seq_len`` tokens (documents isolated,
:mod:`afinar.data.pack`): the same examples and target tokens, so the same gradient, with less
padding. See :mod:`afinar.train.speed` for the rest of what makes a step fast.

Under torchrun the same loop runs on every rank with the model sharded by FSDP2; each rank trains
its share of a step and the update is the one a single process makes with the same global batch
(:mod:`afinar.train.distributed` says how).
"""

from __future__ import annotations

import json
import math
import random
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np
import torch

from afinar.atomic import write_text
from afinar.config import Recipe
from afinar.data.batch import collate
from afinar.data.render import LabeledRow, PairRow, Rendered
from afinar.errors import AfinarError
from afinar.model import adapters
from afinar.model.adapters import attach_adapter, causal_lm_of, trainable_parameters
from afinar.model.precision import autocast_for
from afinar.train import distributed
from afinar.train.batches import (
    Stream,
    context_length,
    cut,
    rank_batches,
    step_batches,
)
from afinar.train.checkpoint import (
    latest_checkpoint,
    load_checkpoint,
    read_state,
    rng_state,
    save_checkpoint,
    set_rng_state,
)
from afinar.train.fused import fused_layers
from afinar.train.interrupt import graceful_stop
from afinar.train.loss import TargetLoss, accumulate_step, eval_loss, target_loss_sum
from afinar.train.memory import OOM_ERRORS, OomLadder
from afinar.train.optim import build_optimizer
from afinar.train.preference import WITH_REFERENCE, PreferenceLoss, with_reference
from afinar.train.progress import TrainProgress
from afinar.train.replay import replay_kl_sum
from afinar.train.speed import (
    compiled_layers,
    matmul_peak,
    peak_memory_gb,
    step_flops,
    store_frozen_in_bf16,
)

__all__ = ["LoopState", "TrainResult", "train"]


@dataclass
class TrainResult:
    steps: int
    total_steps: int
    epochs: float
    train_loss: float
    eval_loss: float | None
    best_eval_loss: float | None
    tokens: int
    seconds: float
    stopped_early: bool
    interrupted_at: int | None
    precision: str

    @property
    def tokens_per_s(self) -> float:
        return self.tokens / self.seconds if self.seconds else 0.0


# ---------------------------------------------------------------- setup helpers


def _lr_lambda(recipe: Recipe, total_steps: int):
    o = recipe.optim

    def factor(step: int) -> float:
        if step < o.warmup_steps:
            return (step + 1) / (o.warmup_steps + 1)
        if o.schedule == "constant":
            return 1.0
        progress = (step - o.warmup_steps) / max(1, total_steps - o.warmup_steps)
        return o.min_lr_ratio + (1 - o.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))

    return factor


def _grad_accum(accum: int, saved_world: int, world_size: int) -> int:
    """Micro-batches per rank and step that keep the global batch of a run saved on
    ``saved_world`` processes with ``accum`` (a run saved on 2 resumes on 1 with twice the accum)."""
    micro_batches = accum * saved_world
    if micro_batches % world_size:
        raise AfinarError(
            f"this run takes {micro_batches} micro-batches per step ({saved_world} processes x grad_accum {accum}),"
            f" which {world_size} processes cannot share evenly; resume on a world size that divides {micro_batches}"
        )
    return micro_batches // world_size


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _clip(params: dict[str, torch.Tensor], max_norm: float | None) -> float | None:
    """Clip the gradients' global norm (over all ranks' shards); returns the norm before."""
    if not max_norm:
        return None
    norm = torch.nn.utils.clip_grad_norm_(list(params.values()), max_norm)
    return (norm.full_tensor() if hasattr(norm, "full_tensor") else norm).item()


def _replay_step(model, rows: list, cfg, pad_id: int, autocast) -> float:
    """Backpropagate the replay term of one step (:mod:`afinar.train.replay`), a mean per replay
    token times ``cfg.weight``; returns that mean."""
    with autocast():
        if cfg.loss == "kl+sft":  # each a mean per its own tokens, summed
            kl_sum, n, ce_sum, n_ce = replay_kl_sum(model, rows, pad_id, with_sft=True)
            loss = kl_sum / max(n, 1) + ce_sum / max(n_ce, 1)
        else:
            if cfg.loss == "kl":
                loss_sum, n = replay_kl_sum(model, rows, pad_id)
            else:  # plain replay: the rows' own labels, like a domain micro-batch
                loss_sum, n = target_loss_sum(model, collate(rows, pad_id))
            loss = loss_sum / max(n, 1)
    (loss * cfg.weight).backward()
    return loss.item()


def _check_objective(objective: str, rows: list) -> None:
    """Each objective trains on its own kind of row (conversations, pairs, labeled answers)."""
    kinds = {"sft": (Rendered, "conversations"), "kto": (LabeledRow, "labeled answers (prompt/completion/label)")}
    kind, name = kinds.get(objective, (PairRow, "preference pairs (prompt/chosen/rejected)"))
    wrong = next((r for r in rows if not isinstance(r, kind)), None)
    if wrong is not None:
        raise AfinarError(
            f"{wrong.source}: train.objective {objective} trains on {name}, and this row is not one; set "
            "train.objective to match the data (sft: conversations; dpo, ipo, orpo: pairs; kto: labeled answers)"
        )


def _append_metrics(path: Path, record: dict) -> None:
    with path.open("a") as f:
        f.write(json.dumps(record) + "\n")


def _truncate_metrics(path: Path, step: int) -> None:
    """Drop metric lines past ``step`` (written after the checkpoint a run resumes from)."""
    if path.exists():
        keep = [line for line in path.read_text().splitlines() if json.loads(line)["step"] <= step]
        write_text(path, "".join(line + "\n" for line in keep))


# ---------------------------------------------------------------- the run's phases


@dataclass
class LoopState:
    """What a checkpoint keeps of the loop besides weights, optimizer, schedule and data position."""

    step: int = 0
    best_eval: float | None = None
    bad_evals: int = 0
    tokens: int = 0
    seconds: float = 0.0
    last_loss: float = float("nan")
    rung: dict = field(default_factory=dict)
    """The OOM ladder's rung (:class:`~afinar.train.memory.OomLadder` fills and climbs it)."""

    def to_dict(self) -> dict:
        """Flat, as checkpoints have always held it (the rung's keys beside the counters)."""
        out = asdict(self)
        return out | out.pop("rung")

    @classmethod
    def from_dict(cls, saved: dict) -> LoopState:
        counters = {f.name for f in fields(cls)} - {"rung"}
        return cls(
            **{k: v for k, v in saved.items() if k in counters},
            rung={k: v for k, v in saved.items() if k not in counters},
        )


class _Run:
    """One training run between its phases: ``__init__`` sets it up (seed, reference, adapter,
    sharding, optimizer, schedule, data streams, resume); :meth:`step` trains one optimizer step;
    :meth:`evaluate`, :meth:`checkpoint` and :meth:`end` are the rest of the loop."""

    def __init__(self, model, tokenizer, train_rows, eval_rows, recipe: Recipe, run_dir: Path, resume: bool, replay):
        self.recipe, self.run_dir, self.eval_rows = recipe, run_dir, eval_rows
        self.world = distributed.world()
        self.device = self.world.device
        self.precision, self.autocast = autocast_for(recipe.train.precision, self.device)
        self.pad_id = tokenizer.pad_token_id
        self.metrics_path = run_dir / "metrics.jsonl"
        _refuse_unsupported(recipe, self.world, replay)
        _check_objective(recipe.train.objective, train_rows)
        _seed_everything(recipe.train.seed)
        self._setup_model(model, [*train_rows, *eval_rows])
        self._setup_data(train_rows, replay)
        self.ckpt_path = latest_checkpoint(run_dir) if resume else None
        if resume and self.ckpt_path is None:
            raise AfinarError(f"{run_dir}: no checkpoint to resume from (set train.checkpoint_interval)")
        self._setup_optimizer()
        self.state = LoopState()
        if resume:
            self._resume()
        elif self.world.main and self.metrics_path.exists():
            self.metrics_path.unlink()
        t = recipe.train
        self.ladder = OomLadder(self.state.rung, t.micro_batch_size, recipe.data.max_seq_len, recipe.memory, self.model)

    # --- setup

    def _setup_model(self, model, rows: list) -> None:
        """The reference log-probabilities (preference objectives that have one), the adapter, the
        loss module (sharded under torchrun; frozen weights in bf16 otherwise)."""
        t = self.recipe.train
        if t.objective in WITH_REFERENCE:  # the model before the adapter is the reference
            with_reference(model.to(self.device), rows, self.pad_id, self.autocast)
        self.model = attach_adapter(model, self.recipe.adapter).to(self.device)
        self.preference = t.objective != "sft"
        self.step_loss = (
            PreferenceLoss(self.model, t.objective, t.beta, t.kto_weights, t.rpo_alpha)
            if self.preference
            else TargetLoss(self.model)
        )
        self.layers = causal_lm_of(self.model).model.layers
        if self.world.active:
            distributed.shard(self.step_loss, self.layers, bf16=self.precision == "bf16")
        elif self.precision == "bf16":
            store_frozen_in_bf16(self.model)
        self.params = trainable_parameters(self.model)
        self.config = causal_lm_of(self.model).config
        self.peak = matmul_peak(device=self.device) * self.world.size

    def _setup_data(self, train_rows: list, replay: list | None) -> None:
        t, r = self.recipe.train, self.recipe.replay
        # Packing draws micro-batches without length grouping: short and long rows then share bins.
        self.group = 1 if t.packing else 16
        self.train_rows, self.replay_rows = train_rows, replay
        self.stream = Stream(train_rows, t.micro_batch_size, t.seed, group=self.group)
        self.replay_stream = Stream(replay, r.per_step, r.seed, group=1) if replay else None

    def _setup_optimizer(self) -> None:
        """AdamW and the schedule over the run's steps; the micro-batches per rank that keep the
        global batch of the world size a resumed run was saved with."""
        t = self.recipe.train
        self.optimizer = build_optimizer(self.params, self.recipe.optim, self.config.num_hidden_layers)
        saved_world = read_state(self.ckpt_path).get("world_size", 1) if self.ckpt_path else self.world.size
        self.accum = _grad_accum(t.grad_accum, saved_world, self.world.size)
        per_epoch = self.stream.per_epoch / (self.accum * self.world.size)
        self.total_steps = t.max_steps or max(1, math.ceil(t.epochs * per_epoch))
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, _lr_lambda(self.recipe, self.total_steps))

    def _resume(self) -> None:
        """Weights, optimizer, schedule, counters, data positions and RNG as the checkpoint left them."""
        t, r = self.recipe.train, self.recipe.replay
        ckpt = load_checkpoint(self.ckpt_path, self.step_loss, self.optimizer, self.world)
        self.scheduler.load_state_dict(ckpt["scheduler"])
        self.state = LoopState.from_dict(ckpt["state"])
        self.stream = Stream(self.train_rows, t.micro_batch_size, t.seed, ckpt["epoch"], ckpt["index"], self.group)
        if self.replay_stream:
            at = ckpt["replay"]
            self.replay_stream = Stream(self.replay_rows, r.per_step, r.seed, at["epoch"], at["index"], 1)
        set_rng_state(ckpt["rng"])
        if self.world.main:
            _truncate_metrics(self.metrics_path, self.state.step)

    # --- the loop's phases

    def step(self, on_event=None) -> tuple[dict, dict]:
        """One optimizer step over the next global batch; returns its metrics record (logged) and
        the preference objectives' reward statistics (empty for SFT)."""
        start = time.perf_counter()
        # The global step: accum micro-batches per rank; this rank trains its share.
        shares = [[r for _ in range(self.accum) for r in self.stream.take()] for _ in range(self.world.size)]
        general = self.replay_stream.take() if self.replay_stream else []
        rows, loss, n_rows, n_targets, replay_loss = self._accumulate(shares, general, on_event)
        (loss,) = self.world.sum(loss)
        grad_norm = _clip(self.params, self.recipe.optim.max_grad_norm)
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)

        rewards = self.step_loss.take_stats(self.world) if self.preference else {}
        tokens = sum(len(r.input_ids) for r in rows)
        elapsed = time.perf_counter() - start
        flops = step_flops(self.config, tokens, sum(r.n_targets for r in rows), context_length(rows))
        s = self.state
        s.step, s.tokens, s.seconds, s.last_loss = s.step + 1, s.tokens + tokens, s.seconds + elapsed, loss
        record = {
            "step": s.step,
            "epoch": round(self.stream.epochs_done, 4),
            "loss": loss,
            "lr": self.scheduler.get_last_lr()[0],
            "grad_norm": grad_norm,
            "target_tokens": n_targets,
            "tokens": tokens,
            "tokens_per_s": tokens / elapsed,
            "examples": len(rows),
            "rows": n_rows,
            "mfu": flops / elapsed / self.peak,
            "peak_mem_gb": round(peak_memory_gb(self.device), 3),
        }
        record |= ({"replay_loss": replay_loss} if general else {}) | rewards
        self.log(record)
        return record, rewards

    def _accumulate(self, shares: list[list], general: list, on_event):
        """Forward and backward of this rank's share of the step (and the replay rows), on the OOM
        ladder: after an out-of-memory error the same step again, one rung down, until it fits.
        Returns the step's rows, this rank's share of the mean loss, the rows forwarded, the
        step's target count and the replay term."""
        t, ladder = self.recipe.train, self.ladder
        rng = rng_state()
        while True:
            try:
                ladder.before_step(self.state.step + 1)
                distributed.fault_check(self.world, self.state.step + 1)
                if ladder.seq < self.recipe.data.max_seq_len:
                    shares = [cut(rows, ladder.seq) for rows in shares]
                micro, n_rows, n_targets = rank_batches(
                    shares,
                    self.world.rank,
                    lambda rs: step_batches(rs, self.pad_id, t.packing, ladder.seq, ladder.rows),
                )
                micro = [{k: v.to(self.device) for k, v in mb.items()} for mb in micro]
                if self.preference:
                    self.step_loss.take_stats()  # what an attempt the OOM ladder undid saw is not this step's
                loss, _ = accumulate_step(
                    self.step_loss, micro, self.autocast, ladder.after_forward, total=n_targets, scale=self.world.size
                )
                replay_loss = (
                    _replay_step(self.model, general, self.recipe.replay, self.pad_id, self.autocast)
                    if general
                    else None
                )
                return [r for share in shares for r in share], loss, n_rows, n_targets, replay_loss
            except OOM_ERRORS as err:
                self.optimizer.zero_grad(set_to_none=True)
                set_rng_state(rng)
                event = ladder.climb(self.state.step + 1, err)
                self.log(event)
                if on_event and self.world.main:
                    on_event("train.oom", event)

    def evaluate(self) -> float | None:
        """The eval rows' loss (logged, with reward statistics for preference objectives); the
        adapter is saved when it is the best so far."""
        if not self.eval_rows:
            return None
        t = self.recipe.train
        loss = eval_loss(
            self.step_loss, self.eval_rows, t.micro_batch_size * 2, self.pad_id, self.device, self.autocast, self.world
        )
        rewards = {f"eval_{k}": v for k, v in self.step_loss.take_stats(self.world).items()} if self.preference else {}
        self.log({"step": self.state.step, "eval_loss": loss} | rewards)
        if self.state.best_eval is None or loss < self.state.best_eval:
            self.state.best_eval, self.state.bad_evals = loss, 0
            self.save_adapter()
        else:
            self.state.bad_evals += 1
        return loss

    def checkpoint(self) -> None:
        position = {"epoch": self.stream.epoch, "index": self.stream.index}
        if self.replay_stream:
            position["replay"] = {"epoch": self.replay_stream.epoch, "index": self.replay_stream.index}
        extra = {"scheduler": self.scheduler.state_dict(), "state": self.state.to_dict(), "world_size": self.world.size}
        save_checkpoint(self.run_dir, self.state.step, self.step_loss, self.optimizer, extra | position, self.world)

    def save_adapter(self) -> None:
        weights = distributed.full_tensors(self.params)  # every rank takes part in the gather
        if self.world.main:
            adapters.save_adapter(self.model, self.run_dir / "adapter", weights)

    def end(self, stopped_early: bool, interrupted_at: int | None) -> TrainResult:
        """The last eval, and the best adapter back into the model (unless the run was stopped to
        be resumed)."""
        final_eval = None
        if interrupted_at is None:
            final_eval = self.evaluate() if not stopped_early else None
            if not self.eval_rows:
                self.save_adapter()
            elif not self.world.active:  # a sharded model keeps its last weights; the best are on disk
                adapters.load_weights(self.model, self.run_dir / "adapter")
        self.model.eval()
        s = self.state
        return TrainResult(
            steps=s.step,
            total_steps=self.total_steps,
            epochs=round(self.stream.epochs_done, 3),
            train_loss=s.last_loss,
            eval_loss=final_eval,
            best_eval_loss=s.best_eval,
            tokens=s.tokens,
            seconds=s.seconds,
            stopped_early=stopped_early,
            interrupted_at=interrupted_at,
            precision=self.precision,
        )

    def log(self, record: dict) -> None:
        if self.world.main:
            _append_metrics(self.metrics_path, record)


def _refuse_unsupported(recipe: Recipe, world: distributed.World, replay: list | None) -> None:
    """What a distributed run cannot do yet, refused before anything is loaded."""
    if not world.active:
        return
    if recipe.memory.quantize != "none":
        raise AfinarError(
            f"memory.quantize: {recipe.memory.quantize} is not supported with --nproc yet (FSDP2 cannot shard"
            " bitsandbytes weights); train it on one process, or shard a bf16 base instead"
        )
    if recipe.train.compile:
        raise AfinarError(f"train.compile works on one process; set it to false for {world.size} processes")
    if replay:
        raise AfinarError(f"replay works on one process; set replay.enabled to false for {world.size} processes")


def _due(interval: int | None, step: int) -> bool:
    return bool(interval) and step % interval == 0


# ---------------------------------------------------------------- the loop


def train(
    model,
    tokenizer,
    train_rows: list[Rendered],
    eval_rows: list[Rendered],
    recipe: Recipe,
    run_dir: Path,
    *,
    resume: bool = False,
    stop_at_step: int | None = None,
    show_progress: bool = True,
    on_event=None,
    replay: list | None = None,
):
    """Fine-tune ``model`` with a fresh adapter; write metrics, checkpoints and ``adapter/``.

    Args:
        resume: continue from the newest checkpoint in ``run_dir`` (exactly, as if never stopped).
        stop_at_step: save a checkpoint after this optimizer step and return, as a preemption would.
            Ctrl-C or SIGTERM does the same after the step in progress.
        on_event: called as ``on_event(action, details)`` for what the audit log must hold
            (each rung of the OOM ladder).
        replay: rows of :mod:`afinar.train.replay` (``recipe.replay``): each step adds
            ``replay.per_step`` of them with their own loss, weighted by ``replay.weight``.

    Returns:
        ``(peft_model, TrainResult)``; the model holds the best adapter weights (by eval loss),
        except in a distributed run, whose sharded model keeps its last weights (the best are
        in ``adapter/``).
    """
    run = _Run(model, tokenizer, train_rows, eval_rows, recipe, run_dir, resume, replay)
    t, s = recipe.train, run.state
    stopped_early, interrupted_at = False, None
    run.model.train()
    # The decoder layers lean, or compiled when the recipe asks, while the loop runs.
    with (
        TrainProgress(run.total_steps, s.step, enabled=show_progress and run.world.main) as progress,
        graceful_stop() as stop,
        compiled_layers(run.layers, t.compile),  # refused under --nproc
        fused_layers(run.layers, enabled=not t.compile),  # inductor fuses the compiled ones itself
    ):
        while s.step < run.total_steps:
            record, rewards = run.step(on_event)
            progress.update(s.step, record["loss"], s.tokens / s.seconds, record["mfu"], rewards)
            if _due(t.eval_interval, s.step) and s.step < run.total_steps:
                progress.note_eval(run.evaluate())
                if t.early_stopping_patience and s.bad_evals >= t.early_stopping_patience:
                    stopped_early = True
                    break
            if _due(t.checkpoint_interval, s.step):
                run.checkpoint()
            if run.world.any(stop()) or (stop_at_step is not None and s.step >= stop_at_step):
                run.checkpoint()
                interrupted_at = s.step
                break
    return run.model, run.end(stopped_early, interrupted_at)
