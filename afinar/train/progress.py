"""What a person sees of training: a rich progress bar while it runs (step, loss, eval loss,
tokens/s, MFU and ETA, and for preference objectives the reward accuracy and margin), and the
loss plot of ``metrics.jsonl`` after."""

from __future__ import annotations

import json
from pathlib import Path

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

__all__ = ["TrainProgress", "plot_loss"]


class TrainProgress:
    """Context manager; a no-op when ``enabled`` is False (tests, non-interactive runs)."""

    def __init__(self, total: int, done: int = 0, enabled: bool = True):
        self.total, self.done, self.enabled = total, done, enabled
        self._eval = "-"

    def __enter__(self) -> TrainProgress:
        if self.enabled:
            self._progress = Progress(
                TextColumn("[bold]train"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("loss {task.fields[loss]}  eval {task.fields[eval]}{task.fields[rewards]}"),
                TextColumn("{task.fields[tps]} tok/s  MFU {task.fields[mfu]}"),
                TimeElapsedColumn(),
                TextColumn("ETA"),
                TimeRemainingColumn(),
            )
            self._progress.__enter__()
            self._task = self._progress.add_task(
                "train", total=self.total, completed=self.done, loss="-", eval="-", tps="-", mfu="-", rewards=""
            )
        return self

    def update(self, step: int, loss: float, tokens_per_s: float, mfu: float, rewards: dict | None = None) -> None:
        """``rewards``: a preference step's ``reward_accuracy`` and ``reward_margin``, when it has them."""
        if self.enabled:
            shown = ""
            if rewards and "reward_margin" in rewards:
                accuracy = f"acc {rewards['reward_accuracy']:.0%} " if "reward_accuracy" in rewards else ""
                shown = f"  reward {accuracy}margin {rewards['reward_margin']:+.3f}"
            self._progress.update(
                self._task,
                completed=step,
                loss=f"{loss:.4f}",
                tps=f"{tokens_per_s:.0f}",
                mfu=f"{mfu:.0%}",
                rewards=shown,
            )

    def note_eval(self, loss: float | None) -> None:
        if self.enabled and loss is not None:
            self._progress.update(self._task, eval=f"{loss:.4f}")

    def __exit__(self, *exc) -> None:
        if self.enabled:
            self._progress.__exit__(*exc)


def plot_loss(metrics: Path, out: Path) -> None:
    """Plot train loss per step and eval loss per eval pass from ``metrics.jsonl`` into a PNG."""
    import matplotlib  # loaded here only: the Agg backend is chosen before pyplot (and no other path pays for it)

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    records = [json.loads(line) for line in metrics.read_text().splitlines()] if metrics.exists() else []
    train = [(r["step"], r["loss"]) for r in records if "loss" in r]
    evals = [(r["step"], r["eval_loss"]) for r in records if "eval_loss" in r]
    fig, ax = plt.subplots(figsize=(7, 4))
    if train:
        ax.plot(*zip(*train, strict=True), label="train loss", lw=1)
    if evals:
        ax.plot(*zip(*evals, strict=True), "o-", label="eval loss")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("token cross-entropy")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
