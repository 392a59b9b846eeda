"""Tests of causal_meta.semi_real: the Gaussian networks of pgmpy's wheel and the Sachs
data of cdt's, their shapes, edge counts and acyclicity, the ancestral sampler against
the moments its CPDs imply, the tasks the benchmark gets, and that nothing is downloaded.
They need the semi_real extra (part of the test extra)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from importlib.util import find_spec
from pathlib import Path

import numpy as np
import pytest

from causal_meta import metrics
from causal_meta import semi_real as sr

pytestmark = pytest.mark.skipif(find_spec("pgmpy") is None or find_spec("cdt") is None,
                                reason="the semi_real extra (pgmpy, cdt) is not installed")

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}

# (nodes, edges) as bnlearn's repository documents the four networks.
SIZES = {"ecoli70": (46, 70), "magic-niab": (44, 66), "magic-irri": (64, 102), "arth150": (107, 150)}

SAMPLE_ROWS = 20_000
Z_LIMIT = 6.0
"""Sample moments must lie within 6 standard errors of the CPD-implied ones, for every
entry at once: with about 5,800 covariance entries (arth150) a correct sampler passes by
a wide margin (a 6-sigma excursion has probability 2e-9 each), while a sampler that
drops, transposes or misorders one coefficient misses some entry by far more."""


@pytest.mark.parametrize("name", sr.NETWORKS)
def test_network_shapes_edges_and_acyclicity(name: str) -> None:
    net = sr.load_network(name)
    d, edges = SIZES[name]
    assert len(net.nodes) == len(set(net.nodes)) == d and list(net.nodes) == sorted(net.nodes)
    assert net.adjacency.shape == net.weights.shape == (d, d) and net.adjacency.dtype == np.uint8
    assert int(net.adjacency.sum()) == edges and not np.diagonal(net.adjacency).any()
    assert metrics.is_dag(net.adjacency)
    np.testing.assert_array_equal(net.weights != 0, net.adjacency.astype(bool))
    assert net.intercept.shape == net.noise_std.shape == (d,) and (net.noise_std > 0).all()
    order = net.topological_order()
    position = np.argsort(order)
    parents, children = np.nonzero(net.adjacency)
    assert sorted(order) == list(range(d)) and (position[parents] < position[children]).all()


@pytest.mark.parametrize("name", sr.NETWORKS)
def test_sample_moments_match_the_cpds(name: str) -> None:
    net = sr.load_network(name)
    mean, cov = net.mean(), net.covariance()
    x = net.sample(SAMPLE_ROWS, np.random.default_rng(0))
    n = len(x)
    var = np.diagonal(cov)
    mean_z = (x.mean(axis=0) - mean) / np.sqrt(var / n)
    # Var of a sample covariance entry of Gaussian data: (S_ii S_jj + S_ij^2) / n.
    cov_z = (np.cov(x, rowvar=False) - cov) / np.sqrt((np.outer(var, var) + cov**2) / n)
    assert np.abs(mean_z).max() < Z_LIMIT and np.abs(cov_z).max() < Z_LIMIT


def test_implied_moments_follow_the_cpd_equations() -> None:
    """The closed forms against the defining equations: E X_j = b_j + sum_i w_ij E X_i and
    Var X_j = s_j^2 + w_j^T Cov(X_pa) w_j, for every node of ecoli70."""
    net = sr.load_network("ecoli70")
    mean, cov = net.mean(), net.covariance()
    np.testing.assert_allclose(mean, net.intercept + net.weights.T @ mean, atol=1e-10)
    explained = np.einsum("ij,ik,kj->j", net.weights, cov, net.weights)
    np.testing.assert_allclose(np.diagonal(cov), net.noise_std**2 + explained, rtol=1e-10)


def test_the_sampler_is_reproducible_and_checks_n() -> None:
    net = sr.load_network("magic-niab")
    a, b = (net.sample(5, np.random.default_rng(3)) for _ in range(2))
    np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match=r"^n must be an integer >= 1; got 0"):
        net.sample(0, np.random.default_rng(0))


def test_cached_loads_cannot_be_changed_in_place() -> None:
    net, sachs = sr.load_network("ecoli70"), sr.load_sachs()
    for array in (net.weights, net.intercept, net.noise_std, net.adjacency, sachs.data, sachs.adjacency):
        with pytest.raises(ValueError, match="read-only"):
            array[0] = 1


def test_unknown_network_names_the_allowed_ones() -> None:
    with pytest.raises(ValueError, match=r"^name must be one of \['ecoli70', 'magic-niab', 'magic-irri', 'arth150'\]"):
        sr.load_network("alarm")


def test_sachs_rows_and_consensus_dag() -> None:
    sachs = sr.load_sachs()
    assert sachs.data.shape == (7466, 11) and np.isfinite(sachs.data).all()
    assert len(set(sachs.nodes)) == 11 and sachs.adjacency.shape == (11, 11)
    assert int(sachs.adjacency.sum()) == 17 and metrics.is_dag(sachs.adjacency)
    index = {name: i for i, name in enumerate(sachs.nodes)}
    cause, effect = (index[n] for n in sr.SACHS_DROPPED_EDGE)
    assert not sachs.adjacency[cause, effect] and not sachs.adjacency[effect, cause]
    for edge in [("PIP3", "plcg"), ("plcg", "PIP2"), ("PKA", "praf"), ("pmek", "p44/42")]:
        assert sachs.adjacency[index[edge[0]], index[edge[1]]], edge


@pytest.mark.parametrize("name", sr.DATASETS)
def test_tasks_are_standardised_observational_and_seeded(name: str) -> None:
    tasks = sr.tasks(name, 300, 2, seed=4)
    count = 1 if name == sr.SACHS else 2
    rows = 7466 if name == sr.SACHS else 300
    d = 11 if name == sr.SACHS else SIZES[name][0]
    assert tasks.data.shape == tasks.mask.shape == (count, rows, d) and tasks.data.dtype == np.float32
    assert not tasks.mask.any() and (tasks.n_nodes == d).all() and tasks.adjacency.shape == (count, d, d)
    np.testing.assert_allclose(tasks.data.mean(axis=1), 0.0, atol=1e-4)
    np.testing.assert_allclose(tasks.data.std(axis=1), 1.0, atol=1e-4)
    np.testing.assert_array_equal(sr.tasks(name, 300, 2, seed=4).data, tasks.data)
    if name != sr.SACHS:
        assert not np.array_equal(tasks.data[0], tasks.data[1])
        assert not np.array_equal(sr.tasks(name, 300, 2, seed=5).data, tasks.data)


def test_tasks_reject_bad_arguments() -> None:
    with pytest.raises(ValueError, match=r"^name must be one of"):
        sr.tasks("asia", 10, 1, 0)
    with pytest.raises(ValueError, match=r"^rows must be an integer >= 1; got 0"):
        sr.tasks("ecoli70", 0, 1, 0)
    with pytest.raises(ValueError, match=r"^count must be an integer >= 1; got 1.5"):
        sr.tasks("ecoli70", 10, 1.5, 0)


def test_loading_needs_no_network() -> None:
    """In a fresh interpreter whose sockets all fail, every data set still loads: nothing
    is fetched at run time (pgmpy's downloading loader is never reached)."""
    probe = textwrap.dedent("""
        import json, socket
        def refuse(*args, **kwargs):
            raise OSError("network access attempted")
        socket.socket.connect = socket.socket.connect_ex = refuse
        socket.create_connection = socket.getaddrinfo = refuse
        from causal_meta import semi_real as sr
        sizes = {name: [len(sr.load_network(name).nodes), int(sr.load_network(name).adjacency.sum())]
                 for name in sr.NETWORKS}
        sizes["sachs"] = list(sr.load_sachs().data.shape)
        print(json.dumps(sizes))
    """)
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env=ENV)
    assert done.returncode == 0, done.stderr
    sizes = json.loads(done.stdout.splitlines()[-1])
    assert sizes == {**{k: list(v) for k, v in SIZES.items()}, "sachs": [7466, 11]}


