"""AVICI: amortized causal structure learning (Lorch et al., 2022), in torch.

A transformer reads one task, its data ``(n, d)`` and intervention mask ``(n, d)``, and
outputs edge logits ``(d, d)`` with ``logit[i, j]`` for the edge i -> j. Design, as
published, and what is ours:

* **Input.** Each cell is the pair (value, intervened) and is embedded linearly to
  ``d_model``: a ``(B, n, d, d_model)`` tensor, one token per (sample, variable).
* **Alternating attention.** ``layers`` counts *pairs* of blocks, as AVICI's own
  ``layers`` does: each pair attends first over the variable axis (each sample's d
  tokens), then over the sample axis (each variable's n tokens), so ``layers = 8`` is 16
  attention blocks. A block is pre-LayerNorm multi-head self-attention and a ReLU FFN,
  each added back through a residual with dropout on the branch (AVICI's placement; the
  attention weights themselves are not dropped). Weights are shared across the axis not
  attended over, so the network is equivariant to permuting variables and to permuting
  samples. One LayerNorm feeds q, k and v (AVICI has three, whose affine parameters
  the q/k/v projections absorb, so the function class is the same). Heads have
  ``head_dim`` each (AVICI: 32 with 8 heads at width 128, not ``d_model / heads``).
* **Pooling.** A final LayerNorm, then the max over samples gives one ``d_model`` vector
  per variable and makes the output invariant to sample order.
* **Edge logits.** Two heads (LayerNorm + linear to ``key_size``) give u_i and v_j;
  ``logit[i, j] = exp(t) * cos(u_i, v_j) + b`` with learned scalars t (init
  ``init_log_temperature``, AVICI's 0 by default) and b (init ``init_bias`` = -3, so
  that every edge starts near the sparse prior sigmoid(-3) ~ 0.05). The logits then lie
  in ``b +- exp(t)``: with t = 0 no edge can pass probability 0.5 until t has grown by
  more than 1, which Adam, moving a scalar by about ``lr`` per step, takes thousands of
  steps to do. Short runs (the CPU preset) therefore start t higher. The diagonal (no self-loops) and the rows and columns of padded
  variables are set to :data:`MASKED_LOGIT`, probability exactly 0.
* **Pair statistics** (ours, ``pair_statistics``, off by default). The task's
  correlation and shrunk precision matrices over its observational rows
  (:func:`causal_meta.models.statistics.pairwise_statistics`) add a term per pair to the
  logits, read with the pooled embeddings of the two variables
  (:class:`~causal_meta.models.statistics.PairHead`, whose output starts at zero, so
  the initial logits are the ones above). Off, the model and its state dict are the
  published ones.
* **Three-way head** (ours, ``edge_head = three_way``; ``independent``, the published
  head, by default). The same scores ``s_ij`` become, per unordered pair {i, j}, a
  categorical over "no edge", i -> j and j -> i with odds ``1 : e^s_ij : e^s_ji`` (as
  SEA, Wu et al. 2024, classifies pairs), so a pair never holds both directions. The
  model outputs the logits of the marginals (:func:`three_way_marginals`), trains by the
  pairs' cross-entropy (:func:`three_way_loss`) and samples each pair's class
  (:func:`sample_pair_graphs`); no parameter is added.
* **Padding.** Tasks of a batch may have different d: ``node_mask`` (B, d) marks the
  real variables. Padded variables are masked out as attention keys over the variable
  axis, and the sample-axis attention, LayerNorms, FFNs and pooling act on each variable
  alone, so padded variables cannot influence real ones (a test checks that the logits
  of a task do not change when it is padded with arbitrary values). All rows are real.
* **Loss** (:meth:`Avici.loss`). Binary cross-entropy averaged over the valid
  off-diagonal entries of each task, then over tasks (AVICI normalises per graph by
  d(d - 1)), plus ``dual`` times the acyclicity penalty: the spectral radius of the
  edge-probability matrix (zero for a DAG), estimated by power iteration
  (:func:`spectral_radius`). The trainer raises ``dual`` by :func:`update_dual`.
* **Precision.** Under ``torch.autocast`` the linear layers (projections, FFNs) run in
  the autocast dtype while the residual stream keeps the dtype of the data (float32
  from the streams); on CPU the attention
  itself runs in float32 too (see :func:`causal_meta.models.blocks.attend`). The cosine similarity, the logits, the
  loss and the power iteration always run in float32.

Initialisation follows AVICI: He (variance 2 / fan-in) weights in attention, FFN and
heads, zero biases, variance 1 / fan-in for the input embedding.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from causal_meta.models.blocks import Block
from causal_meta.models.settings import AviciConfig
from causal_meta.models.statistics import PairHead, pairwise_statistics

__all__ = [
    "MASKED_LOGIT",
    "Avici",
    "AviciConfig",
    "LossTerms",
    "acyclicity_penalty",
    "bce_loss",
    "check_inputs",
    "edge_mask",
    "sample_graphs",
    "sample_pair_graphs",
    "spectral_radius",
    "three_way_loss",
    "three_way_marginals",
    "update_dual",
]

MASKED_LOGIT = -1.0e4
"""Logit of entries that can never be an edge (diagonal, padding). sigmoid gives exactly 0
in float32, and the value stays finite in bf16 and fp16, unlike -inf, so that arithmetic
on logits never produces NaN."""

# Below this, u . v of the power iteration counts as zero (see spectral_radius).
_TINY = 1e-30


# ---------------------------------------------------------------------------------------
# The network
# ---------------------------------------------------------------------------------------


def _head(config: AviciConfig) -> nn.Sequential:
    return nn.Sequential(nn.LayerNorm(config.d_model), nn.Linear(config.d_model, config.key_size))


def _he_init(root: nn.Module) -> None:
    """AVICI's initialisation of every linear layer under ``root``: He weights (variance
    2 / fan-in), zero biases."""
    for module in root.modules():
        if isinstance(module, nn.Linear):
            nn.init.kaiming_uniform_(module.weight, nonlinearity="relu")
            if module.bias is not None:
                nn.init.zeros_(module.bias)


class LossTerms(NamedTuple):
    """``loss`` (to minimise) = ``bce`` + dual * ``penalty``; all scalar tensors. The
    trainer logs ``bce`` and ``penalty`` and feeds a running average of ``penalty`` to
    :func:`update_dual`."""

    loss: Tensor
    bce: Tensor
    penalty: Tensor


class Avici(nn.Module):
    """The AVICI structure learner; see the module docstring for the design."""

    Config = AviciConfig

    def __init__(self, config: AviciConfig | None = None) -> None:
        super().__init__()
        self.config = config = config if config is not None else AviciConfig()
        self.embed = nn.Linear(2, config.d_model)
        sizes = (config.d_model, config.heads, config.head_dim, config.ffn, config.dropout)
        self.variable_blocks = nn.ModuleList(Block(*sizes) for _ in range(config.layers))
        self.sample_blocks = nn.ModuleList(Block(*sizes) for _ in range(config.layers))
        self.final_norm = nn.LayerNorm(config.d_model)
        self.u_head, self.v_head = _head(config), _head(config)
        self.log_temperature = nn.Parameter(torch.tensor(float(config.init_log_temperature)))
        self.bias = nn.Parameter(torch.tensor(float(config.init_bias)))
        _he_init(self)
        nn.init.kaiming_uniform_(self.embed.weight, nonlinearity="linear")  # variance 1 / fan-in
        # Only with the option on: without it the state dict is the published model's. Built
        # after the others are initialised, so that a seed gives them the same weights either way.
        self.pair_head: PairHead | None = None
        if config.pair_statistics:
            self.pair_head = PairHead(config.d_model)
            _he_init(self.pair_head)
        # The training hook's state (:meth:`after_step`): the acyclicity weight and the
        # penalties summed since its last update (on the device until folded).
        self._dual, self._penalty_sum, self._penalty_count = 0.0, 0.0, 0
        self._pending: Tensor | float = 0.0
        self._pending_count = 0

    def forward(self, data: Tensor, intervened: Tensor, node_mask: Tensor | None = None) -> Tensor:
        """Edge logits float32 (B, d, d) of the tasks ``data`` (B, n, d) with intervention
        mask ``intervened`` (B, n, d); ``node_mask`` (B, d), default all True, marks the
        real variables. Masked entries (diagonal, padding) are :data:`MASKED_LOGIT`. With
        the ``three_way`` head these are the logits of the marginals ``P(i -> j)``
        (:func:`three_way_marginals`)."""
        scores, node_mask = self.scores(data, intervened, node_mask)
        return three_way_marginals(scores, node_mask) if self.config.edge_head == "three_way" else scores

    def scores(self, data: Tensor, intervened: Tensor, node_mask: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """The head's scores float32 (B, d, d), ``MASKED_LOGIT`` where masked, and the node
        mask: the edge logits of the ``independent`` head; with ``three_way``, the logit
        of i -> j against "no edge" of the pair {i, j}."""
        node_mask = check_inputs(data, intervened, node_mask)
        # (B, n, d, D) in the dtype of data, also under autocast, so that the residual sums
        # keep their precision (at the same speed under bf16 autocast on CPU, as measured).
        z = self.embed(torch.stack((data, intervened.to(data.dtype)), dim=-1)).to(data.dtype)
        keys = node_mask[:, None, :].expand(z.shape[:3])
        for over_variables, over_samples in zip(self.variable_blocks, self.sample_blocks):
            z = over_variables(z, keys)
            # Explicit copies: every op of the block then sees a contiguous tensor (a
            # strided view made LayerNorm, the linears and the residuals copy over and
            # over: 40% slower in fp32).
            z = over_samples(z.transpose(1, 2).contiguous()).transpose(1, 2).contiguous()
        pooled = self.final_norm(z).amax(dim=1)  # (B, d, D)
        pair = None
        if self.pair_head is not None:
            pair = self.pair_head(pairwise_statistics(data, intervened, node_mask), pooled)
        return self._edge_logits(pooled, node_mask, pair), node_mask

    def _edge_logits(self, z: Tensor, node_mask: Tensor, pair: Tensor | None) -> Tensor:
        u, v = self.u_head(z), self.v_head(z)
        with torch.autocast(z.device.type, enabled=False):
            u = F.normalize(u.float(), dim=-1)
            v = F.normalize(v.float(), dim=-1)
            logits = torch.exp(self.log_temperature) * (u @ v.transpose(-1, -2)) + self.bias
            if pair is not None:
                logits = logits + pair
            return logits.masked_fill(~edge_mask(node_mask), MASKED_LOGIT)

    def edge_probs(self, data: Tensor, intervened: Tensor, node_mask: Tensor | None = None) -> Tensor:
        """``P(i -> j)`` float32 (B, d, d): sigmoid of :meth:`forward`, 0 where masked."""
        return torch.sigmoid(self(data, intervened, node_mask))

    def loss(self, logits: Tensor, adjacency: Tensor, node_mask: Tensor | None = None,
             dual: float | Tensor = 0.0) -> LossTerms:
        """Training loss of :meth:`forward`'s ``logits`` against ``adjacency`` (B, d, d),
        0/1 or soft labels: the cross-entropy of each entry's marginal, whatever the head
        (:meth:`training_loss` trains the ``three_way`` head by its own likelihood, which
        needs the scores). The penalty is always computed (it is cheap), so that the
        trainer can track it even while ``dual`` is 0."""
        node_mask = _default_mask(logits, node_mask)
        bce = bce_loss(logits, adjacency, node_mask)
        penalty = acyclicity_penalty(logits, node_mask, self.config.power_iterations)
        return LossTerms(bce + dual * penalty, bce, penalty)

    @torch.no_grad()
    def posterior(self, data: Tensor, intervened: Tensor, node_mask: Tensor | None, n_samples: int,
                  generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
        """Edge probabilities float32 (B, d, d) and ``n_samples`` graphs uint8 (B, S, d, d)
        from AVICI's posterior, a product of independent Bernoullis (:func:`sample_graphs`),
        or with the ``three_way`` head of independent categoricals, one per pair
        (:func:`sample_pair_graphs`)."""
        probs = self.edge_probs(data, intervened, node_mask).float()
        sampler = sample_pair_graphs if self.config.edge_head == "three_way" else sample_graphs
        return probs, sampler(probs, n_samples, generator)

    # ------------------------------------------------------------------ the trainer's protocol

    def training_loss(self, batch: Mapping[str, Tensor]) -> tuple[Tensor, dict[str, Tensor]]:
        """The loss to minimise on a training batch (``data``, ``intervened``,
        ``node_mask``, ``adjacency``) at the current acyclicity weight, and the terms the
        trainer logs (``cyclicity`` and the likelihood: ``bce``, or with the ``three_way``
        head ``pair_ce``, :func:`three_way_loss`)."""
        if self.config.edge_head != "three_way":
            logits = self(batch["data"], batch["intervened"], batch["node_mask"])
            terms = self.loss(logits, batch["adjacency"], batch["node_mask"], self._dual)
            return terms.loss, {"bce": terms.bce, "cyclicity": terms.penalty}
        scores, node_mask = self.scores(batch["data"], batch["intervened"], batch["node_mask"])
        likelihood = three_way_loss(scores, batch["adjacency"], node_mask)
        penalty = acyclicity_penalty(three_way_marginals(scores, node_mask), node_mask, self.config.power_iterations)
        return likelihood + self._dual * penalty, {"pair_ce": likelihood, "cyclicity": penalty}

    def after_step(self, step: int, terms: Mapping[str, Tensor],
                   mean_across_ranks: Callable[[Tensor], Tensor]) -> dict[str, float]:
        """AVICI's dual ascent after optimizer step ``step``: every ``dual_every`` steps
        the acyclicity weight grows by ``dual_lr`` times the mean penalty since the last
        update (:func:`update_dual`), averaged over ranks so that every rank keeps the same
        weight. The penalties stay on the device until then (a float() per step would wait
        for the GPU). Returns the scalars to log."""
        self._pending = self._pending + terms["cyclicity"].detach().double()
        self._pending_count += 1
        every = self.config.dual_every
        if every > 0 and step % every == 0:
            self._fold()
            # On the penalty's device: NCCL reduces CUDA tensors only.
            local = torch.tensor(self._penalty_sum / max(1, self._penalty_count), device=terms["cyclicity"].device)
            self._dual = update_dual(self._dual, float(mean_across_ranks(local)), self.config.dual_lr)
            self._penalty_sum, self._penalty_count = 0.0, 0
        return {"dual_weight": self._dual}

    def training_state(self) -> dict[str, float | int]:
        """The hook's state for a checkpoint. The pending penalties are folded in first, at
        every checkpoint, so that a resumed run folds at the same steps as an
        uninterrupted one and sums in the same order."""
        self._fold()
        return {"dual": self._dual, "penalty_sum": self._penalty_sum, "penalty_count": self._penalty_count}

    def load_training_state(self, state: Mapping[str, Any]) -> None:
        """Restore what :meth:`training_state` saved."""
        self._dual, self._penalty_sum = float(state["dual"]), float(state["penalty_sum"])
        self._penalty_count = int(state["penalty_count"])
        self._pending, self._pending_count = 0.0, 0

    def _fold(self) -> None:
        if self._pending_count:
            self._penalty_sum += float(self._pending)
            self._penalty_count += self._pending_count
            self._pending, self._pending_count = 0.0, 0


def _default_mask(reference: Tensor, node_mask: Tensor | None) -> Tensor:
    if node_mask is None:
        return torch.ones(reference.shape[0], reference.shape[-1], dtype=torch.bool, device=reference.device)
    return node_mask


def check_inputs(data: Tensor, intervened: Tensor, node_mask: Tensor | None) -> Tensor:
    """The node mask to use for a batch of tasks (every model's input check); errors name
    the argument, the shape found and the one allowed."""
    if data.ndim != 3 or not data.is_floating_point():
        raise ValueError(f"data must be a floating-point tensor (B, n, d); got {data.dtype} {tuple(data.shape)}")
    if intervened.shape != data.shape:
        raise ValueError(f"intervened must have the shape of data {tuple(data.shape)}; "
                         f"got {tuple(intervened.shape)}")
    node_mask = _default_mask(data, node_mask)
    if node_mask.shape != (data.shape[0], data.shape[2]) or node_mask.dtype != torch.bool:
        raise ValueError(f"node_mask must be bool (B, d) = {(data.shape[0], data.shape[2])}; "
                         f"got {node_mask.dtype} {tuple(node_mask.shape)}")
    if not node_mask.any(dim=-1).all():
        raise ValueError("node_mask must mark at least one real variable in every task")
    return node_mask


# ---------------------------------------------------------------------------------------
# Loss
# ---------------------------------------------------------------------------------------


def edge_mask(node_mask: Tensor) -> Tensor:
    """Bool (B, d, d): True for the entries that can be edges, i.e. off-diagonal pairs of
    real variables."""
    d = node_mask.shape[-1]
    eye = torch.eye(d, dtype=torch.bool, device=node_mask.device)
    return node_mask[:, :, None] & node_mask[:, None, :] & ~eye


def bce_loss(logits: Tensor, adjacency: Tensor, node_mask: Tensor) -> Tensor:
    """Binary cross-entropy averaged over each task's valid entries, then over the tasks
    that have any (a one-variable task has none and is skipped rather than counted as 0).

    Averaging per task first, as AVICI does, weighs tasks equally whatever their size.
    """
    with torch.autocast(logits.device.type, enabled=False):
        valid = edge_mask(node_mask)
        per_entry = F.binary_cross_entropy_with_logits(logits.float(), adjacency.float(), reduction="none")
        per_entry = torch.where(valid, per_entry, 0.0)
        counts = valid.sum(dim=(-1, -2))
        per_task = per_entry.sum(dim=(-1, -2)) / counts.clamp_min(1)
        return per_task.sum() / (counts > 0).sum().clamp_min(1)


def spectral_radius(matrix: Tensor, steps: int) -> Tensor:
    """Largest eigenvalue of each nonnegative matrix M (..., d, d), estimated by ``steps``
    rounds of power iteration; differentiable, float32.

    Left and right iterates u, v start from the all-ones vector and are renormalised each
    round; the estimate is ``u^T M v / u^T v`` with u, v held constant, whose gradient
    ``u v^T / u^T v`` is the exact derivative of a simple eigenvalue at convergence.
    Two departures from AVICI's estimator, both measured against numpy on random
    nonnegative matrices:

    * The all-ones start replaces AVICI's random one: for a nonnegative matrix it cannot
      be orthogonal to the Perron vectors, keeps u and v nonnegative, and needs no RNG.
    * Each round multiplies by ``M (M + r I)`` instead of M, with r the current estimate
      (first the mean row sum), held constant. It has M's eigenvectors, and the shift
      makes the Perron root its one dominant eigenvalue even when M is periodic: a
      two-variable task has eigenvalues +-sqrt(p01 p10), on which plain power iteration
      never converges (at 10 steps it was off by a factor up to 24), while this one is
      exact to float32 precision. A round costs two matrix-vector products per side.

    For a DAG's matrix, with longest path L, the estimate is exactly 0 once 2 * steps + 1
    > L (every term of ``u^T M v`` is then a path of more than L edges); a longer path
    can leave a positive value, a bias of any fixed number of steps.
    """
    with torch.autocast(matrix.device.type, enabled=False):
        m = matrix.float()
        u = torch.ones(m.shape[:-1], dtype=m.dtype, device=m.device)
        v = torch.ones_like(u)
        with torch.no_grad():
            shift = m.sum(dim=(-1, -2))[..., None] / m.shape[-1]
            for _ in range(steps):
                left = torch.einsum("...i,...ij->...j", u, m)
                u = _unit(torch.einsum("...i,...ij->...j", left, m) + shift * left)
                right = torch.einsum("...ij,...j->...i", m, v)
                v = _unit(torch.einsum("...ij,...j->...i", m, right) + shift * right)
                shift = _eigenvalue(u, m, v)[..., None]
        return _eigenvalue(u, m, v)


def _eigenvalue(u: Tensor, m: Tensor, v: Tensor) -> Tensor:
    """``u^T M v / u^T v``. u^T v = 0 only when no path of length 2k exists, and then
    u^T M v = 0 too: the radius is 0. The double where keeps the gradient finite there."""
    numerator = torch.einsum("...i,...ij,...j->...", u, m, v)
    denominator = (u * v).sum(dim=-1)
    defined = denominator > _TINY
    return torch.where(defined, numerator / torch.where(defined, denominator, 1.0), 0.0)


def _unit(x: Tensor) -> Tensor:
    return x / torch.linalg.vector_norm(x, dim=-1, keepdim=True).clamp_min(_TINY)


def three_way_marginals(scores: Tensor, node_mask: Tensor) -> Tensor:
    """Logits (B, d, d) of the marginals ``P(i -> j)`` of the three-way head, whose pair
    {i, j} is "no edge", i -> j or j -> i with probabilities proportional to
    ``1 : exp(s_ij) : exp(s_ji)`` for its ``scores`` s: ``P(i -> j) = e^s_ij / (1 + e^s_ij
    + e^s_ji)``, whose logit is ``s_ij - softplus(s_ji)``. :data:`MASKED_LOGIT` where
    masked."""
    with torch.autocast(scores.device.type, enabled=False):
        s = scores.float()
        return (s - F.softplus(s.transpose(-1, -2))).masked_fill(~edge_mask(node_mask), MASKED_LOGIT)


def three_way_loss(scores: Tensor, adjacency: Tensor, node_mask: Tensor) -> Tensor:
    """Cross-entropy of the three-way head's ``scores`` (B, d, d) against ``adjacency``
    (B, d, d), 0/1 or soft labels with at most one direction per pair
    (``A_ij + A_ji <= 1``): per unordered pair of real variables ``-(A_ij log P(i -> j) +
    A_ji log P(j -> i) + (1 - A_ij - A_ji) log P(none))``, averaged over each task's pairs,
    then over the tasks that have any (as :func:`bce_loss`). One term per pair where
    :func:`bce_loss` has two per pair, so its scale is about twice that of ``bce``."""
    with torch.autocast(scores.device.type, enabled=False):
        valid = edge_mask(node_mask)
        a = torch.where(valid, adjacency.float(), 0.0)
        both = a + a.transpose(-1, -2)
        if bool(((a < 0) | (a > 1) | (both > 1 + 1e-6)).any()):
            raise ValueError("adjacency must lie in [0, 1] with A[i, j] + A[j, i] <= 1 for the three_way head "
                             f"(one direction per pair); got entries in [{float(a.min())}, {float(a.max())}] "
                             f"and pairs summing to {float(both.max())}")
        s = scores.float()
        # log(1 + e^s_ij + e^s_ji): the normaliser of the pair, the same for (i, j) and (j, i)
        normaliser = torch.logsumexp(torch.stack((torch.zeros_like(s), s, s.transpose(-1, -2))), dim=0)
        upper = valid.triu(1)
        directed = torch.where(valid, a * (s - normaliser), 0.0).sum(dim=(-1, -2))
        none = torch.where(upper, (1.0 - both) * -normaliser, 0.0).sum(dim=(-1, -2))
        pairs = upper.sum(dim=(-1, -2))
        per_task = -(directed + none) / pairs.clamp_min(1)
        return per_task.sum() / (pairs > 0).sum().clamp_min(1)


def acyclicity_penalty(logits: Tensor, node_mask: Tensor, steps: int) -> Tensor:
    """Mean over tasks of the spectral radius of the edge-probability matrix, masked
    entries 0. A matrix with spectral radius 0 is nilpotent, i.e. its support is a DAG."""
    with torch.autocast(logits.device.type, enabled=False):
        probs = torch.sigmoid(logits.float()) * edge_mask(node_mask)
        return spectral_radius(probs, steps).mean()


def update_dual(dual: float, penalty_avg: float, lr: float) -> float:
    """One dual-ascent step on the acyclicity weight: ``dual + lr * max(penalty_avg, 0)``.

    The schedule is :meth:`Avici.after_step`'s: every ``model.dual_every`` optimizer
    steps (250 by default) the dual is raised by ``lr`` (``model.dual_lr``, 1e-4, constant)
    times the plain mean of the per-step penalties since the last raise, averaged over
    ranks. (AVICI's published code keeps an exponential moving average of the penalty
    and warms ``lr`` up; this one does neither.) Because the penalty is never negative
    the dual only grows: the longer the predicted graphs stay cyclic, the more acyclicity
    weighs against the likelihood.
    """
    if not (isinstance(lr, numbers.Real) and math.isfinite(lr) and lr >= 0):
        raise ValueError(f"lr = {lr!r} is not allowed: must be a finite number >= 0")
    if not (isinstance(penalty_avg, numbers.Real) and math.isfinite(penalty_avg)):
        raise ValueError(f"penalty_avg = {penalty_avg!r} is not allowed: must be a finite number")
    return float(dual) + lr * max(float(penalty_avg), 0.0)


# ---------------------------------------------------------------------------------------
# Inference
# ---------------------------------------------------------------------------------------


def sample_pair_graphs(probs: Tensor, n_samples: int, generator: torch.Generator | None = None) -> Tensor:
    """``n_samples`` graphs per task, as uint8 (..., S, d, d), from the three-way head's
    marginals ``probs`` (..., d, d), with ``P(i -> j) + P(j -> i) <= 1``: each pair
    {i, j}, i < j, independently i -> j, j -> i or neither, by one uniform draw u: i -> j
    when ``u < P(i -> j)``, j -> i when ``P(i -> j) <= u < P(i -> j) + P(j -> i)``. No
    sample has a 2-cycle. Reproducible for a seeded ``generator``."""
    p = _checked_probs(probs, n_samples)
    d = p.shape[-1]
    shape = (*p.shape[:-2], n_samples, d, d)
    upper = torch.ones(d, d, dtype=torch.bool, device=p.device).triu(1)
    u = torch.rand(shape, generator=generator, device=p.device) * upper
    u = u + u.transpose(-1, -2)  # the pair's one draw, on both of its entries
    p, pt = p.unsqueeze(-3), p.transpose(-1, -2).unsqueeze(-3)
    forward_edge = u < p
    backward_edge = (u >= pt) & (u < pt + p)
    return (torch.where(upper, forward_edge, backward_edge & upper.T)).to(torch.uint8)


def _checked_probs(probs: Tensor, n_samples: int) -> Tensor:
    """``probs`` detached in float32, refused unless (..., d, d) in [0, 1], and
    ``n_samples`` refused unless an integer >= 0 (the samplers' arguments)."""
    if isinstance(n_samples, bool) or not isinstance(n_samples, numbers.Integral) or n_samples < 0:
        raise ValueError(f"n_samples = {n_samples!r} is not allowed: must be an integer >= 0")
    if probs.ndim < 2 or probs.shape[-1] != probs.shape[-2]:
        raise ValueError(f"probs must have shape (..., d, d); got {tuple(probs.shape)}")
    p = probs.detach().float()
    if not ((p >= 0) & (p <= 1)).all():
        raise ValueError("probs must lie in [0, 1]; for logits pass torch.sigmoid(logits)")
    return p


def sample_graphs(probs: Tensor, n_samples: int, generator: torch.Generator | None = None) -> Tensor:
    """``n_samples`` graphs per task, each entry an independent Bernoulli(``probs``), as
    uint8 (..., S, d, d) with a zero diagonal; ``probs`` is (..., d, d) in [0, 1]
    (:meth:`Avici.edge_probs`; pass ``torch.sigmoid(logits)`` for logits). Reproducible
    for a seeded ``generator`` on the device of ``probs``."""
    p = _checked_probs(probs, n_samples)
    shape = (*p.shape[:-2], n_samples, *p.shape[-2:])
    draws = torch.rand(shape, generator=generator, device=p.device) < p.unsqueeze(-3)
    eye = torch.eye(p.shape[-1], dtype=torch.bool, device=p.device)
    return (draws & ~eye).to(torch.uint8)
