"""Tests of causal_meta.metrics: hand-worked values, published SID values, references."""

from __future__ import annotations

import math
import time

import networkx as nx
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import average_precision_score, precision_recall_fscore_support, roc_auc_score

from causal_meta import metrics as m

# ---------------------------------------------------------------------------------------
# Fixtures: a small truth and a prediction worked by hand.
# ---------------------------------------------------------------------------------------


def graph(d: int, edges: list[tuple[int, int]]) -> np.ndarray:
    a = np.zeros((d, d), dtype=np.int64)
    for i, j in edges:
        a[i, j] = 1
    return a


# Truth 0 -> 1 -> 2. Prediction: 0 -> 1 reversed, 1 -> 2 right, 0 -> 2 extra.
TRUE3 = graph(3, [(0, 1), (1, 2)])
PRED3 = graph(3, [(1, 0), (1, 2), (0, 2)])


def random_dag(rng: np.random.Generator, d: int, p: float) -> np.ndarray:
    upper = np.triu(rng.random((d, d)) < p, k=1)
    perm = rng.permutation(d)
    return upper[np.ix_(perm, perm)].astype(np.int64)


# ---------------------------------------------------------------------------------------
# SHD, both conventions
# ---------------------------------------------------------------------------------------


def test_shd_hand_worked():
    # Pairs: {0,1} truth 0->1, pred 1->0: differs (1). {1,2}: same. {0,2}: pred extra (1).
    # Reversal once: 1 + 1 = 2.
    assert m.shd(TRUE3, PRED3) == 2
    # Entries: (0,1) missing, (1,0) extra, (0,2) extra -> 3.
    assert m.shd_reversal_as_two(TRUE3, PRED3) == 3


def test_shd_single_reversal_counts_one_or_two():
    # 0 -> 1 vs 1 -> 0: one pair differs; two entries differ.
    assert m.shd(graph(2, [(0, 1)]), graph(2, [(1, 0)])) == 1
    assert m.shd_reversal_as_two(graph(2, [(0, 1)]), graph(2, [(1, 0)])) == 2


def test_shd_two_cycle_counts_once_in_both_conventions():
    # Truth 0 -> 1, pred 0 <-> 1: the pair's state differs (1); one extra entry (1, 0) (1).
    two_cycle = graph(2, [(0, 1), (1, 0)])
    assert m.shd(graph(2, [(0, 1)]), two_cycle) == 1
    assert m.shd_reversal_as_two(graph(2, [(0, 1)]), two_cycle) == 1


def test_shd_ignores_diagonal():
    assert m.shd(TRUE3, TRUE3 + np.eye(3, dtype=np.int64)) == 0
    assert m.shd_reversal_as_two(TRUE3, TRUE3 + np.eye(3, dtype=np.int64)) == 0


def test_shd_empty_and_full_dag():
    # Full DAG on 4 nodes: all 6 pairs i < j. Against the empty graph every pair differs.
    full = np.triu(np.ones((4, 4), dtype=np.int64), k=1)
    empty = np.zeros((4, 4), dtype=np.int64)
    assert m.shd(full, empty) == 6
    assert m.shd_reversal_as_two(full, empty) == 6
    # Full DAG against its transpose: every pair reversed.
    assert m.shd(full, full.T) == 6
    assert m.shd_reversal_as_two(full, full.T) == 12
    assert m.shd(empty, empty) == 0


@settings(max_examples=50, deadline=None)
@given(st.integers(2, 7), st.integers(0, 2**32 - 1))
def test_shd_conventions_bracket_each_other(d, seed):
    rng = np.random.default_rng(seed)
    a, b = rng.random((d, d)) < 0.4, rng.random((d, d)) < 0.4
    one, two = m.shd(a, b), m.shd_reversal_as_two(a, b)
    assert one <= two <= 2 * one


# ---------------------------------------------------------------------------------------
# Edge precision / recall / F1, skeleton F1, orientation accuracy
# ---------------------------------------------------------------------------------------


