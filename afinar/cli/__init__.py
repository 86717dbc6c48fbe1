"""The ``afinar`` command: one table of verbs, each handing off to the stage that owns it.

The pipeline verbs live here; the governance ones (data, keys, users, audit) in ``governance.py``,
mounted below. User mistakes (AfinarError) print one clear message and exit 2; anything else is
our bug and keeps its traceback.

Each verb imports its stage inside its function, for start-up time: ``afinar --help`` and the
governance verbs start without loading torch, transformers or the registry's database driver.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.text import Text
from typer.core import TyperGroup

from afinar.cli.common import AllowDataErrors, Quiet, RunDir, console, err_console, user_errors
from afinar.cli.governance import audit_app, data_app, keys_app, users_app
from afinar.errors import AfinarError

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Fine-tune Llama-family models, governed.")


class _EvalGroup(TyperGroup):
    """``afinar eval RUN_DIR ...`` means ``afinar eval run RUN_DIR ...``; ``history`` and
    ``compare`` are the other subcommands."""

    def parse_args(self, ctx, args):
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = ["run", *args]
        return super().parse_args(ctx, args)


eval_app = typer.Typer(
    cls=_EvalGroup,
    no_args_is_help=True,
    help="Evaluate a run (domain, MMLU, gate); its history; two runs side by side.",
)
app.add_typer(eval_app, name="eval")
app.add_typer(data_app, name="data")
app.add_typer(keys_app, name="keys")
app.add_typer(users_app, name="users")
app.add_typer(audit_app, name="audit")


def _print_summary(summary: dict) -> None:
    from afinar.cli.tables import summary_table

    for table in summary_table(summary):
        console.print(table)


@app.command("run")
@user_errors
def run_cmd(
    recipe: Annotated[Path, typer.Argument(help="Recipe YAML.")],
    run_dir: Annotated[Path | None, typer.Option(help="Run directory (default: output_dir/NAME-TIME).")] = None,
    allow_data_errors: AllowDataErrors = False,
    quiet: Quiet = False,
) -> None:
    """Check and mask the data, train, then evaluate base vs tuned; prints the summary table."""
    from afinar.pipeline import run

    summary = run(recipe, run_dir, show_progress=not quiet, allow_data_errors=allow_data_errors)
    _print_summary(summary)
    if summary["train"]["interrupted_at"] is not None:
        raise typer.Exit(130)


@app.command("train")
@user_errors
def train_cmd(
    recipe: Annotated[Path | None, typer.Argument(help="Recipe YAML (not needed with --resume).")] = None,
    run_dir: Annotated[Path | None, typer.Option(help="Run directory (default: output_dir/NAME-TIME).")] = None,
    resume: Annotated[Path | None, typer.Option(help="Continue this run from its newest checkpoint.")] = None,
    stop_at_step: Annotated[int | None, typer.Option(help="Checkpoint and stop after this step.")] = None,
    allow_data_errors: AllowDataErrors = False,
    quiet: Quiet = False,
    nproc: Annotated[int | None, typer.Option(help="Processes per node: torchrun + FSDP2 (one per GPU).")] = None,
    nnodes: Annotated[int, typer.Option(help="Nodes in the job (with --nproc).")] = 1,
    node_rank: Annotated[int, typer.Option(help="This node's rank, 0..nnodes-1.")] = 0,
    rdzv_endpoint: Annotated[str | None, typer.Option(help="HOST:PORT where the nodes meet.")] = None,
) -> None:
    """Fine-tune only (no domain eval); resumable with --resume RUN_DIR; --nproc N trains on N processes."""
    from afinar.pipeline import train_recipe

    if recipe is None and resume is None:
        raise AfinarError("give a recipe file, or --resume RUN_DIR")
    if nproc is not None:
        from afinar.train.distributed import launch

        given = {"--run-dir": run_dir, "--resume": resume, "--stop-at-step": stop_at_step}
        args = [str(recipe)] if recipe else []
        args += [str(x) for k, v in given.items() if v is not None for x in (k, v)]
        args += [flag for flag, on in (("--allow-data-errors", allow_data_errors), ("--quiet", quiet)) if on]
        code = launch(nproc, args, nnodes, node_rank, rdzv_endpoint)
        if code:
            err_console.print(f"error: the distributed job failed (exit {code}); the failing rank's message is above")
        raise typer.Exit(code)
    _, _, _, summary = train_recipe(
        recipe,
        resume or run_dir,
        resume=resume is not None,
        stop_at_step=stop_at_step,
        show_progress=not quiet,
        allow_data_errors=allow_data_errors,
    )
    if summary is None:  # another rank of a distributed job: rank 0 reports
        return
    _print_summary(summary)
    if summary["train"]["interrupted_at"] is not None and stop_at_step is None:
        raise typer.Exit(130)  # stopped by a signal: say so to the shell or scheduler


@app.command("prepare")
@user_errors
def prepare_cmd(
    target: Annotated[
        str, typer.Argument(help="A base model (default, a model folder, a .gguf) or a recipe (.yaml).")
    ] = "default",
    replay: Annotated[bool, typer.Option(help="Write the replay conversations (GGUF bases).")] = True,
    benchmarks: Annotated[bool, typer.Option(help="Score the base on the gate's benchmarks.")] = True,
    quiet: Quiet = False,
) -> None:
    """Once per base: convert it, write its replay conversations, score it on the gate's benchmarks
    (cached; every later run on it skips all three). Given a recipe: the same for its settings,
    and what its runs compute about the base from its data (the replay teacher, the base's answers
    to its eval splits); the recipe's own settings decide, --no-replay and --no-benchmarks do not
    apply."""
    from afinar.config import BenchmarksConfig, ReplayConfig
    from afinar.prepare import prepare_base, prepare_recipe

    recipe = Path(target).suffix in (".yaml", ".yml")
    if recipe:
        done = prepare_recipe(target, show_progress=not quiet)
    else:
        done = prepare_base(
            target, ReplayConfig() if replay else None, BenchmarksConfig() if benchmarks else None, not quiet
        )
    parts = []
    if "replay" in done:
        parts.append(f"replay: {done['replay']['conversations']} conversations, {done['replay']['seconds']} s")
    if "replay_rows" in done:
        parts.append(f"replay rows and teacher: {done['replay_rows']['rows']} rows, {done['replay_rows']['seconds']} s")
    if "benchmarks" in done:
        bench = done["benchmarks"]
        took = "cached already" if bench["cached"] else f"{bench['seconds']} s"
        parts.append(f"benchmarks: {', '.join(bench['names'])}, {took}")
    if "base_answers" in done:
        answers = done["base_answers"]
        parts.append(f"base answers: {', '.join(answers['splits'])}, {answers['seconds']} s")
    console.print(f"prepared {target} (base sha256 {done['sha256'][:16]}...): " + "; ".join(parts or ["converted"]))


@app.command("plan")
@user_errors
def plan_cmd(
    model: Annotated[
        str, typer.Option(help="llama-3-8b, llama-3-70b, llama-3.2-1b, llama-3.2-3b, default, or a config.json.")
    ] = "default",
    method: Annotated[str, typer.Option(help="lora, qlora or full.")] = "lora",
    seq: Annotated[int, typer.Option(help="Tokens per row (max_seq_len; packed rows are full).")] = 2048,
    micro_batch: Annotated[int, typer.Option(help="Rows per forward/backward.")] = 1,
    gpus: Annotated[
        str, typer.Option(help="NxNAME (e.g. 1xA100-80GB, 8xH100-80GB, 2xANY-48GB) or cpu:GiB.")
    ] = "1xA100-80GB",
    fsdp: Annotated[bool, typer.Option(help="Shard weights and state over the devices (FSDP2).")] = False,
    checkpointing: Annotated[bool, typer.Option(help="Gradient checkpointing per decoder layer.")] = False,
    quant: Annotated[str, typer.Option(help="QLoRA base: nf4 or int8.")] = "nf4",
    r: Annotated[int, typer.Option(help="LoRA rank.")] = 16,
) -> None:
    """Estimate peak training memory per device before renting one; exit 1 if it does not fit."""
    from afinar.cli.tables import plan_table
    from afinar.train.memory import plan, shape_from

    p = plan(shape_from(model), method, seq, micro_batch, gpus, fsdp, checkpointing, quant, r)
    console.print(plan_table(p, seq, micro_batch, gpus, checkpointing))
    if not p.fits:
        raise typer.Exit(1)


@eval_app.command("run")
@user_errors
def eval_cmd(
    target: Annotated[Path, typer.Argument(help="A run directory, or a base model (default, a folder, a .gguf).")],
    suite: Annotated[
        str,
        typer.Option(
            help="Comma-separated: domain, mmlu (MMLU-Redux), safety (refusals, base vs tuned; a run), and "
            "benchmarks: hellaswag, piqa, arc_easy, arc_challenge, winogrande, mmlu_full."
        ),
    ] = "domain",
    limit: Annotated[int | None, typer.Option(help="Benchmarks: first N items of each.")] = None,
    shots: Annotated[int, typer.Option(help="MMLU few-shot examples (0 or 5).")] = 0,
    limit_per_subject: Annotated[int | None, typer.Option(help="MMLU: first K questions per subject.")] = None,
    mmlu_data: Annotated[Path | None, typer.Option(help="mmlu_redux.jsonl (default: ../shared/data).")] = None,
    data: Annotated[
        Path | None,
        typer.Option(help="A fresh labeled sample: score the run on it, add it to the history, exit 1 on regression."),
    ] = None,
    metric: Annotated[str, typer.Option(help="--data: the metric whose regression fails the command.")] = "score",
    tolerance: Annotated[float, typer.Option(help="--data: points below the best earlier value that fail.")] = 2.0,
    quiet: Quiet = False,
) -> None:
    """Evaluate a run (base vs tuned; then its promotion gate) or a base model: domain metrics
    on the eval split and/or MMLU-Redux. With --data, score the run's tuned model on a fresh
    labeled sample instead (for a scheduler: cron, CI)."""
    if data is not None:
        _eval_fresh(target, data, metric, tolerance, quiet)
        return

    from afinar.atomic import read_json
    from afinar.cli.tables import benchmarks_table, mmlu_table, safety_table
    from afinar.eval.benchmarks import BENCHMARKS
    from afinar.eval.suites import evaluate_benchmarks, evaluate_mmlu, evaluate_run, evaluate_safety, gate_run
    from afinar.run_folder import RECIPE_FILE

    suites = [s.strip() for s in suite.split(",") if s.strip()]
    benchmarks = [("mmlu" if s == "mmlu_full" else s) for s in suites if s not in ("domain", "mmlu", "safety")]
    unknown = [s for s in benchmarks if s not in BENCHMARKS]
    if unknown:
        accepted = "domain, mmlu, safety, " + ", ".join(b if b != "mmlu" else "mmlu_full" for b in BENCHMARKS)
        raise AfinarError(f"--suite {suite}: unknown {', '.join(unknown)}; accepted: {accepted}")
    is_run = (target / RECIPE_FILE).is_file()
    if "safety" in suites and not is_run:
        raise AfinarError(f"--suite safety: {target} is not a run directory; the check compares a run with its base")
    if "domain" in suites:
        evaluate_run(target, show_progress=not quiet)
    if "mmlu" in suites:
        console.print(mmlu_table(evaluate_mmlu(target, mmlu_data, limit_per_subject, shots, not quiet)))
    if "safety" in suites:
        console.print(safety_table(evaluate_safety(target, show_progress=not quiet)))
    if benchmarks:
        console.print(benchmarks_table(evaluate_benchmarks(target, benchmarks, limit, shots, not quiet)))
    if is_run and (target / "summary.json").is_file():
        gate_run(target)
        _print_summary(read_json(target / "summary.json"))


def _eval_fresh(run_dir: Path, data: Path, metric: str, tolerance: float, quiet: bool) -> None:
    from afinar.cli.tables import history_table
    from afinar.eval.card import domain_metrics
    from afinar.eval.monitor import evaluate_fresh

    results, rows, out = evaluate_fresh(run_dir, data, metric, tolerance, not quiet)
    tuned = results["tuned"]
    shown = ", ".join(f"{label} {100 * tuned[key]:.1f}%" for key, label in domain_metrics(tuned))
    console.print(f"tuned on {tuned['n']} rows of {data}: {shown}", highlight=False)
    console.print(history_table(rows[-10:], metric))
    console.print(f"wrote {out}", highlight=False)
    if rows[-1]["regression"]:
        raise typer.Exit(1)


@eval_app.command("history")
@user_errors
def eval_history_cmd(
    name: Annotated[str | None, typer.Option(help="Recipe name (default: every recipe).")] = None,
    metric: Annotated[str, typer.Option(help="score, field_accuracy, schema_valid_rate, mmlu, ...")] = "score",
    tolerance: Annotated[
        float, typer.Option(help="Points below the best earlier value that count as a regression.")
    ] = 2.0,
) -> None:
    """A metric of the tuned model across evaluated runs, oldest first; regressions flagged."""
    from afinar.cli.tables import history_table
    from afinar.eval.history import history

    rows = history(name, metric, tolerance)
    console.print(history_table(rows, metric))
    if any(r["regression"] for r in rows):
        raise typer.Exit(1)


@eval_app.command("compare")
@user_errors
def eval_compare_cmd(
    a: Annotated[Path, typer.Argument(help="Run A.")], b: Annotated[Path, typer.Argument(help="Run B.")]
) -> None:
    """Two evaluated runs side by side: every metric both have, with B - A."""
    from afinar.cli.tables import compare_table
    from afinar.eval.history import compare

    console.print(compare_table(compare(a, b), a, b))


@app.command("bias")
@user_errors
def bias_cmd(
    run_dir: RunDir,
    limit: Annotated[int, typer.Option(help="Held-out prompts to build probes from (10 probes each).")] = 20,
    decision_field: Annotated[
        str | None, typer.Option(help="A JSON field that carries a yes/no decision (e.g. approved).")
    ] = None,
    max_gap: Annotated[float, typer.Option(help="The smallest gap that counts (rates; see docs/monitoring.md).")] = 0.1,
    quiet: Quiet = False,
) -> None:
    """Counterfactual bias probes (names, nationality, age), base vs tuned.

    Exit 1 when the fine-tune introduced a gap the base does not have."""
    from afinar.cli.tables import bias_table
    from afinar.eval.monitor import evaluate_bias

    results = evaluate_bias(run_dir, limit, decision_field, max_gap, not quiet)
    console.print(bias_table(results))
    if results["introduced"]:
        console.print(f"[bold red]the fine-tune introduced: {', '.join(results['introduced'])}")
        raise typer.Exit(1)


@app.command("drift")
@user_errors
def drift_cmd(
    run_dir: RunDir,
    prompts: Annotated[
        Path | None, typer.Option(help="Production prompts (.jsonl/.csv) instead of the audit log's served ones.")
    ] = None,
    last: Annotated[int, typer.Option(help="Audit log: the last N served prompts.")] = 500,
    since: Annotated[str | None, typer.Option(help="Audit log: only prompts served from this ISO time.")] = None,
    model: Annotated[str | None, typer.Option(help="Audit log: only prompts sent to this served model name.")] = None,
    alpha: Annotated[float, typer.Option(help="Permutation p-value below which a shift alerts.")] = 0.01,
    psi: Annotated[float, typer.Option(help="PSI (length, language mix) that counts as a major shift.")] = 0.25,
    blocked: Annotated[float, typer.Option(help="Share of prompts blocked by the guard that alerts.")] = 0.10,
    quiet: Quiet = False,
) -> None:
    """Production prompts vs the run's training prompts; exit 1 on drift.

    Meaning (sentence embeddings, MMD permutation test), length and language mix (PSI), and the
    share the guard blocked. Writes RUN_DIR/drift/<time>/ and the model card."""
    from afinar.eval.drift import Thresholds, text_report
    from afinar.eval.monitor import evaluate_drift

    report, folder = evaluate_drift(
        run_dir, prompts, last, since, model, Thresholds(alpha, psi, blocked), show_progress=not quiet
    )
    console.print(text_report(report), highlight=False, end="")
    console.print(f"wrote {folder}/drift.json, drift.txt, drift.png", highlight=False)
    if report["drift"]:
        raise typer.Exit(1)


@app.command("redteam")
@user_errors
def redteam_cmd(
    run_dir: Annotated[Path | None, typer.Argument(help="Serve this run on loopback and probe it.")] = None,
    url: Annotated[str | None, typer.Option(help="Probe a running server instead (base URL, no /v1).")] = None,
    model: Annotated[
        str | None, typer.Option(help="--url: the served model to probe; alone: the base model to serve (default).")
    ] = None,
    api_key: Annotated[
        str | None, typer.Option(envvar="AFINAR_API_KEY", help="API key, where the server needs one.")
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(help="Report folder (default: RUN_DIR/redteam, which feeds the run's gate; else ./redteam/TIME)."),
    ] = None,
    seed: Annotated[int, typer.Option(help="Draws the probes' canaries.")] = 0,
    max_tokens: Annotated[int, typer.Option(help="Answer length per probe.")] = 128,
    unguarded: Annotated[
        bool, typer.Option("--unguarded", help="Serve without the guard and the sanitizer: the model alone.")
    ] = False,
    force: Force = False,
    quiet: Quiet = False,
) -> None:
    """OWASP LLM Top 10 (2025) red-team probes against a served model, each with an automatic verdict.

    Writes redteam.json and redteam.html; for a RUN_DIR also its summary and model card, and gates
    the run again when its recipe sets eval.gate.redteam_min. Exit 1 when a probe fails."""
    from afinar.cli.tables import redteam_table
    from afinar.eval.run import answer_progress
    from afinar.security.access import authorize, record
    from afinar.serve.redteam import PASS, default_out, gate_again, probes, redteam, write_report

    if run_dir is None and url is None and model is None:
        raise AfinarError("give a RUN_DIR, --url URL, or --model (default: the bundled base)")
    target = str(run_dir or url or model)
    actor = authorize("redteam", "serve")
    with answer_progress("red team", not quiet) as bar:
        task = bar.add_task("probes", total=len(probes(seed)))
        report = redteam(run_dir, url, model, api_key, seed, max_tokens, unguarded, lambda *_: bar.advance(task), force)
    paths = write_report(report, out or default_out(run_dir, unguarded))
    failed = sum(r["verdict"] not in PASS for r in report["results"])
    rates = {c: v["pass_rate"] for c, v in report["categories"].items()}
    guarded = report["target"].get("guarded")  # None for --url: that server's own settings
    record("redteam", target, actor, details={"pass_rates": rates, "failed": failed, "guarded": guarded})
    console.print(redteam_table(report))
    for path in paths:
        console.print(f"wrote {path}", highlight=False)
    if run_dir is not None and out is None and not unguarded:
        gate = gate_again(run_dir, report)
        console.print(f"wrote {run_dir}/summary.json and the model card", highlight=False)
        if gate is not None:
            colour = "green" if gate["decision"] == "promoted" else "bold red"
            console.print(f"[{colour}]gate (with the red team): {gate['decision']}")
    if failed:
        raise typer.Exit(1)


@app.command("report")
@user_errors
def report_cmd(run_dir: RunDir) -> None:
    """Write the run's model card (model_card.md and a self-contained model_card.html)."""
    from afinar.eval.card import write_card

    for path in write_card(run_dir):
        console.print(f"wrote {path}", highlight=False)


