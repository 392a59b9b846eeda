"""The GRPO trainer of the intervention policy and its surrogate: an explicit loop.

Each iteration plays ``num_envs`` episodes per rank side by side on the engine-batched
vector environment, at levels the curriculum chooses. At every step of every episode it
asks the surrogate for the parent probabilities (every ``surrogate.query_every`` steps,
held in between), encodes the step's new rows with the policy (its rollout cache: each
row once), samples G = ``grpo.group_size`` candidate actions from the policy, scores all of them
with the environment's what-if (one engine call; it reads the true SCM, so it exists
only in training: a trained agent acts alone, and evaluation never calls it), and turns
each group's rewards into advantages (r - mean) / max(std, 1e-3). Groups whose rewards
are all equal get zero advantage and are counted. The best candidate (or the first
sampled one, ``grpo.advance=sampled``) advances the episode.

With ``env.w_info > 0`` the what-if also scores each candidate's information gain under
the surrogate (the environment builds the hypothetical observations itself: the trainer
never reads the observation's row layout, :mod:`envs.rows`).

After the episodes, the surrogate (:class:`causal_meta.surrogate.ParentSurrogate`, of
any registered model: ``surrogate.checkpoint`` may be AVICI's or BCNP's) is scored (edge
F1, AUROC) on their true graphs and trained on them through its model's own loss; then
the policy takes ``grpo.epochs`` passes over the iteration's (state, candidates,
advantages) in minibatches of whole episodes, each episode's states scored in one pass
(``grpo.one_pass``; the per-state reference path takes minibatches of states), with
PPO's clipped objective, an entropy bonus on the
variable choice, an optional KL to the initial policy (log-ratios clamped before exp),
gradient clipping, and an early stop once the approximate KL passes
``grpo.target_kl``. Adam with a cosine schedule over the iterations.

Seeding: iteration k resets sub-environment i of rank r with seed ``base_k + r N + i``,
base_k a hash of (seed, k) below 2**32; candidates, minibatches and prefix lengths come
from generators saved in the checkpoints. A run killed at any point and resumed from
its last checkpoint therefore ends with the same bits as an uninterrupted one on the
same machine (torch's CPU kernels with a fixed thread count).

Files: ``runs/<preset>/`` holds ``config.yaml``, ``tensorboard/``, ``checkpoints/``
(``last.pt``, ``best.pt``: the highest curriculum level reached, then the lowest regret
at the horizon over the last check window), ``metrics.json`` and ``curriculum.png``.
"""

from __future__ import annotations

import contextlib
import copy
import math
import random
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist

from agents.grpo.agent import MODEL_NAME
from agents.grpo.config import GrpoConfig
from agents.grpo.curriculum import TRACKED, Curriculum
from agents.grpo.policy import InterventionPolicy, RolloutCache, observation_tensors
from causal_meta.atomic import write_json
from causal_meta.config import to_plain
from causal_meta.models import registry
from causal_meta.pretrained import DEFAULT_CHECKPOINT, restore_model
from causal_meta.scm import task_seed
from causal_meta.surrogate import ParentSurrogate, edge_scores
from causal_meta.train import checkpoint as ckpt
from causal_meta.train import distributed, rundir
from causal_meta.train.logging import RunLogger
from causal_meta.train.preemption import stop_signals
from envs.actions import one_hot_actions
from envs.config import EnvConfig
from envs.rows import filled_rows, played_targets, prefix
from envs.vector import CausalBOVectorEnv

__all__ = ["STD_FLOOR", "DivergedError", "Trainer", "advantages", "speed"]

STD_FLOOR = 1e-3
"""Floor of a group's reward standard deviation in the advantage: a float32 std of
near-equal rewards can be 1e-4 and would blow the advantages up."""
LOG_RATIO_CLAMP = 20.0
_ARCHITECTURE = ("policy", "num_envs", "env.n_obs", "env.horizon", "curriculum.start", "curriculum.stop")
"""Config keys a checkpoint must share with the run that resumes it."""