def test_edge_scores_hand_worked():
    # Predicted edges {1->0, 1->2, 0->2}; true {0->1, 1->2}: tp = 1, fp = 2, fn = 1.
    # precision 1/3, recall 1/2, F1 = 2tp / (2tp + fp + fn) = 2/5.
    scores = m.edge_precision_recall_f1(TRUE3, PRED3)
    assert scores.precision == pytest.approx(1 / 3)
    assert scores.recall == pytest.approx(1 / 2)
    assert scores.f1 == pytest.approx(2 / 5)


def test_binarize_is_strict_and_drops_diagonal():
    # 0.5 is not more likely than not; 0.7 is; the diagonal is never an edge.
    probs = np.array([[1.0, 0.5], [0.7, 0.9]])
    assert m.binarize(probs).tolist() == [[False, False], [True, False]]
    assert m.binarize(probs, threshold=1.0).tolist() == [[False, False], [False, False]]
    assert m.binarize(probs, threshold=0.0).tolist() == [[False, True], [True, False]]


def test_edge_scores_threshold_is_strict():
    # p = [[-, .5, .7], [.2, -, .5], [0, 0, -]] with threshold 0.5: only 0->2 (0.7 > 0.5).
    # True {0->1, 1->2}: tp 0, fp 1, fn 2 -> P 0, R 0, F1 0. At threshold 0.4 the 0.5s pass:
    # pred {0->1, 0->2, 1->2}: tp 2, fp 1 -> P 2/3, R 1, F1 4/5.
    probs = np.array([[0, 0.5, 0.7], [0.2, 0, 0.5], [0, 0, 0]])
    assert tuple(m.edge_precision_recall_f1(TRUE3, probs, 0.5)) == (0.0, 0.0, 0.0)
    p, r, f = m.edge_precision_recall_f1(TRUE3, probs, 0.4)
    assert (p, r, f) == pytest.approx((2 / 3, 1.0, 4 / 5))


def test_edge_scores_empty_truth_and_prediction():
    empty = np.zeros((3, 3))
    # Nothing to find, nothing claimed: perfect by the documented rule.
    assert tuple(m.edge_precision_recall_f1(empty, empty)) == (1.0, 1.0, 1.0)
    # Nothing claimed, two edges missed: precision 1 (no false claim), recall 0, F1 0.
    assert tuple(m.edge_precision_recall_f1(TRUE3, empty)) == (1.0, 0.0, 0.0)
    # Empty truth, two claims: precision 0, recall 1, F1 0.
    assert tuple(m.edge_precision_recall_f1(empty, TRUE3)) == (0.0, 1.0, 0.0)


@settings(max_examples=50, deadline=None)
@given(st.integers(2, 7), st.integers(0, 2**32 - 1))
def test_edge_scores_match_sklearn(d, seed):
    rng = np.random.default_rng(seed)
    true = rng.random((d, d)) < 0.3
    probs = rng.random((d, d))
    off = ~np.eye(d, dtype=bool)
    p, r, f, _ = precision_recall_fscore_support(
        true[off], probs[off] > 0.5, average="binary", zero_division=1.0
    )
    assert tuple(m.edge_precision_recall_f1(true, probs)) == pytest.approx((p, r, f))


def test_skeleton_f1_hand_worked():
    # True skeleton {01, 12}; predicted skeleton {01, 12, 02}: tp 2, fp 1, fn 0 -> 4/5.
    assert m.skeleton_f1(TRUE3, PRED3) == pytest.approx(4 / 5)
    # A pure reversal has a perfect skeleton.
    assert m.skeleton_f1(TRUE3, TRUE3.T) == 1.0
    assert m.skeleton_f1(np.zeros((3, 3)), np.zeros((3, 3))) == 1.0


def test_orientation_accuracy_hand_worked():
    # True 0->1 recovered as 1->0 (wrong); 1->2 recovered as 1->2 (right). 0->2 is not a
    # true edge, so it does not enter. 1 right of 2 recovered = 0.5.
    assert m.orientation_accuracy(TRUE3, PRED3) == 0.5
    # Truth 0->1, prediction 0<->1: adjacency recovered, direction ambiguous -> wrong, 0.
    assert m.orientation_accuracy(graph(2, [(0, 1)]), graph(2, [(0, 1), (1, 0)])) == 0.0
    # No true edge recovered: nothing to judge -> NaN (also for an empty truth).
    assert math.isnan(m.orientation_accuracy(TRUE3, np.zeros((3, 3))))
    assert math.isnan(m.orientation_accuracy(np.zeros((3, 3)), PRED3))