Force = Annotated[bool, typer.Option("--force", help="Use a run the promotion gate rejected (audited).")]
Gguf = Annotated[Path | None, typer.Option(help="Answer with this exported GGUF in llama.cpp instead.")]


@app.command("generate")
@user_errors
def generate_cmd(
    run_dir: RunDir,
    prompt: Annotated[str, typer.Argument(help="The user message.")],
    max_new_tokens: Annotated[int, typer.Option(help="Longest answer, in tokens.")] = 256,
    gguf: Gguf = None,
) -> None:
    """Answer one prompt with a run's tuned model (greedy)."""
    from afinar.cli.interact import responder

    answer = responder(run_dir, max_new_tokens, gguf)
    console.print(answer([{"role": "user", "content": prompt}]), highlight=False, markup=False, soft_wrap=True)


@app.command("chat")
@user_errors
def chat_cmd(run_dir: RunDir, max_new_tokens: Annotated[int, typer.Option()] = 256, gguf: Gguf = None) -> None:
    """Talk to a run's tuned model; '/exit' or Ctrl-D ends."""
    from afinar.cli.interact import chat

    def ask() -> str | None:
        try:
            return console.input("[bold cyan]you>[/] ") if sys.stdin.isatty() else input()
        except EOFError:
            return None

    def say(text: str) -> None:
        console.print(Text.assemble(("model> ", "bold green"), text))

    chat(run_dir, ask, say, max_new_tokens, gguf)


