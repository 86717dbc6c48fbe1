"""A rich progress bar for training: step, loss, eval loss, tokens/s, MFU and ETA, and for
preference objectives the reward accuracy and margin."""

from __future__ import annotations

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

__all__ = ["TrainProgress"]


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
