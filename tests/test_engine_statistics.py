"""Statistical agreement of the engine with independent references.

References are closed-form theory (linear-Gaussian covariances, Erdos-Renyi, SBM and
random-geometric edge probabilities), networkx's own generators (Barabasi-Albert,
Watts-Strogatz, r-ary trees) and the definitions of the named structures in
rust/src/graph.rs. Every tolerance is a multiple of a standard error worked out next to
the test. All seeds are fixed, so a run is deterministic; the thresholds say how rarely a
correct engine would fail for a fresh seed.

Two-sample and one-sample mean comparisons use |z| < Z = 4.5: a two-sided normal tail of
6.8e-6 per comparison, so even the ~60 comparisons in this file together fail a correct
engine with probability below 5e-4 (Bonferroni). Graph-level statistics (edge count, max
degree, degree variance) are independent across graphs, which is what makes these
standard errors valid; degrees of nodes within one graph are not, so per-node degrees are
never pooled as if they were independent.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable

import networkx as nx
import numpy as np
import pytest
from scipy import stats

from causal_meta.scm import sample_scm, sample_tasks

Z = 4.5
"""z threshold of every mean comparison (two-sided tail 6.8e-6, see the module docstring)."""

GRAPHS = 2000
"""Graphs per distributional comparison: 2000 puts the standard error of a mean degree
statistic near 2% of its spread, enough to see a wrong generator, at a cost of ~0.5 s."""


# ---------------------------------------------------------------- helpers


def adjacencies(graph: dict, d: int, count: int = GRAPHS, seed: int = 0) -> np.ndarray:
    """``count`` adjacency matrices (count, d, d) of a d-node family with this graph."""
    return sample_tasks({"nodes": d, "graph": graph}, seed, 0, count, 1).adjacency.astype(np.int64)


def skeleton_degrees(adjacency: np.ndarray) -> np.ndarray:
    """Undirected degrees (count, d): in-degree plus out-degree (no 2-cycles in a DAG)."""
    return adjacency.sum(axis=1) + adjacency.sum(axis=2)


def networkx_degrees(make: Callable[[int], nx.Graph], count: int = GRAPHS) -> np.ndarray:
    """Degrees (count, d) of ``count`` networkx graphs, ``make(seed)`` each."""
    return np.array([[deg for _, deg in sorted(make(s).degree())] for s in range(count)])


def assert_mean(sample: np.ndarray, expected: float, what: str) -> None:
    """One-sample z-test of iid draws against a theoretical mean, SE from the sample."""
    se = sample.std(ddof=1) / math.sqrt(len(sample))
    z = (sample.mean() - expected) / se if se > 0 else (0.0 if sample.mean() == expected else math.inf)
    assert abs(z) < Z, f"{what}: mean {sample.mean():.4f} vs theory {expected:.4f} (z = {z:.1f})"


def assert_same_mean(a: np.ndarray, b: np.ndarray, what: str) -> None:
    """Welch two-sample z-test of iid draws: engine sample ``a`` against reference ``b``."""
    se = math.sqrt(a.var(ddof=1) / len(a) + b.var(ddof=1) / len(b))
    diff = a.mean() - b.mean()
    z = diff / se if se > 0 else (0.0 if diff == 0 else math.inf)
    assert abs(z) < Z, f"{what}: engine {a.mean():.4f} vs reference {b.mean():.4f} (z = {z:.1f})"


def assert_same_distribution(a: np.ndarray, b: np.ndarray, what: str) -> None:
    """Chi-square homogeneity test of two iid samples of a discrete statistic, with tail
    values merged until every expected cell count is >= 5 (the usual validity rule);
    rejects at p < 1e-5."""
    values = np.union1d(a, b)
    table = np.array([[np.sum(a == v), np.sum(b == v)] for v in values])
    merged: list[np.ndarray] = []
    run = np.zeros(2, np.int64)
    for row in table:
        run = run + row
        if run.sum() * min(len(a), len(b)) / (len(a) + len(b)) >= 5:
            merged.append(run)
            run = np.zeros(2, np.int64)
    if run.any():
        merged[-1] = merged[-1] + run
    if len(merged) < 2:  # the statistic is (nearly) constant: then it must agree exactly
        assert a.mean() == b.mean(), what
        return
    p = stats.chi2_contingency(np.array(merged)).pvalue
    assert p > 1e-5, f"{what}: distributions differ (chi-square p = {p:.2e})"


def compare_degree_statistics(engine: np.ndarray, reference: np.ndarray, what: str) -> None:
    """Engine vs reference degrees (graphs, d): per-graph mean, variance, max and min
    degree, the distribution of the max degree, and the per-graph histogram bins."""
    for name, stat in [("mean degree", np.mean), ("degree variance", np.var), ("max degree", np.max),
                       ("min degree", np.min)]:
        assert_same_mean(stat(engine, axis=1), stat(reference, axis=1), f"{what} {name}")
    assert_same_distribution(engine.max(axis=1), reference.max(axis=1), f"{what} max degree")
    for k in range(int(reference.min()), int(np.percentile(reference, 99)) + 1):
        assert_same_mean((engine == k).sum(axis=1), (reference == k).sum(axis=1), f"{what} nodes of degree {k}")


def digraph(adjacency: np.ndarray) -> nx.DiGraph:
    """The DiGraph of A[i, j] = 1 for i -> j, isolated nodes included."""
    g = nx.DiGraph()
    g.add_nodes_from(range(adjacency.shape[0]))
    g.add_edges_from(zip(*np.nonzero(adjacency)))
    return g


# ---------------------------------------------------------------- linear-Gaussian SCMs

LINEAR = {
    "graph": {"type": "er", "edges_per_node": 1.5},
    "mechanism": {"type": "linear", "weights": {"type": "signed_uniform", "low": 0.5, "high": 1.5},
                  "bias": {"type": "uniform", "low": -1.0, "high": 1.0}},
}


@pytest.mark.parametrize(("noise", "variance_per_scale2"), [("gaussian", 1.0), ("laplace", 2.0), ("uniform", 1.0)])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_linear_scm_moments_match_the_analytical_ones(noise: str, variance_per_scale2: float, seed: int) -> None:
    """x = W^T x + b + e gives x = M^T (b + e) with M = (I - W)^-1, so the mean is M^T b and
    the covariance (I - W)^-T D (I - W)^-1 with D = diag(var e_i): scale^2 for Gaussian and
    uniform noise (scale is the std), 2 scale^2 for Laplace (scale is b).

    Tolerances from n = 200k rows. Sample covariance entry S_ij has variance
    Var((x_i - m_i)(x_j - m_j)) / n, estimated from the same rows (for Gaussian data this is
    (S_ii S_jj + S_ij^2) / n). Summing over entries gives the expected squared Frobenius
    error; the relative Frobenius error must stay below 4 times its RMS value (a sum of 64
    weakly dependent squared errors concentrates tightly, so 4x RMS is never reached by
    chance in practice). Per entry and per mean, |z| < Z with Bonferroni over 8 + 36 checks.
    With d = 8 the RMS relative error is about 0.5%, while a transposed W (the classic
    orientation bug) gives O(1) errors: the test asserts that it would catch it.
    """
    n = 200_000
    scm = sample_scm({**LINEAR, "nodes": 8, "noise": {"type": noise, "scale": {"type": "uniform", "low": 0.5,
                                                                                "high": 1.5}}}, seed)
    w, b = scm.linear_parameters()
    d = scm.d
    m = np.linalg.inv(np.eye(d) - w)
    noise_var = variance_per_scale2 * np.asarray(scm.noise_scales, np.float64) ** 2
    sigma = m.T @ np.diag(noise_var) @ m
    mu = m.T @ b

    x = scm.sample(n, seed=seed)[0].astype(np.float64)
    mean = x.mean(axis=0)
    xc = x - mean
    cov = xc.T @ xc / (n - 1)
    entry_var = np.array([[np.var(xc[:, i] * xc[:, j]) / n for j in range(d)] for i in range(d)])

    z_mean = (mean - mu) / np.sqrt(np.diag(cov) / n)
    assert np.all(np.abs(z_mean) < Z), f"means off: z = {z_mean}"
    z_cov = (cov - sigma) / np.sqrt(entry_var)
    assert np.all(np.abs(z_cov) < Z), f"covariance entries off: max |z| = {np.abs(z_cov).max():.1f}"

    bound = 4 * math.sqrt(entry_var.sum()) / np.linalg.norm(sigma)
    error = np.linalg.norm(cov - sigma) / np.linalg.norm(sigma)
    assert error < bound, f"relative Frobenius error {error:.4f} >= bound {bound:.4f}"
    transposed = m @ np.diag(noise_var) @ m.T
    assert np.linalg.norm(cov - transposed) / np.linalg.norm(transposed) > bound


# ---------------------------------------------------------------- Erdos-Renyi


@pytest.mark.parametrize(("graph", "p"), [
    ({"type": "er", "edge_prob": 0.3}, 0.3),
    ({"type": "er", "edges_per_node": 2.0}, 2 * 2.0 / 19),  # k d expected edges among d(d-1)/2 pairs
])
def test_er_edge_count_is_binomial(graph: dict, p: float) -> None:
    """Each of the d(d-1)/2 = 190 pairs is an edge independently with probability p, so the
    total over 2000 graphs is Binomial(380000, p): SE = sqrt(N p (1-p)) ~ 250 edges, and a
    per-graph edge count has variance 190 p (1 - p). The sample variance of 2000 near-normal
    counts has relative SE sqrt(2 / 1999) = 3.2%; we allow Z of those. For edges_per_node
    k = 2 the mean per graph must be k d = 40."""
    d, pairs = 20, 190
    edges = adjacencies(graph, d).sum(axis=(1, 2))
    total, n_pairs = edges.sum(), pairs * len(edges)
    z = (total - n_pairs * p) / math.sqrt(n_pairs * p * (1 - p))
    assert abs(z) < Z, f"edge density {total / n_pairs:.4f} vs {p:.4f} (z = {z:.1f})"
    ratio = edges.var(ddof=1) / (pairs * p * (1 - p))
    assert abs(ratio - 1) < Z * math.sqrt(2 / (len(edges) - 1)), f"edge-count variance ratio {ratio:.3f}"


def test_er_edges_point_both_ways_in_index_order() -> None:
    """The random relabelling makes an edge equally likely to point up or down the index
    order: per graph, E[#upward - #edges / 2] = 0 (reversing the permutation swaps the two),
    tested against the SE of that iid per-graph difference."""
    a = adjacencies({"type": "er", "edge_prob": 0.3}, 20)
    upward = np.triu(a, 1).sum(axis=(1, 2))
    assert_mean(upward - a.sum(axis=(1, 2)) / 2, 0.0, "upward minus half of all edges")


def test_node_counts_are_uniform_on_the_range() -> None:
    """nodes = [5, 14]: ten equally likely counts, 300 expected each over 3000 tasks;
    chi-square goodness of fit with 9 degrees of freedom, rejected at p < 1e-5."""
    n_nodes = sample_tasks({"nodes": [5, 14]}, 3, 0, 3000, 1).n_nodes
    counts = np.array([np.sum(n_nodes == k) for k in range(5, 15)])
    assert counts.sum() == 3000
    assert stats.chisquare(counts).pvalue > 1e-5, counts


# ---------------------------------------------------------------- Barabasi-Albert


@pytest.mark.parametrize("m", [1, 2, 3])
def test_scale_free_matches_networkx_barabasi_albert(m: int) -> None:
    """Type sf follows networkx's barabasi_albert_graph (star on m + 1 nodes, then m
    degree-proportional targets per new node): its edge count is exactly
    m + (d - m - 1) m, and the skeleton degree statistics of 2000 graphs agree with 2000
    networkx graphs (Welch z-tests, chi-square on the max-degree distribution)."""
    d = 30
    engine = skeleton_degrees(adjacencies({"type": "sf", "m": m}, d))
    reference = networkx_degrees(lambda s: nx.barabasi_albert_graph(d, m, seed=s))
    assert np.all(engine.sum(axis=1) == 2 * (m + (d - m - 1) * m))
    compare_degree_statistics(engine, reference, f"BA(d={d}, m={m})")


@pytest.mark.parametrize("transpose", [False, True])
def test_scale_free_orientation(transpose: bool) -> None:
    """Edges run from old to new nodes, so every node added after the initial star has
    exactly m parents, the star's leaves 1 and its centre 0 (hubs are causes); transpose
    swaps in- and out-degrees (hubs are effects)."""
    d, m = 15, 3
    a = adjacencies({"type": "sf", "m": m, "transpose": transpose}, d, count=50)
    degrees = a.sum(axis=2) if transpose else a.sum(axis=1)  # out-degrees if transposed, else in-degrees
    expected = Counter({0: 1, 1: m, m: d - m - 1})
    assert all(Counter(row.tolist()) == expected for row in degrees)


# ---------------------------------------------------------------- Watts-Strogatz


@pytest.mark.parametrize(("d", "k", "p"), [(20, 4, 0.3), (16, 6, 0.8), (20, 2, 1.0)])
def test_small_world_matches_networkx_watts_strogatz(d: int, k: int, p: float) -> None:
    """Type ws follows networkx's watts_strogatz_graph: rewiring keeps the d k / 2 edges of
    the ring lattice, and the degree statistics match networkx's (same tests as BA)."""
    engine = skeleton_degrees(adjacencies({"type": "ws", "k": k, "rewire_prob": p}, d))
    reference = networkx_degrees(lambda s: nx.watts_strogatz_graph(d, k, p, seed=s))
    assert np.all(engine.sum(axis=1) == d * k)
    compare_degree_statistics(engine, reference, f"WS(d={d}, k={k}, p={p})")


