"""Rank-0 logging: TensorBoard scalars in CleanRL's groups (`losses/`, `charts/`, `val/`),
the hyperparameters as a Markdown table, and a progress bar with loss and speed."""

from __future__ import annotations

import dataclasses
from enum import Enum
from pathlib import Path
from typing import Any

from torch.utils.tensorboard import SummaryWriter
from tqdm import tqdm


def flatten(cfg: Any, prefix: str = "") -> dict[str, Any]:
    """Dotted key -> value for every leaf of a config dataclass."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        key = f"{prefix}{f.name}"
        if dataclasses.is_dataclass(value):
            out.update(flatten(value, key + "."))
        else:
            out[key] = value.value if isinstance(value, Enum) else value
    return out


class RunLogger:
    """Writes only on the main rank; on other ranks every method does nothing."""

    def __init__(self, run_dir: Path, cfg: Any, total_steps: int, start_step: int, active: bool, progress: bool) -> None:
        self.active = active
        self.writer = SummaryWriter(str(run_dir / "tensorboard")) if active else None
        self.bar = tqdm(total=total_steps, initial=start_step, desc="train", unit="step", dynamic_ncols=True) \
            if active and progress else None
        if self.writer is not None:
            rows = "\n".join(f"|{k}|{v}|" for k, v in flatten(cfg).items())
            self.writer.add_text("hyperparameters", "|key|value|\n|-|-|\n" + rows, 0)

    def scalars(self, values: dict[str, float], step: int) -> None:
        """Log a group of scalars, e.g. {'losses/bce': 0.3, 'charts/lr': 1e-4}."""
        if self.writer is not None:
            for key, value in values.items():
                self.writer.add_scalar(key, value, step)

    def progress(self, steps: int, **postfix: float) -> None:
        """Advance the bar and show the latest loss and speed."""
        if self.bar is not None:
            self.bar.update(steps)
            self.bar.set_postfix({k: f"{v:.4g}" for k, v in postfix.items()}, refresh=False)

    def message(self, text: str) -> None:
        """A line for the user, above the bar."""
        if self.active:
            (self.bar.write if self.bar is not None else print)(text)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        if self.writer is not None:
            self.writer.flush()
            self.writer.close()
