"""BCNP: a Bayesian causal neural process (Dhir et al., ICLR 2025), in torch.

Where AVICI predicts independent edge probabilities, BCNP gives a posterior over DAGs:
a graph is an ordering of the variables (a permutation P) and a set of edges allowed by
it, ``G = Bernoulli(sigmoid(L)) * (P U P^T)`` with ``U`` the strictly upper-triangular
matrix of "position k comes before position l", so every sample is acyclic by
construction. Design, as published, and what is ours:

* **Encoder.** Each cell's value goes through an MLP of ``embed_depth`` layers and its
  intervention flag through an embedding, summed: one ``d_model`` token per (sample,
  variable). ``encoder_layers`` transformer blocks (an even number) alternate attention
  over the samples of each variable and over the variables of each sample, with no
  positional encoding, so the model is equivariant to permuting variables and invariant
  to permuting samples. A learned query token then cross-attends over each variable's
  samples: one summary vector per variable.
* **Decoder.** Two stacks of ``decoder_layers`` blocks over the variables, Q and L.
  ``q_before_l`` decides which runs first; the other one reads its output. L's output
  gives edge logits by a multi-head bilinear score, symmetrised (``(s_ij + s_ji) / 2``),
  since the direction of an edge comes from the ordering alone. Q's output gives one
  score per variable.
* **Pair statistics** (ours, ``pair_statistics``, off by default). The task's
  correlation and shrunk precision matrices over its observational rows
  (:func:`causal_meta.models.statistics.pairwise_statistics`) add a term per pair to the
  bilinear score before it is symmetrised, read with L's outputs of the two variables
  (:class:`~causal_meta.models.statistics.PairHead`, whose output starts at zero). Off,
  the model and its state dict are the published ones.
* **Permutations.** A permutation is drawn by perturbing the scores with Gumbel noise and
  ranking them (highest first): this samples orderings from the Plackett-Luce
  distribution of the scores. The relaxed permutation is ``sinkhorn_iter`` Sinkhorn
  normalisations (stopped early once the row sums are within 1e-4 of 1) of
  ``log_alpha[i, k] = q~_i c_k / temperature`` with ``c_k`` decreasing in the position
  k; the hard one enters the graph with the relaxed one's gradient (straight-through).
  The published code adds Gumbel noise to every entry of a (d, d) matrix and solves one
  Hungarian assignment per sample with scipy on the CPU. With the noise on the d scores
  instead, the assignment that maximises ``sum_i log_alpha[i, pi(i)]`` is exactly the
  ranking of the perturbed scores (the rearrangement inequality; a test checks it
  against scipy's Hungarian solver), so it is one batched sort on the model's device.
* **Loss** (``loss``). ``per_edge``, the published one: every edge's likelihood is a
  mixture over the ``n_perm_samples`` permutations,
  ``-mean_ij log mean_s p_s(A_ij)``, where ``p_s(1) = sigmoid(L_ij) M_s[ij]``. ``joint``:
  the likelihood of the whole graph under the mixture,
  ``-log mean_s prod_ij p_s(A_ij)``, divided by the number of entries to keep the scale
  of ``per_edge``. ``per_edge`` lets each edge pick its own best permutation, so it
  rewards marginals even when no single ordering explains the whole graph; ``joint``
  asks one ordering to explain all edges at once, the posterior over graphs that BCNP
  is meant to give. Both are averaged per task over its valid entries, then over tasks.
* **Outputs** (:meth:`Bcnp.posterior`). Graph samples, each with its own permutation, and
  edge marginals, the mean of ``sigmoid(L) M_s`` over the permutations drawn.
  :meth:`Bcnp.edge_probs` uses a fixed generator, so it is a deterministic function of
  the data (a surrogate queried twice answers the same).
* **Precision.** Under autocast the blocks run in the autocast dtype; the scores, the
  Sinkhorn iterations, the graph probabilities and the loss always run in float32.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from causal_meta.models.avici import MASKED_LOGIT, check_inputs, edge_mask
from causal_meta.models.blocks import Block, attend
from causal_meta.models.settings import LOSSES, BcnpConfig
from causal_meta.models.statistics import PairHead, pairwise_statistics

__all__ = ["LOSSES", "Bcnp", "BcnpConfig", "order_masks", "rank_permutations", "sinkhorn"]

# Probabilities are kept inside [_EPS, 1 - _EPS] inside logarithms: an edge that the
# ordering of one sample forbids has likelihood 0 there, which must not be -inf.
_EPS = 1e-6
# Score given to padded variables: they rank last and never take part in an ordering.
_PADDED_SCORE = -1e4
# Seed of the generator behind the deterministic edge_probs.
_EDGE_PROBS_SEED = 0


# ---------------------------------------------------------------------------------------
# Permutations
# ---------------------------------------------------------------------------------------


def rank_permutations(scores: Tensor) -> Tensor:
    """Hard permutation matrices (..., d, d) with ``P[i, k] = 1`` when variable i takes
    position k, positions in decreasing order of ``scores`` (..., d). The maximiser of
    ``sum_i scores_i c_pi(i)`` for any strictly decreasing ``c``: what the Hungarian
    algorithm would return for those assignment weights."""
    order = scores.argsort(dim=-1, descending=True)  # order[k] = variable at position k
    positions = order.argsort(dim=-1)  # positions[i] = position of variable i
    return F.one_hot(positions, scores.shape[-1]).to(scores.dtype)


def sinkhorn(log_alpha: Tensor, iterations: int, tolerance: float = 1e-4) -> Tensor:
    """A doubly-stochastic matrix (..., d, d) from ``log_alpha``: alternate row and
    column normalisations in log space, at most ``iterations`` rounds, stopping once
    every row sum is within ``tolerance`` of 1 (the columns are exact after each round)."""
    x = log_alpha
    for _ in range(iterations):
        x = x - torch.logsumexp(x, dim=-1, keepdim=True)
        x = x - torch.logsumexp(x, dim=-2, keepdim=True)
        if float((x.detach().exp().sum(dim=-1) - 1.0).abs().max()) < tolerance:
            break
    return x.exp()


def order_masks(permutation: Tensor) -> Tensor:
    """``P U P^T`` (..., d, d): entry (i, j) is 1 when variable i comes before variable j
    in the ordering ``permutation`` (hard, or relaxed for gradients)."""
    d = permutation.shape[-1]
    before = torch.ones(d, d, dtype=permutation.dtype, device=permutation.device).triu(1)
    return permutation @ before @ permutation.transpose(-1, -2)


def _gumbel(shape: tuple[int, ...], device: torch.device, generator: torch.Generator | None) -> Tensor:
    u = torch.rand(shape, device=device, generator=generator)
    return -torch.log(-torch.log(u.clamp(_EPS, 1.0 - _EPS)))


# ---------------------------------------------------------------------------------------
# The network
# ---------------------------------------------------------------------------------------


class _Summary(nn.Module):
    """Cross-attention from one learned query token to the samples of each variable."""

    def __init__(self, config: BcnpConfig) -> None:
        super().__init__()
        self.heads, self.head_dim = config.heads, config.head_dim
        inner = config.heads * config.head_dim
        self.query = nn.Parameter(torch.randn(config.d_model) / math.sqrt(config.d_model))
        self.norm = nn.LayerNorm(config.d_model)
        self.q = nn.Linear(config.d_model, inner)
        self.kv = nn.Linear(config.d_model, 2 * inner)
        self.out = nn.Linear(inner, config.d_model)

    def forward(self, z: Tensor) -> Tensor:
        """(B, d, n, D) tokens -> (B, d, D) summaries."""
        b, d, n, _ = z.shape
        k, v = self.kv(self.norm(z)).view(b * d, n, 2, self.heads, self.head_dim).permute(2, 0, 3, 1, 4)
        q = self.q(self.query).view(1, self.heads, 1, self.head_dim).expand(b * d, -1, -1, -1).to(k.dtype)
        y = attend(q, k, v, None)  # (B d, heads, 1, head_dim)
        return self.out(y.reshape(b, d, -1))


class Bcnp(nn.Module):
    """The BCNP structure learner; see the module docstring for the design."""

    Config = BcnpConfig

    def __init__(self, config: BcnpConfig | None = None) -> None:
        super().__init__()
        self.config = config = config if config is not None else BcnpConfig()
        width = config.d_model
        layers: list[nn.Module] = [nn.Linear(1, width)]
        for _ in range(config.embed_depth - 1):
            layers += [nn.ReLU(), nn.Linear(width, width)]
        self.value_mlp = nn.Sequential(*layers)
        self.flag_embedding = nn.Embedding(2, width)
        sizes = (width, config.heads, config.head_dim, config.ffn, config.dropout)
        self.encoder = nn.ModuleList(Block(*sizes) for _ in range(config.encoder_layers))
        self.summary = _Summary(config)
        self.q_stack = nn.ModuleList(Block(*sizes) for _ in range(config.decoder_layers))
        self.l_stack = nn.ModuleList(Block(*sizes) for _ in range(config.decoder_layers))
        self.q_head = nn.Sequential(nn.LayerNorm(width), nn.Linear(width, 1))
        self.l_norm = nn.LayerNorm(width)
        self.l_left = nn.Linear(width, config.heads * config.head_dim)
        self.l_right = nn.Linear(width, config.heads * config.head_dim)
        self.bias = nn.Parameter(torch.tensor(float(config.init_bias)))
        # Only with the option on: without it the state dict is the published model's.
        self.pair_head = PairHead(width) if config.pair_statistics else None

    # ------------------------------------------------------------------ encoder and decoder

    def encode(self, data: Tensor, intervened: Tensor, node_mask: Tensor | None = None
               ) -> tuple[Tensor, Tensor, Tensor]:
        """(edge logits float32 (B, d, d) before any ordering, symmetric, masked entries
        :data:`MASKED_LOGIT`; per-variable scores float32 (B, d), padding
        ranked last; the node mask)."""
        node_mask = check_inputs(data, intervened, node_mask)
        z = self.value_mlp(data.unsqueeze(-1)) + self.flag_embedding(intervened.long())
        z = z.to(data.dtype)  # (B, n, d, D)
        z = z.transpose(1, 2).contiguous()  # (B, d, n, D): samples next to the model axis
        keys = node_mask[:, None, :]
        for k, block in enumerate(self.encoder):
            if k % 2 == 0:  # over the samples of each variable
                z = block(z)
            else:  # over the variables of each sample
                z = block(z.transpose(1, 2).contiguous(), keys.expand(-1, z.shape[2], -1)).transpose(1, 2).contiguous()
        h = self.summary(z)  # (B, d, D)
        first, second = (self.q_stack, self.l_stack) if self.config.q_before_l else (self.l_stack, self.q_stack)
        a = h
        for block in first:
            a = block(a, node_mask)
        b = a
        for block in second:
            b = block(b, node_mask)
        q_out, l_out = (a, b) if self.config.q_before_l else (b, a)
        pair = None
        if self.pair_head is not None:
            pair = self.pair_head(pairwise_statistics(data, intervened, node_mask), l_out)
        with torch.autocast(data.device.type, enabled=False):
            scores = self.q_head(q_out.float()).squeeze(-1).masked_fill(~node_mask, _PADDED_SCORE)
            h_l = self.l_norm(l_out.float())
            b_, d = h_l.shape[:2]
            u = self.l_left(h_l).view(b_, d, self.config.heads, self.config.head_dim)
            v = self.l_right(h_l).view(b_, d, self.config.heads, self.config.head_dim)
            s = torch.einsum("bihk,bjhk->bij", u, v) / (self.config.heads * math.sqrt(self.config.head_dim))
            if pair is not None:
                s = s + pair
            logits = 0.5 * (s + s.transpose(-1, -2)) + self.bias
            logits = logits.masked_fill(~edge_mask(node_mask), MASKED_LOGIT)
        return logits, scores, node_mask

    def permutations(self, scores: Tensor, samples: int, generator: torch.Generator | None = None,
                     relaxed: bool = False) -> Tensor:
        """``samples`` permutations per task (B, S, d, d), float32: hard ones, or with
        ``relaxed`` the hard ones carrying the Sinkhorn relaxation's gradient."""
        with torch.autocast(scores.device.type, enabled=False):
            s = scores.float()
            noisy = s.unsqueeze(1) + _gumbel((s.shape[0], samples, s.shape[1]), s.device, generator)
            hard = rank_permutations(noisy)
            if not relaxed:
                return hard
            d = s.shape[-1]
            c = torch.arange(d - 1, -1, -1, dtype=s.dtype, device=s.device) / max(1, d - 1)
            soft = sinkhorn(noisy.unsqueeze(-1) * c / self.config.temperature, self.config.sinkhorn_iter)
            return hard + soft - soft.detach()

    @staticmethod
    def _graph_probs(logits: Tensor, permutations: Tensor, node_mask: Tensor) -> Tensor:
        """Per-sample edge probabilities (B, S, d, d): sigmoid(L) where the ordering allows
        an edge, 0 elsewhere and on masked entries."""
        allowed = order_masks(permutations) * edge_mask(node_mask).unsqueeze(1)
        return torch.sigmoid(logits).unsqueeze(1) * allowed

    # ------------------------------------------------------------------ the learner's protocol

    def forward(self, data: Tensor, intervened: Tensor, node_mask: Tensor | None = None) -> Tensor:
        """Logits float32 (B, d, d) of the edge marginals (:meth:`edge_probs`);
        :data:`MASKED_LOGIT` on masked entries."""
        probs = self.edge_probs(data, intervened, node_mask)
        valid = probs > 0
        return torch.where(valid, torch.logit(probs.clamp(_EPS, 1 - _EPS)), torch.full_like(probs, MASKED_LOGIT))

    def edge_probs(self, data: Tensor, intervened: Tensor, node_mask: Tensor | None = None) -> Tensor:
        """``P(i -> j)`` float32 (B, d, d): the mean of ``sigmoid(L) M_s`` over
        ``n_perm_samples`` permutations from a fixed generator (deterministic)."""
        generator = torch.Generator(device=data.device).manual_seed(_EDGE_PROBS_SEED)
        logits, scores, node_mask = self.encode(data, intervened, node_mask)
        perms = self.permutations(scores, self.config.n_perm_samples, generator)
        return self._graph_probs(logits, perms, node_mask).mean(dim=1)

    @torch.no_grad()
    def posterior(self, data: Tensor, intervened: Tensor, node_mask: Tensor | None, n_samples: int,
                  generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
        """Edge marginals float32 (B, d, d) and ``n_samples`` DAGs uint8 (B, S, d, d),
        each drawn with its own permutation, then its edges as Bernoulli(sigmoid(L)) where
        that ordering allows them. The marginals average over the same permutations (at
        least ``n_perm_samples`` of them)."""
        if isinstance(n_samples, bool) or not isinstance(n_samples, numbers.Integral) or n_samples < 0:
            raise ValueError(f"n_samples = {n_samples!r} is not allowed: must be an integer >= 0")
        logits, scores, node_mask = self.encode(data, intervened, node_mask)
        draws = max(int(n_samples), self.config.n_perm_samples)
        probs = self._graph_probs(logits, self.permutations(scores, draws, generator), node_mask)
        edges = torch.rand(probs[:, :n_samples].shape, device=probs.device, generator=generator) < probs[:, :n_samples]
        return probs.mean(dim=1), edges.to(torch.uint8)

    # ------------------------------------------------------------------ the trainer's protocol

    def loss(self, logits: Tensor, permutations: Tensor, adjacency: Tensor, node_mask: Tensor) -> Tensor:
        """The configured likelihood (``per_edge`` or ``joint``) of ``adjacency`` (B, d, d)
        under the mixture over ``permutations`` (B, S, d, d); see the module docstring."""
        with torch.autocast(logits.device.type, enabled=False):
            p = self._graph_probs(logits.float(), permutations.float(), node_mask).clamp(_EPS, 1 - _EPS)
            a = adjacency.float().unsqueeze(1)
            log_lik = a * torch.log(p) + (1 - a) * torch.log1p(-p)  # (B, S, d, d)
            valid = edge_mask(node_mask)
            counts = valid.sum(dim=(-1, -2)).clamp_min(1)
            log_s = math.log(permutations.shape[1])
            if self.config.loss == "per_edge":
                per_entry = torch.logsumexp(log_lik, dim=1) - log_s  # (B, d, d)
                per_task = -torch.where(valid, per_entry, 0.0).sum(dim=(-1, -2)) / counts
            else:
                whole = torch.where(valid.unsqueeze(1), log_lik, 0.0).sum(dim=(-1, -2))  # (B, S)
                per_task = -(torch.logsumexp(whole, dim=1) - log_s) / counts
            has_edges = valid.sum(dim=(-1, -2)) > 0
            return per_task.sum() / has_edges.sum().clamp_min(1)

    def training_loss(self, batch: Mapping[str, Tensor]) -> tuple[Tensor, dict[str, Tensor]]:
        """The loss on a training batch (``data``, ``intervened``, ``node_mask``,
        ``adjacency``), with ``n_perm_samples`` relaxed permutations per task; the term
        logged is the likelihood itself, under the loss's name."""
        logits, scores, node_mask = self.encode(batch["data"], batch["intervened"], batch["node_mask"])
        perms = self.permutations(scores, self.config.n_perm_samples, relaxed=True)
        loss = self.loss(logits, perms, batch["adjacency"], node_mask)
        return loss, {self.config.loss: loss}

    def after_step(self, step: int, terms: Mapping[str, Tensor],
                   mean_across_ranks: Callable[[Tensor], Tensor]) -> dict[str, float]:
        """BCNP has no training hook."""
        return {}

    def training_state(self) -> dict[str, Any]:
        """No hook, no state."""
        return {}

    def load_training_state(self, state: Mapping[str, Any]) -> None:
        """Nothing to restore."""
