"""Property tests of the engine over randomly generated family specs.

Hypothesis draws whole families (every graph type including the named structures and
mixtures, every mechanism including mixtures, every noise law, node ranges) and checks
the engine's contracts that hold for all of them: DAGs, array layout, seeding and
split invariance, the semantics of do(), and pickling. Sizes stay small (at most 16
nodes, a few dozen rows) so that the file runs in seconds; the statistical behaviour of
the generators is tested in test_engine_statistics.py.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable
from typing import Any, TypeVar

import networkx as nx
import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from causal_meta.scm import Scm, TaskBatch, sample_scm, sample_tasks, task_seed

Spec = dict[str, Any]
T = TypeVar("T")

MAX_LO = 10
"""Largest minimum node count drawn; the maximum adds at most 6, so d <= 16."""

# ---------------------------------------------------------------- strategies

probabilities = st.floats(0.0, 1.0)


def finite(sample: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``sample(*args, **kwargs)`` (``sample_tasks`` or ``Scm.sample``), with generated
    families whose values overflow float32 (which the engine refuses, naming the task or
    the sample) skipped: the properties below are about seeding, shapes and do(), not
    about finiteness."""
    try:
        return sample(*args, **kwargs)
    except ValueError as err:
        if "non-finite values" not in str(err):
            raise
        assume(False)
        raise


def tasks(*args: Any, **kwargs: Any) -> TaskBatch:
    """``sample_tasks`` through :func:`finite`."""
    return finite(sample_tasks, *args, **kwargs)


@st.composite
def signed_dists(draw: st.DrawFn) -> Spec:
    """A weight or bias distribution of either sign, bounded so that most SCMs give finite
    data (deep chains of squares still overflow: the engine refuses those, and
    :func:`finite` skips them)."""
    kind = draw(st.sampled_from(["fixed", "uniform", "signed_uniform", "gaussian"]))
    if kind == "fixed":
        return {"type": "fixed", "value": draw(st.floats(-2.0, 2.0))}
    if kind == "gaussian":
        return {"type": "gaussian", "mean": draw(st.floats(-1.0, 1.0)), "std": draw(st.floats(0.0, 1.5))}
    low = draw(st.floats(0.0 if kind == "signed_uniform" else -2.0, 1.0))
    return {"type": kind, "low": low, "high": low + draw(st.floats(0.0, 1.0))}


@st.composite
def positive_dists(draw: st.DrawFn) -> Spec:
    """A distribution whose draws are all > 0, as noise scales and length scales need."""
    kind = draw(st.sampled_from(["fixed", "uniform", "log_uniform", "gamma"]))
    if kind == "fixed":
        return {"type": "fixed", "value": draw(st.floats(0.1, 2.0))}
    if kind == "gamma":
        return {"type": "gamma", "shape": draw(st.floats(0.5, 3.0)), "scale": draw(st.floats(0.1, 1.0))}
    low = draw(st.floats(0.1, 1.0))
    return {"type": kind, "low": low, "high": low + draw(st.floats(0.0, 1.0))}


def plain_graphs(lo: int) -> st.SearchStrategy[Spec]:
    """Every non-mixture graph type whose node requirements hold for ``lo`` nodes (and so
    for every larger count: each requirement is a lower bound on d)."""
    options: list[st.SearchStrategy[Spec]] = [
        st.builds(lambda p: {"type": "er", "edge_prob": p}, probabilities),
        st.builds(lambda k: {"type": "er", "edges_per_node": k}, st.floats(0.0, (lo - 1) / 2)),
        st.builds(lambda b, p, q: {"type": "sbm", "blocks": b, "p_in": p, "p_out": q},
                  st.integers(1, min(4, lo)), probabilities, probabilities),  # blocks > d is no block model
        st.builds(lambda r: {"type": "grg", "radius": r}, st.floats(0.0, 1.5)),
        st.just({"type": "chain"}),
        st.builds(lambda b: {"type": "hierarchical", "branching": b}, st.integers(1, 4)),
        st.builds(lambda n, p: {"type": "layered", "layers": n, "edge_prob": p},
                  st.integers(1, lo), probabilities),
    ]
    if lo >= 2:
        options += [
            st.just({"type": "fork"}),
            st.just({"type": "collider"}),
            st.builds(lambda m, t: {"type": "sf", "m": m, "transpose": t}, st.integers(1, lo - 1), st.booleans()),
            st.builds(lambda f, p: {"type": "bipartite", "cause_fraction": f, "edge_prob": p},
                      probabilities, probabilities),
        ]
    if lo >= 3:
        options += [
            st.just({"type": "diamond"}),
            st.just({"type": "butterfly"}),
            st.builds(lambda k, p: {"type": "ws", "k": k, "rewire_prob": p}, st.integers(2, lo - 1), probabilities),
        ]
    return st.one_of(options)


