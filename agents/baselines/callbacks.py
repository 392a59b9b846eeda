"""The callbacks of an SB3 run: CausalBO metrics for TensorBoard, atomic checkpoints and
a progress bar."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from stable_baselines3.common.callbacks import BaseCallback, CallbackList

__all__ = ["CausalBOMetrics", "Checkpoint", "Progress", "callbacks"]


class CausalBOMetrics(BaseCallback):
    """Logs ``causalbo/*`` (simple and cumulative regret in target standard deviations,
    parent rate) of every finished episode, averaged by SB3's logger between dumps."""

    def _on_step(self) -> bool:
        for info in self.locals["infos"]:
            metrics = info.get("causalbo")
            if metrics:
                for key in ("simple_regret_std", "cumulative_regret_std", "parent_rate"):
                    self.logger.record_mean(f"causalbo/{key}", metrics[key])
        return True


class Checkpoint(BaseCallback):
    """Saves the model to ``path`` with ``save(model, path)`` every ``every`` steps."""

    def __init__(self, path: Path, every: int, save: Callable[[Any, Path], None]) -> None:
        super().__init__()
        self.path, self.every, self.save = path, every, save
        self._next = every

    def _on_training_start(self) -> None:
        self._next = (self.num_timesteps // self.every + 1) * self.every

    def _on_step(self) -> bool:
        if self.num_timesteps >= self._next:
            self.save(self.model, self.path)
            self._next += self.every
        return True


class Progress(BaseCallback):
    """A tqdm bar over environment steps (SB3's own bar needs rich)."""

    def __init__(self, total: int) -> None:
        super().__init__()
        self.total = total
        self.bar: Any = None

    def _on_training_start(self) -> None:
        from tqdm import tqdm

        self.bar = tqdm(total=self.total, initial=self.num_timesteps, unit="step", desc="sb3", smoothing=0.05)

    def _on_step(self) -> bool:
        self.bar.update(self.num_timesteps - self.bar.n)
        return True

    def _on_training_end(self) -> None:
        self.bar.close()


def callbacks(cfg: Any, checkpoint: Path, save: Callable[[Any, Path], None]) -> CallbackList:
    """The callbacks that ``cfg`` (an Sb3Config) asks for."""
    out: list[BaseCallback] = [CausalBOMetrics()]
    if cfg.checkpoint_every:
        out.append(Checkpoint(checkpoint, cfg.checkpoint_every, save))
    if cfg.progress:
        out.append(Progress(cfg.timesteps))
    return CallbackList(out)
