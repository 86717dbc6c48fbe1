"""The ``afinar`` command: one table of verbs, each handing off to the stage that owns it.

User mistakes (AfinarError) print one clear message and exit 2; anything else is our bug and
keeps its traceback.
"""

from __future__ import annotations

import functools
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.text import Text

from afinar.errors import AfinarError

console = Console()
err_console = Console(stderr=True)
app = typer.Typer(add_completion=False, no_args_is_help=True, help="Fine-tune Llama-family models, governed.")

data_app = typer.Typer(no_args_is_help=True, help="Check and mask datasets before training.")
app.add_typer(data_app, name="data")

RunDir = Annotated[Path, typer.Argument(help="A run directory made by 'afinar run' or 'afinar train'.")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")]
AllowDataErrors = Annotated[
    bool, typer.Option("--allow-data-errors", help="Train even if 'data check' finds errors (bad rows are skipped).")
]


def _user_errors(fn):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except AfinarError as err:
            err_console.print(Text.assemble(("error: ", "bold red"), str(err)), soft_wrap=True)
            raise typer.Exit(2) from None

    return wrapper


def _print_summary(summary: dict) -> None:
    from afinar.report import summary_table

    for table in summary_table(summary):
        console.print(table)


@app.command("run")
@_user_errors
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
@_user_errors
def train_cmd(
    recipe: Annotated[Path | None, typer.Argument(help="Recipe YAML (not needed with --resume).")] = None,
    run_dir: Annotated[Path | None, typer.Option(help="Run directory (default: output_dir/NAME-TIME).")] = None,
    resume: Annotated[Path | None, typer.Option(help="Continue this run from its newest checkpoint.")] = None,
    stop_at_step: Annotated[int | None, typer.Option(help="Checkpoint and stop after this step.")] = None,
    allow_data_errors: AllowDataErrors = False,
    quiet: Quiet = False,
) -> None:
    """Fine-tune only (no domain eval); resumable with --resume RUN_DIR."""
    from afinar.pipeline import train_recipe

    if recipe is None and resume is None:
        raise AfinarError("give a recipe file, or --resume RUN_DIR")
    _, _, _, summary = train_recipe(
        recipe,
        resume or run_dir,
        resume=resume is not None,
        stop_at_step=stop_at_step,
        show_progress=not quiet,
        allow_data_errors=allow_data_errors,
    )
    _print_summary(summary)
    if summary["train"]["interrupted_at"] is not None and stop_at_step is None:
        raise typer.Exit(130)  # stopped by a signal: say so to the shell or scheduler


@app.command("eval")
@_user_errors
def eval_cmd(run_dir: RunDir, quiet: Quiet = False) -> None:
    """Domain eval of a run: base vs tuned on the eval split (writes RUN_DIR/eval/)."""
    import json

    from afinar.pipeline import evaluate_run

    evaluate_run(run_dir, show_progress=not quiet)
    _print_summary(json.loads((run_dir / "summary.json").read_text()))


@app.command("generate")
@_user_errors
def generate_cmd(
    run_dir: RunDir,
    prompt: Annotated[str, typer.Argument(help="The user message.")],
    max_new_tokens: Annotated[int, typer.Option(help="Longest answer, in tokens.")] = 256,
) -> None:
    """Answer one prompt with a run's tuned model (greedy)."""
    from afinar.interact import reply
    from afinar.pipeline import load_tuned

    model, tokenizer, recipe = load_tuned(run_dir)
    console.print(
        reply(model, tokenizer, recipe, [{"role": "user", "content": prompt}], max_new_tokens),
        highlight=False,
        markup=False,
    )


@app.command("chat")
@_user_errors
def chat_cmd(run_dir: RunDir, max_new_tokens: Annotated[int, typer.Option()] = 256) -> None:
    """Talk to a run's tuned model; '/exit' or Ctrl-D ends."""
    from afinar.interact import chat

    def ask() -> str | None:
        try:
            return console.input("[bold cyan]you>[/] ") if sys.stdin.isatty() else input()
        except EOFError:
            return None

    def say(text: str) -> None:
        console.print(Text.assemble(("model> ", "bold green"), text))

    chat(run_dir, ask, say, max_new_tokens)


@data_app.command("check")
@_user_errors
def data_check_cmd(
    file: Annotated[Path | None, typer.Argument(help="Dataset (.jsonl or .csv); default: the recipe's.")] = None,
    recipe: Annotated[Path | None, typer.Option(help="Use this recipe's settings and eval file.")] = None,
    eval_file: Annotated[Path | None, typer.Option("--eval", help="Held-out file to check for leakage.")] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Also write the report as JSON here.")] = None,
) -> None:
    """Lint a dataset: schema, duplicates, leakage, lengths, template, scenarios, PII. Exit 1 on errors."""
    import json

    from afinar.data.gate import check_data
    from afinar.report import data_report_tables

    report, _ = check_data(file, recipe, eval_file)
    out = report.to_json()
    for table in data_report_tables(out):
        console.print(table)
    if json_out is not None:
        json_out.write_text(json.dumps(out, indent=2) + "\n")
    if report.errors:
        raise typer.Exit(1)


@data_app.command("mask")
@_user_errors
def data_mask_cmd(
    file: Annotated[Path, typer.Argument(help="Dataset (.jsonl or .csv).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Masked copy to write (same type).")],
    policy: Annotated[
        str | None, typer.Option(help="redact | mask | hash | surrogate for every type, or a policy YAML file.")
    ] = None,
    report: Annotated[Path | None, typer.Option(help="Write counts by type (never values) as JSON here.")] = None,
) -> None:
    """Replace personal data and secrets in every text field; the input is left untouched."""
    import json

    from afinar.data.gate import masker_for_file
    from afinar.data.mask import mask_file
    from afinar.report import mask_table

    masker = masker_for_file(file, policy)
    rows = mask_file(file, out, masker)
    operators = {k: masker.policy.operator(k) for k in masker.counts}
    console.print(mask_table(dict(masker.counts), operators, rows, out))
    if report is not None:
        info = {"rows": rows, "replaced": dict(sorted(masker.counts.items())), "operators": operators}
        report.write_text(json.dumps({**info, "key": masker.key_source}, indent=2) + "\n")


def main() -> None:
    app()
