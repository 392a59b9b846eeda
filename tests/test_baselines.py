"""Tests of causal_meta.baselines: recovery on known graphs, DAG extensions against a
brute-force enumeration of equivalence classes, the random prior, padding, bad input."""

from __future__ import annotations

import importlib.util
import itertools
import sys

import numpy as np
import pytest

from causal_meta import baselines as b
from causal_meta import metrics
from causal_meta.scm import sample_tasks
from causal_meta.specs import Er, Family

needs_causallearn = pytest.mark.skipif(
    importlib.util.find_spec("causallearn") is None,
    reason="causal-learn (the baselines extra) is not installed",
)
CLASSICAL = ["pc", "ges"]
# A stricter level for the recovery tests: at 0.05 one spurious dependence among the
# handful of true independences is likely enough that a seed change could flip a test.
RECOVERY = {"pc": {"alpha": 0.01}, "ges": {}}
ALL = ["pc", "ges", "random"]


def graph(d: int, edges: list[tuple[int, int]]) -> np.ndarray:
    a = np.zeros((d, d), dtype=np.uint8)
    for i, j in edges:
        a[i, j] = 1
    return a


def linear_gaussian(adj: np.ndarray, n: int, seed: int) -> np.ndarray:
    """Data of a linear SCM with weights 0.8 and unit Gaussian noise; ``adj`` must be
    upper triangular so that index order is a topological order."""
    rng = np.random.default_rng(seed)
    x = np.zeros((n, len(adj)))
    for j in range(len(adj)):
        x[:, j] = x @ (0.8 * adj[:, j]) + rng.normal(size=n)
    return x.astype(np.float32)


def no_mask(x: np.ndarray) -> np.ndarray:
    return np.zeros(x.shape, dtype=np.uint8)


def v_structures(dag: np.ndarray) -> set[tuple[int, int, int]]:
    adjacent = dag | dag.T
    return {
        (i, k, j)
        for k in range(len(dag))
        for i, j in itertools.combinations(np.flatnonzero(dag[:, k]), 2)
        if not adjacent[i, j]
    }


def markov_key(dag: np.ndarray) -> tuple:
    """Two DAGs are Markov equivalent iff skeleton and v-structures agree (Verma & Pearl)."""
    skeleton = (dag | dag.T).astype(bool)
    return skeleton.tobytes(), frozenset(v_structures(dag))


def all_dags(d: int) -> list[np.ndarray]:
    pairs = list(itertools.combinations(range(d), 2))
    dags = []
    for states in itertools.product(range(3), repeat=len(pairs)):
        a = np.zeros((d, d), dtype=np.uint8)
        for (i, j), s in zip(pairs, states):
            if s == 1:
                a[i, j] = 1
            elif s == 2:
                a[j, i] = 1
        if metrics.is_dag(a):
            dags.append(a)
    return dags


def engine_tasks(count: int, nodes: tuple[int, int], n_obs: int, seed: int = 0):
    family = Family(nodes=nodes, graph=Er(edges_per_node=1.0))
    return sample_tasks(family, seed, 0, count, n_obs)


# ---------------------------------------------------------------------------------------
# PC and GES recover known equivalence classes
# ---------------------------------------------------------------------------------------

# 0 -> 2 <- 1 is a collider, and 2 -> 3 is then compelled (Meek rule 1): fully directed.
COLLIDER = graph(4, [(0, 2), (1, 2), (2, 3)])
# 0 -> 1 -> 2 -> 3: no v-structure, so every edge is reversible.
CHAIN = graph(4, [(0, 1), (1, 2), (2, 3)])


@needs_causallearn
@pytest.mark.parametrize("name", CLASSICAL)
def test_collider_is_oriented(name: str) -> None:
    x = linear_gaussian(COLLIDER, 5000, seed=1)
    post = b.get_learner(name, **RECOVERY[name]).fit(x, no_mask(x))
    np.testing.assert_array_equal(post.probs, COLLIDER.astype(float))


