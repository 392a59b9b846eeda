"""Global statistics of a task, per pair of variables, as an extra input of the structure
learners (``model.pair_statistics``).

A transformer that reads one cell at a time has to rediscover second moments from the
rows, and conditional (in)dependence, which a linear-Gaussian graph is all about, is a
statement about the *inverse* covariance: hard to reach by attention and pooling alone.
:func:`pairwise_statistics` computes them in closed form, batched and masked, inside the
model's forward pass, and :class:`PairHead` feeds them into the model's pairwise part.

* **Rows.** The observational rows (no real variable intervened on): an intervention
  cuts the intervened variable from its parents and so changes the correlations the
  graph implies. A task with fewer than :data:`MIN_OBSERVATIONAL_ROWS` of them uses all
  its rows instead (a covariance of a handful of rows is mostly noise, and interventional
  rows still carry the dependencies of the variables not intervened on); with no
  observational rows at all (``n_obs = 0``) that is the only choice.
* **Standardising.** Each real variable is centred and scaled to unit variance over the
  chosen rows. A column whose spread is below ``1e-5`` of its largest centred magnitude
  (constant up to float rounding) is set to zero: its correlations are 0 and it enters
  the precision as an independent unit-variance variable, so constant columns and tasks
  of one row give finite features.
* **Shrinkage.** The correlation matrix ``R`` is shrunk towards the identity,
  ``(1 - delta) R + delta I``, with the Ledoit-Wolf choice of ``delta`` for this target
  (the off-diagonal form of Schaefer and Strimmer's target "D"): the estimated sampling
  variance of the off-diagonal correlations over their squared sum,
  ``delta = sum_{i != j} Var(r_ij) / sum_{i != j} r_ij^2``, clipped to
  ``[MIN_SHRINKAGE, 1]``, with ``Var(r_ij) = (mean_k (z_ki z_kj)^2 - r_ij^2) / n``. Few
  rows against many variables give a large ``delta``, so the inverse exists for
  ``n < d``; the floor bounds every precision entry by ``1 / MIN_SHRINKAGE``.
* **Padding.** Padded variables (``node_mask`` False) are zero columns, outside the
  shrinkage sums, and the shrunk matrix is the identity on them, so the precision of the
  real block is the one of the real variables alone; padded rows (``row_mask`` False)
  are left out of every sum. Features of pairs with a padded variable are 0.
* **Precision.** Everything runs with autocast off in float32 (float64 for float64
  data), whatever the model's autocast dtype: a Cholesky factorisation in bf16 would
  lose the very partial correlations it is for.

The features of the ordered pair (i, j), :data:`FEATURES` of them: the correlation
``r_ij``; the partial correlation ``-P_ij / sqrt(P_ii P_jj)`` and the entry ``P_ij`` of
the shrunk precision ``P`` (``sign * log1p(|.|)``, so that near-collinear tasks stay in
range); ``log P_ii`` and ``log P_jj`` (``P_ii = 1 / (1 - R^2)`` of regressing i on all
the others: how well the rest explains each end); and ``delta``, how far the task's
estimate is from its rows. All are equivariant under permuting the variables and
invariant under permuting the rows.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = ["FEATURES", "MIN_OBSERVATIONAL_ROWS", "MIN_SHRINKAGE", "PairHead", "pairwise_statistics",
           "shrunk_correlation", "statistics_rows"]

FEATURES = 6
"""Features per ordered pair of variables (see the module docstring)."""

MIN_OBSERVATIONAL_ROWS = 10
"""Below this many observational rows a task's statistics use all its rows."""

MIN_SHRINKAGE = 1e-3
"""Least shrinkage towards the identity: the shrunk correlation's eigenvalues are at least
this, its inverse's at most ``1 / MIN_SHRINKAGE``."""

# A column counts as constant when its standard deviation is at most this fraction of its
# largest centred magnitude (float32 rounding of a constant column leaves about 1e-7).
_CONSTANT = 1e-5


def statistics_rows(intervened: Tensor, node_mask: Tensor, row_mask: Tensor | None = None) -> Tensor:
    """Bool (B, n): the rows the statistics of each task use, its observational rows (no
    real variable intervened on; padded variables' flags are ignored) among ``row_mask``
    (default all rows), or all of ``row_mask`` where fewer than
    :data:`MIN_OBSERVATIONAL_ROWS` are observational."""
    rows = torch.ones(intervened.shape[:2], dtype=torch.bool, device=intervened.device) if row_mask is None \
        else row_mask
    observational = rows & ~(intervened.bool() & node_mask[:, None, :]).any(dim=-1)
    enough = observational.sum(dim=-1, keepdim=True) >= MIN_OBSERVATIONAL_ROWS
    return torch.where(enough, observational, rows)


def _standardise(data: Tensor, weights: Tensor, count: Tensor) -> Tensor:
    """Columns of ``data`` (B, n, d) centred and scaled to unit variance over the rows and
    variables where ``weights`` (B, n, d) is 1, zero elsewhere and on constant columns."""
    x = torch.where(weights > 0, data, 0.0)  # padding may hold anything, even inf
    mean = x.sum(dim=1, keepdim=True) / count[:, None, None]
    centred = (x - mean) * weights
    var = centred.square().sum(dim=1, keepdim=True) / count[:, None, None]
    with torch.no_grad():
        spread = centred.abs().amax(dim=1, keepdim=True)
        varying = var > (_CONSTANT * spread).square()
    # sqrt only where varying: the gradient of sqrt at 0 would be inf, and 0 * inf is NaN.
    return centred * varying / torch.where(varying, var, 1.0).sqrt()