def _ties(ties: list[dict]) -> str:
    """The export check's near ties, as a clause of its verify line."""
    n = sum(t["tie"] for t in ties)
    if not n:
        return ""
    margins = ", ".join(f"{t['margin']:.2g} <= {t['allowed']:.2g}" for t in ties if t["tie"])
    return f"; {n} differ at a near tie of the trained model (logit margin {margins}), accepted"


@app.command("export")
@user_errors
def export_cmd(
    run_dir: RunDir,
    fmt: Annotated[
        str, typer.Option("--format", help="hf (merged safetensors), gguf (merged, llama.cpp), gguf-lora (adapter).")
    ] = "gguf",
    quant: Annotated[
        str, typer.Option(help="GGUF type: f32, f16, q8_0, q4_k_m or q5_k_m (gguf-lora: the base's).")
    ] = "f16",
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Default: RUN_DIR/export/...")] = None,
    verify: Annotated[bool, typer.Option(help="Reload the export and compare greedy tokens.")] = True,
    prompts: Annotated[int, typer.Option(help="Prompts in the parity check (from the eval split).")] = 20,
    base_gguf: Annotated[
        Path | None, typer.Option(help="gguf-lora: the base GGUF to verify on (default: write it beside the adapter).")
    ] = None,
    force: Force = False,
) -> None:
    """Merge the adapter and export HF or GGUF, or export the LoRA adapter alone for llama.cpp;
    verify the export answers like the trained model."""
    from afinar.export.run import export_run

    info = export_run(run_dir, fmt, quant, out, verify, prompts, force=force, base_gguf=base_gguf)
    for path, digest in info["files"].items():
        console.print(f"wrote {path} (sha256 {digest[:16]}...)", highlight=False)
    if "base" in info and not info["base"]["written"]:
        console.print(f"base: {info['base']['path']} ({info['quant']})", highlight=False)
    if "merge_max_logit_diff" in info:
        console.print(f"merge: max logit difference {info['merge_max_logit_diff']:.2e}", highlight=False)
    if "verify" in info:
        v = info["verify"]
        same = v.get("from_text_same")
        from_text = "" if same is None else f"; from the prompt text: {same}/{v['prompts']} the same"
        console.print(
            f"verify ({v['engine']}): {v['identical']}/{v['prompts']} prompts generate identical tokens "
            f"({100 * v['agreement']:.0f}%)" + _ties(v.get("near_ties", [])) + from_text,
            highlight=False,
        )
    if "perplexity" in info:
        p = info["perplexity"]
        console.print(
            f"perplexity on {p['rows']} {p['split']} rows ({p['tokens']:,} tokens): trained {p['trained']:.4f}, "
            f"this GGUF's weights {p['export']:.4f} ({100 * p['increase']:+.2f}%)",
            highlight=False,
        )
    ollama = info.get("modelfile", {})
    if "path" in ollama:
        console.print(f"Ollama: ollama create NAME -f {ollama['path']} ({ollama['chat_format']})", highlight=False)
    elif ollama:
        console.print(f"no Ollama Modelfile: {ollama['skipped']}", highlight=False)


