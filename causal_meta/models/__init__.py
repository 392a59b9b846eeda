"""Amortized structure learners: networks that map a task's data to a posterior over its
graph, trained on task streams (:mod:`causal_meta.data`)."""

from causal_meta.models.avici import (
    MASKED_LOGIT,
    Avici,
    AviciConfig,
    AviciLearner,
    LossTerms,
    acyclicity_penalty,
    bce_loss,
    edge_mask,
    sample_graphs,
    spectral_radius,
    update_dual,
)

__all__ = [
    "MASKED_LOGIT",
    "Avici",
    "AviciConfig",
    "AviciLearner",
    "LossTerms",
    "acyclicity_penalty",
    "bce_loss",
    "edge_mask",
    "sample_graphs",
    "spectral_radius",
    "update_dual",
]