def test_benchmark_scores_the_semi_real_suite(tmp_path: Path) -> None:
    """``python benchmarks/structure.py --suite semi_real`` with the score baselines: every
    data set scored, precision and correlation by the ranking metrics only, n/a elsewhere."""
    out = tmp_path / "semi.json"
    done = subprocess.run(
        [sys.executable, "benchmarks/structure.py", "--suite", "semi_real", "--learners", "precision", "correlation",
         "--tasks", "2", "--n-obs", "200", "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=300, env=ENV)
    assert done.returncode == 0, done.stderr
    report = json.loads(out.read_text())
    assert list(report["results"]) == [f"semi_real/{name}" for name in sr.DATASETS]
    assert report["n_obs"] == 200 and report["n_int"] == 0
    for label, learners in report["results"].items():
        for name in ("precision", "correlation"):
            result = learners[name]
            assert set(result["mean"]) == {"auroc", "auprc", "best_edge_f1", "seconds"}
            assert result["tasks"] == (1 if label.endswith("sachs") else 2)
            assert 0.5 < result["mean"]["auroc"] <= 1.0, (label, name, result["mean"])
    table_rows = [line for line in done.stdout.splitlines() if line.startswith("| semi_real/")]
    assert len(table_rows) == 2 * len(sr.DATASETS) and all(row.count("n/a") == 5 for row in table_rows)
    assert "not probabilities" in done.stdout


def test_benchmark_refuses_interventional_rows_on_semi_real() -> None:
    done = subprocess.run([sys.executable, "benchmarks/structure.py", "--suite", "semi_real", "--n-int", "10"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120, env=ENV)
    assert done.returncode == 2 and "--n-int must be 0 with --suite semi_real" in done.stderr
