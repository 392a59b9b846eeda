"""The intervention policy: a set transformer over an episode's history that picks a
variable and a value.

Input, per variable of one observation (:func:`observation_tensors`): for every filled
row, the standardised value and the intervened flag; for the variable itself, whether
it is the target and the surrogate's probability that it is a parent of the target.
Padded rows and variables are masked out.

Network: each (row, variable) cell is embedded from (value, intervened, target flag,
parent probability); one extra summary row per variable is embedded from (target flag,
parent probability) alone. ``layers`` pairs of :class:`~causal_meta.models.blocks.Block`
alternate attention over rows (per variable; the summary row and the filled rows are
keys) and over variables (per row; the real variables are keys). The summary row then
holds one vector per variable. Without positional encodings the outputs are invariant
to permuting rows and equivariant to permuting variables; masking makes padding
irrelevant (tests check all three).

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
from dataclasses import dataclass, fields

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from agents.grpo.settings import PolicyConfig
from causal_meta.models.blocks import Block

__all__ = ["MASKED", "InterventionPolicy", "Observation", "PolicyConfig", "observation_tensors", "squash_log_det",
           "value_log_prob"]

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


class InterventionPolicy(nn.Module):
    """The policy network; see the module docstring."""

    def __init__(self, config: PolicyConfig | None = None) -> None:
        super().__init__()
        self.config = config = config if config is not None else PolicyConfig()
        sizes = (config.d_model, config.heads, config.head_dim, config.ffn)
        self.embed_cell = nn.Linear(4, config.d_model)
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
        pre-squash value means (B, D; 0 for padding), from the observations and the
        surrogate's parent probabilities (B, D).

        Trailing rows that no observation of the batch has filled and trailing variables
        that none has are cut off before the network runs and the outputs padded back:
        masking makes them irrelevant, and a run whose width serves its widest level
        would otherwise pay for them at every level."""
        rows = int(obs.row_mask.any(dim=0).nonzero().max()) + 1 if bool(obs.row_mask.any()) else 0
        width = int(obs.node_mask.any(dim=0).nonzero().max()) + 1
        t, d = obs.samples.shape[1:]
        if rows == t and width == d:
            return self._forward(obs, parent_probs)
        cut = Observation(obs.samples[:, :rows, :width], obs.intervened[:, :rows, :width], obs.row_mask[:, :rows],
                          obs.node_mask[:, :width], obs.target[:, :width], obs.valid[:, :width])
        logits, mean = self._forward(cut, parent_probs[:, :width])
        return F.pad(logits, (0, d - width), value=MASKED), F.pad(mean, (0, d - width))

    def _forward(self, obs: Observation, parent_probs: Tensor) -> tuple[Tensor, Tensor]:
        b, t, d = obs.samples.shape
        flags = torch.stack((obs.target.to(obs.samples.dtype), parent_probs.to(obs.samples.dtype)), dim=-1)  # B, D, 2
        cells = torch.cat((obs.samples[..., None], obs.intervened[..., None], flags[:, None].expand(b, t, d, 2)), -1)
        summary = (self.summary + self.embed_summary(flags))[:, None]  # (B, 1, D, E)
        z = torch.cat((summary, self.embed_cell(cells)), dim=1)  # (B, T + 1, D, E)
        row_keys = torch.cat((obs.row_mask.new_ones(b, 1), obs.row_mask), dim=1)  # the summary row is always a key
        row_keys = row_keys[:, None, :].expand(b, d, t + 1)
        variable_keys = obs.node_mask[:, None, :].expand(b, t + 1, d)
        for over_rows, over_variables in zip(self.row_blocks, self.variable_blocks):
            z = over_rows(z.transpose(1, 2).contiguous(), row_keys).transpose(1, 2).contiguous()
            z = over_variables(z, variable_keys)
        h = self.final_norm(z[:, 0])  # (B, D, E)
        logits = self.logit_head(h).squeeze(-1).masked_fill(~obs.valid, MASKED)
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