# ---------------------------------------------------------------------------------------
# Posterior samples
# ---------------------------------------------------------------------------------------

# Truth 0 -> 1; four samples: right, reversed, empty, right.
TRUE2 = graph(2, [(0, 1)])
SAMPLES2 = np.stack([graph(2, [(0, 1)]), graph(2, [(1, 0)]), graph(2, []), graph(2, [(0, 1)])])


def test_expected_shd_hand_worked():
    # Reversal once: SHDs 0, 1, 1, 0 -> mean 0.5. Reversal twice: 0, 2, 1, 0 -> 0.75.
    assert m.expected_shd(TRUE2, SAMPLES2) == 0.5
    assert m.expected_shd(TRUE2, SAMPLES2, reversal_as_two=True) == 0.75


def test_expected_edge_f1_hand_worked():
    # F1 per sample: 1 (exact), 0 (tp 0), 0 (nothing predicted, one missed), 1 -> 0.5.
    assert m.expected_edge_f1(TRUE2, SAMPLES2) == 0.5


def test_valid_dag_fraction_hand_worked():
    # Samples: DAG, 2-cycle, 3-cycle 0->1->2->0, self-loop on 2, empty -> 2 of 5 are DAGs.
    samples = np.stack(
        [
            TRUE3,
            graph(3, [(0, 1), (1, 0)]),
            graph(3, [(0, 1), (1, 2), (2, 0)]),
            graph(3, [(2, 2)]),
            graph(3, []),
        ]
    )
    assert m.valid_dag_fraction(samples) == pytest.approx(2 / 5)
    assert m.is_dag(samples).tolist() == [True, False, False, False, True]


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 8), st.floats(0.0, 0.6), st.integers(0, 2**32 - 1))
def test_is_dag_matches_networkx(d, p, seed):
    a = np.random.default_rng(seed).random((d, d)) < p
    expected = nx.is_directed_acyclic_graph(nx.from_numpy_array(a.astype(int), create_using=nx.DiGraph))
    assert m.is_dag(a) == expected


# ---------------------------------------------------------------------------------------
# AUROC / AUPRC
# ---------------------------------------------------------------------------------------


def test_auroc_auprc_hand_worked():
    # Off-diagonal entries of a 3-node graph; truth {0->1, 1->2}.
    # positives: p01 = .9, p12 = .4; negatives: p02 = .6, p10 = .1, p20 = .2, p21 = .3.
    # AUROC = correctly ordered (pos, neg) pairs / 8: .9 beats all 4, .4 beats 3 -> 7/8.
    # AP: ranking .9(+) .6(-) .4(+) ...: recall steps 1/2 at precision 1 and 1/2 at
    # precision 2/3 -> 1/2 + 1/3 = 5/6.
    probs = np.array([[0, 0.9, 0.6], [0.1, 0, 0.4], [0.2, 0.3, 0]])
    assert m.edge_auroc(TRUE3, probs) == pytest.approx(7 / 8)
    assert m.edge_auprc(TRUE3, probs) == pytest.approx(5 / 6)


def test_ranking_ignores_diagonal_even_nan():
    probs = np.array([[np.nan, 0.9, 0.6], [0.1, 5.0, 0.4], [0.2, 0.3, -1.0]])
    assert m.edge_auroc(TRUE3, probs) == pytest.approx(7 / 8)


