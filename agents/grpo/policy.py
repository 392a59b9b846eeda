"""The intervention policy: a set transformer over an episode's history that picks a
variable and a value.

Input, per variable of one observation (:func:`observation_tensors`): for every filled
row, the standardised value and the intervened flag; for the variable itself, whether
it is the target and the surrogate's probability that it is a parent of the target.
Padded rows and variables are masked out.

Network: each (row, variable) cell is embedded from (value, intervened, target flag);
one summary token per variable and state is embedded from (target flag, parent
probability). ``layers`` pairs of :class:`~causal_meta.models.blocks.Block` alternate
attention over rows (per variable) and over variables (per row; the real variables are
keys). Row attention respects time: an observational row attends to the observational
rows, an interventional row to those and to the interventional rows up to itself, and a
state's summary token to the rows that state has (and itself); no row attends to a
summary. The summary then holds one vector per variable.

Why the rows respect time: state t + 1 of an episode is state t with one more step's
rows, and with this mask a row's encoding depends only on rows that came before it.
All the states of an episode are therefore scored in one pass over its last
observation (:meth:`InterventionPolicy.forward_episodes`, one summary token per state),
and a rollout encodes each new row once and keeps its keys and values
(:meth:`InterventionPolicy.rollout_step`), where an encoder whose rows all attend to
each other must encode every state from scratch: T passes per episode in the rollout
and T more per update epoch. The parent probabilities, which change from state to
state, therefore enter through the summary tokens only. :meth:`InterventionPolicy.forward`
scores one state per observation from its own rows: the reference that the one-pass
and cached paths equal to float tolerance (tests check both). Without positional
encodings the outputs are invariant to permuting the observational rows and
equivariant to permuting variables; masking makes padding irrelevant (tests check all
three).

Heads, per variable: a logit of choosing it (``-1e9`` for variables that may not be
chosen: the target, padding, and non-manipulable ones, from ``observation["valid"]``)
and the mean ``mu`` of the pre-squash value. The action is a variable i ~
Categorical(softmax(logits)) and a value u = tanh(z), z ~ N(mu_i, std): u in (-1, 1) is
the environment's value entry (the position in the variable's range). ``std`` is
``value_std`` (0.5), fixed or learned (``learn_std``).

The log-probability of an action is that of the variable plus the density of the value
actually taken: log N(z; mu_i, std) - log(1 - tanh(z)^2), the change of variables of the
squashing (the system this replaces left that term out). It is written with the stable
identity log(1 - tanh(z)^2) = 2 (log 2 - z - softplus(-2 z)) and evaluated at the
stored z, so no atanh is needed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from agents.grpo.settings import PolicyConfig
from causal_meta.models.blocks import Block

__all__ = ["MASKED", "InterventionPolicy", "Observation", "PolicyConfig", "RolloutCache", "observation_tensors",
           "squash_log_det", "value_log_prob"]

MASKED = -1.0e9
"""Logit of variables that may not be chosen: softmax gives them exactly 0."""


@dataclass(frozen=True)
class Observation:
    """A batch of observations as tensors: ``samples`` float32 (B, T, D); ``intervened``
    float32 (B, T, D); ``row_mask`` (B, T), ``node_mask``, ``target`` and ``valid`` (B, D)
    bool."""

    samples: Tensor
    intervened: Tensor
    row_mask: Tensor
    node_mask: Tensor
    target: Tensor
    valid: Tensor

    def index(self, rows: Tensor | slice) -> Observation:
        """The observations ``rows`` of the batch."""
        return Observation(*(getattr(self, f.name)[rows] for f in fields(self)))

    @property
    def target_index(self) -> Tensor:
        """(B,) index of each observation's target."""
        return self.target.to(torch.int64).argmax(dim=1)


