"""The curriculum table, its overrides, and the structure builders against their
definitions (the system this project replaces had a "fork" that built a collider)."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest

from causal_meta.scm import sample_scm
from causal_meta.specs import Bipartite, Butterfly, Chain, Collider, Diamond, Family, Fork, Layered
from envs.curriculum import LEVELS, MAX_LEVEL, MECHANISMS, NOISES, level_family

SEEDS = range(20)


def graphs(graph, nodes: int) -> list[np.ndarray]:
    family = Family(nodes=nodes, graph=graph).to_json()
    return [sample_scm(family, s).adjacency.astype(bool) for s in SEEDS]


def degrees(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(in-degrees, out-degrees)."""
    return a.sum(axis=0), a.sum(axis=1)


def test_the_table_has_15_levels_with_growing_node_ranges() -> None:
    assert MAX_LEVEL == 15 and [lv.index for lv in LEVELS] == list(range(1, 16))
    lows = [lv.nodes[0] for lv in LEVELS]
    highs = [lv.nodes[1] for lv in LEVELS]
    assert lows == sorted(lows) and highs == sorted(highs) and highs[-1] > highs[0]
    assert all(lv.nodes[0] <= lv.nodes[1] for lv in LEVELS)
    assert [lv.nodes for lv in LEVELS[:3]] == [(3, 3), (3, 4), (3, 5)]
    assert (LEVELS[12].nodes[0], LEVELS[14].nodes[1]) == (25, 50)


def test_tiers_use_the_promised_graphs_and_mechanisms() -> None:
    tiers = {(1, 3): {"chain", "fork", "collider"}, (4, 6): {"diamond", "butterfly", "layered", "bipartite"},
             (7, 9): {"er"}, (10, 12): {"ws"}, (13, 15): {"sf"}}
    for (first, last), expected in tiers.items():
        seen = {g.type for lv in LEVELS[first - 1:last] for g in lv.graphs}
        assert seen == expected
    assert [lv.mechanism for lv in LEVELS] == ["linear"] * 11 + ["mixed"] * 4
    for lv in LEVELS:
        family = level_family(lv.index)
        assert family.nodes == lv.nodes
        assert family.mechanism == MECHANISMS[lv.mechanism] and family.noise == NOISES["gaussian"]


def test_every_level_samples_scms_within_its_node_range() -> None:
    for lv in LEVELS:
        family = level_family(lv.index).to_json()
        for s in range(5):
            scm = sample_scm(family, s)
            assert lv.nodes[0] <= scm.d <= lv.nodes[1]
            assert nx.is_directed_acyclic_graph(nx.DiGraph(scm.adjacency))
            assert scm.is_linear == (lv.mechanism == "linear")


