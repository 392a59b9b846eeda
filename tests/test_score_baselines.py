"""Tests of the zero-training score baselines (precision and correlation) and of the
ranking-only scoring they get: independent numpy references, permutation equivariance,
n < d, constant columns, the observational-rows rule, a chain whose direct links the
precision baseline must rank first, and best-threshold F1 against brute force."""

from __future__ import annotations

import numpy as np
import pytest

from causal_meta import baselines as b
from causal_meta import metrics
from causal_meta.evaluation import RANKING_METRICS, score_task

SCORES = ["precision", "correlation"]


def no_mask(x: np.ndarray) -> np.ndarray:
    return np.zeros(x.shape, dtype=np.uint8)


def chain_data(d: int, n: int, seed: int, weight: float = 0.8) -> np.ndarray:
    """x_0 -> x_1 -> ... -> x_{d-1}, linear with unit Gaussian noise."""
    rng = np.random.default_rng(seed)
    x = np.zeros((n, d))
    for j in range(d):
        x[:, j] = (weight * x[:, j - 1] if j else 0.0) + rng.normal(size=n)
    return x.astype(np.float32)


def correlated(n: int, d: int, seed: int) -> np.ndarray:
    """Gaussian data with a random dense covariance, so every pair has its own score."""
    rng = np.random.default_rng(seed)
    return (rng.normal(size=(n, d)) @ rng.normal(size=(d, d)) + rng.normal(size=d) * 5).astype(np.float32)


def reference_correlation(x: np.ndarray) -> np.ndarray:
    c = np.abs(np.corrcoef(x.astype(np.float64), rowvar=False))
    np.fill_diagonal(c, 0.0)
    return c


def reference_precision(x: np.ndarray) -> np.ndarray:
    p = np.abs(np.linalg.inv(np.corrcoef(x.astype(np.float64), rowvar=False)))
    np.fill_diagonal(p, 0.0)
    return p / p.max()


def reference_ledoit_wolf_precision(x: np.ndarray) -> np.ndarray:
    """The Ledoit-Wolf (2004) estimate written out: S shrunk towards mu I with the weight
    min(b2, d2) / d2, d2 = ||S - mu I||^2, b2 = mean over rows of ||z z^T - S||^2 / n."""
    x = x.astype(np.float64)
    z = (x - x.mean(axis=0)) / x.std(axis=0)
    n, d = z.shape
    s = z.T @ z / n
    mu = np.trace(s) / d
    d2 = np.sum((s - mu * np.eye(d)) ** 2)
    b2 = sum(np.sum((np.outer(r, r) - s) ** 2) for r in z) / n**2
    shrunk = (1 - min(b2, d2) / d2) * s + min(b2, d2) / d2 * mu * np.eye(d)
    p = np.abs(np.linalg.inv(shrunk))
    np.fill_diagonal(p, 0.0)
    return p / p.max()


def test_correlation_matches_numpy() -> None:
    x = correlated(300, 5, seed=0)
    np.testing.assert_allclose(b.CorrelationMatrix().fit(x, no_mask(x)).probs, reference_correlation(x), atol=1e-12)


def test_precision_matches_numpy_inverse() -> None:
    x = correlated(300, 5, seed=1)
    np.testing.assert_allclose(b.PrecisionMatrix().fit(x, no_mask(x)).probs, reference_precision(x), atol=1e-10)


def test_precision_uses_ledoit_wolf_when_n_is_below_d() -> None:
    x = correlated(6, 10, seed=2)
    probs = b.PrecisionMatrix().fit(x, no_mask(x)).probs
    np.testing.assert_allclose(probs, reference_ledoit_wolf_precision(x), atol=1e-10)
    assert np.isfinite(probs).all() and probs.max() == 1.0


def test_precision_uses_ledoit_wolf_when_ill_conditioned() -> None:
    """Two nearly identical columns: n > d, but the condition number passes the limit."""
    x = correlated(400, 4, seed=3).astype(np.float64)
    x = np.column_stack([x, x[:, 0] + 1e-4 * np.random.default_rng(3).normal(size=400)])
    z = (x - x.mean(axis=0)) / x.std(axis=0)
    assert np.linalg.cond(z.T @ z / len(z)) > b.CONDITION_LIMIT
    np.testing.assert_allclose(b.PrecisionMatrix().fit(x, no_mask(x)).probs, reference_ledoit_wolf_precision(x),
                               atol=1e-10)