def observation_tensors(observation: dict[str, np.ndarray], device: torch.device | str = "cpu") -> Observation:
    """A batched environment observation (leading axis B) as an :class:`Observation`."""
    def tensor(key: str, dtype: torch.dtype) -> Tensor:
        return torch.as_tensor(np.asarray(observation[key]), device=device).to(dtype)

    return Observation(tensor("samples", torch.float32), tensor("intervened", torch.float32),
                       tensor("row_mask", torch.bool), tensor("node_mask", torch.bool), tensor("target", torch.bool),
                       tensor("valid", torch.bool))


def squash_log_det(z: Tensor) -> Tensor:
    """log(1 - tanh(z)^2), stable for large |z|."""
    return 2.0 * (math.log(2.0) - z - F.softplus(-2.0 * z))


def value_log_prob(z: Tensor, mean: Tensor, std: Tensor) -> Tensor:
    """Log-density of the value u = tanh(z) with z ~ N(mean, std), at the z taken."""
    return torch.distributions.Normal(mean, std).log_prob(z) - squash_log_det(z)


@dataclass
class RolloutCache:
    """The keys and values (per block of row attention) of the rows that a batch of
    episodes has encoded so far: filled by :meth:`InterventionPolicy.rollout_step`, one
    cache per rollout."""

    rows: int = 0
    keys: list[tuple[Tensor, Tensor]] = field(default_factory=list)


