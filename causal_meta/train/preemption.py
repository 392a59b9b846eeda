"""Preemption of training loops: SIGTERM and SIGUSR1 (Slurm's warning signals) ask a
loop to write a checkpoint and stop at the end of its current step, so that a job that
is cancelled or preempted can resume where it stopped."""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Callable, Iterator
from typing import Any

__all__ = ["STOP_SIGNALS", "stop_signals"]

STOP_SIGNALS = (signal.SIGTERM, signal.SIGUSR1)


@contextlib.contextmanager
def stop_signals(handler: Callable[[int, Any], None]) -> Iterator[None]:
    """Route :data:`STOP_SIGNALS` to ``handler`` inside the block; the previous handlers
    come back after it, however it ends."""
    previous = {s: signal.signal(s, handler) for s in STOP_SIGNALS}
    try:
        yield
    finally:
        for s, old in previous.items():
            signal.signal(s, old)