@needs_causallearn
@pytest.mark.parametrize("name", CLASSICAL)
def test_chain_is_undirected(name: str) -> None:
    x = linear_gaussian(CHAIN, 5000, seed=2)
    post = b.get_learner(name, **RECOVERY[name]).fit(x, no_mask(x))
    np.testing.assert_array_equal(post.probs, 0.5 * (CHAIN | CHAIN.T))
    members = {s.tobytes() for s in post.samples}
    assert len(members) == 4  # the chain's class: the 4 DAGs with one source on the path


@needs_causallearn
@pytest.mark.parametrize("name", CLASSICAL)
def test_interventional_rows_are_left_out(name: str) -> None:
    """Rows marked as interventional get the same large value in every variable: pooled,
    they would make all variables dependent; left out, the collider is found."""
    x = linear_gaussian(COLLIDER, 4000, seed=3)
    mask = no_mask(x)
    x[:1000] = np.random.default_rng(3).normal(scale=10.0, size=(1000, 1))
    mask[:1000, 2] = 1
    post = b.get_learner(name, **RECOVERY[name]).fit(x, mask)
    np.testing.assert_array_equal(post.probs, COLLIDER.astype(float))


def test_observational_rows_rule() -> None:
    x = np.arange(40, dtype=np.float32).reshape(10, 4)
    mask = np.zeros_like(x, dtype=np.uint8)
    mask[:5, 0] = 1
    np.testing.assert_array_equal(b.observational_rows(x, mask), x[5:])  # 5 >= d + 1
    mask[:6, 0] = 1
    np.testing.assert_array_equal(b.observational_rows(x, mask), x)  # 4 < d + 1: all rows


@needs_causallearn
@pytest.mark.parametrize("name", CLASSICAL)
def test_constant_column_is_isolated(name: str) -> None:
    x = linear_gaussian(COLLIDER, 3000, seed=4)
    x = np.insert(x, 1, 7.0, axis=1)  # a constant variable 1, shifting the others
    post = b.get_learner(name, **RECOVERY[name]).fit(x, no_mask(x))
    assert not post.probs[1].any() and not post.probs[:, 1].any()
    np.testing.assert_array_equal(np.delete(np.delete(post.probs, 1, 0), 1, 1), COLLIDER)


@needs_causallearn
def test_causallearn_prints_nothing(capfd: pytest.CaptureFixture[str]) -> None:
    x = linear_gaussian(CHAIN, 500, seed=5)
    b.PC().fit(x, no_mask(x))
    b.GES().fit(x, no_mask(x))
    out, err = capfd.readouterr()
    assert out == "" and err == ""


# ---------------------------------------------------------------------------------------
# The output contract, for every learner
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ALL)
def test_output_contract(name: str) -> None:
    if name in CLASSICAL:
        pytest.importorskip("causallearn")
    tasks = engine_tasks(3, (6, 6), 300)
    learner = b.get_learner(name, n_samples=20)
    assert isinstance(learner, b.StructureLearner) and learner.name == name
    for data, mask in zip(tasks.data, tasks.mask):
        post = learner.fit(data, mask, seed=3)
        assert post.probs.shape == (6, 6) and post.probs.dtype == np.float64
        assert post.samples.shape == (20, 6, 6) and post.samples.dtype == np.uint8
        assert not np.diagonal(post.probs).any()
        assert ((post.probs >= 0) & (post.probs <= 1)).all()
        assert metrics.is_dag(post.samples).all()
        again = learner.fit(data, mask, seed=3)
        np.testing.assert_array_equal(again.samples, post.samples)


def test_edge_posterior_rejects_broken_learner_output() -> None:
    with pytest.raises(ValueError, match="probs"):
        b.EdgePosterior(np.full((3, 3), 0.5))  # nonzero diagonal
    with pytest.raises(ValueError, match="samples"):
        b.EdgePosterior(np.zeros((3, 3)), np.zeros((2, 4, 4), dtype=np.uint8))


# ---------------------------------------------------------------------------------------
# DAG extensions of CPDAGs
# ---------------------------------------------------------------------------------------


def test_cpdag_probs_mapping() -> None:
    cpdag = graph(3, [(0, 1), (1, 2), (2, 1)])  # 0 -> 1, 1 - 2
    expected = np.array([[0, 1, 0], [0, 0, 0.5], [0, 0.5, 0]])
    np.testing.assert_array_equal(b.cpdag_probs(cpdag), expected)