def advantages(rewards: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Group-normalised advantages of rewards (N, G), and which groups had all rewards
    equal (their advantages are exactly 0)."""
    centred = rewards - rewards.mean(axis=1, keepdims=True)
    flat = (rewards.max(axis=1) - rewards.min(axis=1)) == 0.0
    return centred / np.maximum(rewards.std(axis=1, keepdims=True), STD_FLOOR), flat


def speed(timings: list[dict[str, float]]) -> dict[str, float]:
    """Episodes/s, environment steps/s (what-if candidates included) and the share of
    the time spent in each part, over the iterations ``timings`` of :class:`Trainer`."""
    if not timings:
        return {}
    seconds = sum(t["seconds"] for t in timings)
    parts = ("env", "what_if", "surrogate", "policy", "update")
    out = {"iterations": float(len(timings)), "seconds": seconds,
           "episodes_per_s": sum(t["episodes"] for t in timings) / seconds,
           "env_steps_per_s": sum(t["env_steps"] for t in timings) / seconds}
    out.update({f"{part}_share": sum(t[part] for t in timings) / seconds for part in parts})
    out["env_what_if_surrogate_share"] = sum(out[f"{part}_share"] for part in ("env", "what_if", "surrogate"))
    return out


class DivergedError(ValueError):
    """A network's weights stopped being finite: the learning rate is too high for it."""


class Trainer:
    """One GRPO run in ``run_dir``; :meth:`train` resumes from ``checkpoints/last.pt``."""

    def __init__(self, cfg: GrpoConfig, run_dir: Path) -> None:
        self.cfg, self.run_dir = cfg, run_dir
        if cfg.threads is not None:
            torch.set_num_threads(cfg.threads)
        self.ctx = ctx = distributed.setup(cfg.device)
        self._lock = rundir.claim(run_dir) if ctx.is_main else None
        torch.manual_seed(cfg.seed)  # the same initial networks on every rank
        random.seed(cfg.seed)  # unused here, seeded so that checkpoints of equal runs are equal
        np.random.seed(cfg.seed)
        self.policy = InterventionPolicy(cfg.policy).to(ctx.device)
        self.reference = copy.deepcopy(self.policy).requires_grad_(False) if cfg.grpo.kl_beta > 0 else None
        path = Path(cfg.surrogate.checkpoint) if cfg.surrogate.checkpoint else DEFAULT_CHECKPOINT
        try:
            saved = ckpt.load_checkpoint(path, expected_model=tuple(registry.MODELS))
            model = restore_model(saved, path)
        except ckpt.CheckpointError as err:
            raise ckpt.CheckpointError(f"surrogate.checkpoint: {err}", err.path) from err
        self.surrogate_config = dict(saved["config"]["model"])
        self.surrogate = ParentSurrogate(model.to(ctx.device))
        self.optimizer = torch.optim.Adam(self.policy.parameters(), lr=cfg.grpo.lr)
        self.scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(self.optimizer, T_max=cfg.iterations)
        self.surrogate_optimizer = torch.optim.Adam(model.parameters(), lr=cfg.surrogate.lr)
        self.curriculum = Curriculum(cfg.curriculum)
        self.generator = torch.Generator().manual_seed(cfg.seed * 4099 + ctx.rank)
        self.rng = np.random.default_rng([cfg.seed, ctx.rank])
        width = max(EnvConfig.build(level).max_nodes for level in range(cfg.curriculum.start, cfg.curriculum.stop + 1))
        self.env = CausalBOVectorEnv(cfg.num_envs, cfg.curriculum.start, settings=cfg.env, max_nodes=width)
        self.iteration = 0
        self.best = -math.inf
        self.checkpoints = ckpt.CheckpointManager(run_dir / "checkpoints", keep_last_k=1)
        self.stop_requested = False
        self.last_metrics: dict[str, float] = {}
        self.timings: list[dict[str, float]] = []
        """Per iteration of this process: wall seconds, episodes, environment steps
        (candidates included) and the seconds of each part (env, what_if, surrogate,
        policy, update)."""

    # ------------------------------------------------------------------ checkpoints

    def state_dict(self) -> dict[str, Any]:
        return {"model": self.policy.state_dict(), "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict(), "scaler": {}, "stream": {"iteration": self.iteration},
                "rng": ckpt.capture_rng_state({"sampler": self.generator, "episodes": self.rng}),
                "surrogate": self.surrogate.model.state_dict(), "surrogate_config": self.surrogate_config,
                "surrogate_optimizer": self.surrogate_optimizer.state_dict(),
                "curriculum": self.curriculum.state_dict(),
                "reference": {} if self.reference is None else self.reference.state_dict(), "best": self.best}

    def resume(self) -> bool:
        """Continue from the newest readable checkpoint of the run, if any."""
        path = ckpt.find_resume(self.checkpoints.directory)
        if path is None:
            return False
        state = ckpt.load_checkpoint(path, expected_model=MODEL_NAME, expected_config=to_plain(self.cfg),
                                     keys_to_check=_ARCHITECTURE)["state"]
        self.policy.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.surrogate.model.load_state_dict(state["surrogate"])
        self.surrogate_optimizer.load_state_dict(state["surrogate_optimizer"])
        self.curriculum.load_state_dict(state["curriculum"])
        if self.reference is not None:
            self.reference.load_state_dict(state["reference"])
        self.iteration, self.best = state["stream"]["iteration"], state["best"]
        ckpt.restore_rng_state(state["rng"], {"sampler": self.generator, "episodes": self.rng})
        return True

    def save(self, is_best: bool = False) -> None:
        if self.ctx.is_main:
            self.checkpoints.save(self.state_dict(), step=self.iteration, model_name=MODEL_NAME, config=self.cfg,
                                  is_best=is_best, best_metric=("level_then_regret", self.best))
        distributed.barrier(self.ctx)

    def _on_signal(self, signum: int, _frame: Any) -> None:
        self.stop_requested = True

    def _stopping(self) -> bool:
        """Whether any rank was asked to stop: all ranks stop together, or the others
        would wait forever in the next gradient all-reduce."""
        if self.ctx.enabled:
            flag = distributed.mean_across_ranks(torch.tensor(float(self.stop_requested), device=self.ctx.device),
                                                 self.ctx)
            self.stop_requested = bool(flag > 0)
        return self.stop_requested

    # ------------------------------------------------------------------ the loop

    def train(self) -> None:
        cfg = self.cfg
        resumed = self.resume()
        log = RunLogger(self.run_dir, cfg, cfg.iterations, self.iteration, self.ctx.is_main, cfg.progress)
        if resumed:
            log.message(f"resumed from iteration {self.iteration}")
        with stop_signals(self._on_signal), contextlib.closing(log):
            while self.iteration < cfg.iterations and not self._stopping():
                metrics = self._iteration(log)
                self.iteration += 1
                reason = self._curriculum_step(metrics)
                if reason:
                    log.message(f"iteration {self.iteration}: level {self.curriculum.level} ({reason})")
                self._log(log, metrics)
                if self.iteration % cfg.checkpoint_every == 0 or self.iteration == cfg.iterations:
                    # best.pt: the highest level reached, then the lowest regret at the horizon
                    score = self.curriculum.level + 1.0 / (1.0 + float(np.nanmean(metrics["simple_regret_std"])))
                    is_best = score > self.best
                    self.best = max(self.best, score)
                    self.save(is_best)
            if self.stop_requested:
                log.message(f"stop signal received: checkpoint at iteration {self.iteration}, exiting")
                self.save()
        if self.ctx.is_main and not self.stop_requested:
            self._write_summary()

    def _reset(self) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
        """Start this iteration's episodes: (observation, levels, target std)."""
        n = self.cfg.num_envs
        levels = self.curriculum.levels(n, self.rng)
        base = task_seed(self.cfg.seed, self.iteration) % (2**32 - n * self.ctx.world_size)
        base += self.ctx.rank * n
        target_std = np.ones(n)
        observation: dict[str, np.ndarray] = {}
        for level in np.unique(levels).tolist():
            mask = levels == level
            observation, info = self.env.reset(seed=int(base), options={"reset_mask": mask, "level": level})
            target_std[mask] = info["target_std"][mask]
        return observation, levels, target_std

    def _iteration(self, log: RunLogger) -> dict[str, Any]:
        """Play the episodes, update the surrogate and the policy; per-episode metrics."""
        cfg = self.cfg
        n, g, horizon = cfg.num_envs, cfg.grpo.group_size, cfg.env.horizon
        width = self.env.config.max_nodes
        clock = {"env": 0.0, "what_if": 0.0, "surrogate": 0.0, "policy": 0.0, "update": 0.0}
        start = time.perf_counter()
        obs, levels, target_std = self._reset()
        graphs = self.env.graphs()
        true_parents = graphs[np.arange(n), :, obs["target"].argmax(axis=1)].astype(bool)
        clock["env"] += time.perf_counter() - start
        steps: list[dict[str, Any]] = []
        rewards, parents, entries = np.zeros((n, horizon)), np.zeros((n, horizon)), np.zeros((n, horizon))
        greedy_parents = np.zeros((n, horizon))
        flat_groups = 0
        info: dict[str, Any] = {}
        cache = RolloutCache() if cfg.grpo.one_pass else None
        for t in range(horizon):
            if t % cfg.surrogate.query_every == 0:
                tick = time.perf_counter()
                probs = self.surrogate.parent_probs(obs)
                clock["surrogate"] += time.perf_counter() - tick
            tick = time.perf_counter()
            with torch.no_grad():
                state = observation_tensors(obs, self.ctx.device)
                logits, mean = (self.policy(state, probs) if cache is None
                                else self.policy.rollout_step(state, probs, cache))
                logits, mean = logits.cpu(), mean.cpu()
                nodes, z = self.policy.sample(logits, mean, g, self.generator)
                log_prob = self.policy.log_prob(logits, mean, nodes, z)
            u = torch.tanh(z).numpy()
            greedy_parents[:, t] = true_parents[np.arange(n), logits.argmax(dim=1).numpy()]
            actions = one_hot_actions(nodes.reshape(-1).numpy(), u.reshape(-1), width).reshape(n, g, width + 1)
            clock["policy"] += time.perf_counter() - tick
            tick = time.perf_counter()
            scored = self.env.what_if(actions, self.surrogate if cfg.env.w_info > 0 else None)
            clock["what_if"] += time.perf_counter() - tick
            advantage, flat = advantages(scored.rewards)
            flat_groups += int(flat.sum())
            choice = scored.rewards.argmax(axis=1) if cfg.grpo.advance == "best" else np.zeros(n, np.int64)
            rows = np.arange(n)
            steps.append({"obs": obs if cache is None else None, "probs": probs.cpu(), "nodes": nodes, "z": z,
                          "log_prob": log_prob, "advantage": torch.from_numpy(advantage.astype(np.float32)),
                          "rows": torch.from_numpy(filled_rows(obs))})
            tick = time.perf_counter()
            obs, reward, _, _, info = self.env.step(actions[rows, choice])
            clock["env"] += time.perf_counter() - tick
            rewards[:, t], parents[:, t], entries[:, t] = reward, info["is_parent"], np.abs(u[rows, choice])
            if cfg.log_steps:
                log.message(f"iteration {self.iteration} step {t + 1}: reward {reward.mean():.3f}, parent "
                            f"{info['is_parent'].mean():.2f}, simple regret {np.nanmean(info['simple_regret']):.3g}, "
                            f"flat groups {int(flat.sum())}/{n}")
        tick = time.perf_counter()
        f1, auroc = edge_scores(self.surrogate.edge_probs(obs).cpu().numpy(), graphs, obs["node_mask"].sum(axis=1))
        surrogate_loss = self._train_surrogate(obs, graphs) if self.iteration % cfg.surrogate.every == 0 else math.nan
        clock["surrogate"] += time.perf_counter() - tick
        tick = time.perf_counter()
        update = self._update(steps, obs)
        clock["update"] += time.perf_counter() - tick
        seconds = time.perf_counter() - start
        return {
            "target_z": played_targets(obs).mean(axis=1),
            "levels": levels, "reward": rewards.mean(axis=1), "parent_rate": parents.mean(axis=1),
            "range_use": entries.mean(axis=1), "greedy_parent_rate": greedy_parents.mean(axis=1),
            "simple_regret_std": info["simple_regret"] / target_std,
            "cumulative_regret_std": info["cumulative_regret"] / target_std, "surrogate_f1": f1,
            "surrogate_auroc": auroc, "flat_groups": flat_groups / (n * horizon), "surrogate_loss": surrogate_loss,
            "seconds": seconds, "clock": clock, **update,
        }

    def _train_surrogate(self, obs: dict[str, np.ndarray], graphs: np.ndarray) -> float:
        """``surrogate.steps`` gradient steps on the episodes' observations, each cut at a
        random row count (the surrogate is queried on every prefix); the mean of the
        model's own loss."""
        model = self.surrogate.model
        model.train()
        losses = []
        for _ in range(self.cfg.surrogate.steps):
            rows = int(self.rng.integers(self.cfg.env.n_obs, self.env.config.rows + 1))
            loss = self.surrogate.loss(prefix(obs, rows), graphs)
            self.surrogate_optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self._optimizer_step(self.surrogate_optimizer, model.parameters(), "surrogate.lr")
            losses.append(loss.item())
        model.eval()
        return float(np.mean(losses))

    def _update(self, steps: list[dict[str, Any]], last: dict[str, np.ndarray]) -> dict[str, float]:
        """The clipped GRPO update over the iteration's states, whose episodes ended with
        the observations ``last``; its statistics.

        With ``grpo.one_pass`` a minibatch is a set of whole episodes (``grpo.minibatch``
        states, rounded down to whole episodes, at least one), each scored in one pass
        over its last observation; otherwise a minibatch is a random set of states, each
        encoded from its own observation (the reference path)."""
        cfg, device = self.cfg.grpo, self.ctx.device
        stack = 1 if cfg.one_pass else 0
        probs, nodes, z, old, advantage, rows = (
            (torch.stack if stack else torch.cat)([s[key] for s in steps], stack).to(device)
            for key in ("probs", "nodes", "z", "log_prob", "advantage", "rows"))
        if cfg.one_pass:
            final = observation_tensors(last, device)
            count, per_batch = len(nodes), max(1, cfg.minibatch // len(steps))

            def score(net: InterventionPolicy, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
                logits, mean = net.forward_episodes(final.index(idx), probs[idx], rows[idx])
                return logits.flatten(0, 1), mean.flatten(0, 1)
        else:
            states = observation_tensors({key: np.concatenate([s["obs"][key] for s in steps])
                                          for key in steps[0]["obs"]}, device)
            count, per_batch = len(nodes), cfg.minibatch

            def score(net: InterventionPolicy, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
                return net(states.index(idx), probs[idx])

        def take(x: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
            """The (state, candidate) entries of the minibatch ``idx``, one state a row."""
            return x[idx].flatten(0, stack)

        stats: dict[str, list[float]] = {"policy_loss": [], "entropy": [], "approx_kl": [], "clip_fraction": [],
                                         "kl_reference": []}
        self.policy.train()
        epochs_run = 0
        for _ in range(cfg.epochs):
            order = torch.randperm(count, generator=self.generator).to(device)
            stop = False
            for first in range(0, count, per_batch):
                idx = order[first:first + per_batch]
                logits, mean = score(self.policy, idx)
                new = self.policy.log_prob(logits, mean, take(nodes, idx), take(z, idx))
                log_ratio = (new - take(old, idx)).clamp(-LOG_RATIO_CLAMP, LOG_RATIO_CLAMP)
                ratio = log_ratio.exp()
                approx_kl = distributed.mean_across_ranks(((ratio - 1.0) - log_ratio).mean().detach(), self.ctx)
                if float(approx_kl) > cfg.target_kl:
                    stop = True
                    break
                a = take(advantage, idx)
                policy_loss = -torch.min(ratio * a, ratio.clamp(1.0 - cfg.clip, 1.0 + cfg.clip) * a).mean()
                entropy = self.policy.entropy(logits).mean()
                kl_reference = self._kl_reference(lambda net: score(net, idx), take(nodes, idx), take(z, idx), new)
                loss = policy_loss - cfg.entropy * entropy + cfg.kl_beta * kl_reference
                self.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                self._optimizer_step(self.optimizer, self.policy.parameters(), "grpo.lr")
                for key, value in (("policy_loss", policy_loss), ("entropy", entropy), ("approx_kl", approx_kl),
                                   ("clip_fraction", ((ratio - 1.0).abs() > cfg.clip).float().mean()),
                                   ("kl_reference", kl_reference)):
                    stats[key].append(float(value.detach()))
            epochs_run += 1
            if stop:
                break
        self.scheduler.step()
        out = {key: float(np.mean(values)) if values else math.nan for key, values in stats.items()}
        out["epochs"] = float(epochs_run)
        return out

    def _kl_reference(self, score: Any, nodes: torch.Tensor, z: torch.Tensor, new: torch.Tensor) -> torch.Tensor:
        """KL(policy || initial policy) estimated on the candidates (k3 estimator);
        ``score(net)`` gives a network's logits and means on the minibatch."""
        if self.reference is None:
            return new.new_zeros(())
        with torch.no_grad():
            logits, mean = score(self.reference)
            reference = self.reference.log_prob(logits, mean, nodes, z)
        log_ratio = (reference - new).clamp(-LOG_RATIO_CLAMP, LOG_RATIO_CLAMP)
        return (log_ratio.exp() - log_ratio - 1.0).mean()

    def _optimizer_step(self, optimizer: torch.optim.Optimizer, parameters: Any, lr_key: str) -> None:
        """Average the gradients over ranks (DDP without the wrapper: every rank runs
        its own episodes and the same number of steps), clip their norm, step, and stop
        the run with :class:`DivergedError` once a weight is no longer finite: the next
        forward pass would otherwise fail deep inside a distribution with a tensor dump."""
        parameters = list(parameters)
        if self.ctx.enabled:
            for p in parameters:
                if p.grad is None:
                    p.grad = torch.zeros_like(p)
                dist.all_reduce(p.grad)
                p.grad /= self.ctx.world_size
        torch.nn.utils.clip_grad_norm_(parameters, self.cfg.grpo.grad_clip)
        optimizer.step()
        if not bool(torch.stack([torch.isfinite(p).all() for p in parameters]).all()):  # one device sync
            lr = optimizer.param_groups[0]["lr"]
            raise DivergedError(f"training diverged at iteration {self.iteration + 1}: after an optimizer step at "
                                f"{lr_key} = {lr:g} some weights are no longer finite; lower {lr_key} or "
                                "grpo.grad_clip")

    def _curriculum_step(self, metrics: dict[str, Any]) -> str | None:
        """Feed every rank's episodes to the curriculum (the same on every rank)."""
        keys = ("levels", *TRACKED)
        rows = list(zip(*(metrics[key].tolist() for key in keys)))
        gathered = distributed.gather_lists(rows, self.ctx)
        columns = {key: np.array([row[i] for row in gathered]) for i, key in enumerate(keys)}
        self.curriculum.record(columns.pop("levels"), columns)
        return self.curriculum.check(self.iteration)

    # ------------------------------------------------------------------ logs

    def _log(self, log: RunLogger, metrics: dict[str, Any]) -> None:
        cfg = self.cfg
        n = cfg.num_envs * self.ctx.world_size
        clock = metrics["clock"]
        env_steps = n * cfg.env.horizon * (1 + cfg.grpo.group_size)
        total = sum(clock.values())
        scalars = {
            "charts/level": self.curriculum.level, "charts/reward": float(np.mean(metrics["reward"])),
            "charts/target_z": float(np.mean(metrics["target_z"])),
            "charts/parent_rate": float(np.mean(metrics["parent_rate"])),
            "charts/greedy_parent_rate": float(np.mean(metrics["greedy_parent_rate"])),
            "charts/simple_regret_std": float(np.nanmean(metrics["simple_regret_std"])),
            "charts/cumulative_regret_std": float(np.nanmean(metrics["cumulative_regret_std"])),
            "charts/range_use": float(np.mean(metrics["range_use"])),
            "charts/episodes_per_s": n / metrics["seconds"], "charts/env_steps_per_s": env_steps / metrics["seconds"],
            "charts/learning_rate": self.scheduler.get_last_lr()[0],
            "grpo/flat_groups": metrics["flat_groups"], "grpo/epochs": metrics["epochs"],
            "surrogate/f1": float(np.mean(metrics["surrogate_f1"])),
            "surrogate/auroc": float(np.nanmean(metrics["surrogate_auroc"])),
            "losses/policy": metrics["policy_loss"], "losses/entropy": metrics["entropy"],
            "losses/approx_kl": metrics["approx_kl"], "losses/clip_fraction": metrics["clip_fraction"],
            "losses/kl_reference": metrics["kl_reference"], "losses/surrogate": metrics["surrogate_loss"],
            **{f"timing/{key}_share": value / total for key, value in clock.items()},
        }
        log.scalars(scalars, self.iteration)
        self.timings.append({"seconds": metrics["seconds"], "episodes": n, "env_steps": env_steps, **clock})
        self.last_metrics = {**scalars, **{f"timing/{key}_s": value for key, value in clock.items()}}
        log.progress(1, level=self.curriculum.level, regret=scalars["charts/simple_regret_std"],
                     parent=scalars["charts/parent_rate"])

    def _write_summary(self) -> None:
        """metrics.json (the last iteration's scalars, per-level means, the level
        history) and curriculum.png."""
        data = {"iterations": self.iteration, "last": self.last_metrics, "levels": self.curriculum.means(),
                "history": self.curriculum.history, "speed": speed(self.timings)}
        write_json(self.run_dir / "metrics.json", data)
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        fig = Figure(figsize=(6, 3))
        FigureCanvasAgg(fig)
        ax = fig.subplots()
        history = self.curriculum.history
        xs = [h[0] for h in history] + [self.iteration]
        ys = [h[1] for h in history] + [history[-1][1]]
        ax.step(xs, ys, where="post", color="tab:blue", label="level")
        for iteration, level, reason in history[1:]:
            ax.plot(iteration, level, "o" if reason == "advanced" else "x", color="tab:red" if reason == "capped"
                    else "tab:green")
        ax.set_xlabel("iteration")
        ax.set_ylabel("curriculum level")
        ax.set_title("curriculum (o: advanced on its thresholds, x: capped)", fontsize=9)
        fig.tight_layout()
        fig.savefig(self.run_dir / "curriculum.png", dpi=90)

    def close(self) -> None:
        self.env.close()
        distributed.teardown(self.ctx)
        if self._lock is not None:
            self._lock.close()