@settings(max_examples=50, deadline=None)
@given(st.integers(2, 9), st.integers(0, 2**32 - 1))
def test_auroc_auprc_match_sklearn(d, seed):
    rng = np.random.default_rng(seed)
    true = random_dag(rng, d, 0.5)
    probs = rng.random((d, d)).round(1)  # rounding makes ties, which sklearn handles
    labels, scores = [], []
    for i in range(d):
        for j in range(d):
            if i != j:
                labels.append(true[i, j])
                scores.append(probs[i, j])
    if 0 < sum(labels) < len(labels):
        assert m.edge_auroc(true, probs) == pytest.approx(roc_auc_score(labels, scores))
        assert m.edge_auprc(true, probs) == pytest.approx(average_precision_score(labels, scores))
    else:
        assert math.isnan(m.edge_auroc(true, probs))
        assert math.isnan(m.edge_auprc(true, probs))


def test_ranking_undefined_for_one_class():
    probs = np.full((3, 3), 0.3)
    # No true edge, or every off-diagonal entry an edge: NaN.
    assert math.isnan(m.edge_auroc(np.zeros((3, 3)), probs))
    assert math.isnan(m.edge_auprc(np.zeros((3, 3)), probs))
    everything = 1 - np.eye(3)
    assert math.isnan(m.edge_auroc(everything, probs))
    assert math.isnan(m.edge_auprc(everything, probs))


def test_all_equal_probabilities():
    # All scores tie: AUROC 0.5; AP = prevalence = 2 edges / 6 entries.
    probs = np.full((3, 3), 0.5)
    assert m.edge_auroc(TRUE3, probs) == 0.5
    assert m.edge_auprc(TRUE3, probs) == pytest.approx(1 / 3)
    # 0.5 is not > 0.5: nothing predicted.
    assert tuple(m.edge_precision_recall_f1(TRUE3, probs)) == (1.0, 0.0, 0.0)
    # ECE with one bin: |2/6 - 0.5| = 1/6.
    assert m.edge_ece(TRUE3, probs, n_bins=1) == pytest.approx(1 / 6)


# ---------------------------------------------------------------------------------------
# Calibration
# ---------------------------------------------------------------------------------------


def test_ece_hand_worked():
    # Same probabilities as the AUROC example, 2 bins [0, .5) and [.5, 1].
    # High bin {p01 .9 y1, p02 .6 y0}: |sum(y - p)| = |1 - 1.5| = .5.
    # Low bin {.1 y0, .4 y1, .2 y0, .3 y0}: |1 - 1.0| = 0.
    # ECE = (.5 + 0) / 6 = 1/12.
    probs = np.array([[0, 0.9, 0.6], [0.1, 0, 0.4], [0.2, 0.3, 0]])
    assert m.edge_ece(TRUE3, probs, n_bins=2) == pytest.approx(1 / 12)
    # Ten bins: every entry alone in its bin -> mean |y - p| =
    # (.1 + .6 + .1 + .6 + .2 + .3) / 6 = 1.9 / 6.
    assert m.edge_ece(TRUE3, probs, n_bins=10) == pytest.approx(1.9 / 6)


def test_ece_perfect_and_worst():
    assert m.edge_ece(TRUE3, TRUE3.astype(float)) == 0.0
    assert m.edge_ece(TRUE3, 1.0 - TRUE3) == 1.0


def test_ece_pools_the_batch():
    # Per graph the ECE is 0 and 1; pooled over the 12 entries it is 0.5.
    batch_true = np.stack([TRUE3, TRUE3])
    batch_probs = np.stack([TRUE3.astype(float), 1.0 - TRUE3])
    assert m.edge_ece(batch_true, batch_probs) == pytest.approx(0.5)


def test_graph_nll_hand_worked():
    # Truth 0 -> 1; p01 = .8 (edge), p10 = .25 (no edge): -(ln .8 + ln .75) = .5108...
    probs = np.array([[0, 0.8], [0.25, 0]])
    assert m.graph_nll(TRUE2, probs) == pytest.approx(-(math.log(0.8) + math.log(0.75)))


def test_graph_nll_clips():
    # p01 = 0 on a true edge: clipped to eps -> -ln(eps); p10 = 0 costs -ln(1 - eps).
    probs = np.zeros((2, 2))
    expected = -math.log(1e-6) - math.log1p(-1e-6)
    assert m.graph_nll(TRUE2, probs) == pytest.approx(expected)
    assert m.graph_nll(TRUE2, probs, eps=1e-3) == pytest.approx(-math.log(1e-3) - math.log1p(-1e-3))
    assert m.graph_nll(TRUE2, TRUE2.astype(float)) == pytest.approx(-2 * math.log1p(-1e-6))