@app.command("track")
@user_errors
def track_cmd(run_dir: Annotated[Path, typer.Argument(help="A run directory.")]) -> None:
    """Log a finished run to MLflow and/or TensorBoard, as its recipe's tracking section says
    (afinar run does this when a run ends; this is for runs made before)."""
    from afinar.tracking import log_run

    where = log_run(run_dir)
    if not where:
        raise AfinarError(f"{run_dir}: its recipe turns no tracking on (tracking: {{mlflow: true}} or tensorboard)")
    for kind, target in where.items():
        console.print(f"logged {run_dir} to {kind}: {target}", highlight=False)


@app.command("worker")
@user_errors
def worker_cmd(
    once: Annotated[bool, typer.Option("--once", help="Stop when the queue is empty.")] = False,
    poll: Annotated[float, typer.Option(help="Seconds between looks at an empty queue.")] = 2.0,
    name: Annotated[str | None, typer.Option(help="A name for this worker in job events (after host:pid).")] = None,
    heartbeat: Annotated[float, typer.Option(help="PostgreSQL: seconds between this worker's heartbeats.")] = 10.0,
    stalled_after: Annotated[
        float, typer.Option(help="PostgreSQL: a worker silent this many seconds has its job resumed elsewhere.")
    ] = 30.0,
    job: Annotated[str | None, typer.Option(help="Run this one job and exit (what a queued task runs).")] = None,
    nproc: Annotated[int, typer.Option(help="Processes a job trains on: torchrun + FSDP2 (one per GPU).")] = 1,
) -> None:
    """Run fine-tuning jobs from the registry's database (queued by 'afinar serve --fine-tuning'),
    one at a time, as 'afinar run' runs a recipe; Ctrl-C or SIGTERM checkpoints the job and puts
    it back in the queue. On PostgreSQL the jobs come through its task queue (procrastinate)."""
    from afinar.jobqueue import REQUEUE, is_postgres, run_workers
    from afinar.jobstore import JobStore
    from afinar.registry import Registry
    from afinar.worker import Worker

    if heartbeat <= 0 or stalled_after <= heartbeat:
        raise AfinarError(f"--heartbeat {heartbeat} --stalled-after {stalled_after}: accepted: a heartbeat above 0 "
                          "and a longer silence")  # fmt: skip
    store = JobStore(Registry.default_location().url)
    say = lambda line: err_console.print(line, highlight=False)  # noqa: E731
    worker = Worker(store, name, say=say, nproc=nproc)
    if job is not None:
        if worker.run_one(job) == "queued":
            raise typer.Exit(REQUEUE)
        return
    say(f"afinar worker {worker.name}: taking jobs from {store.engine.url}")
    if is_postgres(store.url):
        run_workers(store.url, worker.name, name, heartbeat, stalled_after, say, nproc)
    else:
        worker.work(once=once, poll=poll)


