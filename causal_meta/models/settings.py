"""The settings of every registered model, in a module that imports neither torch nor
Hydra: the ``model`` section of a pre-training config, which ``python -m agents.pretrain
--help`` lists before torch (a second or more) would be loaded, and what a checkpoint's
``config.model`` rebuilds. Each network (:class:`~causal_meta.models.avici.Avici`,
:class:`~causal_meta.models.bcnp.Bcnp`) declares its class here as its ``Config``;
:data:`SETTINGS` lists them by the names of :data:`causal_meta.models.registry.MODELS`.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

from causal_meta.options import check_numbers, option, require

__all__ = ["EDGE_HEADS", "LOSSES", "SETTINGS", "AviciConfig", "BcnpConfig"]

LOSSES = ("per_edge", "joint")
"""The two likelihoods of :class:`~causal_meta.models.bcnp.Bcnp` (see its module docstring)."""

EDGE_HEADS = ("independent", "three_way")
"""AVICI's edge heads (see :mod:`causal_meta.models.avici`)."""

PAIR_STATISTICS_HELP = ("add each pair's correlation and shrunk partial correlation (observational rows) "
                        "to its edge logit")
"""Help of both models' ``pair_statistics`` (:mod:`causal_meta.models.statistics`)."""


@dataclass
class AviciConfig:
    """AVICI's settings: its architecture and its training hook. Declared once, here: this
    is the ``model`` section of a pre-training config (``python -m agents.pretrain --help``)
    and what a checkpoint's ``config.model`` rebuilds. Defaults are the published ones
    (Lorch et al. 2022).

    ``layers`` is the number of *pairs* of blocks (variable axis, then sample axis), so the
    trunk has ``2 * layers`` attention blocks.
    """

    name: str = option("avici", "model to train; selected by `python -m agents.pretrain NAME`")
    d_model: int = option(128, "width of the embeddings and attention")
    heads: int = option(8, "attention heads")
    head_dim: int = option(32, "width of one attention head")
    layers: int = option(8, "pairs of attention blocks (over variables, then over samples)")
    ffn: int = option(512, "hidden width of each feed-forward block")
    dropout: float = option(0.1, "dropout on the residual branches (about +15-30% step time on CPU)")
    key_size: int = option(128, "size of the u_i, v_j edge embeddings")
    init_bias: float = option(-3.0, "initial edge-logit bias (sparse prior)")
    init_log_temperature: float = option(0.0, "initial log of the edge-logit scale; logits start in bias +- exp(this)")
    power_iterations: int = option(10, "power-iteration steps of the acyclicity penalty")
    dual_every: int = option(250, "training steps between updates of the acyclicity weight (0: never)")
    dual_lr: float = option(1e-4, "dual ascent rate: weight += dual_lr * mean penalty since the last update")
    pair_statistics: bool = option(False, PAIR_STATISTICS_HELP)
    edge_head: str = option("independent", "independent (published: a Bernoulli per ordered pair) or three_way "
                                           "(per unordered pair: no edge, i -> j or j -> i)")

    def __post_init__(self) -> None:
        if self.name != "avici":
            raise ValueError(f"model.name = {self.name!r} is not allowed: this is the settings class of 'avici'")
        check_numbers(self, "model", skip=("dual_every", "dual_lr"))
        require(0.0 <= self.dropout < 1.0, "model.dropout", self.dropout, "a number in [0, 1)")
        require(isinstance(self.pair_statistics, bool), "model.pair_statistics", self.pair_statistics, "true or false")
        require(self.edge_head in EDGE_HEADS, "model.edge_head", self.edge_head, f"one of {list(EDGE_HEADS)}")
        require(isinstance(self.dual_every, numbers.Integral) and not isinstance(self.dual_every, bool)
                and self.dual_every >= 0, "model.dual_every", self.dual_every, "an integer >= 0")
        require(isinstance(self.dual_lr, numbers.Real) and not isinstance(self.dual_lr, bool)
                and math.isfinite(self.dual_lr) and self.dual_lr >= 0, "model.dual_lr", self.dual_lr,
                "a finite number >= 0")


@dataclass
class BcnpConfig:
    """BCNP's settings, declared once: the ``model`` section of a pre-training config
    (``model=bcnp``) and what a checkpoint's ``config.model`` rebuilds."""

    name: str = option("bcnp", "model to train; selected by `python -m agents.pretrain NAME`")
    d_model: int = option(128, "width of the embeddings and attention")
    heads: int = option(8, "attention heads")
    head_dim: int = option(16, "width of one attention head")
    encoder_layers: int = option(4, "encoder blocks, alternating over samples and over variables (even)")
    decoder_layers: int = option(4, "blocks of each decoder stack, Q and L")
    ffn: int = option(512, "hidden width of each feed-forward block")
    dropout: float = option(0.1, "dropout on the residual branches")
    embed_depth: int = option(2, "layers of the per-cell value MLP")
    n_perm_samples: int = option(10, "permutations drawn per task in training and for edge marginals")
    sinkhorn_iter: int = option(20, "most Sinkhorn normalisations of a relaxed permutation")
    temperature: float = option(1.0, "temperature of the relaxed permutation")
    q_before_l: bool = option(True, "the Q stack runs first and the L stack reads its output (else the reverse)")
    loss: str = option("per_edge", "per_edge (published: a mixture per edge) or joint (the whole graph)")
    init_bias: float = option(-3.0, "initial edge-logit bias (sparse prior)")
    pair_statistics: bool = option(False, PAIR_STATISTICS_HELP)

    def __post_init__(self) -> None:
        if self.name != "bcnp":
            raise ValueError(f"model.name = {self.name!r} is not allowed: this is the settings class of 'bcnp'")
        check_numbers(self, "model")
        require(self.encoder_layers % 2 == 0, "model.encoder_layers", self.encoder_layers,
                "an even integer (pairs of sample and variable attention)")
        require(0.0 <= self.dropout < 1.0, "model.dropout", self.dropout, "a number in [0, 1)")
        require(self.temperature > 0, "model.temperature", self.temperature, "a finite number > 0")
        require(isinstance(self.q_before_l, bool), "model.q_before_l", self.q_before_l, "true or false")
        require(self.loss in LOSSES, "model.loss", self.loss, f"one of {list(LOSSES)}")
        require(isinstance(self.pair_statistics, bool), "model.pair_statistics", self.pair_statistics, "true or false")


SETTINGS: dict[str, type] = {"avici": AviciConfig, "bcnp": BcnpConfig}
"""The settings class of each registered model, by name."""