def test_overrides_replace_the_level_entry() -> None:
    family = level_family(3, mechanism="mlp", noise="laplace", nodes=(4, 6))
    assert family.nodes == (4, 6) and family.mechanism == MECHANISMS["mlp"] and family.noise == NOISES["laplace"]
    assert level_family(12, mechanism="linear").mechanism == MECHANISMS["linear"]
    assert level_family(2, nodes=[3, 7]).nodes == (3, 7)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"level": 0}, r"level = 0 is not allowed: must be an integer in \[1, 15\]"),
    ({"level": 16}, r"level = 16 is not allowed"),
    ({"level": 2.0}, r"level = 2.0 is not allowed"),
    ({"level": 3, "mechanism": "mlpp"}, r"mechanism = 'mlpp' is not allowed: expected one of \['gp', 'linear'"),
    ({"level": 3, "noise": "cauchy"}, r"noise = 'cauchy' is not allowed: expected one of"),
    ({"level": 10, "nodes": 4}, r"graph.k = 4 is not allowed"),
    ({"level": 1, "nodes": "x"}, r"nodes = 'x' is not allowed"),
])
def test_bad_overrides_name_the_field(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        level_family(**kwargs)


@pytest.mark.parametrize("d", [3, 5, 8])
def test_chain_is_one_path(d: int) -> None:
    for a in graphs(Chain(), d):
        indeg, outdeg = degrees(a)
        assert a.sum() == d - 1 and indeg.max() == 1 and outdeg.max() == 1
        assert nx.dag_longest_path_length(nx.DiGraph(a)) == d - 1


@pytest.mark.parametrize("d", [3, 5, 8])
def test_fork_is_one_cause_with_many_effects(d: int) -> None:
    for a in graphs(Fork(), d):
        indeg, outdeg = degrees(a)
        root = int(np.argmax(outdeg))
        assert outdeg[root] == d - 1 and indeg[root] == 0
        others = np.arange(d) != root
        assert (indeg[others] == 1).all() and (outdeg[others] == 0).all()
        assert a[root, others].all()


@pytest.mark.parametrize("d", [3, 5, 8])
def test_collider_is_many_causes_of_one_effect(d: int) -> None:
    for a in graphs(Collider(), d):
        indeg, outdeg = degrees(a)
        sink = int(np.argmax(indeg))
        assert indeg[sink] == d - 1 and outdeg[sink] == 0
        others = np.arange(d) != sink
        assert (outdeg[others] == 1).all() and (indeg[others] == 0).all()


@pytest.mark.parametrize("d", [4, 6, 9])
def test_diamond_is_source_mediators_sink(d: int) -> None:
    for a in graphs(Diamond(), d):
        indeg, outdeg = degrees(a)
        source, sink = int(np.argmax(outdeg)), int(np.argmax(indeg))
        assert outdeg[source] == d - 2 and indeg[source] == 0 and indeg[sink] == d - 2 and outdeg[sink] == 0
        mediators = np.flatnonzero(a[source])
        assert a[mediators, sink].all() and (indeg[mediators] == 1).all() and (outdeg[mediators] == 1).all()


@pytest.mark.parametrize("d", [5, 6, 9])
def test_butterfly_is_sources_hub_sinks_with_side_edges(d: int) -> None:
    n_sources = (d - 1) // 2
    for a in graphs(Butterfly(), d):
        indeg, outdeg = degrees(a)
        sources = np.flatnonzero(indeg == 0)
        assert len(sources) == n_sources
        hub = int(np.flatnonzero(a[sources].all(axis=0))[0])  # the node every source feeds
        sinks = np.flatnonzero(a[hub])
        assert len(sinks) == d - 1 - n_sources and (outdeg[sinks] == 0).all()
        for s in sources:  # source -> hub and source -> exactly one sink
            assert outdeg[s] == 2 and a[s, sinks].sum() == 1
        assert a.sum() == n_sources + len(sinks) + n_sources


@pytest.mark.parametrize("d", [6, 9])
def test_layered_edges_only_join_consecutive_layers(d: int) -> None:
    for a in graphs(Layered(layers=3, edge_prob=0.5), d):
        g = nx.DiGraph(a)
        depth = {n: 0 for n in g}
        for n in nx.topological_sort(g):
            for c in g.successors(n):
                depth[c] = max(depth[c], depth[n] + 1)
        assert max(depth.values()) <= 2
        for u, v in g.edges:  # an edge skipping a layer would make depths differ by 2
            assert depth[v] - depth[u] == 1
        assert sum(1 for n in g if g.in_degree(n) == 0) < d


@pytest.mark.parametrize("d", [6, 9])
def test_bipartite_joins_causes_to_effects_only(d: int) -> None:
    for a in graphs(Bipartite(edge_prob=0.5), d):
        indeg, outdeg = degrees(a)
        assert not ((indeg > 0) & (outdeg > 0)).any()  # no node is both a cause and an effect
        causes = int(0.5 * d + 0.5)  # round(cause_fraction * d), halves away from zero
        assert (indeg > 0).sum() == d - causes