def mixtures(components: st.SearchStrategy[Spec]) -> st.SearchStrategy[Spec]:
    """A mixture of 1-3 components with positive weights."""
    return st.lists(components, min_size=1, max_size=3).flatmap(
        lambda cs: st.builds(
            lambda ws: {"type": "mixture", "components": cs, "weights": ws},
            st.lists(st.floats(0.1, 2.0), min_size=len(cs), max_size=len(cs)),
        )
    )


def graphs(lo: int) -> st.SearchStrategy[Spec]:
    """A plain graph spec or a mixture of them, valid for every node count >= ``lo``."""
    return st.one_of(plain_graphs(lo), mixtures(plain_graphs(lo)))


plain_mechanisms: st.SearchStrategy[Spec] = st.one_of(
    st.builds(lambda w, b: {"type": "linear", "weights": w, "bias": b}, signed_dists(), signed_dists()),
    st.builds(
        lambda h, a, w, b, ni: {"type": "mlp", "hidden": h, "activation": a, "weights": w, "bias": b, "noise_input": ni},
        st.integers(1, 8), st.sampled_from(["relu", "leaky_relu", "tanh", "sigmoid"]),
        signed_dists(), signed_dists(), st.booleans(),
    ),
    st.builds(lambda f, ls, os: {"type": "gp", "features": f, "length_scale": ls, "output_scale": os},
              st.integers(1, 16), positive_dists(), signed_dists()),
    st.builds(lambda g, w, b: {"type": "pnl", "nonlinearity": g, "weights": w, "bias": b},
              st.sampled_from(["cube", "sigmoid", "tanh"]), signed_dists(), signed_dists()),
    st.builds(lambda w: {"type": "square", "weights": w}, signed_dists()),
    st.builds(lambda w, f: {"type": "periodic", "weights": w, "frequency": f}, signed_dists(), signed_dists()),
    st.builds(lambda w, r: {"type": "logistic_map", "weights": w, "rate": r}, signed_dists(), positive_dists()),
    st.builds(lambda w, b, v: {"type": "heteroscedastic", "weights": w, "bias": b, "scale_weights": v},
              signed_dists(), signed_dists(), signed_dists()),
)
mechanisms = st.one_of(plain_mechanisms, mixtures(plain_mechanisms))

plain_noises: st.SearchStrategy[Spec] = st.builds(
    lambda kind, scale: {"type": kind, "scale": scale},
    st.sampled_from(["gaussian", "laplace", "cauchy", "uniform"]), positive_dists(),
)
noises = st.one_of(plain_noises, mixtures(plain_noises))


@st.composite
def intervention_values(draw: st.DrawFn) -> Spec:
    """A bounded intervention-value law, so that the test can check the drawn values."""
    low = draw(st.floats(-3.0, 3.0))
    return {"type": "uniform", "low": low, "high": low + draw(st.floats(0.0, 3.0))}


@st.composite
def families(draw: st.DrawFn, mechanism: st.SearchStrategy[Spec] = mechanisms) -> Spec:
    """A whole family as plain data, so that parse_family is exercised too; ``nodes`` is
    sometimes a bare integer, its other accepted form."""
    lo = draw(st.integers(1, MAX_LO))
    hi = draw(st.integers(lo, lo + 6))
    return {
        "nodes": lo if lo == hi and draw(st.booleans()) else [lo, hi],
        "graph": draw(graphs(lo)),
        "mechanism": draw(mechanism),
        "noise": draw(noises),
        "interventions": {"value": draw(intervention_values())},
    }


linear_mechanisms = st.builds(
    lambda b: {"type": "linear", "weights": {"type": "signed_uniform", "low": 0.5, "high": 2.0}, "bias": b},
    signed_dists(),
)
seeds = st.integers(0, 2**64 - 1)
starts = st.integers(0, 2**64 - 32)