@pytest.mark.parametrize("name", SCORES)
def test_scores_are_symmetric_in_unit_range_without_samples(name: str) -> None:
    learner = b.get_learner(name)
    assert isinstance(learner, b.StructureLearner) and isinstance(learner, b.ScoreBaseline)
    assert learner.name == name
    x = correlated(200, 6, seed=4)
    post = learner.fit(x, no_mask(x))
    np.testing.assert_array_equal(post.probs, post.probs.T)
    assert post.samples is None and not np.diagonal(post.probs).any()
    assert ((post.probs >= 0) & (post.probs <= 1)).all()


@pytest.mark.parametrize("name", SCORES)
@pytest.mark.parametrize("n", [300, 5])  # the inverse and the Ledoit-Wolf branch
def test_permutation_equivariance(name: str, n: int) -> None:
    x = correlated(n, 7, seed=5)
    perm = np.random.default_rng(5).permutation(7)
    learner = b.get_learner(name)
    whole = learner.fit(x, no_mask(x)).probs
    np.testing.assert_allclose(learner.fit(x[:, perm], no_mask(x)).probs, whole[np.ix_(perm, perm)], atol=1e-10)


@pytest.mark.parametrize("name", SCORES)
def test_n_below_d_gives_finite_scores(name: str) -> None:
    x = correlated(4, 12, seed=6)
    probs = b.get_learner(name).fit(x, no_mask(x)).probs
    assert np.isfinite(probs).all() and probs[~np.eye(12, dtype=bool)].max() > 0


@pytest.mark.parametrize("name", SCORES)
def test_constant_column_scores_zero(name: str) -> None:
    x = correlated(200, 4, seed=7)
    with_constant = np.insert(x, 2, 3.5, axis=1)
    probs = b.get_learner(name).fit(with_constant, no_mask(with_constant)).probs
    assert not probs[2].any() and not probs[:, 2].any()
    alone = b.get_learner(name).fit(x, no_mask(x)).probs
    np.testing.assert_allclose(np.delete(np.delete(probs, 2, 0), 2, 1), alone, atol=1e-12)


@pytest.mark.parametrize("name", SCORES)
def test_all_constant_or_single_variable_scores_zero(name: str) -> None:
    learner = b.get_learner(name)
    constant = np.full((10, 3), 2.0, dtype=np.float32)
    assert not learner.fit(constant, no_mask(constant)).probs.any()
    single = correlated(10, 1, seed=8)
    np.testing.assert_array_equal(learner.fit(single, no_mask(single)).probs, [[0.0]])


@pytest.mark.parametrize("name", SCORES)
def test_observational_rows_rule(name: str) -> None:
    """Interventional rows are left out when enough observational ones remain (the rule of
    PC and GES); with too few they are all used."""
    x = correlated(60, 4, seed=9)
    x[:20] *= 50.0  # interventional rows from another distribution
    mask = no_mask(x)
    mask[:20, 1] = 1
    learner = b.get_learner(name)
    observational = learner.fit(x[20:], no_mask(x[20:])).probs
    np.testing.assert_allclose(learner.fit(x, mask).probs, observational, atol=1e-12)
    assert not np.allclose(learner.fit(x, no_mask(x)).probs, observational, atol=1e-3)
    mask[:57, 0] = 1  # 3 observational rows < d + 1: every row is used
    np.testing.assert_allclose(learner.fit(x, mask).probs, learner.fit(x, no_mask(x)).probs, atol=1e-12)


