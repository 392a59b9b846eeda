"""BCNP: permutations against scipy's Hungarian solver, Sinkhorn against the
doubly-stochastic definition, acyclicity of every sample (networkx), the two losses
against hand-worked values, and the model through the registry, a checkpoint and the
learner protocol."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import networkx as nx
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import linear_sum_assignment

from causal_meta.learners import EdgePosterior, StructureLearner
from causal_meta.models import registry
from causal_meta.models.bcnp import (
    Bcnp,
    BcnpConfig,
    order_masks,
    rank_permutations,
    sinkhorn,
)
from causal_meta.pretrained import load_learner

ROOT = Path(__file__).resolve().parents[1]
TINY = {"d_model": 16, "heads": 2, "head_dim": 8, "encoder_layers": 2, "decoder_layers": 1, "ffn": 32,
        "dropout": 0.0, "n_perm_samples": 4, "sinkhorn_iter": 10}


def tiny(seed: int = 0, **overrides: object) -> Bcnp:
    torch.manual_seed(seed)
    return Bcnp(BcnpConfig(**{**TINY, **overrides})).eval()


def tasks(batch: int, n: int, d: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(batch, n, d, generator=g), torch.rand(batch, n, d, generator=g) < 0.2


def test_ranking_is_the_hungarian_assignment_of_the_relaxed_scores() -> None:
    """For log_alpha[i, k] = q_i c_k with c strictly decreasing, scipy's Hungarian solver
    (maximising the total weight) picks the permutation that ranks the scores."""
    rng = np.random.default_rng(0)
    for d in (1, 2, 5, 12):
        c = np.sort(rng.random(d))[::-1] + np.arange(d)[::-1]  # strictly decreasing
        for _ in range(20):
            q = rng.normal(size=d)
            rows, cols = linear_sum_assignment(np.outer(q, c), maximize=True)
            expected = np.zeros((d, d))
            expected[rows, cols] = 1
            assert np.array_equal(rank_permutations(torch.from_numpy(q)).numpy(), expected)


def test_sinkhorn_is_doubly_stochastic_and_sharpens_to_the_ranking() -> None:
    g = torch.Generator().manual_seed(0)
    log_alpha = torch.randn(3, 6, 6, generator=g) * 3
    p = sinkhorn(log_alpha, 200)
    torch.testing.assert_close(p.sum(-1), torch.ones(3, 6), atol=1e-4, rtol=0)
    torch.testing.assert_close(p.sum(-2), torch.ones(3, 6), atol=1e-4, rtol=0)
    # At a temperature far below the gaps between assignments' weights (scores 1 apart,
    # positions 1/6 apart) the relaxation of q (x) c is the hard ranking.
    q = torch.stack([torch.randperm(7, generator=g).float() for _ in range(4)])
    c = torch.arange(6, -1, -1, dtype=torch.float32) / 6
    soft = sinkhorn(q.unsqueeze(-1) * c / 0.01, 500)
    assert (soft - rank_permutations(q)).abs().max() < 0.05


def test_order_masks_forbid_every_cycle() -> None:
    """``P U P^T`` of a ranking is the strict order "i before j": a DAG's support whose
    topological order is the ranking."""
    q = torch.tensor([[0.3, -1.0, 2.0, 0.5]])
    mask = order_masks(rank_permutations(q))[0]
    # Ranking (highest first): 2, 3, 0, 1.
    expected = torch.zeros(4, 4)
    for earlier, later in [(2, 3), (2, 0), (2, 1), (3, 0), (3, 1), (0, 1)]:
        expected[earlier, later] = 1
    assert torch.equal(mask, expected)


@settings(max_examples=25, deadline=None)
@given(d=st.integers(1, 9), n=st.integers(1, 12), padded=st.integers(0, 3), seed=st.integers(0, 2**16))
def test_every_posterior_sample_is_a_dag_and_padding_has_no_edges(d: int, n: int, padded: int, seed: int) -> None:
    model = tiny(seed % 7)
    data, intervened = tasks(2, n, d + padded, seed)
    mask = torch.ones(2, d + padded, dtype=torch.bool)
    mask[1, d:] = False
    probs, samples = model.posterior(data, intervened, mask, 16, torch.Generator().manual_seed(seed))
    assert probs.shape == (2, d + padded, d + padded) and samples.shape == (2, 16, d + padded, d + padded)
    assert ((probs >= 0) & (probs <= 1)).all() and not probs.diagonal(dim1=-2, dim2=-1).any()
    assert not samples[1, :, d:].any() and not samples[1, :, :, d:].any() and not probs[1, d:].any()
    for task in samples:
        for graph in task:
            assert nx.is_directed_acyclic_graph(nx.DiGraph(graph.numpy()))


def test_the_losses_match_hand_worked_values() -> None:
    """Two variables, two orderings (0 before 1; 1 before 0), sigmoid(L) = 0.8 off the
    diagonal, truth 0 -> 1. Sample 1 allows only 0 -> 1, sample 2 only 1 -> 0; a forbidden
    edge has probability 0 (likelihood 1 when absent, ~0 when present).
    per_edge: entry (0, 1) present has mixture likelihood (0.8 + 0) / 2 = 0.4, entry
    (1, 0) absent (1 + 0.2) / 2 = 0.6: the loss is -(log 0.4 + log 0.6) / 2.
    joint: the graph has likelihood (0.8 * 1 + 0 * 0.2) / 2 = 0.4 under the mixture: the
    loss is -log 0.4 over the 2 entries."""
    logits = torch.full((1, 2, 2), math.log(0.8 / 0.2))
    perms = torch.stack([torch.eye(2), torch.eye(2).flip(0)])[None]  # (1, S=2, 2, 2)
    truth = torch.tensor([[[0.0, 1.0], [0.0, 0.0]]])
    nodes = torch.ones(1, 2, dtype=torch.bool)
    per_edge, joint = (Bcnp(BcnpConfig(**{**TINY, "loss": name})) for name in ("per_edge", "joint"))
    assert per_edge.loss(logits, perms, truth, nodes).item() == pytest.approx(-(math.log(0.4) + math.log(0.6)) / 2,
                                                                             abs=1e-5)
    assert joint.loss(logits, perms, truth, nodes).item() == pytest.approx(-math.log(0.4) / 2, abs=1e-5)
    # Empty truth: per entry, the allowed sample gives 0.2 and the forbidden one 1, a mixture
    # of 0.6 for each entry; the whole graph has likelihood (0.2 * 1 + 1 * 0.2) / 2 = 0.2.
    empty = torch.zeros(1, 2, 2)
    assert per_edge.loss(logits, perms, empty, nodes).item() == pytest.approx(-math.log(0.6), abs=1e-5)
    assert joint.loss(logits, perms, empty, nodes).item() == pytest.approx(-math.log(0.2) / 2, abs=1e-5)
    # One permutation: both losses are the plain Bernoulli likelihood, and they agree.
    one = perms[:, :1]
    assert per_edge.loss(logits, one, truth, nodes).item() == pytest.approx(
        joint.loss(logits, one, truth, nodes).item(), abs=1e-6)


def test_training_moves_both_stacks_and_edge_probs_are_deterministic() -> None:
    model = tiny().train()
    data, intervened = tasks(3, 10, 5)
    batch = {"data": data, "intervened": intervened, "node_mask": torch.ones(3, 5, dtype=torch.bool),
             "adjacency": torch.ones(3, 5, 5).triu(1)}
    loss, terms = model.training_loss(batch)
    assert set(terms) == {"per_edge"} and torch.isfinite(loss)
    loss.backward()
    # The permutation scores learn through the straight-through Sinkhorn gradient.
    assert model.q_head[1].weight.grad.abs().sum() > 0
    assert model.l_left.weight.grad.abs().sum() > 0
    model.eval()
    assert torch.equal(model.edge_probs(data, intervened), model.edge_probs(data, intervened))


@pytest.mark.parametrize(("field", "value", "allowed"), [
    ("encoder_layers", 3, "an even integer"), ("loss", "mixture", r"one of \['per_edge', 'joint'\]"),
    ("temperature", 0.0, "a finite number > 0"), ("n_perm_samples", 0, "an integer >= 1"),
    ("name", "avici", "this is the settings class of 'bcnp'"), ("pair_statistics", "yes", "true or false"),
])
def test_bad_settings_name_the_key(field: str, value: object, allowed: str) -> None:
    with pytest.raises(ValueError, match=rf"model\.{field} = {value!r} is not allowed: .*{allowed}"):
        BcnpConfig(**{field: value})


def test_registry_builds_it_from_a_checkpoint_config() -> None:
    model = registry.build({"name": "bcnp", **TINY})
    assert isinstance(model, Bcnp) and model.config.decoder_layers == 1


@pytest.mark.slow
def test_smoke_run_trains_checkpoints_and_loads_as_a_learner(tmp_path: Path) -> None:
    """The CI smoke preset through the command line, then its checkpoint as a learner:
    samples are DAGs and the protocol holds."""
    args = [sys.executable, "-m", "agents.pretrain", "bcnp", "--config", "bcnp_smoke", f"hydra.run.dir={tmp_path}"]
    done = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "bcnp on cpu_small" in done.stdout and (tmp_path / "report.md").is_file()
    learner = load_learner(tmp_path / "checkpoints" / "best.pt", n_samples=12, model="bcnp")
    assert isinstance(learner, StructureLearner) and learner.name == "bcnp"
    data, intervened = tasks(1, 40, 6)
    posterior = learner.fit(data[0].numpy(), intervened[0].numpy().astype(np.uint8), seed=1)
    assert isinstance(posterior, EdgePosterior) and posterior.samples.shape == (12, 6, 6)
    assert all(nx.is_directed_acyclic_graph(nx.DiGraph(g)) for g in posterior.samples)