# ---------------------------------------------------------------- helpers


def node_range(family: Spec) -> tuple[int, int]:
    """(min, max) node count of a family given as plain data."""
    nodes = family["nodes"]
    return (nodes, nodes) if isinstance(nodes, int) else (nodes[0], nodes[1])


def digraph(adjacency: np.ndarray) -> nx.DiGraph:
    """The DiGraph of A[i, j] = 1 for i -> j, with every node present even if isolated."""
    g = nx.DiGraph()
    g.add_nodes_from(range(adjacency.shape[0]))
    g.add_edges_from(zip(*np.nonzero(adjacency)))
    return g


def descendants_or_self(scm: Scm, nodes: set[int]) -> set[int]:
    """Every node an intervention on ``nodes`` may change."""
    g = digraph(scm.adjacency)
    return set(nodes).union(*(nx.descendants(g, i) for i in nodes))


def bits(x: np.ndarray) -> np.ndarray:
    """float32 values as their bit patterns, so that NaN compares equal to itself."""
    return x.view(np.uint32)


def batch_bytes(batch: TaskBatch) -> tuple[bytes, ...]:
    """The raw bytes of all four arrays: the seeding contract is about bytes, not values."""
    return tuple(a.tobytes() for a in batch)


# ---------------------------------------------------------------- batches


@settings(max_examples=150, deadline=None)
@given(family=families(), base_seed=seeds, start=starts, count=st.integers(1, 4),
       n_obs=st.integers(0, 6), n_int=st.integers(0, 6))
def test_batch_layout_graphs_and_task_scms(
    family: Spec, base_seed: int, start: int, count: int, n_obs: int, n_int: int
) -> None:
    """Every array has its documented dtype and shape, padding is zero, each task's graph is
    a DAG with an empty diagonal, interventional rows set exactly one real node to a value
    of the family's law, and task k is the SCM ``sample_scm(family, task_seed(seed, start + k))``."""
    n = n_obs + n_int
    assume(n > 0)
    lo, hi = node_range(family)
    batch = tasks(family, base_seed, start, count, n_obs, n_int)
    assert (batch.data.dtype, batch.mask.dtype, batch.adjacency.dtype, batch.n_nodes.dtype) == (
        np.float32, np.uint8, np.uint8, np.int64)
    assert batch.data.shape == batch.mask.shape == (count, n, hi)
    assert batch.adjacency.shape == (count, hi, hi)
    assert batch.n_nodes.shape == (count,)
    assert np.all((lo <= batch.n_nodes) & (batch.n_nodes <= hi))
    np.testing.assert_array_equal(batch.node_mask(), np.arange(hi)[None, :] < batch.n_nodes[:, None])

    value = family["interventions"]["value"]
    low, high = np.float32(value["low"]), np.float32(value["high"])
    for k in range(count):
        d = int(batch.n_nodes[k])
        data, mask, adj = batch.data[k], batch.mask[k], batch.adjacency[k]
        assert not data[:, d:].any() and not mask[:, d:].any()
        assert not adj[d:, :].any() and not adj[:, d:].any()
        a = adj[:d, :d]
        assert set(np.unique(a)) <= {0, 1}
        assert not np.diag(a).any()
        assert nx.is_directed_acyclic_graph(digraph(a))

        assert not mask[:n_obs].any()
        np.testing.assert_array_equal(mask[n_obs:].sum(axis=1), 1)
        set_values = data[mask == 1]
        assert np.all((low <= set_values) & (set_values <= high))

        scm = sample_scm(family, task_seed(base_seed, start + k))
        assert scm.d == d
        np.testing.assert_array_equal(scm.adjacency, a)


@settings(max_examples=60, deadline=None)
@given(family=families(), base_seed=seeds, start=starts, split=st.integers(1, 5),
       count=st.integers(2, 6), n_obs=st.integers(1, 8), n_int=st.integers(0, 8))