def test_precision_ranks_chain_edges_above_non_adjacent_pairs() -> None:
    """On a linear-Gaussian chain the precision matrix is tridiagonal: every true link
    must outscore every non-adjacent pair. Marginal correlation cannot do this (x_0 and
    x_2 are strongly correlated), which the second assertion confirms."""
    d = 6
    x = chain_data(d, 2000, seed=10)
    adjacent = np.abs(np.subtract.outer(np.arange(d), np.arange(d))) == 1
    apart = np.abs(np.subtract.outer(np.arange(d), np.arange(d))) > 1
    probs = b.PrecisionMatrix().fit(x, no_mask(x)).probs
    assert probs[adjacent].min() > probs[apart].max()
    corr = b.CorrelationMatrix().fit(x, no_mask(x)).probs
    assert corr[adjacent].min() < corr[apart].max()


@pytest.mark.parametrize("name", SCORES)
def test_too_few_rows_and_bad_input_name_the_argument(name: str) -> None:
    x = correlated(5, 3, seed=11)
    with pytest.raises(ValueError, match=rf"^data must have at least 2 rows for the {name} baseline; got 1"):
        b.get_learner(name).fit(x[:1], no_mask(x[:1]))
    with pytest.raises(ValueError, match=r"^mask must"):
        b.get_learner(name).fit(x, no_mask(x)[:, :2])


def test_fit_tasks_pads_score_baselines_without_samples() -> None:
    x = np.stack([correlated(50, 5, seed=s) for s in range(3)])
    fitted = b.fit_tasks(b.PrecisionMatrix(), x, np.zeros(x.shape, dtype=np.uint8), np.array([5, 3, 4]))
    assert fitted.samples is None
    assert not fitted.probs[1, 3:].any() and not fitted.probs[1, :, 3:].any()
    np.testing.assert_allclose(fitted.probs[1, :3, :3], reference_precision(x[1, :, :3]), atol=1e-10)


# ---------------------------------------------------------------------------------------
# Best-threshold F1 and the ranking-only scoring
# ---------------------------------------------------------------------------------------


def brute_force_best_f1(truth: np.ndarray, probs: np.ndarray) -> float:
    """Every threshold among the off-diagonal values, F1 of 'edge where probs >= t'."""
    off = ~np.eye(len(truth), dtype=bool)
    y, s = truth[off].astype(bool), probs[off]
    best = 0.0
    for t in np.unique(s):
        pred = s >= t
        tp = (pred & y).sum()
        best = max(best, 2 * tp / (pred.sum() + y.sum()))
    return best


def test_best_f1_matches_brute_force_with_ties() -> None:
    rng = np.random.default_rng(12)
    for _ in range(50):
        d = int(rng.integers(2, 7))
        truth = np.triu(rng.random((d, d)) < 0.4, k=1).astype(np.uint8)
        if not 0 < truth.sum() < d * (d - 1):
            continue
        probs = np.round(rng.random((d, d)), 1)  # few distinct values: many ties
        np.fill_diagonal(probs, 0.0)
        assert metrics.edge_best_f1(truth, probs) == pytest.approx(brute_force_best_f1(truth, probs))


def test_best_f1_of_a_symmetric_perfect_skeleton_is_two_thirds() -> None:
    truth = np.triu(np.ones((4, 4), dtype=np.uint8), k=1) * np.eye(4, k=1, dtype=np.uint8)  # a chain
    skeleton = (truth | truth.T).astype(float)
    assert metrics.edge_best_f1(truth, skeleton) == pytest.approx(2 / 3)
    assert metrics.edge_auprc(truth, skeleton) == pytest.approx(0.5)
    assert metrics.edge_best_f1(truth, truth.astype(float)) == 1.0
    assert np.isnan(metrics.edge_best_f1(np.zeros((3, 3)), np.full((3, 3), 0.2)))


def test_score_task_gives_score_learners_only_ranking_metrics() -> None:
    truth = np.eye(4, k=1, dtype=np.uint8)
    probs = b.PrecisionMatrix().fit(chain_data(4, 500, seed=13), no_mask(np.zeros((500, 4)))).probs
    scored = score_task(truth, probs, None, scores_only=True)
    assert tuple(scored) == RANKING_METRICS
    full = score_task(truth, probs, None)
    assert {"edge_f1", "ece", "best_edge_f1"} <= set(full)
    assert all(full[k] == scored[k] for k in RANKING_METRICS)