# ---------------------------------------------------------------------------------------
# SID
# ---------------------------------------------------------------------------------------

# Peters & Bühlmann (2015), Neural Computation 27:771-799, Figure 2: nodes
# X1, X2, Y1, Y2, Y3 = 0..4. G: X1 -> X2 and both X's -> every Y. H1 = G + (Y1 -> Y2);
# H2 = G with X1 -> X2 reversed. SHD(G, H1) = SHD(G, H2) = 1, but SID(G, H1) = 0 and
# SID(G, H2) = 8 (the values published there and asserted by the SID R package's example).
PAPER_G = graph(5, [(0, 1), (0, 2), (0, 3), (0, 4), (1, 2), (1, 3), (1, 4)])
PAPER_H1 = graph(5, [(0, 1), (0, 2), (0, 3), (0, 4), (1, 2), (1, 3), (1, 4), (2, 3)])
PAPER_H2 = graph(5, [(1, 0), (0, 2), (0, 3), (0, 4), (1, 2), (1, 3), (1, 4)])


def test_sid_peters_buhlmann_example():
    assert m.shd(PAPER_G, PAPER_H1) == m.shd(PAPER_G, PAPER_H2) == 1
    assert m.sid(PAPER_G, PAPER_H1) == 0
    assert m.sid(PAPER_G, PAPER_H2) == 8


def test_sid_hand_worked():
    chain = graph(3, [(0, 1), (1, 2)])
    empty = graph(3, [])
    # Truth 0->1->2, estimate empty: every Pa_H(i) is empty. Downstream effects (0,1),
    # (0,2), (1,2) have no back-door path: right. Upstream pairs (1,0), (2,0), (2,1) have
    # zero effect but x_j depends on x_i without adjustment: wrong -> SID 3.
    assert m.sid(chain, empty) == 3
    # Truth empty: every effect is zero and every adjustment gives p(x_j) -> SID 0.
    assert m.sid(empty, chain) == 0
    # 0 -> 1 vs 1 -> 0: (0,1) adjusts for Pa_H(0) = {1}, claims no effect: wrong.
    # (1,0): Pa_H(1) = {} gives p(x0 | x1), truth is p(x0): wrong -> SID 2.
    assert m.sid(graph(2, [(0, 1)]), graph(2, [(1, 0)])) == 2
    assert m.sid(PAPER_G, PAPER_G) == 0


def _adjustment_valid(g: nx.DiGraph, i: int, j: int, z: set[int]) -> bool:
    """Peters & Bühlmann's per-pair rule, written independently with networkx.

    j in Pa_H(i): H claims no effect, right iff j is not a descendant of i. Otherwise Z is
    valid iff (generalised adjustment criterion) no Z node descends from a node on a
    directed i -> j path other than i, and Z d-separates i and j once the first edges of
    those paths are removed.
    """
    desc_i = nx.descendants(g, i)
    if j in z:
        return j not in desc_i
    on_paths = desc_i & (nx.ancestors(g, j) | {j})
    forbidden = set().union(*(nx.descendants(g, w) | {w} for w in on_paths)) if on_paths else set()
    if z & forbidden:
        return False
    pbd = g.copy()
    pbd.remove_edges_from([(i, w) for w in on_paths if g.has_edge(i, w)])
    return nx.is_d_separator(pbd, {i}, {j}, z)


def brute_force_sid(true: np.ndarray, pred: np.ndarray) -> int:
    g = nx.from_numpy_array(true, create_using=nx.DiGraph)
    d = len(true)
    return sum(
        not _adjustment_valid(g, i, j, set(np.flatnonzero(pred[:, i]).tolist()))
        for i in range(d)
        for j in range(d)
        if i != j
    )


def test_brute_force_reference_reproduces_paper():
    assert brute_force_sid(PAPER_G, PAPER_H1) == 0
    assert brute_force_sid(PAPER_G, PAPER_H2) == 8