def test_extensions_stay_in_and_cover_every_equivalence_class_on_4_nodes() -> None:
    """Every CPDAG on 4 nodes, built by brute force as the union of its class: each sample
    is a member of the class, and 300 samples reach every member."""
    classes: dict[tuple, list[np.ndarray]] = {}
    for dag in all_dags(4):
        classes.setdefault(markov_key(dag), []).append(dag)
    assert len(classes) == 185  # the known number of equivalence classes on 4 nodes
    rng = np.random.default_rng(0)
    for key, members in classes.items():
        cpdag = np.bitwise_or.reduce(np.stack(members), axis=0)
        samples = b.sample_dag_extensions(cpdag, 300, rng)
        assert all(markov_key(s) == key for s in samples)
        assert {s.tobytes() for s in samples} == {m.tobytes() for m in members}


def test_non_extendable_and_cyclic_inputs_still_give_dags() -> None:
    rng = np.random.default_rng(1)
    cycle = graph(3, [(0, 1), (1, 2), (2, 0)])  # directed cycle: no extension exists
    square = graph(4, [(0, 1), (1, 0), (1, 2), (2, 1), (2, 3), (3, 2), (3, 0), (0, 3)])  # chordless
    for cpdag in (cycle, square):
        samples = b.sample_dag_extensions(cpdag, 50, rng)
        assert metrics.is_dag(samples).all()
        assert ((samples | samples.transpose(0, 2, 1)) == (cpdag | cpdag.T)).all()


# ---------------------------------------------------------------------------------------
# The random baseline
# ---------------------------------------------------------------------------------------


def test_random_baseline_matches_density_and_is_uninformative() -> None:
    density, d = 0.2, 10
    tasks = engine_tasks(200, (d, d), 5)
    fitted = b.fit_tasks(b.RandomGraph(density, n_samples=100), tasks.data, tasks.mask, seed=7)
    off = ~np.eye(d, dtype=bool)
    assert np.allclose(fitted.probs[:, off], density)
    assert abs(fitted.samples[..., off].mean() - density) < 0.005
    assert metrics.is_dag(fitted.samples).all()
    sample_means = fitted.samples.mean(axis=1)
    auroc = np.nanmean(metrics.edge_auroc(tasks.adjacency, sample_means))
    assert abs(auroc - 0.5) < 0.02
    assert np.nanmean(metrics.edge_auroc(tasks.adjacency, fitted.probs)) == 0.5


# ---------------------------------------------------------------------------------------
# Batches and padding
# ---------------------------------------------------------------------------------------


class Spy:
    """A learner that records the shapes it is given (and predicts nothing)."""

    name = "spy"

    def __init__(self) -> None:
        self.shapes: list[tuple[int, int]] = []

    def fit(self, data: np.ndarray, mask: np.ndarray, *, seed: int = 0) -> b.EdgePosterior:
        self.shapes.append(data.shape)
        return b.EdgePosterior(np.zeros((data.shape[1],) * 2))


def test_padding_never_reaches_the_learner() -> None:
    tasks = engine_tasks(8, (3, 7), 50, seed=2)
    assert (tasks.n_nodes < 7).any()
    spy = Spy()
    fitted = b.fit_tasks(spy, tasks.data, tasks.mask, tasks.n_nodes)
    assert spy.shapes == [(50, int(d)) for d in tasks.n_nodes]
    assert fitted.samples is None and fitted.probs.shape == (8, 7, 7)


@pytest.mark.parametrize("name", ALL)
def test_fit_tasks_slices_and_pads(name: str) -> None:
    if name in CLASSICAL:
        pytest.importorskip("causallearn")
    tasks = engine_tasks(4, (3, 6), 200, seed=5)
    learner = b.get_learner(name, n_samples=10)
    fitted = b.fit_tasks(learner, tasks.data, tasks.mask, tasks.n_nodes, seed=11)
    assert fitted.samples.shape == (4, 10, 6, 6) and fitted.seconds.shape == (4,)
    for t, d in enumerate(tasks.n_nodes):
        assert not fitted.probs[t, d:].any() and not fitted.probs[t, :, d:].any()
        assert not fitted.samples[t, :, d:].any() and not fitted.samples[t, :, :, d:].any()
        seed = int(np.random.SeedSequence([11, t]).generate_state(1, np.uint64)[0])
        alone = learner.fit(tasks.data[t, :, :d], tasks.mask[t, :, :d], seed=seed)
        np.testing.assert_array_equal(fitted.probs[t, :d, :d], alone.probs)
        np.testing.assert_array_equal(fitted.samples[t, :, :d, :d], alone.samples)


