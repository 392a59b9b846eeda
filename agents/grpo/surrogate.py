"""The joint surrogate: a structure learner that reads an episode's rows and gives each
variable's probability of being a parent of the target, for every environment of a
batch in one forward pass.

It wraps an :class:`~causal_meta.models.avici.Avici` (by default initialised from the
shipped CPU checkpoint) as :class:`causal_meta.pretrained.AviciParentSurrogate` does for
one environment: the filled rows (a prefix of the observation) of the real variables go
to the model with their intervention flags, standardised per task over those rows as
the pre-training stream standardises them (padding variables that no task of a group
has are cut off first: AVICI masks padding, so only their cost would change); ``P(i -> target)`` is column ``target`` of
the edge probabilities, 0 for padding and for the target itself. Observations of a
batch with different row counts run as one forward pass per count.

The trainer fits it to the true graphs of its training episodes by binary
cross-entropy (:meth:`ParentSurrogate.loss`), and logs its edge F1 and AUROC there
(:func:`edge_scores`).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from causal_meta.data import normalize_data
from causal_meta.metrics import edge_auroc, edge_precision_recall_f1
from causal_meta.models.avici import MASKED_LOGIT, Avici

__all__ = ["ParentSurrogate", "edge_scores"]


class ParentSurrogate:
    """Edge and parent probabilities of a batch of observations (numpy dicts, leading
    axis B) from ``model`` on ``device``."""

    def __init__(self, model: Avici, device: torch.device | str = "cpu") -> None:
        self.model = model
        self.device = torch.device(device)

    def edge_logits(self, observation: dict[str, np.ndarray]) -> Tensor:
        """(B, D, D) edge logits; differentiable when gradients are enabled."""
        rows = np.asarray(observation["row_mask"], bool)
        counts = rows.sum(axis=1)
        if not (rows == (np.arange(rows.shape[1]) < counts[:, None])).all():
            raise ValueError("observation['row_mask'] must mark a prefix of the rows")
        if (counts == 0).any():
            raise ValueError("observation['row_mask'] marks no rows: the surrogate needs at least one sample")
        node_mask = np.asarray(observation["node_mask"], bool)
        b, d = node_mask.shape
        out: Tensor | None = None
        for count in np.unique(counts).tolist():
            idx = np.flatnonzero(counts == count)
            w = int(node_mask[idx].sum(axis=1).max())  # trailing padding is cut off, then the logits padded back
            data = normalize_data(np.asarray(observation["samples"])[idx, :count, :w]) * node_mask[idx, None, :w]
            intervened = np.asarray(observation["intervened"])[idx, :count, :w] != 0
            logits = self.model(torch.from_numpy(np.ascontiguousarray(data)).to(self.device),
                                torch.from_numpy(intervened).to(self.device),
                                torch.from_numpy(np.ascontiguousarray(node_mask[idx, :w])).to(self.device))
            logits = torch.nn.functional.pad(logits, (0, d - w, 0, d - w), value=MASKED_LOGIT)
            if len(idx) == b:
                return logits
            if out is None:
                out = logits.new_zeros(b, d, d)
            out = out.index_copy(0, torch.from_numpy(idx).to(self.device), logits)
        assert out is not None
        return out

    def parent_probs(self, observation: dict[str, np.ndarray]) -> Tensor:
        """(B, D) float32 probability that each variable is a parent of the target."""
        was_training = self.model.training
        self.model.eval()
        try:
            with torch.no_grad():
                probs = torch.sigmoid(self.edge_logits(observation))
        finally:
            self.model.train(was_training)
        target = torch.as_tensor(np.asarray(observation["target"]).argmax(axis=1), device=probs.device)
        return probs[torch.arange(len(target), device=probs.device), :, target]

    def loss(self, observation: dict[str, np.ndarray], adjacency: np.ndarray) -> Tensor:
        """Binary cross-entropy against the true graphs (B, D, D), A[i, j] = 1 for i -> j."""
        logits = self.edge_logits(observation)
        node_mask = torch.from_numpy(np.asarray(observation["node_mask"], bool)).to(self.device)
        target = torch.from_numpy(np.asarray(adjacency, np.float32)).to(self.device)
        return self.model.loss(logits, target, node_mask).bce


def edge_scores(probs: np.ndarray, adjacency: np.ndarray, n_nodes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per task: edge F1 (threshold 0.5) and AUROC of the edge probabilities (B, D, D)
    against the true graphs, each task cut to its ``n_nodes`` variables (AUROC is NaN for
    a graph without edges or non-edges)."""
    f1 = [float(edge_precision_recall_f1(a[:d, :d], p[:d, :d]).f1) for p, a, d in zip(probs, adjacency, n_nodes)]
    auroc = [float(edge_auroc(a[:d, :d], p[:d, :d])) for p, a, d in zip(probs, adjacency, n_nodes)]
    return np.array(f1), np.array(auroc)
