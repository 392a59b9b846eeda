"""The configuration schema of `python -m agents.pretrain`: every key, its type, default
and meaning. Presets live in ``agents/configs/pretrain/*.yaml``; `causal_meta.config` composes
them with Hydra and rejects unknown keys and wrong types.

Every key here is read by the trainer (`causal_meta.train.loop`), the model factory or
the evaluation; a key nothing reads does not belong here.
"""

from __future__ import annotations

import dataclasses
import math
from enum import Enum

from typing import Any

from omegaconf import MISSING

from causal_meta.config import option, register, register_group
from causal_meta.families import load_family, load_suite
from causal_meta.models.settings import SETTINGS

SCHEMA_NAME = "pretrain_schema"


class AmpDtype(Enum):
    """Autocast precision. bf16 needs no loss scaling; fp16 uses a GradScaler."""

    bf16 = "bf16"
    fp16 = "fp16"


@dataclasses.dataclass
class DataConfig:
    """The training task stream (`causal_meta.data.StreamSpec`)."""

    family: str = option("train_competence", "training family: NAME, NAME/FAMILY or a YAML path")
    batch_size: int = option(8, "tasks per step and rank")
    n_obs: int = option(256, "observational rows per task")
    n_int: int = option(0, "interventional rows per task (one random node each)")
    normalize: bool = option(True, "standardise each variable over its rows")
    seed: int = option(0, "base seed of the training stream (val/test seeds derive from it)")
    workers: int = option(0, "DataLoader worker processes")
    pin_memory: bool = option(False, "pin batches in page-locked memory (CUDA only)")
    engine_threads: int | None = option(None, "engine threads per sampling call (None: all cores; 1 with workers)")


@dataclasses.dataclass
class OptimConfig:
    """AdamW with a warmup + cosine schedule and gradient clipping."""

    lr: float = option(1e-4, "peak learning rate")
    beta1: float = option(0.9, "AdamW beta1")
    beta2: float = option(0.999, "AdamW beta2")
    eps: float = option(1e-8, "AdamW epsilon")
    weight_decay: float = option(1e-4, "AdamW decoupled weight decay")
    warmup_steps: int = option(0, "linear warmup steps from 0 to lr")
    t_max: int | None = option(None, "cosine period in steps (None: trainer.steps)")
    eta_min: float = option(0.0, "learning rate at the end of the cosine")
    grad_clip: float = option(1.0, "max gradient norm; <= 0 turns clipping off")


@dataclasses.dataclass
class TrainerConfig:
    """The loop: length, precision, logging, validation, checkpoints, robustness."""

    steps: int = option(100_000, "optimiser steps")
    device: str = option("auto", "'auto' (cuda if available), 'cpu' or 'cuda'")
    amp: bool = option(False, "mixed precision autocast")
    amp_dtype: AmpDtype = option(AmpDtype.bf16, "autocast dtype")
    log_every: int = option(100, "steps between TensorBoard scalars")
    val_every: int = option(1000, "steps between validations")
    checkpoint_every: int = option(1000, "steps between checkpoints")
    keep_last: int = option(3, "rolling history of step checkpoints")
    max_nonfinite: int = option(20, "abort after this many non-finite losses in a row")
    val_n_samples: int = option(32, "posterior graph samples per validation task")
    val_tasks: int = option(64, "cap on validation tasks per family and check")
    val_n_obs: int | None = option(None, "observational rows per validation task (None: data.n_obs)")
    val_families: list[str] = option(["train_competence/er_linear"], "validation families")
    best_metric: str = option("expected_edge_f1", "validation metric (mean over families) that picks best.pt")
    progress: bool = option(True, "show a progress bar on rank 0")
    init_from: str | None = option(None, "fine-tune: start from this checkpoint's model weights (optimiser, "
                                         "schedule and step start afresh; an existing last.pt wins)")


@dataclasses.dataclass
class EvaluationConfig:
    """After training: reload best.pt and evaluate on test families."""

    suite: str = option("train_competence", "collection whose families are the test set")
    tasks: int = option(64, "test tasks per family")
    n_obs: int | None = option(None, "observational rows per test task (None: data.n_obs)")
    n_samples: int = option(100, "posterior graph samples per test task (inference.n_samples)")
    plot_tasks: int = option(3, "tasks whose predicted vs true adjacency is plotted")
    checkpoint: str | None = option(None, "evaluate this checkpoint only (no training)")