def test_small_world_without_rewiring_is_the_ring_lattice() -> None:
    """rewire_prob = 0 leaves the ring lattice: every node has degree k and the skeleton is
    isomorphic to networkx's lattice."""
    d, k = 12, 4
    a = adjacencies({"type": "ws", "k": k, "rewire_prob": 0.0}, d, count=5)
    lattice = nx.watts_strogatz_graph(d, k, 0.0)
    for adj in a:
        assert nx.is_isomorphic(digraph(adj).to_undirected(), lattice)


# ---------------------------------------------------------------- SBM and geometric graphs

SBM_D, SBM_BLOCKS = 21, 3
SBM_WITHIN = SBM_BLOCKS * math.comb(SBM_D // SBM_BLOCKS, 2)  # 3 blocks of 7: 63 pairs
SBM_BETWEEN = math.comb(SBM_D, 2) - SBM_WITHIN  # 147 pairs


def test_sbm_blocks_are_equal_and_p_in_only_acts_within_them() -> None:
    """p_in = 1, p_out = 0 gives the blocks themselves: 3 disjoint cliques of 7 nodes."""
    a = adjacencies({"type": "sbm", "blocks": SBM_BLOCKS, "p_in": 1.0, "p_out": 0.0}, SBM_D, count=20)
    for adj in a:
        skeleton = digraph(adj).to_undirected()
        components = [skeleton.subgraph(c) for c in nx.connected_components(skeleton)]
        assert sorted(c.number_of_nodes() for c in components) == [7, 7, 7]
        assert all(c.number_of_edges() == math.comb(7, 2) for c in components)


@pytest.mark.parametrize(("p_in", "p_out"), [(0.4, 0.0), (0.0, 0.3), (0.6, 0.1)])
def test_sbm_edge_count_matches_block_densities(p_in: float, p_out: float) -> None:
    """Pairs are independent: per graph the edge count is Binomial(63, p_in) +
    Binomial(147, p_out), so over 2000 graphs the total has mean 2000 (63 p_in + 147 p_out)
    and variance 2000 (63 p_in (1 - p_in) + 147 p_out (1 - p_out)). With p_out = 0 or
    p_in = 0 this isolates each density; swapping them would move the mean by > 50 SE."""
    edges = adjacencies({"type": "sbm", "blocks": SBM_BLOCKS, "p_in": p_in, "p_out": p_out}, SBM_D).sum(axis=(1, 2))
    mean = SBM_WITHIN * p_in + SBM_BETWEEN * p_out
    var = SBM_WITHIN * p_in * (1 - p_in) + SBM_BETWEEN * p_out * (1 - p_out)
    z = (edges.sum() - len(edges) * mean) / math.sqrt(len(edges) * var)
    assert abs(z) < Z, f"SBM edges per graph {edges.mean():.3f} vs {mean:.3f} (z = {z:.1f})"


@pytest.mark.parametrize("radius", [0.15, 0.3, 0.6])
def test_geometric_edge_probability(radius: float) -> None:
    """Two uniform points of the unit square are within r <= 1 of each other with
    probability pi r^2 - 8/3 r^3 + 1/2 r^4, so a 20-node graph has 190 times that many edges
    on average. Pairs share points and are dependent, so the SE is the empirical one of the
    iid per-graph edge counts."""
    edges = adjacencies({"type": "grg", "radius": radius}, 20).sum(axis=(1, 2))
    p = math.pi * radius**2 - 8 / 3 * radius**3 + radius**4 / 2
    assert_mean(edges, 190 * p, f"GRG(r={radius}) edges per graph")


# ---------------------------------------------------------------- named structures

SIZES = [3, 4, 7, 12]


def named(graph_type: str, d: int, **params: object) -> list[nx.DiGraph]:
    """Ten graphs of a named structure; several, because the relabelling is random."""
    return [digraph(a) for a in adjacencies({"type": graph_type, **params}, d, count=10, seed=d)]


@pytest.mark.parametrize("d", [1, 2, *SIZES])
def test_chain_is_a_hamiltonian_path(d: int) -> None:
    """d - 1 edges and a directed path through all d nodes."""
    for g in named("chain", d):
        assert g.number_of_edges() == d - 1
        assert nx.dag_longest_path_length(g) == d - 1


@pytest.mark.parametrize("d", [2, *SIZES])
def test_fork_is_one_cause_of_everything(d: int) -> None:
    """One node with out-degree d - 1; every other node has exactly that node as parent."""
    for g in named("fork", d):
        hubs = [v for v in g if g.out_degree(v) == d - 1]
        assert len(hubs) == 1
        assert all(list(g.predecessors(v)) == hubs for v in g if v != hubs[0])
        assert g.number_of_edges() == d - 1


@pytest.mark.parametrize("d", [2, *SIZES])
def test_collider_is_one_effect_of_everything(d: int) -> None:
    """One node with in-degree d - 1; every other node has exactly that node as child."""
    for g in named("collider", d):
        sinks = [v for v in g if g.in_degree(v) == d - 1]
        assert len(sinks) == 1
        assert all(list(g.successors(v)) == sinks for v in g if v != sinks[0])
        assert g.number_of_edges() == d - 1


@pytest.mark.parametrize("d", SIZES)
def test_diamond_is_source_mediators_sink(d: int) -> None:
    """source -> each of d - 2 mediators -> sink, and nothing else."""
    for g in named("diamond", d):
        sources = [v for v in g if g.in_degree(v) == 0]
        sinks = [v for v in g if g.out_degree(v) == 0]
        assert len(sources) == len(sinks) == 1
        for v in set(g) - {sources[0], sinks[0]}:
            assert list(g.predecessors(v)) == sources and list(g.successors(v)) == sinks
        assert g.number_of_edges() == 2 * (d - 2)


@pytest.mark.parametrize("d", SIZES)
def test_butterfly_matches_its_definition(d: int) -> None:
    """floor((d-1)/2) sources -> hub -> the other nodes (sinks), plus source i -> sink i:
    isomorphic to that graph built here from the words of the docstring."""
    s = (d - 1) // 2
    sources, hub, sinks = list(range(s)), s, list(range(s + 1, d))
    reference = nx.DiGraph()
    reference.add_nodes_from(range(d))
    reference.add_edges_from((u, hub) for u in sources)
    reference.add_edges_from((hub, t) for t in sinks)
    reference.add_edges_from(zip(sources, sinks))
    for g in named("butterfly", d):
        assert nx.is_isomorphic(g, reference)


@pytest.mark.parametrize("branching", [1, 2, 3])
@pytest.mark.parametrize("d", [1, *SIZES])
def test_hierarchical_is_a_full_rary_tree(d: int, branching: int) -> None:
    """A rooted out-tree (arborescence) whose shape is networkx's full_rary_tree: every
    node has ``branching`` children, filled level by level."""
    reference = nx.full_rary_tree(branching, d)
    for g in named("hierarchical", d, branching=branching):
        assert nx.is_arborescence(g)
        assert nx.is_isomorphic(g.to_undirected(), reference)


def layer_of(g: nx.DiGraph) -> dict[int, int]:
    """Longest-path depth from the sources (equal to the layer in a layered graph)."""
    depth: dict[int, int] = {}
    for v in nx.topological_sort(g):
        depth[v] = max((depth[u] + 1 for u in g.predecessors(v)), default=0)
    return depth


def test_layered_graphs_follow_their_definition() -> None:
    """12 nodes in 3 layers of 4: the sources are exactly the first layer, every edge joins
    consecutive layers, every later node has a parent. Each later node's parent count is
    Binomial(4, p) with 0 replaced by 1, mean 4 p + (1-p)^4, so a graph has
    8 (4 p + (1-p)^4) edges on average (z-test with the empirical SE over 2000 graphs)."""
    p = 0.3
    a = adjacencies({"type": "layered", "layers": 3, "edge_prob": p}, 12)
    for adj in a[:100]:
        g = digraph(adj)
        depth = layer_of(g)
        assert sorted(Counter(depth.values()).items()) == [(0, 4), (1, 4), (2, 4)]
        assert all(depth[v] == depth[u] + 1 for u, v in g.edges)
    assert_mean(a.sum(axis=(1, 2)), 8 * (4 * p + (1 - p) ** 4), "layered edges per graph")


def test_bipartite_graphs_follow_their_definition() -> None:
    """cause_fraction 0.4 of 10 nodes: 4 causes (no parents) and 6 effects (no children,
    at least one parent each), edges only cause -> effect; each effect has
    Binomial(4, p)-or-1 parents, so 6 (4 p + (1-p)^4) edges on average."""
    p = 0.3
    a = adjacencies({"type": "bipartite", "cause_fraction": 0.4, "edge_prob": p}, 10)
    for adj in a[:100]:
        causes = np.flatnonzero(adj.sum(axis=0) == 0)
        effects = np.flatnonzero(adj.sum(axis=0) > 0)
        assert len(causes) == 4
        assert not adj[np.ix_(effects, np.arange(10))].any()  # effects have no children
        assert not adj[:, causes].any()
    assert_mean(a.sum(axis=(1, 2)), 6 * (4 * p + (1 - p) ** 4), "bipartite edges per graph")
