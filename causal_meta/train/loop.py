"""The pre-training loop shared by every amortized structure learner.

Explicit and flat in the nanoGPT manner: set up (DDP, model, optimiser, schedule,
scaler, stream, validation sets), resume from ``last.pt`` if the run directory has one,
then one loop that draws a batch, steps, logs, validates and checkpoints. The model owns
its loss and its training hook (:mod:`causal_meta.models.registry` lists the protocol):
the loop names no model and computes no loss itself.

Exact resume: a batch is a pure function of its step (`causal_meta.data`), and a
checkpoint stores the model, optimiser, scheduler, scaler, the model's hook state (AVICI:
the dual weight with its running penalty), the next step and every RNG state. A run
killed after step s and resumed therefore ends bit for bit where an uninterrupted run
ends (on CPU, same thread count), whatever the number of DataLoader workers.

Preemption: SIGTERM or SIGUSR1 (Slurm's warning signals) set a flag; the loop writes a
checkpoint at the end of the current step and exits cleanly.
"""

from __future__ import annotations

import contextlib
import math
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.nn.parallel import DistributedDataParallel

from causal_meta.config import to_plain as plain_config
from causal_meta.data import StreamSpec, make_loader
from causal_meta.evaluation import held_out_tasks
from causal_meta.families import load_family, load_suite
from causal_meta.models import registry
from causal_meta.specs import Family
from causal_meta.train import checkpoint as ckpt
from causal_meta.train import distributed, evaluate, rundir
from causal_meta.train.config import AmpDtype, PretrainConfig
from causal_meta.train.logging import RunLogger
from causal_meta.train.preemption import stop_signals


class NonFiniteLossError(RuntimeError):
    """Too many non-finite losses in a row: the run is diverging."""


def get_lr(step: int, cfg: PretrainConfig) -> float:
    """Learning rate at ``step``: linear warmup to ``optim.lr``, then a cosine down to
    ``optim.eta_min`` over ``optim.t_max`` steps (default: the whole run), then flat."""
    o = cfg.optim
    if step < o.warmup_steps:
        return o.lr * (step + 1) / o.warmup_steps
    t_max = o.t_max or cfg.trainer.steps
    progress = min(1.0, (step - o.warmup_steps) / max(1, t_max - o.warmup_steps))
    return o.eta_min + 0.5 * (o.lr - o.eta_min) * (1.0 + math.cos(math.pi * progress))


def autocast(cfg: PretrainConfig, device: torch.device) -> contextlib.AbstractContextManager:
    """Mixed precision on CPU and CUDA alike; a no-op when ``trainer.amp`` is off."""
    if not cfg.trainer.amp:
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if cfg.trainer.amp_dtype is AmpDtype.bf16 else torch.float16
    return torch.autocast(device_type=device.type, dtype=dtype)


