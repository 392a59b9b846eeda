"""The parent surrogate: a structure learner that reads CausalBO observations and gives
each variable's probability of being a parent of the target.

One class serves every caller. The GRPO trainer and agent ask it for a batch of
observations (leading axis B, one per environment) at once, as tensors
(:meth:`ParentSurrogate.parent_probs`, :meth:`ParentSurrogate.edge_probs`); the
environments call it on numpy observations with any leading axes, none for a single
environment's observation (B = 1) and (env, candidate) for the vector environment's
what-if (:meth:`ParentSurrogate.__call__`).

It is model-generic: any model of :mod:`causal_meta.models.registry` works, through the
protocol every model answers (``edge_probs(data, intervened, node_mask)`` and
``training_loss(batch)``). The filled rows (a prefix of the observation, ``row_mask``)
of the real variables go to the model with their intervention flags, standardised per
observation over those rows as the pre-training stream standardises them
(:func:`causal_meta.data.normalize_data`; the environment's own scaling does not
matter). Padding variables that no observation of a group has are cut off first: models
mask padding, so only their cost would change. ``P(i -> target)`` is column ``target``
of the edge probabilities, 0 for padding and for the target itself. Observations with
different row counts run as one forward pass per count.

Training goes through the model's own loss (:meth:`ParentSurrogate.loss`: AVICI's
cross-entropy plus its acyclicity term at the weight it holds, BCNP's likelihood over
orderings). The models' training hooks (``after_step``, AVICI's dual ascent) are not run:
a surrogate restored from a checkpoint keeps the hook state it was built with (AVICI:
acyclicity weight 0, the cross-entropy alone), which fine-tuning on a few episodes
does not need to move.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from causal_meta.data import normalize_data
from causal_meta.metrics import edge_auroc, edge_precision_recall_f1
from causal_meta.models.learner import evaluating
from causal_meta.pretrained import load_learner

__all__ = ["ParentSurrogate", "edge_scores"]


class ParentSurrogate:
    """Parent and edge probabilities of CausalBO observations from ``model``, a network
    of any registered model, on the device of its weights (see the module docstring)."""

    def __init__(self, model: nn.Module) -> None:
        self.model = model

    @classmethod
    def load(cls, path: str | Path | None = None, *, model: str | None = None,
             device: torch.device | str = "cpu") -> ParentSurrogate:
        """The surrogate of the checkpoint at ``path`` (any registered model, or only
        ``model`` when given), on ``device``; without ``path``, the shipped checkpoint of
        ``model`` (AVICI's by default). CheckpointError names a file that is not one."""
        return cls(load_learner(path, n_samples=0, model=model).model.to(device))

    @property
    def device(self) -> torch.device:
        """Where the model's weights, and so every tensor this class returns, live."""
        return next(self.model.parameters()).device

    # ------------------------------------------------------------------ the model's inputs

    @staticmethod
    def _check(observation: Mapping[str, np.ndarray], lead: tuple[int, ...]) -> None:
        """ValueError naming the first observation (at the caller's index: ``lead`` are
        the leading axes that the batch (B, ...) flattens) whose masks the model cannot
        read."""
        rows, node_mask, target = (np.asarray(observation[key]) != 0 for key in ("row_mask", "node_mask", "target"))
        counts, nodes = rows.sum(axis=1), node_mask.sum(axis=1)
        for key, ok, rule in (
                ("row_mask", rows == (np.arange(rows.shape[1]) < counts[:, None]), "mark a prefix of the rows"),
                ("row_mask", counts > 0, "mark at least one row: the surrogate needs a sample"),
                ("node_mask", (node_mask == (np.arange(node_mask.shape[1]) < nodes[:, None])) & (nodes > 0)[:, None],
                 "mark a non-empty prefix of the variables"),
                ("target", (target.sum(axis=1) == 1) & (target & node_mask).any(axis=1),
                 "be one-hot on a real variable")):
            bad = np.flatnonzero(~ok.reshape(len(ok), -1).all(axis=1))
            if len(bad):
                at = np.unravel_index(int(bad[0]), lead) if lead else ()
                where = f"[{', '.join(str(int(i)) for i in at)}]" if lead else ""
                value = np.asarray(observation[key])[bad[0]].astype(np.int64)
                raise ValueError(f"observation['{key}']{where} = {value} is not allowed: must {rule}")

    def _groups(self, observation: Mapping[str, np.ndarray]) -> Iterator[tuple[np.ndarray, int, dict[str, Tensor]]]:
        """Per row count of a batch (B, ...) of observations: the observations' indices,
        the width w kept (the widest real variable count among them) and the model's
        inputs ``data``, ``intervened`` (k, rows, w) and ``node_mask`` (k, w)."""
        node_mask = np.asarray(observation["node_mask"]) != 0
        self._check(observation, node_mask.shape[:1])
        counts, nodes = (np.asarray(observation["row_mask"]) != 0).sum(axis=1), node_mask.sum(axis=1)
        samples, intervened = np.asarray(observation["samples"]), np.asarray(observation["intervened"])
        for count in np.unique(counts).tolist():
            idx = np.flatnonzero(counts == count)
            w = int(nodes[idx].max())
            mask = node_mask[idx, :w]
            data = normalize_data(samples[idx, :count, :w]) * mask[:, None]
            yield idx, w, {"data": torch.from_numpy(np.ascontiguousarray(data)).to(self.device),
                           "intervened": torch.from_numpy(intervened[idx, :count, :w] != 0).to(self.device),
                           "node_mask": torch.from_numpy(np.ascontiguousarray(mask)).to(self.device)}

    # ------------------------------------------------------------------ queries

    def edge_probs(self, observation: Mapping[str, np.ndarray]) -> Tensor:
        """(B, D, D) float32 ``P(i -> j)`` of a batch of observations, in eval mode without
        gradients (the model's mode is restored); 0 on the diagonal and for padding."""
        b, d = np.shape(observation["node_mask"])
        out: Tensor | None = None
        with evaluating(self.model), torch.no_grad():
            for idx, w, inputs in self._groups(observation):
                probs = nn.functional.pad(self.model.edge_probs(**inputs), (0, d - w, 0, d - w))
                if len(idx) == b:
                    return probs
                if out is None:
                    out = probs.new_zeros(b, d, d)
                out = out.index_copy(0, torch.from_numpy(idx).to(probs.device), probs)
        assert out is not None  # _groups yields at least one group for a batch of B >= 1
        return out

    def parent_probs(self, observation: Mapping[str, np.ndarray]) -> Tensor:
        """(B, D) float32 probability that each variable is a parent of the target."""
        probs = self.edge_probs(observation)
        target = torch.as_tensor(np.asarray(observation["target"]).argmax(axis=1), device=probs.device)
        return probs[torch.arange(len(target), device=probs.device), :, target]

    def __call__(self, observation: Mapping[str, np.ndarray]) -> np.ndarray:
        """The environments' surrogate protocol: float64 parent probabilities (..., D) of
        observations with any leading axes (none: one environment's observation)."""
        lead = np.shape(observation["row_mask"])[:-1]
        flat = {key: np.reshape(value, (-1, *np.shape(value)[len(lead):])) for key, value in observation.items()}
        self._check(flat, lead)
        probs = self.parent_probs(flat).double().cpu().numpy()
        return probs.reshape(*lead, probs.shape[-1])

    # ------------------------------------------------------------------ training

    def loss(self, observation: Mapping[str, np.ndarray], adjacency: np.ndarray) -> Tensor:
        """The model's own training loss (``training_loss``) on a batch of observations of
        one row count against their true graphs ``adjacency`` (B, D, D), A[i, j] = 1 for
        i -> j; differentiable. The model's mode (train, for dropout) is the caller's."""
        a = np.asarray(adjacency, np.float32)
        d = np.asarray(observation["node_mask"]).shape
        if a.shape != (*d, d[-1]):
            raise ValueError(f"adjacency shape = {a.shape} is not allowed: must be (observation, node, node) = "
                             f"{(*d, d[-1])}")
        counts = np.unique((np.asarray(observation["row_mask"]) != 0).sum(axis=1)).tolist()
        if len(counts) > 1:
            raise ValueError(f"observation['row_mask'] row counts = {counts} are not allowed in one loss: the "
                             "observations of a training batch must have the same number of rows")
        ((_, w, inputs),) = self._groups(observation)
        inputs["adjacency"] = torch.from_numpy(np.ascontiguousarray(a[:, :w, :w])).to(self.device)
        loss, _ = self.model.training_loss(inputs)
        return loss


def edge_scores(probs: np.ndarray, adjacency: np.ndarray, n_nodes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per task: edge F1 (threshold 0.5) and AUROC of the edge probabilities (B, D, D)
    against the true graphs, each task cut to its ``n_nodes`` variables (AUROC is NaN for
    a graph without edges or non-edges)."""
    f1 = [float(edge_precision_recall_f1(a[:d, :d], p[:d, :d]).f1) for p, a, d in zip(probs, adjacency, n_nodes)]
    auroc = [float(edge_auroc(a[:d, :d], p[:d, :d])) for p, a, d in zip(probs, adjacency, n_nodes)]
    return np.array(f1), np.array(auroc)
