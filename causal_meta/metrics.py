"""Graph metrics for causal structure learning.

Conventions shared by every function here:

* ``A[i, j] = 1`` means the edge ``i -> j``. A graph is a ``(d, d)`` array of 0/1 (bool,
  integer or float); a batch of graphs is ``(B, d, d)``.
* Edge probabilities have the shape of the graphs they predict, values in ``[0, 1]``. Their
  diagonal is ignored entirely (models usually mask it, sometimes with NaN), so it is
  neither validated nor used.
* Posterior samples of graphs are ``(S, d, d)`` for one task or ``(B, S, d, d)`` for a batch.
* Comparison metrics never look at the diagonal of a graph: a self-loop is not an edge
  that can be right or wrong. Validity checks (:func:`is_dag`, :func:`sid`) do look at it,
  because a self-loop makes a graph cyclic.
* One task in, a Python scalar out; a batch in, a numpy array of one value per task out,
  except :func:`edge_ece`, which pools the batch on purpose (see there).
* Undefined values are NaN, never a silent 0 or 1, so that an average has to skip them
  explicitly (``np.nanmean``) rather than be biased by a made-up value.

Bad input raises ``ValueError`` naming the argument, what was found and what is allowed.

SID is delegated to gadjid (Rust, Henckel, Würtzen & Weichwald 2024), which computes the
structural intervention distance of Peters & Bühlmann (2015) in milliseconds at d = 100.
AUROC and AUPRC are delegated to scikit-learn.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from typing import NamedTuple

import gadjid
import numpy as np
from numpy.typing import ArrayLike, NDArray
from sklearn.metrics import average_precision_score, precision_recall_curve, roc_auc_score

__all__ = [
    "EdgeScores",
    "binarize",
    "edge_auprc",
    "edge_auroc",
    "edge_best_f1",
    "edge_ece",
    "edge_precision_recall_f1",
    "expected_edge_f1",
    "expected_shd",
    "graph_nll",
    "is_dag",
    "orientation_accuracy",
    "shd",
    "shd_reversal_as_two",
    "sid",
    "skeleton_f1",
    "summarize",
    "valid_dag_fraction",
]

Scalar = float | int | bool
Values = Scalar | NDArray
Floats = float | NDArray[np.float64]  # one per task; a Python float for one task
Counts = int | NDArray[np.int64]

# Graphs checked for acyclicity at once; bounds the float32 copy to ~40 MB at d = 100.
_DAG_CHUNK = 1024


# ---------------------------------------------------------------------------------------
# Validation: every public function goes through these, so errors read the same.
# ---------------------------------------------------------------------------------------


# Allowed shapes by number of dimensions, as named in error messages.
_GRAPHS = {2: "(d, d)", 3: "(B, d, d)"}
_SAMPLES = {3: "(S, d, d)", 4: "(B, S, d, d)"}
_ANY = {**_GRAPHS, 4: "(B, S, d, d)"}


def _square(name: str, x: ArrayLike, shapes: dict[int, str], what: str) -> NDArray:
    arr = np.asarray(x)
    if arr.ndim not in shapes or arr.shape[-1] != arr.shape[-2]:
        allowed = " or ".join(shapes.values())
        raise ValueError(f"{name} must be {what} of shape {allowed}; got shape {arr.shape}")
    if arr.shape[-1] == 0:
        raise ValueError(f"{name} must have at least one node (d >= 1); got shape {arr.shape}")
    if arr.dtype.kind not in "biuf":
        raise ValueError(f"{name} must be a bool, integer or float array; got dtype {arr.dtype}")
    return arr


def _graphs(
    name: str, x: ArrayLike, shapes: dict[int, str] = _GRAPHS, what: str = "adjacency matrices"
) -> NDArray[np.bool_]:
    """0/1 array -> bool array; anything else (2, 0.5, NaN) is an error, not a threshold."""
    arr = _square(name, x, shapes, what)
    if arr.dtype.kind != "b":
        bad = (arr != 0) & (arr != 1)
        if bad.any():
            idx = tuple(int(i) for i in np.argwhere(bad)[0])
            found = arr[idx].item()
            raise ValueError(f"{name} must contain only 0 and 1; found {found!r} at index {idx}")
    return arr.astype(bool)


def _samples(x: ArrayLike) -> NDArray[np.bool_]:
    arr = _graphs("samples", x, _SAMPLES, "posterior samples of graphs")
    if arr.shape[-3] == 0:
        raise ValueError(f"samples must hold at least one sample (S >= 1); got shape {arr.shape}")
    return arr


def _probs(name: str, x: ArrayLike) -> NDArray[np.float64]:
    """Probabilities with the diagonal set to 0, after checking only the off-diagonal."""
    arr = _square(name, x, _GRAPHS, "edge probabilities").astype(np.float64)
    off = arr[..., _off_diagonal(arr.shape[-1])]
    bad = ~((off >= 0.0) & (off <= 1.0))  # also catches NaN
    if bad.any():
        first = off[bad][0].item()
        raise ValueError(
            f"{name} must lie in [0, 1] off the diagonal (the diagonal is ignored); found {first!r}"
        )
    arr[..., np.arange(arr.shape[-1]), np.arange(arr.shape[-1])] = 0.0
    return arr


def _same_shape(name_a: str, a: NDArray, name_b: str, b: NDArray) -> None:
    if a.shape != b.shape:
        raise ValueError(
            f"{name_a} and {name_b} must have the same shape; got {a.shape} and {b.shape}"
        )


def _samples_match(true: NDArray, samples: NDArray) -> None:
    """(d, d) goes with (S, d, d); (B, d, d) with (B, S, d, d)."""
    expected = (*true.shape[:-2], "S", *true.shape[-2:])
    if samples.shape[:-3] + samples.shape[-2:] != true.shape or samples.ndim != true.ndim + 1:
        raise ValueError(
            f"samples must have shape ({', '.join(map(str, expected))}) to match true of shape "
            f"{true.shape}; got {samples.shape}"
        )


def _predict(probs: NDArray[np.float64], threshold: float) -> NDArray[np.bool_]:
    """The one thresholding rule (strict ``>``) used by every point metric."""
    if not (isinstance(threshold, numbers.Real) and 0.0 <= threshold <= 1.0):
        raise ValueError(f"threshold must be a number in [0, 1]; got {threshold!r}")
    return probs > threshold


def _off_diagonal(d: int) -> NDArray[np.bool_]:
    return ~np.eye(d, dtype=bool)


def _out(values: NDArray, single: bool) -> Values:
    """A scalar for one task, an array for a batch: callers never unwrap by hand."""
    return values.item() if single else values


# ---------------------------------------------------------------------------------------
# Thresholding
# ---------------------------------------------------------------------------------------


def binarize(probs: ArrayLike, threshold: float = 0.5) -> NDArray[np.bool_]:
    """Graph(s) predicted at ``threshold``: an edge where ``probs > threshold``.

    Strict, so that 0.5 keeps only edges more likely than not and ``threshold=1`` predicts
    none. The diagonal is always False. Shape ``(d, d)`` or ``(B, d, d)`` is kept.
    """
    p = _probs("probs", probs)
    return _predict(p, threshold)


# ---------------------------------------------------------------------------------------
# Structural Hamming distances
# ---------------------------------------------------------------------------------------


def _pair_mismatches(true: NDArray[np.bool_], pred: NDArray[np.bool_]) -> NDArray[np.int64]:
    off = _off_diagonal(true.shape[-1])
    wrong = (true != pred) & off
    either_direction = wrong | np.swapaxes(wrong, -1, -2)
    return either_direction.sum(axis=(-2, -1)) // 2


def _entry_mismatches(true: NDArray[np.bool_], pred: NDArray[np.bool_]) -> NDArray[np.int64]:
    off = _off_diagonal(true.shape[-1])
    return ((true != pred) & off).sum(axis=(-2, -1))


def shd(true: ArrayLike, pred: ArrayLike) -> Counts:
    """Structural Hamming distance with a reversed edge counted **once**.

    The number of unordered node pairs {i, j} whose edge state differs, where the state is
    one of: no edge, i -> j, j -> i, both. So a missing, an extra or a reversed edge each
    cost 1, and a two-cycle where the truth has one edge costs 1. This is the textbook SHD
    (the minimal number of edge insertions, deletions and reversals). For BCNP's convention
    use :func:`shd_reversal_as_two`.
    """
    t = _graphs("true", true)
    p = _graphs("pred", pred)
    _same_shape("true", t, "pred", p)
    return _out(_pair_mismatches(t, p), t.ndim == 2)


def shd_reversal_as_two(true: ArrayLike, pred: ArrayLike) -> Counts:
    """Structural Hamming distance with a reversed edge counted **twice**, as BCNP does.

    The number of off-diagonal entries where the adjacency matrices differ (the plain
    Hamming distance of the matrices): a reversal is one missing plus one extra entry.
    Always ``shd <= shd_reversal_as_two <= 2 * shd``.
    """
    t = _graphs("true", true)
    p = _graphs("pred", pred)
    _same_shape("true", t, "pred", p)
    return _out(_entry_mismatches(t, p), t.ndim == 2)


def expected_shd(true: ArrayLike, samples: ArrayLike, *, reversal_as_two: bool = False) -> Floats:
    """Mean SHD between the true graph and posterior samples of graphs.

    ``true`` is ``(d, d)`` with ``samples`` ``(S, d, d)``, or ``(B, d, d)`` with
    ``(B, S, d, d)``. ``reversal_as_two`` picks :func:`shd_reversal_as_two` instead of
    :func:`shd`; it is keyword-only so that the convention is visible at the call site.
    """
    t = _graphs("true", true)
    s = _samples(samples)
    _samples_match(t, s)
    distance = _entry_mismatches if reversal_as_two else _pair_mismatches
    per_sample = distance(np.expand_dims(t, -3), s)
    return _out(per_sample.mean(axis=-1), t.ndim == 2)


# ---------------------------------------------------------------------------------------
# Edge, skeleton and orientation scores
# ---------------------------------------------------------------------------------------


class EdgeScores(NamedTuple):
    """Precision, recall and F1 of predicted edges (scalars, or arrays for a batch)."""

    precision: Values
    recall: Values
    f1: Values


def _prf(tp: NDArray, n_pred: NDArray, n_true: NDArray) -> tuple[NDArray, NDArray, NDArray]:
    """Precision, recall, F1 with an empty denominator scoring 1 (nothing claimed wrongly).

    With this rule F1 = 2PR/(P+R) holds everywhere: empty truth and empty prediction give
    P = R = F1 = 1; an empty prediction of a non-empty truth gives P = 1, R = 0, F1 = 0.
    It matches scikit-learn's ``zero_division=1.0``.
    """
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(n_pred > 0, tp / n_pred, 1.0)
        recall = np.where(n_true > 0, tp / n_true, 1.0)
        denom = n_pred + n_true
        f1 = np.where(denom > 0, 2.0 * tp / denom, 1.0)
    return precision, recall, f1


def _edge_counts(
    true: NDArray[np.bool_], pred: NDArray[np.bool_]
) -> tuple[NDArray, NDArray, NDArray]:
    off = _off_diagonal(true.shape[-1])
    t, p = true & off, pred & off
    return (t & p).sum(axis=(-2, -1)), p.sum(axis=(-2, -1)), t.sum(axis=(-2, -1))


def edge_precision_recall_f1(
    true: ArrayLike, probs: ArrayLike, threshold: float = 0.5
) -> EdgeScores:
    """Directed-edge precision, recall and F1 of ``probs > threshold``.

    A binary graph is a valid ``probs`` (0 and 1 are probabilities), so this also scores
    point estimates. A reversed edge is both a false positive and a false negative.
    Empty denominators score 1 (see ``_prf``), so an empty truth predicted empty is perfect.
    """
    t = _graphs("true", true)
    p = _probs("probs", probs)
    _same_shape("true", t, "probs", p)
    scores = _prf(*_edge_counts(t, _predict(p, threshold)))
    single = t.ndim == 2
    return EdgeScores(*(_out(s, single) for s in scores))


def expected_edge_f1(true: ArrayLike, samples: ArrayLike) -> Floats:
    """Mean directed-edge F1 over posterior samples (shapes as in :func:`expected_shd`)."""
    t = _graphs("true", true)
    s = _samples(samples)
    _samples_match(t, s)
    _, _, f1 = _prf(*_edge_counts(np.expand_dims(t, -3), s))
    return _out(f1.mean(axis=-1), t.ndim == 2)


def _skeleton_upper(graphs: NDArray[np.bool_]) -> NDArray[np.bool_]:
    """Undirected adjacency, each unordered pair counted once (strict upper triangle)."""
    sym = graphs | np.swapaxes(graphs, -1, -2)
    return sym & np.triu(np.ones(graphs.shape[-2:], dtype=bool), k=1)


def skeleton_f1(true: ArrayLike, probs: ArrayLike, threshold: float = 0.5) -> Floats:
    """F1 of the undirected skeleton of ``probs > threshold`` against the true skeleton.

    Pair {i, j} is predicted adjacent if either direction passes the threshold, so a
    reversed edge counts as found: this isolates adjacency errors from orientation errors
    (see :func:`orientation_accuracy`). Empty truth predicted empty scores 1.
    """
    t = _graphs("true", true)
    p = _probs("probs", probs)
    _same_shape("true", t, "probs", p)
    ts, ps = _skeleton_upper(t), _skeleton_upper(_predict(p, threshold))
    tp = (ts & ps).sum(axis=(-2, -1))
    _, _, f1 = _prf(tp, ps.sum(axis=(-2, -1)), ts.sum(axis=(-2, -1)))
    return _out(f1, t.ndim == 2)


def orientation_accuracy(true: ArrayLike, probs: ArrayLike, threshold: float = 0.5) -> Floats:
    """Share of the true edges found in the skeleton that also have the right direction.

    Let P = ``probs > threshold`` and off-diagonal. Among true edges i -> j with
    ``P[i, j] or P[j, i]`` (adjacency recovered), the share with ``P[i, j] and not
    P[j, i]``. A two-cycle is not an orientation, so it counts as wrong. NaN when no true
    edge is recovered (no orientation to judge), including when the truth is empty.
    """
    t = _graphs("true", true)
    p = _probs("probs", probs)
    _same_shape("true", t, "probs", p)
    pred = _predict(p, threshold)
    back = np.swapaxes(pred, -1, -2)
    recovered = (t & (pred | back)).sum(axis=(-2, -1))
    right = (t & pred & ~back).sum(axis=(-2, -1))
    with np.errstate(invalid="ignore", divide="ignore"):
        acc = np.where(recovered > 0, right / recovered, np.nan)
    return _out(acc, t.ndim == 2)


# ---------------------------------------------------------------------------------------
# Ranking scores
# ---------------------------------------------------------------------------------------


def _ranking(
    true: ArrayLike, probs: ArrayLike, score: Callable[[NDArray, NDArray], float]
) -> Floats:
    t = _graphs("true", true)
    p = _probs("probs", probs)
    _same_shape("true", t, "probs", p)
    off = _off_diagonal(t.shape[-1])
    n_tasks, n_entries = math.prod(t.shape[:-2]), int(off.sum())
    labels = t[..., off].reshape(n_tasks, n_entries)
    scores = p[..., off].reshape(n_tasks, n_entries)
    values = np.array(
        [score(y, s) if 0 < y.sum() < y.size else np.nan for y, s in zip(labels, scores)],
        dtype=np.float64,
    )
    return _out(values, t.ndim == 2)


def edge_auroc(true: ArrayLike, probs: ArrayLike) -> Floats:
    """Area under the ROC curve of the off-diagonal edge probabilities (scikit-learn).

    NaN when the truth has no edge or every off-diagonal edge, since a ranking needs both
    classes. d = 1 has no off-diagonal entry and is NaN too.
    """
    return _ranking(true, probs, roc_auc_score)


def edge_auprc(true: ArrayLike, probs: ArrayLike) -> Floats:
    """Average precision (area under the precision-recall curve, scikit-learn) of edges.

    Step-wise average precision, not trapezoidal interpolation, which is optimistic.
    NaN in the same cases as :func:`edge_auroc`.
    """
    return _ranking(true, probs, average_precision_score)


def _best_f1(labels: NDArray, scores: NDArray) -> float:
    precision, recall, _ = precision_recall_curve(labels, scores)
    total = precision + recall
    return float(np.max(np.divide(2 * precision * recall, total, out=np.zeros_like(total), where=total > 0)))


def edge_best_f1(true: ArrayLike, probs: ArrayLike) -> Floats:
    """Directed-edge F1 at the best threshold: the largest F1 of "edge where probs >= t"
    over every t among the off-diagonal values (scikit-learn's precision-recall curve).

    It asks only for a ranking, so it scores learners whose outputs are scores rather
    than probabilities, where a fixed 0.5 means nothing; it is optimistic, the threshold
    being chosen with the truth in hand. Tied values enter together. NaN in the same
    cases as :func:`edge_auroc`.
    """
    return _ranking(true, probs, _best_f1)


# ---------------------------------------------------------------------------------------
# Calibration
# ---------------------------------------------------------------------------------------


def edge_ece(true: ArrayLike, probs: ArrayLike, n_bins: int = 10) -> float:
    """Expected calibration error of the off-diagonal edge probabilities.

    Equal-width bins ``[k/n, (k+1)/n)`` (the last one closed at 1); ECE is the sum over bins
    of ``(bin size / N) * |mean label - mean probability|``. A batch is **pooled** into one
    number: calibration describes the predictor across many entries, and one small graph
    has too few entries per bin to say much. Call it per task for per-task values.
    NaN when there is no off-diagonal entry (d = 1).
    """
    if not (isinstance(n_bins, (int, np.integer)) and not isinstance(n_bins, bool) and n_bins >= 1):
        raise ValueError(f"n_bins must be an integer >= 1; got {n_bins!r}")
    t = _graphs("true", true)
    p = _probs("probs", probs)
    _same_shape("true", t, "probs", p)
    off = _off_diagonal(t.shape[-1])
    y = t[..., off].ravel().astype(np.float64)
    q = p[..., off].ravel()
    if q.size == 0:
        return math.nan
    bins = np.minimum(np.floor(q * n_bins).astype(np.int64), n_bins - 1)
    gap_per_bin = np.bincount(bins, weights=y - q, minlength=n_bins)
    return float(np.abs(gap_per_bin).sum() / q.size)


def graph_nll(true: ArrayLike, probs: ArrayLike, eps: float = 1e-6) -> Floats:
    """Negative log-likelihood (nats) of the true graph under independent Bernoulli edges.

    ``-sum_{i != j} [A_ij log p_ij + (1 - A_ij) log(1 - p_ij)]``, summed (not averaged) so
    that it is the NLL of the whole graph. Probabilities are clipped to ``[eps, 1 - eps]``
    first, so a confident mistake costs at most ``-log(eps)`` (13.8 nats at 1e-6) instead
    of infinity; this clipping is the only change made to the input.
    """
    if not (isinstance(eps, numbers.Real) and 0.0 < eps < 0.5):
        raise ValueError(f"eps must be a number in (0, 0.5); got {eps!r}")
    t = _graphs("true", true)
    p = _probs("probs", probs)
    _same_shape("true", t, "probs", p)
    q = np.clip(p, eps, 1.0 - eps)
    log_lik = np.where(t, np.log(q), np.log1p(-q))
    nll = -(log_lik * _off_diagonal(t.shape[-1])).sum(axis=(-2, -1))
    return _out(nll, t.ndim == 2)


# ---------------------------------------------------------------------------------------
# Acyclicity and SID
# ---------------------------------------------------------------------------------------


def _acyclic(graphs: NDArray[np.bool_]) -> NDArray[np.bool_]:
    """Acyclicity of each graph in ``(N, d, d)`` by peeling off sources, all graphs at once.

    Each round removes every node with no incoming edge from the remaining nodes; a graph is
    a DAG iff this empties it. Rounds = longest path + 1 <= d, each one batched matmul.
    """
    n, d = graphs.shape[0], graphs.shape[-1]
    result = np.empty(n, dtype=bool)
    for start in range(0, n, _DAG_CHUNK):
        adj = graphs[start : start + _DAG_CHUNK].astype(np.float32)
        alive = np.ones(adj.shape[:2], dtype=np.float32)
        for _ in range(d):
            in_degree = np.matmul(alive[:, None, :], adj)[:, 0, :]
            sources = (in_degree == 0) & (alive > 0)
            if not sources.any():
                break
            alive[sources] = 0.0
        result[start : start + _DAG_CHUNK] = ~(alive > 0).any(axis=1)
    return result


def is_dag(graphs: ArrayLike) -> bool | NDArray[np.bool_]:
    """Whether each graph is acyclic; a self-loop (diagonal 1) is a cycle.

    Accepts ``(d, d)``, ``(B, d, d)`` or ``(B, S, d, d)`` and returns a bool or a bool array
    of the leading shape.
    """
    g = _graphs("graphs", graphs, _ANY)
    flat = _acyclic(g.reshape(-1, *g.shape[-2:]))
    return _out(flat.reshape(g.shape[:-2]), g.ndim == 2)


def valid_dag_fraction(samples: ArrayLike) -> Floats:
    """Share of posterior samples that are DAGs: (S, d, d) -> float, (B, S, d, d) -> (B,)."""
    s = _samples(samples)
    ok = _acyclic(s.reshape(-1, *s.shape[-2:])).reshape(s.shape[:-2])
    return _out(ok.mean(axis=-1), s.ndim == 3)


def _require_dags(name: str, graphs: NDArray[np.bool_]) -> None:
    ok = _acyclic(graphs)
    if not ok.all():
        where = "" if graphs.shape[0] == 1 else f" (batch index {int(np.argmin(ok))})"
        raise ValueError(
            f"{name} must be a DAG (no cycle, no self-loop) for SID; found a cycle{where}"
        )


def sid(true: ArrayLike, pred: ArrayLike) -> Counts:
    """Structural intervention distance SID(true, pred) of Peters & Bühlmann (2015).

    The number of ordered pairs (i, j), i != j, for which adjusting for the parents of i in
    ``pred`` does not give the interventional distribution p(x_j | do(x_i)) of ``true``
    (if j is a parent of i in ``pred``, pred claims no effect, right iff j is not a
    descendant of i in ``true``). Between 0 and d(d-1); not symmetric, and 0 for any
    ``pred`` that contains ``true``. Both graphs must be DAGs (checked here, since gadjid
    would abort on a cycle); computed by gadjid, milliseconds at d = 100.
    """
    t = _graphs("true", true)
    p = _graphs("pred", pred)
    _same_shape("true", t, "pred", p)
    t3, p3 = t.reshape(-1, *t.shape[-2:]), p.reshape(-1, *p.shape[-2:])
    _require_dags("true", t3)
    _require_dags("pred", p3)
    counts = np.array(
        [
            gadjid.sid(
                np.ascontiguousarray(a, dtype=np.int8),
                np.ascontiguousarray(b, dtype=np.int8),
                edge_direction="from row to column",
            )[1]
            for a, b in zip(t3, p3)
        ],
        dtype=np.int64,
    )
    return _out(counts, t.ndim == 2)


# ---------------------------------------------------------------------------------------
# Summary
# ---------------------------------------------------------------------------------------


def _mean(values: Values) -> float:
    """Mean over the tasks where a metric is defined; NaN (silently) if it is nowhere."""
    arr = np.asarray(values, dtype=np.float64)
    defined = arr[~np.isnan(arr)]
    return float(defined.mean()) if defined.size else math.nan


def summarize(
    true: ArrayLike,
    probs: ArrayLike,
    samples: ArrayLike | None = None,
    *,
    threshold: float = 0.5,
    n_bins: int = 10,
    eps: float = 1e-6,
) -> dict[str, float]:
    """All metrics for one task or a batch, as floats averaged over tasks (for logging).

    Point metrics score ``probs > threshold``. Metrics that are NaN for some tasks
    (AUROC, AUPRC, orientation accuracy, SID) are averaged over the tasks where they are
    defined; ``sid`` skips tasks whose thresholded graph has a cycle and
    ``thresholded_dag_fraction`` reports how many were kept. ``ece`` is pooled over the
    batch. With ``samples`` (``(S, d, d)`` or ``(B, S, d, d)``), the posterior metrics
    ``expected_shd``, ``expected_shd_reversal_as_two``, ``expected_edge_f1`` and
    ``valid_dag_fraction`` are added.
    """
    t = _graphs("true", true)
    p = _probs("probs", probs)
    _same_shape("true", t, "probs", p)
    t3, p3 = t.reshape(-1, *t.shape[-2:]), p.reshape(-1, *p.shape[-2:])
    pred = binarize(p3, threshold)
    dag = _acyclic(pred)
    sids = np.full(len(t3), np.nan)
    if dag.any():
        sids[dag] = sid(t3[dag], pred[dag])
    scores = edge_precision_recall_f1(t3, p3, threshold)
    out = {
        "shd": _mean(shd(t3, pred)),
        "shd_reversal_as_two": _mean(shd_reversal_as_two(t3, pred)),
        "sid": _mean(sids),
        "thresholded_dag_fraction": _mean(dag),
        "edge_precision": _mean(scores.precision),
        "edge_recall": _mean(scores.recall),
        "edge_f1": _mean(scores.f1),
        "skeleton_f1": _mean(skeleton_f1(t3, p3, threshold)),
        "orientation_accuracy": _mean(orientation_accuracy(t3, p3, threshold)),
        "auroc": _mean(edge_auroc(t3, p3)),
        "auprc": _mean(edge_auprc(t3, p3)),
        "ece": edge_ece(t3, p3, n_bins),
        "graph_nll": _mean(graph_nll(t3, p3, eps)),
    }
    if samples is not None:
        s = _samples(samples)
        _samples_match(t, s)
        s4 = s.reshape(len(t3), *s.shape[-3:])
        out["expected_shd"] = _mean(expected_shd(t3, s4))
        out["expected_shd_reversal_as_two"] = _mean(expected_shd(t3, s4, reversal_as_two=True))
        out["expected_edge_f1"] = _mean(expected_edge_f1(t3, s4))
        out["valid_dag_fraction"] = _mean(valid_dag_fraction(s4))
    return out