@dataclass
class TrainState:
    """Everything besides the torch objects that a resumed run must get back."""

    step: int = 0
    best_value: float = -math.inf
    nonfinite_in_a_row: int = 0
    nonfinite_total: int = 0
    history: list[dict[str, float]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _batch_to(batch: dict[str, torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
    return {k: v.to(device, non_blocking=True) for k, v in batch.items()}


class TrainingForward(torch.nn.Module):
    """The model's ``training_loss`` as a forward pass, so that DDP, which synchronises
    gradients only through ``forward``, can wrap it."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        return self.model.training_loss(batch)


class Trainer:
    """One pre-training run in ``run_dir`` (which already holds ``config.yaml``)."""

    def __init__(self, cfg: PretrainConfig, run_dir: Path) -> None:
        self.cfg = cfg
        self.run_dir = Path(run_dir)
        self.ctx = distributed.setup(cfg.trainer.device)
        self._lock = rundir.claim(self.run_dir) if self.ctx.is_main else None
        torch.manual_seed(cfg.seed)  # identical initial weights on every rank
        self.model = registry.build(cfg.model).to(self.ctx.device)
        forward = TrainingForward(self.model)
        self.net = DistributedDataParallel(forward) if self.ctx.enabled else forward
        o = cfg.optim
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=o.lr, betas=(o.beta1, o.beta2), eps=o.eps,
                                           weight_decay=o.weight_decay)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, lambda s: get_lr(s, cfg) / o.lr)
        fp16 = cfg.trainer.amp and cfg.trainer.amp_dtype is AmpDtype.fp16
        self.scaler = torch.amp.GradScaler(self.ctx.device.type, enabled=fp16)
        self.state = TrainState()
        self.checkpoints = ckpt.CheckpointManager(self.run_dir / "checkpoints", keep_last_k=cfg.trainer.keep_last)
        self.train_family = load_family(cfg.data.family)
        self.val_sets = {name: self._fixed_tasks(load_family(name), name, "val", cfg.trainer.val_tasks,
                                                 cfg.trainer.val_n_obs)
                         for name in cfg.trainer.val_families}
        self.stop_requested = False
        self._check_best_metric()

    # ------------------------------------------------------------------ setup helpers

    def _check_best_metric(self) -> None:
        if self.cfg.trainer.best_metric not in evaluate.METRIC_NAMES:
            raise ValueError(f"trainer.best_metric = {self.cfg.trainer.best_metric!r} is not allowed: "
                             f"expected one of {sorted(evaluate.METRIC_NAMES)}")

    def _fixed_tasks(self, family: Family, label: str, purpose: str, count: int,
                     n_obs: int | None) -> dict[str, torch.Tensor]:
        """Validation or test tasks (seeded by ``purpose`` and ``label``, so validation and
        test never share a seed) whose graphs never occur in the first training tasks.
        ``n_obs`` rows each (None: as many as the training tasks), so that a run trained on
        fewer rows is still measured on the rows the benchmark fixes."""
        d = self.cfg.data
        rows = d.n_obs if n_obs is None else n_obs
        return held_out_tasks(family, label, purpose, d.seed, count, rows, d.n_int, self.train_family,
                              normalize=d.normalize)

    def state_dict(self) -> dict[str, Any]:
        return {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict(), "scaler": self.scaler.state_dict(),
                "model_training": self.model.training_state(), "train_state": self.state.to_dict(),
                "stream": {"next_step": self.state.step}, "rng": ckpt.capture_rng_state()}

    def resume(self) -> bool:
        """Load ``last.pt`` (or the newest intact step checkpoint) if there is one."""
        path = ckpt.find_resume(self.checkpoints.directory)
        if path is None:
            return False
        state = self._load_checked(path)
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.scaler.load_state_dict(state["scaler"])
        self.model.load_training_state(state["model_training"])
        self.state = TrainState(**state["train_state"])
        ckpt.restore_rng_state(state["rng"])
        return True

    def initialise_from(self, path: Path) -> None:
        """Start from the model weights saved at ``path`` and nothing else: a second stage
        (e.g. on the benchmark's row count after cheap pre-training) gets its own optimiser,
        schedule and stream, as a fine-tuning run does."""
        self.model.load_state_dict(self._load_checked(path)["model"])

    def _load_checked(self, path: Path) -> dict[str, Any]:
        """The state saved at ``path``, refused unless it is this model with this architecture."""
        defaults = {"model": plain_config(type(self.cfg.model)())}  # a file older than a model option lacks it
        saved = ckpt.load_checkpoint(path, expected_model=self.cfg.model.name,
                                     expected_config={"model": plain_config(self.cfg.model)}, defaults=defaults)
        return saved["state"]

    def save(self, is_best: bool = False) -> None:
        if self.ctx.is_main:
            self.checkpoints.save(self.state_dict(), step=self.state.step, model_name=self.cfg.model.name,
                                  config=plain_config(self.cfg), is_best=is_best,
                                  best_metric=(self.cfg.trainer.best_metric, self.state.best_value))
        distributed.barrier(self.ctx)

    def _on_signal(self, signum: int, _frame: Any) -> None:
        self.stop_requested = True

    # ------------------------------------------------------------------ the loop

    def train(self) -> TrainState:
        cfg, ctx = self.cfg, self.ctx
        resumed = self.resume()
        if not resumed and cfg.trainer.init_from is not None:
            try:
                self.initialise_from(Path(cfg.trainer.init_from))
            except ckpt.CheckpointError as err:
                raise ckpt.CheckpointError(f"trainer.init_from: {err}", err.path) from err
        log = RunLogger(self.run_dir, cfg, cfg.trainer.steps, self.state.step, ctx.is_main, cfg.trainer.progress)
        if resumed:
            log.message(f"resumed from step {self.state.step}")
        elif cfg.trainer.init_from is not None:
            log.message(f"initialised the model from {cfg.trainer.init_from}")
        d = cfg.data
        spec = StreamSpec(self.train_family, seed=d.seed, batch_size=d.batch_size, n_obs=d.n_obs, n_int=d.n_int,
                          normalize=d.normalize, engine_threads=d.engine_threads)
        loader = iter(make_loader(spec, start_step=self.state.step, rank=ctx.rank, world_size=ctx.world_size,
                                  workers=d.workers, pin_memory=d.pin_memory))
        window = self._new_window()
        window_start = time.perf_counter()
        with stop_signals(self._on_signal), contextlib.closing(log):
            while self.state.step < cfg.trainer.steps and not self.stop_requested:
                t0 = time.perf_counter()
                batch = _batch_to(next(loader), ctx.device)
                window["data_s"] += time.perf_counter() - t0
                self._step(batch, window)
                step = self.state.step
                if step % cfg.trainer.log_every == 0 or step == cfg.trainer.steps:
                    self._log_window(log, window, time.perf_counter() - window_start)
                    window = self._new_window()
                    window_start = time.perf_counter()
                if step % cfg.trainer.val_every == 0 or step == cfg.trainer.steps:
                    self._validate(log)
                elif step % cfg.trainer.checkpoint_every == 0:
                    self.save()
            if self.stop_requested:
                log.message(f"stop signal received: checkpoint at step {self.state.step}, exiting")
                self.save()
        return self.state

    def _new_window(self) -> dict[str, Any]:
        """Sums over the steps since the last log: times (s), and on the device the loss,
        the model's terms and the gradient norm (``terms``, one float64 vector in the order
        of ``names``)."""
        return {"names": (), "terms": None, "data_s": 0.0, "compute_s": 0.0, "steps": 0, "hook": {}}

    def _step(self, batch: dict[str, torch.Tensor], window: dict[str, Any]) -> None:
        cfg = self.cfg
        self.net.train()
        start = time.perf_counter()
        with autocast(cfg, self.ctx.device):
            loss, terms = self.net(batch)
        if not torch.isfinite(loss):
            self._skip_nonfinite()
            return
        self.state.nonfinite_in_a_row = 0
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        window["compute_s"] += time.perf_counter() - start
        self.scaler.unscale_(self.optimizer)
        clip = cfg.optim.grad_clip if cfg.optim.grad_clip > 0 else math.inf
        grad_norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.scheduler.step()
        self.state.step += 1
        # Kept on the device: a float() here would wait for the step to finish on a GPU
        # every step; the window is read once per log_every steps.
        values = torch.stack([loss.detach().float(), *(v.detach().float() for v in terms.values()),
                              grad_norm.detach().float()]).double()
        window["names"] = ("loss", *terms, "grad_norm")
        window["terms"] = values if window["terms"] is None else window["terms"] + values
        window["steps"] += 1
        window["hook"] = self.model.after_step(self.state.step, terms,
                                               lambda x: distributed.mean_across_ranks(x, self.ctx))

    def _skip_nonfinite(self) -> None:
        """Skip the step (no update, no step count) and abort after too many in a row."""
        self.state.nonfinite_in_a_row += 1
        self.state.nonfinite_total += 1
        if self.state.nonfinite_in_a_row >= self.cfg.trainer.max_nonfinite:
            raise NonFiniteLossError(
                f"{self.state.nonfinite_in_a_row} non-finite losses in a row at step {self.state.step} "
                f"(trainer.max_nonfinite = {self.cfg.trainer.max_nonfinite}): lower optim.lr, turn on "
                "optim.grad_clip or check the data family")
        # A skipped batch still consumes its step of the stream, so resume stays exact.
        self.state.step += 1

    def _log_window(self, log: RunLogger, window: dict[str, Any], seconds: float) -> None:
        steps = max(1, int(window["steps"]))
        sums = window["terms"] if window["terms"] is not None else torch.zeros(0, device=self.ctx.device)
        mean = dict(zip(window["names"], distributed.mean_across_ranks((sums / steps).float(), self.ctx).tolist()))
        tasks = steps * self.cfg.data.batch_size * self.ctx.world_size
        log.scalars({
            **{f"losses/{k}": v for k, v in mean.items()}, **{f"charts/{k}": v for k, v in window["hook"].items()},
            "charts/lr": self.scheduler.get_last_lr()[0], "charts/steps_per_s": steps / seconds,
            "charts/tasks_per_s": tasks / seconds, "charts/data_wait_fraction": window["data_s"] / seconds,
            "charts/forward_backward_fraction": window["compute_s"] / seconds,
            "charts/nonfinite_skipped": self.state.nonfinite_total,
        }, self.state.step)
        log.progress(steps, loss=mean.get("loss", math.nan), steps_s=steps / seconds)

    # ------------------------------------------------------------------ validation

    def _validate_one(self, tasks: dict[str, torch.Tensor]) -> dict[str, float]:
        cfg = self.cfg
        return evaluate.score_tasks(self.model, tasks, cfg.trainer.val_n_samples, cfg.seed, self.ctx,
                                    autocast(cfg, self.ctx.device))

    def _validate(self, log: RunLogger) -> None:
        results = {name: self._validate_one(tasks) for name, tasks in self.val_sets.items()}
        metric = self.cfg.trainer.best_metric
        value = float(np.mean([r[metric] for r in results.values()]))
        for name, r in results.items():
            log.scalars({f"val/{name}/{k}": v for k, v in r.items()}, self.state.step)
        log.scalars({f"val/mean_{metric}": value}, self.state.step)
        is_best = value > self.state.best_value
        if is_best:
            self.state.best_value = value
        self.state.history.append({"step": self.state.step, metric: value})
        log.message(f"step {self.state.step}: validation {metric} = {value:.4f}{' (best)' if is_best else ''}")
        self.save(is_best=is_best)

    # ------------------------------------------------------------------ after training

    def load_for_evaluation(self, path: Path | None = None) -> Path:
        """Load ``path`` (default: ``best.pt``, else ``last.pt``, with a warning) into the model."""
        if path is None:
            directory = self.checkpoints.directory
            path = next((p for p in (directory / "best.pt", directory / "last.pt") if p.is_file()), None)
            if path is None:
                raise FileNotFoundError(f"no best.pt or last.pt under {directory} to evaluate")
            if path.name != "best.pt":
                warnings.warn(f"{directory / 'best.pt'} is missing: evaluating {path} instead", RuntimeWarning,
                              stacklevel=2)
        self.model.load_state_dict(self._load_checked(path)["model"])
        return Path(path)

    def test(self) -> dict[str, dict[str, float]]:
        """Score the loaded model on every family of ``evaluation.suite``; rank 0 writes the
        report (metrics.json, report.md, metrics.png, adjacency.png) into the run directory."""
        cfg, ctx = self.cfg, self.ctx
        suite = load_suite(cfg.evaluation.suite)
        amp = autocast(cfg, ctx.device)
        results, first = {}, None
        for name, family in suite.items():
            tasks = self._fixed_tasks(family, f"{cfg.evaluation.suite}/{name}", "test", cfg.evaluation.tasks,
                                      cfg.evaluation.n_obs)
            first = first or tasks
            results[name] = evaluate.score_tasks(self.model, tasks, cfg.evaluation.n_samples, cfg.seed, ctx, amp)
        if ctx.is_main:
            evaluate.write_report(results, self.run_dir, f"{cfg.model.name} on {cfg.evaluation.suite}")
            if first is not None:
                evaluate.plot_adjacencies(self.model, first, cfg.evaluation.plot_tasks, ctx.device, amp,
                                          self.run_dir / "adjacency.png")
        return results

    def close(self) -> None:
        distributed.teardown(self.ctx)
        if self._lock is not None:
            self._lock.close()