# ---------------------------------------------------------------------------------------
# Bad input
# ---------------------------------------------------------------------------------------

GOOD = np.random.default_rng(0).normal(size=(20, 3)).astype(np.float32)


@pytest.mark.parametrize(
    ("data", "mask", "argument"),
    [
        (GOOD[0], no_mask(GOOD[0]), "data"),  # 1-D
        (GOOD[:, :0], no_mask(GOOD[:, :0]), "data"),  # no variable
        (np.where(np.eye(20, 3, dtype=bool), np.nan, GOOD), no_mask(GOOD), "data"),
        (np.where(np.eye(20, 3, dtype=bool), np.inf, GOOD), no_mask(GOOD), "data"),
        (GOOD.astype(str), no_mask(GOOD), "data"),
        (GOOD, no_mask(GOOD)[:, :2], "mask"),
        (GOOD, no_mask(GOOD) + 2, "mask"),
        (GOOD, no_mask(GOOD).astype(np.float32), "mask"),
    ],
)
@pytest.mark.parametrize("name", ["random", "pc"])
def test_bad_task_names_the_argument(name: str, data, mask, argument: str) -> None:
    if name == "pc":
        pytest.importorskip("causallearn")
    with pytest.raises(ValueError, match=rf"^{argument} must"):
        b.get_learner(name).fit(data, mask)


@needs_causallearn
def test_too_few_rows_for_pc() -> None:
    with pytest.raises(ValueError, match=r"^data must have at least d \+ 1 = 4 rows"):
        b.PC().fit(GOOD[:3], no_mask(GOOD[:3]))


@pytest.mark.parametrize(
    ("make", "argument"),
    [
        (lambda: b.PC(alpha=0.0), "alpha"),
        (lambda: b.PC(alpha=1.5), "alpha"),
        (lambda: b.PC(n_samples=-1), "n_samples"),
        (lambda: b.GES(n_samples=2.5), "n_samples"),
        (lambda: b.RandomGraph(density=0.6), "density"),
        (lambda: b.RandomGraph(density=True), "density"),
        (lambda: b.get_learner("notears"), "name"),
        (lambda: b.cpdag_probs(np.zeros((2, 3))), "cpdag"),
        (lambda: b.sample_dag_extensions(np.zeros((2, 2)), -1, np.random.default_rng()), "count"),
    ],
)
def test_bad_settings_name_the_argument(make, argument: str) -> None:
    with pytest.raises(ValueError, match=rf"^{argument} must"):
        make()


@pytest.mark.parametrize(
    ("data", "mask", "n_nodes", "argument"),
    [
        (GOOD, no_mask(GOOD), None, "data"),  # one task, not a batch
        (GOOD[None], no_mask(GOOD)[None, :5], None, "mask"),
        (GOOD[None], no_mask(GOOD)[None], [4], "n_nodes"),
        (GOOD[None], no_mask(GOOD)[None], [0], "n_nodes"),
        (GOOD[None], no_mask(GOOD)[None], [2, 3], "n_nodes"),
    ],
)
def test_bad_batch_names_the_argument(data, mask, n_nodes, argument: str) -> None:
    with pytest.raises(ValueError, match=rf"^{argument} must"):
        b.fit_tasks(b.RandomGraph(), data, mask, n_nodes)


def test_missing_causallearn_gives_install_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without the extra, the module still works for the random baseline, and PC and GES
    say how to install what they need."""
    for module in [m for m in sys.modules if m.startswith("causallearn")] + ["causallearn"]:
        monkeypatch.setitem(sys.modules, module, None)
    x = GOOD
    assert b.RandomGraph().fit(x, no_mask(x)).probs.shape == (3, 3)
    for learner in (b.PC(), b.GES()):
        with pytest.raises(ImportError, match=r"pip install 'causal-meta\[baselines\]'"):
            learner.fit(x, no_mask(x))