@settings(max_examples=60, deadline=None)
@given(st.integers(2, 7), st.floats(0.1, 0.7), st.integers(0, 2**32 - 1))
def test_sid_matches_brute_force(d, p, seed):
    rng = np.random.default_rng(seed)
    true, pred = random_dag(rng, d, p), random_dag(rng, d, p)
    assert m.sid(true, pred) == brute_force_sid(true, pred)


def test_sid_fast_at_d100():
    rng = np.random.default_rng(0)
    true = np.stack([random_dag(rng, 100, 0.1) for _ in range(4)])
    pred = np.stack([random_dag(rng, 100, 0.1) for _ in range(4)])
    start = time.perf_counter()
    m.sid(true, pred)
    assert time.perf_counter() - start < 4 * 2.0  # budget 2 s per pair; measured ~ms


def test_sid_rejects_cycles_by_argument():
    two_cycle = graph(2, [(0, 1), (1, 0)])
    with pytest.raises(ValueError, match="pred must be a DAG"):
        m.sid(graph(2, [(0, 1)]), two_cycle)
    with pytest.raises(ValueError, match=r"true must be a DAG.*batch index 1"):
        m.sid(np.stack([graph(2, []), two_cycle]), np.zeros((2, 2, 2)))
    with pytest.raises(ValueError, match="true must be a DAG"):
        m.sid(np.eye(2), np.zeros((2, 2)))


# ---------------------------------------------------------------------------------------
# Batch vs single graph
# ---------------------------------------------------------------------------------------

GRAPH_VS_GRAPH = [m.shd, m.shd_reversal_as_two, m.sid]
GRAPH_VS_PROBS = [
    lambda t, p: m.edge_precision_recall_f1(t, p).precision,
    lambda t, p: m.edge_precision_recall_f1(t, p).recall,
    lambda t, p: m.edge_precision_recall_f1(t, p).f1,
    m.skeleton_f1,
    m.orientation_accuracy,
    m.edge_auroc,
    m.edge_auprc,
    m.graph_nll,
]


@pytest.mark.parametrize(
    ("metric", "binary"), [(f, True) for f in GRAPH_VS_GRAPH] + [(f, False) for f in GRAPH_VS_PROBS]
)
def test_batch_equals_loop_of_singles(metric, binary):
    rng = np.random.default_rng(1)
    # Five random DAGs and one empty graph, so that NaN cases are in the batch too.
    true = np.stack([random_dag(rng, 6, 0.4) for _ in range(5)] + [np.zeros((6, 6), np.int64)])
    pred = np.stack([random_dag(rng, 6, 0.4) for _ in range(6)])
    second = pred if binary else np.clip(pred * 0.6 + rng.random((6, 6, 6)) * 0.4, 0, 1)
    batch = metric(true, second)
    assert isinstance(batch, np.ndarray) and batch.shape == (6,)
    singles = np.array([metric(t, p) for t, p in zip(true, second)], dtype=float)
    np.testing.assert_allclose(batch.astype(float), singles, equal_nan=True)
    assert not isinstance(metric(true[0], second[0]), np.ndarray)


def test_posterior_batch_equals_loop_of_singles():
    rng = np.random.default_rng(2)
    true = np.stack([random_dag(rng, 5, 0.4) for _ in range(3)])
    samples = rng.random((3, 7, 5, 5)) < 0.3
    for fn in (m.expected_shd, m.expected_edge_f1):
        np.testing.assert_allclose(fn(true, samples), [fn(t, s) for t, s in zip(true, samples)])
    np.testing.assert_allclose(
        m.expected_shd(true, samples, reversal_as_two=True),
        [m.expected_shd(t, s, reversal_as_two=True) for t, s in zip(true, samples)],
    )
    np.testing.assert_allclose(m.valid_dag_fraction(samples), [m.valid_dag_fraction(s) for s in samples])
    assert m.edge_ece(true[:1], samples[:1, 0]) == m.edge_ece(true[0], samples[0, 0])


