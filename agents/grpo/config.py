"""The configuration schema of `python -m agents.grpo`; presets live in
``agents/configs/grpo/*.yaml``."""

from __future__ import annotations

import dataclasses
import math

from agents.grpo.curriculum import CurriculumConfig
from agents.grpo.settings import PolicyConfig
from causal_meta.config import option, register
from causal_meta.options import require
from envs.settings import EnvSettings

__all__ = ["ADVANCE", "EvaluationSection", "GrpoConfig", "GrpoSection", "SCHEMA_NAME", "SurrogateSection"]

SCHEMA_NAME = "grpo_schema"
ADVANCE = ("best", "sampled")


@dataclasses.dataclass
class GrpoSection:
    """The GRPO update."""

    group_size: int = option(10, "candidate actions scored per environment and step (G)")
    clip: float = option(0.2, "PPO clip range of the probability ratio")
    epochs: int = option(4, "passes over each iteration's data (>= 2, so that the clip can bind)")
    target_kl: float = option(0.02, "stop an iteration's epochs once the approximate KL passes this")
    entropy: float = option(0.001, "bonus on the entropy of the variable choice")
    kl_beta: float = option(0.0, "weight of the KL to the initial policy (0: none)")
    lr: float = option(5e-4, "Adam learning rate (cosine schedule over the iterations)")
    grad_clip: float = option(1.0, "max gradient norm")
    minibatch: int = option(256, "states per gradient step (whole episodes with one_pass)")
    one_pass: bool = option(True, "score an episode's states in one pass and encode each row once in the rollout "
                                  "(false: encode every state from scratch, the reference path)")
    advance: str = option("sampled", "candidate that advances the episode in training: sampled (the policy's own, "
                                     "as it acts alone) or best (the what-if's best)")

    def __post_init__(self) -> None:
        require(self.group_size >= 2, "grpo.group_size", self.group_size, "an integer >= 2")
        require(self.epochs >= 2, "grpo.epochs", self.epochs, "an integer >= 2 (one epoch never clips)")
        require(self.minibatch >= 1, "grpo.minibatch", self.minibatch, "an integer >= 1")
        for name in ("clip", "target_kl", "grad_clip"):
            value = getattr(self, name)
            require(math.isfinite(value) and value > 0, f"grpo.{name}", value, "a finite number > 0")
        require(math.isfinite(self.lr) and 0 < self.lr <= 1, "grpo.lr", self.lr, "a number in (0, 1]")
        for name in ("entropy", "kl_beta"):
            value = getattr(self, name)
            require(math.isfinite(value) and value >= 0, f"grpo.{name}", value, "a finite number >= 0")
        require(self.advance in ADVANCE, "grpo.advance", self.advance, f"one of {list(ADVANCE)}")


@dataclasses.dataclass
class SurrogateSection:
    """The structure learner trained jointly with the policy."""

    checkpoint: str | None = option(None, "checkpoint of any registered model (AVICI, BCNP) to start from (None: "
                                          "the shipped AVICI CPU checkpoint)")
    lr: float = option(1e-4, "Adam learning rate")
    every: int = option(1, "iterations between surrogate updates")
    steps: int = option(2, "gradient steps per update, each on the iteration's episodes cut at a random row")
    query_every: int = option(3, "environment steps between the rollout's surrogate queries (the parent "
                                 "probabilities are held in between)")

    def __post_init__(self) -> None:
        require(math.isfinite(self.lr) and 0 < self.lr <= 1, "surrogate.lr", self.lr, "a number in (0, 1]")
        require(self.every >= 1, "surrogate.every", self.every, "an integer >= 1")
        require(self.steps >= 1, "surrogate.steps", self.steps, "an integer >= 1 (it is trained in every preset)")
        require(self.query_every >= 1, "surrogate.query_every", self.query_every, "an integer >= 1")


@dataclasses.dataclass
class EvaluationSection:
    """The evaluation after training (agents.evaluate on held-out seeds)."""

    enabled: bool = option(True, "evaluate the trained policy after training")
    episodes: int = option(100, "episodes per level")
    policies: list[str] = option(["greedy"], "baselines next to it (random and oracle always run)")

    def __post_init__(self) -> None:
        require(self.episodes >= 1, "evaluation.episodes", self.episodes, "an integer >= 1")


@dataclasses.dataclass
class GrpoConfig:
    """A GRPO run: the policy, its surrogate, the curriculum and the environments."""

    iterations: int = option(400, "training iterations; each plays num_envs episodes per rank in parallel")
    num_envs: int = option(16, "environments per rank")
    seed: int = option(0, "seed of the networks and the training episodes (< 2**32)")
    device: str = option("auto", "'auto' (cuda if available), 'cpu' or 'cuda'")
    threads: int | None = option(1, "torch CPU threads (None: torch's default, one per core); 1 by measurement: "
                                    "2 threads are 1.3-1.7x faster on an idle 2-core machine but 2-2.7x slower "
                                    "beside one busy process (benchmarks/grpo.py --threads-study)")
    checkpoint_every: int = option(10, "iterations between checkpoints (last.pt, and best.pt when best)")
    log_steps: bool = option(False, "print every environment step (debugging)")
    progress: bool = option(True, "show a progress bar")
    policy: PolicyConfig = option(PolicyConfig, "the intervention policy")
    grpo: GrpoSection = option(GrpoSection, "the GRPO update")
    surrogate: SurrogateSection = option(SurrogateSection, "the jointly trained surrogate")
    curriculum: CurriculumConfig = option(CurriculumConfig, "the adaptive curriculum")
    env: EnvSettings = option(EnvSettings, "the training episodes' settings (CausalBO-v0's, as every entry point "
                                           "has them)")
    evaluation: EvaluationSection = option(EvaluationSection, "the evaluation after training")

    def __post_init__(self) -> None:
        for name in ("iterations", "num_envs", "checkpoint_every"):
            require(getattr(self, name) >= 1, name, getattr(self, name), "an integer >= 1")
        require(0 <= self.seed < 2**32, "seed", self.seed, "an integer in [0, 2**32) (evaluation seeds lie above)")
        require(self.threads is None or self.threads >= 1, "threads", self.threads, "None or an integer >= 1")
        require(self.device in ("auto", "cpu", "cuda"), "device", self.device, "'auto', 'cpu' or 'cuda'")
        require(self.env.n_obs >= 1, "env.n_obs", self.env.n_obs, "an integer >= 1 in training (the surrogate needs "
                                                                  "a row)")


register(SCHEMA_NAME, GrpoConfig)