def test_bytes_do_not_depend_on_split_threads_or_repetition(
    family: Spec, base_seed: int, start: int, split: int, count: int, n_obs: int, n_int: int
) -> None:
    """The seeding contract: tasks [s, s+a) + [s+a, s+b) are the bytes of [s, s+b), and
    neither a second identical call nor the thread count changes a byte."""
    split = min(split, count - 1)
    whole = tasks(family, base_seed, start, count, n_obs, n_int)
    head = tasks(family, base_seed, start, split, n_obs, n_int)
    tail = tasks(family, base_seed, start + split, count - split, n_obs, n_int)
    joined = TaskBatch(*(np.concatenate([h, t]) for h, t in zip(head, tail)))
    assert batch_bytes(joined) == batch_bytes(whole)
    assert batch_bytes(tasks(family, base_seed, start, count, n_obs, n_int)) == batch_bytes(whole)
    one = tasks(family, base_seed, start, count, n_obs, n_int, threads=1)
    two = tasks(family, base_seed, start, count, n_obs, n_int, threads=2)
    assert batch_bytes(one) == batch_bytes(two) == batch_bytes(whole)


@pytest.mark.parametrize("graph", [
    {"type": "er", "edge_prob": 0.5}, {"type": "sf", "m": 2}, {"type": "ws", "k": 2, "rewire_prob": 0.2},
    {"type": "chain"}, {"type": "fork"}, {"type": "collider"}, {"type": "diamond"}, {"type": "butterfly"},
    {"type": "layered", "layers": 3}, {"type": "hierarchical"}, {"type": "bipartite"},
], ids=lambda g: g["type"])
def test_index_order_is_not_always_topological(graph: Spec) -> None:
    """Variables are relabelled at random, so a learner cannot read the causal order off the
    column positions: over 20 graphs of 8 nodes some edge points from a higher to a lower
    index, and some from a lower to a higher (so the order is not merely reversed). A graph
    with an edge has all its edges pointing one way with probability at most 1/2 under a
    uniform relabelling, so a correct engine fails this with probability below 2 * 2**-20."""
    adjacency = sample_tasks({"nodes": 8, "graph": graph}, 7, 0, 20, 1).adjacency
    assert np.tril(adjacency, -1).any()
    assert np.triu(adjacency, 1).any()


# ---------------------------------------------------------------- one SCM


@settings(max_examples=80, deadline=None)
@given(family=families(), seed=seeds)
def test_scm_order_and_parents_agree_with_adjacency(family: Spec, seed: int) -> None:
    """topological_order puts every cause before its effects, parents() reads column i."""
    scm = sample_scm(family, seed)
    a = scm.adjacency
    assert a.shape == (scm.d, scm.d) and a.dtype == np.uint8
    order = scm.topological_order
    assert sorted(order) == list(range(scm.d))
    position = {node: t for t, node in enumerate(order)}
    assert all(position[i] < position[j] for i, j in zip(*np.nonzero(a)))
    for i in range(scm.d):
        assert scm.parents(i) == list(np.flatnonzero(a[:, i]))


@settings(max_examples=100, deadline=None)
@given(family=families(), seed=seeds, noise_seed=seeds, n=st.integers(1, 24), data=st.data())
def test_do_dict_sets_exactly_its_nodes_and_only_moves_descendants(
    family: Spec, seed: int, noise_seed: int, n: int, data: st.DataObject
) -> None:
    """do={i: v} sets column i to float32(v) on every row and marks only those columns; with
    the same noise seed every non-descendant is bit-identical to the observational draw."""
    scm = sample_scm(family, seed)
    targets = data.draw(st.dictionaries(st.integers(0, scm.d - 1), st.floats(-10.0, 10.0), min_size=1))
    x, mask = finite(scm.sample, n, do=targets, seed=noise_seed)
    obs, obs_mask = finite(scm.sample, n, seed=noise_seed)
    assert x.shape == mask.shape == (n, scm.d) and x.dtype == np.float32 and mask.dtype == np.uint8
    assert not obs_mask.any()

    expected_mask = np.zeros((n, scm.d), np.uint8)
    expected_mask[:, list(targets)] = 1
    np.testing.assert_array_equal(mask, expected_mask)
    for i, v in targets.items():
        np.testing.assert_array_equal(bits(x[:, i]), bits(np.full(n, v, np.float32)))
    untouched = sorted(set(range(scm.d)) - descendants_or_self(scm, set(targets)))
    np.testing.assert_array_equal(bits(x[:, untouched]), bits(obs[:, untouched]))


