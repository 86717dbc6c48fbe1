"""Ctrl-C or SIGTERM (what schedulers send before preempting) ends training after the current
step, with a checkpoint, instead of losing the work; a second signal stops at once."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

__all__ = ["graceful_stop"]


@contextmanager
def graceful_stop() -> Iterator[Callable[[], bool]]:
    """Yield ``requested()``, True once SIGINT or SIGTERM has arrived; handlers restored on exit."""
    if threading.current_thread() is not threading.main_thread():  # signals reach the main thread only
        yield lambda: False
        return
    flag = {"stop": False}

    def handler(signum, frame):
        if flag["stop"]:
            raise KeyboardInterrupt
        flag["stop"] = True

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield lambda: flag["stop"]
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