def shrunk_correlation(data: Tensor, rows: Tensor, node_mask: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """The correlation matrix (B, d, d) of ``data`` (B, n, d) over ``rows`` (B, n) among
    the real variables (unit diagonal, zero rows and columns on padding), its shrunk
    version ``(1 - delta) R + delta I`` (the identity on padding), and ``delta`` (B,);
    see the module docstring. Computed in the dtype of ``data``."""
    weights = rows[:, :, None] & node_mask[:, None, :]
    count = rows.sum(dim=-1).clamp_min(1).to(data.dtype)
    z = _standardise(data, weights.to(data.dtype), count)
    gram = z.transpose(-1, -2) @ z / count[:, None, None]  # diagonal: 1, or 0 for constant / padded columns
    eye = torch.eye(data.shape[-1], dtype=torch.bool, device=data.device)
    off = gram.masked_fill(eye, 0.0)
    off_squares = off.square().sum(dim=(-1, -2))
    # sum_k sum_{i != j} (z_ki z_kj)^2 = sum_k (|z_k|^4 - sum_i z_ki^4)
    fourth = (z.square().sum(dim=-1).square() - z.pow(4).sum(dim=-1)).sum(dim=-1) / count
    variance = (fourth - off_squares).clamp_min(0.0) / count
    delta = torch.where(off_squares > 0, variance / off_squares.clamp_min(torch.finfo(data.dtype).tiny), 1.0)
    delta = delta.clamp(MIN_SHRINKAGE, 1.0)
    real = node_mask.to(data.dtype)
    correlation = off + torch.diag_embed(real)
    shrunk = (1.0 - delta)[:, None, None] * off + torch.eye(data.shape[-1], dtype=data.dtype, device=data.device)
    return correlation, shrunk, delta


def _signed_log(x: Tensor) -> Tensor:
    return torch.sign(x) * torch.log1p(x.abs())


def pairwise_statistics(data: Tensor, intervened: Tensor, node_mask: Tensor, row_mask: Tensor | None = None
                        ) -> Tensor:
    """The :data:`FEATURES` statistics (B, d, d, FEATURES) of every ordered pair of
    variables of the tasks ``data`` (B, n, d) with intervention mask ``intervened`` (B,
    n, d), real variables ``node_mask`` (B, d) and real rows ``row_mask`` (B, n, default
    all), from the rows of :func:`statistics_rows`; 0 for pairs with a padded variable.
    Float32 (float64 for float64 data) with autocast off; differentiable in ``data``."""
    dtype = torch.promote_types(data.dtype, torch.float32)
    with torch.autocast(data.device.type, enabled=False):
        rows = statistics_rows(intervened, node_mask, row_mask)
        correlation, shrunk, delta = shrunk_correlation(data.to(dtype), rows, node_mask)
        precision = torch.cholesky_inverse(torch.linalg.cholesky(shrunk))
        diagonal = precision.diagonal(dim1=-2, dim2=-1)  # >= 1: the shrunk correlation has a unit diagonal
        root = diagonal.sqrt()
        partial = -precision / (root[:, :, None] * root[:, None, :])
        log_diagonal = diagonal.log()
        d = data.shape[-1]
        features = torch.stack((
            correlation,
            partial,
            _signed_log(precision),
            log_diagonal[:, :, None].expand(-1, -1, d),
            log_diagonal[:, None, :].expand(-1, d, -1),
            delta[:, None, None].expand(-1, d, d),
        ), dim=-1)
        pairs = node_mask[:, :, None] & node_mask[:, None, :]
        return features * pairs[..., None]


class PairHead(nn.Module):
    """One logit term per ordered pair (i, j) from the task's statistics of the pair and
    the embeddings of i and j: ``w . relu(E(f_ij) + A h_i + C h_j)``, with ``E`` a
    two-layer MLP from the :data:`FEATURES` statistics to ``width``, ``h`` the variables'
    embeddings after a LayerNorm and ``A``, ``C`` linear maps. Reading the embeddings lets
    the model weigh a statistic by what it has learnt about the two variables (a partial
    correlation says much about a linear mechanism, less about a periodic one).

    ``w`` starts at zero, so that a model with the head starts from the same logits as one
    without it (at its sparse prior), and it is a plain parameter, outside any re-
    initialisation of the model's linear layers.
    """

    def __init__(self, width: int) -> None:
        super().__init__()
        self.embed = nn.Sequential(nn.Linear(FEATURES, width), nn.ReLU(), nn.Linear(width, width))
        self.norm = nn.LayerNorm(width)
        self.left = nn.Linear(width, width, bias=False)
        self.right = nn.Linear(width, width, bias=False)
        self.out = nn.Parameter(torch.zeros(width))

    def forward(self, features: Tensor, z: Tensor) -> Tensor:
        """Float32 (B, d, d) from ``features`` (B, d, d, FEATURES) and the variables'
        embeddings ``z`` (B, d, width); entries of padded pairs are arbitrary (the models
        mask them)."""
        h = self.norm(z)
        pair = self.embed(features) + self.left(h)[:, :, None] + self.right(h)[:, None, :]
        # The sum over the width in float32: a logit term of bf16 would be rounded to
        # 1/128 of its magnitude, coarser than the logits' own float32 arithmetic.
        with torch.autocast(z.device.type, enabled=False):
            return torch.relu(pair).float() @ self.out