def test_summarize_single_equals_batch_of_one_and_reports_keys():
    rng = np.random.default_rng(3)
    true = random_dag(rng, 6, 0.4)
    probs = rng.random((6, 6))
    samples = rng.random((4, 6, 6)) < 0.3
    single = m.summarize(true, probs, samples)
    batch = m.summarize(true[None], probs[None], samples[None])
    assert single.keys() == batch.keys()
    for key in single:
        assert single[key] == pytest.approx(batch[key], nan_ok=True), key
    assert single["shd"] == m.shd(true, m.binarize(probs))
    assert single["expected_edge_f1"] == m.expected_edge_f1(true, samples)
    assert {"sid", "auroc", "auprc", "ece", "graph_nll", "valid_dag_fraction"} <= single.keys()


def test_summarize_averages_sid_over_dag_predictions_only():
    # Task 0 predicts the paper's H2 (SID 8); task 1 predicts a 2-cycle (skipped).
    true = np.stack([PAPER_G, PAPER_G])
    cyclic = PAPER_G.copy()
    cyclic[1, 0] = 1
    out = m.summarize(true, np.stack([PAPER_H2, cyclic]).astype(float))
    assert out["sid"] == 8.0
    assert out["thresholded_dag_fraction"] == 0.5


def test_summarize_with_empty_truths_skips_undefined():
    out = m.summarize(np.zeros((2, 3, 3)), np.full((2, 3, 3), 0.2))
    assert math.isnan(out["auroc"]) and math.isnan(out["orientation_accuracy"])
    assert out["edge_f1"] == 1.0 and out["shd"] == 0.0 and out["sid"] == 0.0


# ---------------------------------------------------------------------------------------
# Bad input
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "pattern"),
    [
        (lambda: m.shd(np.zeros((3, 4)), np.zeros((3, 4))), r"true must be .*\(d, d\).*\(3, 4\)"),
        (lambda: m.shd(np.zeros(3), np.zeros(3)), r"true must be .*got shape \(3,\)"),
        (lambda: m.shd(TRUE3, np.zeros((4, 4))), r"true and pred must have the same shape"),
        (lambda: m.shd(TRUE3 * 2, TRUE3), r"true must contain only 0 and 1; found 2"),
        (lambda: m.shd(TRUE3, np.full((3, 3), np.nan)), r"pred must contain only 0 and 1; found nan at index \(0, 0\)"),
        (lambda: m.edge_auroc(TRUE3, np.full((3, 3), 1.5)), r"probs must lie in \[0, 1\].*1\.5"),
        (lambda: m.edge_auroc(TRUE3, np.full((3, 3), np.nan)), r"probs must lie in \[0, 1\].*nan"),
        (lambda: m.graph_nll(TRUE3, -np.ones((3, 3))), r"probs must lie in \[0, 1\]"),
        (lambda: m.binarize(np.zeros((3, 3)), 1.5), r"threshold must be a number in \[0, 1\]; got 1.5"),
        (lambda: m.edge_ece(TRUE3, np.zeros((3, 3)), n_bins=0), r"n_bins must be an integer >= 1; got 0"),
        (lambda: m.graph_nll(TRUE3, np.zeros((3, 3)), eps=0.0), r"eps must be a number in \(0, 0.5\)"),
        (lambda: m.expected_shd(TRUE3, np.zeros((2, 4, 4))), r"samples must have shape \(S, 3, 3\) to match true of shape \(3, 3\); got \(2, 4, 4\)"),
        (lambda: m.expected_shd(TRUE3, np.zeros((0, 3, 3))), r"S >= 1"),
        (lambda: m.valid_dag_fraction(TRUE3), r"samples must be posterior samples of graphs of shape \(S, d, d\) or \(B, S, d, d\); got shape \(3, 3\)"),
        (lambda: m.shd(np.zeros((0, 0)), np.zeros((0, 0))), r"at least one node"),
        (lambda: m.shd(np.array([["a"]]), np.array([["a"]])), r"dtype"),
    ],
)
def test_bad_input_raises_value_error_naming_argument(call, pattern):
    with pytest.raises(ValueError, match=pattern):
        call()