@settings(max_examples=100, deadline=None)
@given(family=families(), seed=seeds, noise_seed=seeds, n=st.integers(1, 24),
       as_bool=st.booleans(), data=st.data())
def test_do_per_row_sets_exactly_the_masked_cells(
    family: Spec, seed: int, noise_seed: int, n: int, as_bool: bool, data: st.DataObject
) -> None:
    """do=(mask, values) sets X[r, i] = float32(values[r, i]) where mask[r, i], returns the
    requested mask, and leaves each row's non-descendants of its intervened nodes
    bit-identical to the observational draw with the same noise seed."""
    scm = sample_scm(family, seed)
    d = scm.d
    request = np.array(data.draw(st.lists(st.booleans(), min_size=n * d, max_size=n * d))).reshape(n, d)
    values = np.array(data.draw(st.lists(st.floats(-10.0, 10.0), min_size=n * d, max_size=n * d))).reshape(n, d)
    x, mask = finite(scm.sample, n, do=(request if as_bool else request.astype(np.uint8), values), seed=noise_seed)
    obs, _ = finite(scm.sample, n, seed=noise_seed)

    np.testing.assert_array_equal(mask, request.astype(np.uint8))
    np.testing.assert_array_equal(bits(x[request]), bits(values.astype(np.float32)[request]))
    for r in range(n):
        untouched = sorted(set(range(d)) - descendants_or_self(scm, set(np.flatnonzero(request[r]))))
        np.testing.assert_array_equal(bits(x[r, untouched]), bits(obs[r, untouched]))


@settings(max_examples=60, deadline=None)
@given(family=families(mechanism=linear_mechanisms), seed=seeds, noise_seed=seeds, data=st.data())
def test_do_moves_every_descendant_in_linear_scms(
    family: Spec, seed: int, noise_seed: int, data: st.DataObject
) -> None:
    """The other half of "only descendants change": in a linear SCM with weights bounded
    away from 0, setting a node to 100 (far outside its observational range) shifts each
    descendant by its total effect times (100 - x_i), non-zero unless path weights cancel
    exactly, which has probability 0 under continuous weights."""
    scm = sample_scm(family, seed)
    node = data.draw(st.integers(0, scm.d - 1))
    x, _ = finite(scm.sample, 16, do={node: 100.0}, seed=noise_seed)
    obs, _ = finite(scm.sample, 16, seed=noise_seed)
    for j in descendants_or_self(scm, {node}) - {node}:
        assert np.any(x[:, j] != obs[:, j]), f"descendant {j} of {node} did not move"


@settings(max_examples=60, deadline=None)
@given(family=families(), seed=seeds, noise_seed=seeds, n=st.integers(1, 24))
def test_scm_pickle_round_trip_reproduces_samples(family: Spec, seed: int, noise_seed: int, n: int) -> None:
    """A pickled Scm is the same model with the same position in its own noise stream: seeded
    and unseeded draws (several in a row) give identical bytes."""
    scm = sample_scm(family, seed)
    finite(scm.sample, 3)  # move the own stream away from its start, so that the state matters
    copy = pickle.loads(pickle.dumps(scm))
    assert isinstance(copy, Scm)
    np.testing.assert_array_equal(copy.adjacency, scm.adjacency)
    assert (copy.mechanism_names, copy.noise_names, copy.noise_scales) == (
        scm.mechanism_names, scm.noise_names, scm.noise_scales)
    for _ in range(2):
        assert finite(copy.sample, n)[0].tobytes() == finite(scm.sample, n)[0].tobytes()
    do = {scm.d - 1: 0.5}
    assert finite(copy.sample, n, do=do, seed=noise_seed)[0].tobytes() == finite(scm.sample, n, do=do, seed=noise_seed)[0].tobytes()


@settings(max_examples=40, deadline=None)
@given(family=families(), seed=seeds, noise_seed=seeds)
def test_seed_noise_restarts_the_own_stream(family: Spec, seed: int, noise_seed: int) -> None:
    """seed_noise(s) makes unseeded draws a pure function of s, whatever came before."""
    scm = sample_scm(family, seed)
    scm.seed_noise(noise_seed)
    first = finite(scm.sample, 5)[0].tobytes()
    finite(scm.sample, 7)
    scm.seed_noise(noise_seed)
    assert finite(scm.sample, 5)[0].tobytes() == first