class InterventionPolicy(nn.Module):
    """The policy network; see the module docstring."""

    def __init__(self, config: PolicyConfig | None = None) -> None:
        super().__init__()
        self.config = config = config if config is not None else PolicyConfig()
        sizes = (config.d_model, config.heads, config.head_dim, config.ffn)
        self.embed_cell = nn.Linear(3, config.d_model)
        self.embed_summary = nn.Linear(2, config.d_model)
        self.summary = nn.Parameter(torch.zeros(config.d_model))
        self.row_blocks = nn.ModuleList(Block(*sizes) for _ in range(config.layers))
        self.variable_blocks = nn.ModuleList(Block(*sizes) for _ in range(config.layers))
        self.final_norm = nn.LayerNorm(config.d_model)
        self.logit_head = nn.Linear(config.d_model, 1)
        self.mean_head = nn.Linear(config.d_model, 1)
        log_std = torch.tensor(math.log(config.value_std))
        if config.learn_std:
            self.log_std = nn.Parameter(log_std)
        else:
            self.register_buffer("log_std", log_std)

    @property
    def std(self) -> Tensor:
        return self.log_std.exp()

    def forward(self, obs: Observation, parent_probs: Tensor) -> tuple[Tensor, Tensor]:
        """Variable logits (B, D), ``MASKED`` where a variable may not be chosen, and the
        pre-squash value means (B, D; 0 for padding) of each observation's state (its
        filled rows, a prefix), from the surrogate's parent probabilities (B, D)."""
        logits, mean = self.forward_episodes(obs, parent_probs[:, None], obs.row_mask.sum(dim=1)[:, None])
        return logits[:, 0], mean[:, 0]

    def forward_episodes(self, obs: Observation, parent_probs: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        """Logits and means (B, S, D) of S states per episode in one pass: state s of
        episode b has the first ``lengths[b, s]`` rows of ``obs`` (whose ``row_mask``
        marks a prefix) and the parent probabilities ``parent_probs[b, s]`` (B, S, D).

        Rows past the longest state and trailing variables that no episode has are cut
        off before the network runs and the outputs padded back: masking makes them
        irrelevant, and a run whose width serves its widest level would otherwise pay for
        them at every level."""
        rows = int(lengths.max()) if lengths.numel() else 0
        d = obs.samples.shape[2]
        width = int(obs.node_mask.any(dim=0).nonzero().max()) + 1
        node_mask, target, valid = obs.node_mask[:, :width], obs.target[:, :width], obs.valid[:, :width]
        samples, intervened = obs.samples[:, :rows, :width], obs.intervened[:, :rows, :width]
        row_mask = obs.row_mask[:, :rows]
        b, s = lengths.shape
        cells = self._cells(samples, intervened, target)
        summary = self._summaries(target, parent_probs[..., :width])
        mask = _visibility(row_mask, _observational(intervened, node_mask), lengths)  # (B, S + R, S + R)
        z = torch.cat((summary, cells), dim=1)  # (B, S + R, D, E)
        row_keys = mask[:, None].expand(b, width, s + rows, s + rows)
        variable_keys = node_mask[:, None, :].expand(b, s + rows, width)
        for over_rows, over_variables in zip(self.row_blocks, self.variable_blocks):
            z = over_rows(z.transpose(1, 2).contiguous(), row_keys).transpose(1, 2).contiguous()
            z = over_variables(z, variable_keys)
        logits, mean = self._heads(z[:, :s], valid)
        return F.pad(logits, (0, d - width), value=MASKED), F.pad(mean, (0, d - width))

    def rollout_step(self, obs: Observation, parent_probs: Tensor, cache: RolloutCache) -> tuple[Tensor, Tensor]:
        """:meth:`forward` of a batch of episodes played in lockstep (every observation has
        the same number of filled rows), encoding only the rows added since the last call
        with this ``cache`` and reading the earlier rows' keys and values from it."""
        counts = obs.row_mask.sum(dim=1)
        rows = int(counts[0])
        if not bool((counts == rows).all()) or rows <= cache.rows:
            raise ValueError(f"rollout_step needs episodes in lockstep with new rows: row counts "
                             f"{counts.tolist()}, {cache.rows} already encoded")
        b, d = obs.node_mask.shape
        width = int(obs.node_mask.any(dim=0).nonzero().max()) + 1
        node_mask, target = obs.node_mask[:, :width], obs.target[:, :width]
        samples = obs.samples[:, cache.rows:rows, :width]
        intervened = obs.intervened[:, cache.rows:rows, :width]
        p, m = cache.rows, rows - cache.rows
        # queries: the m new rows, then the summary; keys: the p cached rows (all earlier,
        # so all visible), the new rows, the summary
        observational = _observational(obs.intervened[:, :rows, :width], node_mask)[:, p:]
        if p and bool(observational.any()):
            raise ValueError("rollout_step: observational rows after the first call; the cached rows would have "
                             "to attend to them, so encode the observational rows in the first call")
        index = torch.arange(m, device=samples.device)
        new_rows = observational[:, None, :] | (index[None, None, :] <= index[None, :, None])  # (B, m, m)
        to_rows = torch.cat((new_rows.new_ones(b, m, p), new_rows, new_rows.new_zeros(b, m, 1)), dim=2)
        mask = torch.cat((to_rows, new_rows.new_ones(b, 1, p + m + 1)), dim=1)  # (B, m + 1, p + m + 1)
        row_mask = mask[:, None].expand(b, width, m + 1, p + m + 1).reshape(b * width, m + 1, p + m + 1)
        variable_keys = node_mask[:, None, :].expand(b, m + 1, width)
        z = torch.cat((self._cells(samples, intervened, target),
                       self._summaries(target, parent_probs[:, None, :width])), dim=1)  # (B, m + 1, D, E)
        keys = []
        for layer, (over_rows, over_variables) in enumerate(zip(self.row_blocks, self.variable_blocks)):
            x = z.transpose(1, 2).reshape(b * width, m + 1, -1)
            x, kept = over_rows.forward_cached(x, row_mask, cache.keys[layer] if cache.keys else None, keep=m)
            keys.append(kept)
            z = over_variables(x.reshape(b, width, m + 1, -1).transpose(1, 2), variable_keys)
        cache.rows, cache.keys = rows, keys
        logits, mean = self._heads(z[:, m:], obs.valid[:, :width])
        return F.pad(logits[:, 0], (0, d - width), value=MASKED), F.pad(mean[:, 0], (0, d - width))

    def _cells(self, samples: Tensor, intervened: Tensor, target: Tensor) -> Tensor:
        """Embeddings (B, R, D, E) of the cells: value, intervened flag, target flag."""
        b, r, d = samples.shape
        flag = target.to(samples.dtype)[:, None, :, None].expand(b, r, d, 1)
        return self.embed_cell(torch.cat((samples[..., None], intervened[..., None], flag), dim=-1))

    def _summaries(self, target: Tensor, parent_probs: Tensor) -> Tensor:
        """Summary tokens (B, S, D, E) of S states from the target flag and each state's
        parent probabilities (B, S, D)."""
        flag = target.to(torch.float32)[:, None, :].expand(parent_probs.shape)
        return self.summary + self.embed_summary(torch.stack((flag, parent_probs.to(torch.float32)), dim=-1))

    def _heads(self, summary: Tensor, valid: Tensor) -> tuple[Tensor, Tensor]:
        """Logits (masked where not ``valid``) and value means (B, S, D) of summary tokens."""
        h = self.final_norm(summary)
        logits = self.logit_head(h).squeeze(-1).masked_fill(~valid[:, None], MASKED)
        return logits, self.mean_head(h).squeeze(-1)

    def log_prob(self, logits: Tensor, mean: Tensor, nodes: Tensor, z: Tensor) -> Tensor:
        """Log-probability of the actions (nodes, z), each (B, G), under the outputs of
        :meth:`forward`: that of the variable plus the value's density at z."""
        log_p = F.log_softmax(logits, dim=-1).gather(1, nodes)
        return log_p + value_log_prob(z, mean.gather(1, nodes), self.std)

    def sample(self, logits: Tensor, mean: Tensor, count: int, generator: torch.Generator | None = None
               ) -> tuple[Tensor, Tensor]:
        """``count`` actions per observation: nodes (B, count) and pre-squash values z."""
        nodes = torch.multinomial(F.softmax(logits, dim=-1), count, replacement=True, generator=generator)
        noise = torch.randn(nodes.shape, generator=generator, device=logits.device)
        return nodes, mean.gather(1, nodes) + self.std * noise

    @staticmethod
    def greedy(logits: Tensor, mean: Tensor) -> tuple[Tensor, Tensor]:
        """The most likely variable and the value at its mean: nodes (B,) and z (B,)."""
        nodes = logits.argmax(dim=-1)
        return nodes, mean.gather(1, nodes[:, None])[:, 0]

    @staticmethod
    def entropy(logits: Tensor) -> Tensor:
        """(B,) entropy of the variable choice (masked variables contribute 0)."""
        log_p = F.log_softmax(logits, dim=-1)
        return -(log_p.exp() * log_p).sum(dim=-1)


def _observational(intervened: Tensor, node_mask: Tensor) -> Tensor:
    """(B, R) True for the observational rows: those before the first row in which a real
    variable was intervened on. (A row without an intervention after one is not: rows
    after the first intervention are ordered in time.)"""
    touched = ((intervened != 0) & node_mask[:, None, :]).any(dim=-1)
    return touched.cumsum(dim=1) == 0


def _visibility(row_mask: Tensor, observational: Tensor, lengths: Tensor) -> Tensor:
    """The row-attention mask (B, S + R, S + R) of S summary tokens followed by R rows:
    row r sees the filled observational rows and the filled rows up to itself (padded
    rows see only themselves, so that every query has a key); summary s sees the first
    ``lengths[:, s]`` filled rows and itself; no row sees a summary."""
    b, r = row_mask.shape
    s = lengths.shape[1]
    index = torch.arange(r, device=row_mask.device)
    rows = row_mask[:, None, :] & (observational[:, None, :] | (index[None, None, :] <= index[None, :, None]))
    rows = rows | torch.eye(r, dtype=torch.bool, device=row_mask.device)
    summary_rows = row_mask[:, None, :] & (index[None, None, :] < lengths[:, :, None])
    summaries = torch.eye(s, dtype=torch.bool, device=row_mask.device).expand(b, s, s)
    top = torch.cat((summaries, summary_rows), dim=2)
    bottom = torch.cat((row_mask.new_zeros(b, r, s), rows), dim=2)
    return torch.cat((top, bottom), dim=1)