@dataclasses.dataclass
class PretrainConfig:
    """`python -m agents.pretrain`."""

    model: Any = option(MISSING, "the structure learner: a config group, one option per registered model "
                                 "(model=avici); its keys are the model's own settings")
    data: DataConfig = option(DataConfig, "the training stream")
    optim: OptimConfig = option(OptimConfig, "optimiser and schedule")
    trainer: TrainerConfig = option(TrainerConfig, "the training loop")
    evaluation: EvaluationConfig = option(EvaluationConfig, "final test evaluation")
    seed: int = option(0, "seed of model initialisation and dropout")

    def __post_init__(self) -> None:
        positive = {"trainer.steps": self.trainer.steps, "trainer.log_every": self.trainer.log_every,
                    "trainer.val_every": self.trainer.val_every, "trainer.checkpoint_every": self.trainer.checkpoint_every,
                    "trainer.keep_last": self.trainer.keep_last, "trainer.max_nonfinite": self.trainer.max_nonfinite,
                    "data.batch_size": self.data.batch_size, "evaluation.tasks": self.evaluation.tasks}
        for key, rows in {"trainer.val_n_obs": self.trainer.val_n_obs, "evaluation.n_obs": self.evaluation.n_obs}.items():
            if rows is not None:
                positive[key] = rows
        for key, value in positive.items():
            if value < 1:
                raise ValueError(f"{key} = {value} is not allowed: must be >= 1")
        if self.trainer.device not in ("auto", "cpu", "cuda"):
            raise ValueError(f"trainer.device = {self.trainer.device!r} is not allowed: 'auto', 'cpu' or 'cuda'")
        self._check_ranges()
        self._check_families()

    def _check_families(self) -> None:
        """Read and parse every family and suite the run will use now, when the config
        loads: a bad reference or file (a YAML tag such as ``!!python/object``, an alias,
        a wrong key) is refused before the run directory is made, not after. Files are
        read with the safe loader of :mod:`causal_meta.families`."""
        refs = [("data.family", self.data.family, load_family),
                *((f"trainer.val_families[{i}]", ref, load_family) for i, ref in enumerate(self.trainer.val_families)),
                ("evaluation.suite", self.evaluation.suite, load_suite)]
        for key, ref, read in refs:
            try:
                read(ref)
            except (ValueError, OSError) as err:
                raise ValueError(f"{key} = {ref!r} is not allowed: {' '.join(str(err).split())}") from err

    def _check_ranges(self) -> None:
        """Every numeric key within its range when the config is loaded, not when the run
        reaches it, each message naming the dotted key."""
        d, o, t, e = self.data, self.optim, self.trainer, self.evaluation
        rules: list[tuple[str, float | int | None, bool, str]] = [
            ("seed", self.seed, 0 <= self.seed < 2**63, "an integer in [0, 2**63)"),
            ("data.seed", d.seed, 0 <= d.seed < 2**64, "an integer in [0, 2**64)"),
            ("data.n_obs", d.n_obs, d.n_obs >= 0, "an integer >= 0"),
            ("data.n_int", d.n_int, d.n_int >= 0 and d.n_obs + d.n_int >= 1,
             "an integer >= 0, with data.n_obs + data.n_int >= 1"),
            ("data.workers", d.workers, d.workers >= 0, "an integer >= 0"),
            ("data.engine_threads", d.engine_threads, d.engine_threads is None or d.engine_threads >= 1,
             "None or an integer >= 1"),
            ("optim.lr", o.lr, math.isfinite(o.lr) and 0 < o.lr <= 1, "a number in (0, 1]"),
            ("optim.beta1", o.beta1, 0 <= o.beta1 < 1, "a number in [0, 1)"),
            ("optim.beta2", o.beta2, 0 <= o.beta2 < 1, "a number in [0, 1)"),
            ("optim.eps", o.eps, math.isfinite(o.eps) and o.eps > 0, "a finite number > 0"),
            ("optim.weight_decay", o.weight_decay, math.isfinite(o.weight_decay) and o.weight_decay >= 0,
             "a finite number >= 0"),
            ("optim.warmup_steps", o.warmup_steps, o.warmup_steps >= 0, "an integer >= 0"),
            ("optim.t_max", o.t_max, o.t_max is None or o.t_max >= 1, "None or an integer >= 1"),
            ("optim.eta_min", o.eta_min, math.isfinite(o.eta_min) and 0 <= o.eta_min <= o.lr,
             "a number in [0, optim.lr]"),
            ("optim.grad_clip", o.grad_clip, math.isfinite(o.grad_clip), "a finite number (<= 0: no clipping)"),
            ("trainer.val_n_samples", t.val_n_samples, t.val_n_samples >= 1, "an integer >= 1"),
            ("trainer.val_tasks", t.val_tasks, t.val_tasks >= 1, "an integer >= 1"),
            ("evaluation.n_samples", e.n_samples, e.n_samples >= 0, "an integer >= 0"),
            ("evaluation.plot_tasks", e.plot_tasks, e.plot_tasks >= 0, "an integer >= 0"),
        ]
        for key, value, ok, allowed in rules:
            if not ok:
                raise ValueError(f"{key} = {value!r} is not allowed: must be {allowed}")


register(SCHEMA_NAME, PretrainConfig)
for _name, _settings in SETTINGS.items():
    register_group("model", _name, _settings)