@app.command("serve")
@user_errors
def serve_cmd(
    run: Annotated[Path | None, typer.Option(help="Serve this run: its base model, adapter and system prompt.")] = None,
    model: Annotated[str | None, typer.Option(help="Base model (default, a HF folder, a .gguf) without a run.")] = None,
    adapter: Annotated[list[str], typer.Option(help="NAME=PATH of a PEFT adapter; repeatable.")] = [],  # noqa: B006
    gguf: Annotated[Path | None, typer.Option(help="Serve this exported GGUF with llama.cpp instead.")] = None,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    tls_cert: Annotated[Path | None, typer.Option(help="PEM certificate (chain): serve HTTPS, TLS 1.3 only.")] = None,
    tls_key: Annotated[Path | None, typer.Option(help="PEM private key of --tls-cert.")] = None,
    system_prompt: Annotated[str | None, typer.Option(help="System prompt for chats without one.")] = None,
    injection: Annotated[str, typer.Option(help="Prompt-injection guard: block, flag or off.")] = "block",
    pii: Annotated[str, typer.Option(help="PII in prompts: mask, reject or off.")] = "mask",
    json_schema: Annotated[Path | None, typer.Option(help="Every answer must be JSON valid against this.")] = None,
    rate_limit: Annotated[int, typer.Option(help="Requests per minute per API key.")] = 600,
    max_body_bytes: Annotated[int, typer.Option(help="Largest request body.")] = 1 << 20,
    max_prompt_tokens: Annotated[int, typer.Option(help="Longest prompt, in tokens.")] = 2048,
    max_tokens: Annotated[int, typer.Option(help="Cap on (and default for) max_tokens.")] = 512,
    max_batch: Annotated[int, typer.Option(help="Most requests decoded together (llama.cpp: parallel slots).")] = 8,
    max_queue: Annotated[int, typer.Option(help="Requests that may wait for the model; then 503 + Retry-After.")] = 64,
    replica: Annotated[
        str | None, typer.Option(help="This server's id among replicas: it keeps its own audit chain.")
    ] = None,
    engine: Annotated[
        str, typer.Option(help="--run's engine: auto (llama.cpp when the run has a gguf-lora export), llamacpp, torch.")
    ] = "auto",
    precision: Annotated[
        str, typer.Option(help="PyTorch weights: auto (the run's training precision; bf16 where native), bf16, fp32.")
    ] = "auto",
    fine_tuning: Annotated[
        bool, typer.Option("--fine-tuning", help="Also OpenAI's files and fine-tuning jobs API (docs/service.md).")
    ] = False,
    job_recipe: Annotated[
        Path | None, typer.Option(help="With --fine-tuning: the recipe jobs train with (its data is each job's).")
    ] = None,
    workers: Annotated[int, typer.Option(help="With --fine-tuning: 'afinar worker' processes to start here.")] = 1,
    jobs_per_user: Annotated[int, typer.Option(help="Jobs a user may have queued, running or paused.")] = 2,
    jobs_per_role: Annotated[int, typer.Option(help="Jobs one role's users may have queued, running or paused.")] = 8,
    max_upload_bytes: Annotated[int, typer.Option(help="Largest file upload (POST /v1/files).")] = 512 << 20,
    runs: Annotated[
        list[Path], typer.Option(help="A folder of runs the pages under /ui list; repeatable (default: ./runs).")
    ] = [],  # noqa: B006
    force: Force = False,
) -> None:
    """OpenAI-compatible API: API keys -> guard -> model -> sanitizer -> audit log."""
    from afinar.security.audit import AuditLog
    from afinar.serve.server import ServeOptions, parse_adapters, run_server

    if replica is not None:
        AuditLog(replica=replica)  # a bad id is refused before anything is recorded
        os.environ["AFINAR_REPLICA"] = replica  # every record of this process goes to its chain

    opts = ServeOptions(
        run=run,
        model=model,
        adapters=parse_adapters(adapter),
        gguf=gguf,
        system_prompt=system_prompt,
        injection=injection,
        pii=pii,
        json_schema=json_schema,
        rate_per_minute=rate_limit,
        max_body_bytes=max_body_bytes,
        max_prompt_tokens=max_prompt_tokens,
        max_tokens=max_tokens,
        max_batch=max_batch,
        max_queue=max_queue,
        force=force,
        engine=engine,
        precision=precision,
        fine_tuning=fine_tuning,
        job_recipe=job_recipe,
        workers=workers,
        jobs_per_user=jobs_per_user,
        jobs_per_role=jobs_per_role,
        max_upload_bytes=max_upload_bytes,
        runs_dirs=runs,
    )
    run_server(opts, host, port, tls_cert, tls_key, lambda line: err_console.print(line, highlight=False))


def main() -> None:
    app()
