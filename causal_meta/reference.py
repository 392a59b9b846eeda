"""A plain numpy sampler of the engine's SCM families, for tests and benchmarks only.

The library's data path is the Rust engine (:mod:`causal_meta.scm`). This module writes
the same distributions a second time, independently and in vectorised numpy, for two
uses: tests compare the engine with it *in distribution* (the random streams differ, so
bytes never match), and benchmarks time the engine against a careful numpy sampler, the
alternative a user would otherwise write. Nothing outside ``tests/`` and ``benchmarks/``
should import it.

What is mirrored (see ``rust/src/{graph,mechanism,noise,dist,family,scm}.rs``):

* graphs: every generator, built in construction labels with edges u -> v, u < v, then
  relabelled by a uniformly random permutation; Barabasi-Albert and Watts-Strogatz come
  from networkx, which the engine follows (BA starts from a star on m + 1 nodes);
* mechanisms: the same parameter laws and scalings (MLP ``W1 / sqrt(k_in)`` and
  ``W2 / sqrt(hidden)``; RFF ``omega / length_scale`` and amplitude
  ``output_scale * sqrt(2 / F) * N(0, 1)``), one mixture component drawn per node;
* noise: one law and one scale per node, with the engine's meaning of ``scale``;
* sampling: ancestral, columns in topological order; ``do`` as a dict (every row) or as
  per-row ``(mask, values)``; interventional task rows each set one uniform node.

Precision: float32 for data, noise and mechanism parameters, as the engine (parameters
are drawn in float64 and rounded to float32, as the engine does); only the inverse
(I - W)^-1 of linear SCMs is formed in float64. float32 is also numpy's fastest choice,
so the speed comparison does not handicap it.

Speed choices: numpy's Generator draws all noise of a call in one block per noise law;
each node is one matrix product over all rows (``W1 @ parents`` for an MLP layer,
``omega @ parents`` for RFF); an SCM whose mechanisms are all linear is sampled in closed
form, X = (noise + b) (I - W)^-1, with ``do`` cutting the intervened nodes' incoming
edges. Known differences from the engine: the random streams; Gaussian noise is not
truncated (the engine's Box-Muller never exceeds 5.9 sigma); inputs are not validated
beyond what numpy checks (validate specs with the engine).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Union

import networkx as nx
import numpy as np
from scipy.special import expit

from causal_meta.scm import TaskBatch
from causal_meta.specs import (
    Bipartite,
    Butterfly,
    Chain,
    Collider,
    Diamond,
    Dist,
    Er,
    Family,
    Fixed,
    Fork,
    Gamma,
    Gaussian,
    Geometric,
    Gp,
    GraphSpec,
    Heteroscedastic,
    Hierarchical,
    Layered,
    Linear,
    LogisticMap,
    LogUniform,
    MechanismSpec,
    Mixture,
    Mlp,
    NoiseSpec,
    Periodic,
    Pnl,
    ScaleFree,
    SignedUniform,
    SmallWorld,
    Square,
    StochasticBlock,
    Uniform,
    parse_family,
)

__all__ = ["ReferenceScm", "linear_scm", "sample_graph", "sample_scm_reference", "sample_tasks_reference"]

Rng = np.random.Generator
F32 = np.float32
Do = Union[Mapping[int, float], tuple[np.ndarray, np.ndarray], None]

# ---------------------------------------------------------------- parameter laws


def _draw(dist: Dist, rng: Rng, size: int | tuple[int, ...]) -> np.ndarray:
    """``size`` independent float64 draws of a parameter law (``causal_meta.specs.Dist``)."""
    if isinstance(dist, Fixed):
        return np.full(size, dist.value)
    if isinstance(dist, Uniform):
        return rng.uniform(dist.low, dist.high, size)
    if isinstance(dist, SignedUniform):
        magnitude = rng.uniform(dist.low, dist.high, size)
        return np.where(rng.random(size) < 0.5, magnitude, -magnitude)
    if isinstance(dist, Gaussian):
        return rng.normal(dist.mean, dist.std, size)
    if isinstance(dist, LogUniform):
        return np.exp(rng.uniform(math.log(dist.low), math.log(dist.high), size))
    if isinstance(dist, Gamma):
        return rng.gamma(dist.shape, dist.scale, size)
    raise TypeError(f"unknown distribution spec {dist!r}")


def _draw32(dist: Dist, rng: Rng, size: int | tuple[int, ...]) -> np.ndarray:
    """Draws rounded to float32, the precision the engine keeps its parameters in."""
    return _draw(dist, rng, size).astype(F32)


def _pick(weights: Sequence[float], rng: Rng, size: int) -> np.ndarray:
    """Mixture component of each of ``size`` items, proportional to ``weights``."""
    p = np.asarray(weights, dtype=np.float64)
    return rng.choice(p.size, size=size, p=p / p.sum())


# ---------------------------------------------------------------- graphs


def sample_graph(spec: GraphSpec, d: int, rng: Rng) -> tuple[np.ndarray, np.ndarray]:
    """A DAG on ``d`` nodes: (adjacency uint8 with A[i, j] = 1 for i -> j, a topological order).

    The generator builds a strictly upper-triangular adjacency in construction labels;
    the relabelling by a random permutation keeps index order from revealing the order.
    """
    if isinstance(spec, Mixture):
        spec = spec.components[int(_pick(spec.weights, rng, 1)[0])]
    upper = _CONSTRUCTIONS[type(spec)](spec, d, rng)
    perm = rng.permutation(d)  # construction label u becomes node perm[u]
    adjacency = np.zeros((d, d), dtype=np.uint8)
    adjacency[np.ix_(perm, perm)] = upper
    return adjacency, perm


def _er(spec: Er, d: int, rng: Rng) -> np.ndarray:
    if spec.edge_prob is not None:
        p = spec.edge_prob
    else:  # edges_per_node * d expected edges among d (d - 1) / 2 pairs
        p = 2.0 * spec.edges_per_node / (d - 1) if d > 1 else 0.0
    return np.triu(rng.random((d, d)) < p, 1)


def _from_networkx(graph: nx.Graph, d: int) -> np.ndarray:
    """Orient an undirected networkx graph from lower to higher label."""
    upper = np.zeros((d, d), dtype=bool)
    for u, v in graph.edges():
        upper[min(u, v), max(u, v)] = True
    return upper


def _scale_free(spec: ScaleFree, d: int, rng: Rng) -> np.ndarray:
    upper = _from_networkx(nx.barabasi_albert_graph(d, spec.m, seed=rng), d)
    # Reversing every edge (u, v) -> (d-1-v, d-1-u) keeps the matrix upper triangular.
    return upper.T[::-1, ::-1] if spec.transpose else upper


def _small_world(spec: SmallWorld, d: int, rng: Rng) -> np.ndarray:
    return _from_networkx(nx.watts_strogatz_graph(d, spec.k, spec.rewire_prob, seed=rng), d)


def _stochastic_block(spec: StochasticBlock, d: int, rng: Rng) -> np.ndarray:
    blocks = min(spec.blocks, d)
    block = np.arange(d) * blocks // d
    p = np.where(block[:, None] == block[None, :], spec.p_in, spec.p_out)
    return np.triu(rng.random((d, d)) < p, 1)


def _geometric(spec: Geometric, d: int, rng: Rng) -> np.ndarray:
    points = rng.random((d, 2))
    dist2 = ((points[:, None, :] - points[None, :, :]) ** 2).sum(-1)
    return np.triu(dist2 <= spec.radius**2, 1)


def _chain(spec: Chain, d: int, rng: Rng) -> np.ndarray:
    return np.eye(d, k=1, dtype=bool)


def _fork(spec: Fork, d: int, rng: Rng) -> np.ndarray:
    upper = np.zeros((d, d), dtype=bool)
    upper[0, 1:] = True
    return upper


def _collider(spec: Collider, d: int, rng: Rng) -> np.ndarray:
    upper = np.zeros((d, d), dtype=bool)
    upper[:-1, -1] = True
    return upper


def _diamond(spec: Diamond, d: int, rng: Rng) -> np.ndarray:
    upper = np.zeros((d, d), dtype=bool)
    upper[0, 1:-1] = True
    upper[1:-1, -1] = True
    return upper


def _butterfly(spec: Butterfly, d: int, rng: Rng) -> np.ndarray:
    hub = (d - 1) // 2  # nodes 0 .. hub-1 are sources, hub+1 .. d-1 sinks
    upper = np.zeros((d, d), dtype=bool)
    upper[:hub, hub] = True
    upper[hub, hub + 1:] = True
    paired = np.arange(min(hub, d - hub - 1))
    upper[paired, hub + 1 + paired] = True
    return upper


def _connect(upper: np.ndarray, causes: slice, effects: slice, p: float, rng: Rng) -> None:
    """Each cause -> effect pair with probability p; an effect left without a parent gets
    one uniformly chosen cause."""
    block = rng.random((causes.stop - causes.start, effects.stop - effects.start)) < p
    orphans = np.flatnonzero(~block.any(axis=0))
    block[rng.integers(0, block.shape[0], orphans.size), orphans] = True
    upper[causes, effects] = block


def _layered(spec: Layered, d: int, rng: Rng) -> np.ndarray:
    bounds = [layer * d // spec.layers for layer in range(spec.layers + 1)]
    upper = np.zeros((d, d), dtype=bool)
    for lo, mid, hi in zip(bounds, bounds[1:], bounds[2:]):
        _connect(upper, slice(lo, mid), slice(mid, hi), spec.edge_prob, rng)
    return upper


def _hierarchical(spec: Hierarchical, d: int, rng: Rng) -> np.ndarray:
    upper = np.zeros((d, d), dtype=bool)
    children = np.arange(1, d)
    upper[(children - 1) // spec.branching, children] = True
    return upper


def _bipartite(spec: Bipartite, d: int, rng: Rng) -> np.ndarray:
    causes = min(max(math.floor(spec.cause_fraction * d + 0.5), 1), d - 1)  # Rust's round()
    upper = np.zeros((d, d), dtype=bool)
    _connect(upper, slice(0, causes), slice(causes, d), spec.edge_prob, rng)
    return upper


_CONSTRUCTIONS: dict[type, Callable[[Any, int, Rng], np.ndarray]] = {
    Er: _er,
    ScaleFree: _scale_free,
    SmallWorld: _small_world,
    StochasticBlock: _stochastic_block,
    Geometric: _geometric,
    Chain: _chain,
    Fork: _fork,
    Collider: _collider,
    Diamond: _diamond,
    Butterfly: _butterfly,
    Layered: _layered,
    Hierarchical: _hierarchical,
    Bipartite: _bipartite,
}

# ---------------------------------------------------------------- mechanisms
#
# A mechanism maps the (k, n) block of its parents' columns and its (n,) scaled noise to
# the node's (n,) column. Parameters are float32, so every product stays float32.


@dataclass(slots=True)
class LinearMechanism:
    """x = w . pa + b + noise."""

    w: np.ndarray
    b: np.float32

    def __call__(self, pa: np.ndarray, noise: np.ndarray) -> np.ndarray:
        return self.w @ pa + (noise + self.b)


_ACTIVATIONS: dict[str, Callable[[np.ndarray], None]] = {
    "relu": lambda h: np.maximum(h, 0, out=h),
    "leaky_relu": lambda h: np.maximum(h, F32(0.1) * h, out=h),
    "tanh": lambda h: np.tanh(h, out=h),
    "sigmoid": lambda h: expit(h, out=h),
}


@dataclass(slots=True)
class MlpMechanism:
    """x = w2 . act(W1 pa + w_noise noise + b1) + b2 (+ noise unless the noise is an input)."""

    w1: np.ndarray  # (hidden, k), already divided by sqrt(k_in)
    w_noise: np.ndarray | None  # (hidden,) column of the noise input, or None (additive)
    b1: np.ndarray
    w2: np.ndarray  # (hidden,), already divided by sqrt(hidden)
    b2: np.float32
    activation: str

    def __call__(self, pa: np.ndarray, noise: np.ndarray) -> np.ndarray:
        h = self.w1 @ pa
        h += self.b1[:, None]
        if self.w_noise is not None:
            h += self.w_noise[:, None] * noise
        _ACTIVATIONS[self.activation](h)
        x = self.w2 @ h
        x += self.b2
        if self.w_noise is None:
            x += noise
        return x


@dataclass(slots=True)
class RffMechanism:
    """x = amp . cos(omega pa + phase) + noise (a GP draw by random Fourier features)."""

    omega: np.ndarray  # (F, k), already divided by the length scale
    phase: np.ndarray
    amp: np.ndarray  # includes output_scale * sqrt(2 / F)

    def __call__(self, pa: np.ndarray, noise: np.ndarray) -> np.ndarray:
        z = self.omega @ pa
        z += self.phase[:, None]
        np.cos(z, out=z)
        return self.amp @ z + noise


_OUTER: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "cube": lambda z: z * z * z,
    "sigmoid": expit,
    "tanh": np.tanh,
}


@dataclass(slots=True)
class PnlMechanism:
    """x = g(w . pa + b + noise)."""

    w: np.ndarray
    b: np.float32
    g: str

    def __call__(self, pa: np.ndarray, noise: np.ndarray) -> np.ndarray:
        return _OUTER[self.g](self.w @ pa + (noise + self.b))


@dataclass(slots=True)
class SquareMechanism:
    """x = sum_i w_i pa_i^2 + noise."""

    w: np.ndarray

    def __call__(self, pa: np.ndarray, noise: np.ndarray) -> np.ndarray:
        return self.w @ (pa * pa) + noise


@dataclass(slots=True)
class PeriodicMechanism:
    """x = sum_i w_i sin(f_i pa_i) + noise."""

    w: np.ndarray
    freq: np.ndarray

    def __call__(self, pa: np.ndarray, noise: np.ndarray) -> np.ndarray:
        return self.w @ np.sin(self.freq[:, None] * pa) + noise


@dataclass(slots=True)
class LogisticMechanism:
    """z = sigmoid(w . pa), x = rate z (1 - z) + noise."""

    w: np.ndarray
    rate: np.float32

    def __call__(self, pa: np.ndarray, noise: np.ndarray) -> np.ndarray:
        z = expit(self.w @ pa)
        return self.rate * z * (1 - z) + noise


@dataclass(slots=True)
class HeteroMechanism:
    """x = w . pa + b + softplus(v . pa) noise."""

    w: np.ndarray
    b: np.float32
    v: np.ndarray

    def __call__(self, pa: np.ndarray, noise: np.ndarray) -> np.ndarray:
        return self.w @ pa + self.b + np.logaddexp(F32(0), self.v @ pa) * noise


Mechanism = Union[LinearMechanism, MlpMechanism, RffMechanism, PnlMechanism, SquareMechanism,
                  PeriodicMechanism, LogisticMechanism, HeteroMechanism]


def _split(flat: np.ndarray, sizes: np.ndarray) -> list[np.ndarray]:
    """Consecutive pieces of ``flat`` of the given sizes (one per node)."""
    ends = np.cumsum(sizes)
    return [flat[e - s:e] for s, e in zip(sizes.tolist(), ends.tolist())]


def _draw_mechanisms(spec: MechanismSpec, k: np.ndarray, rng: Rng) -> list[Mechanism]:
    """One mechanism per node with ``k[i]`` parents; parameters of all nodes of one type
    are drawn in one call (a mixture first picks each node's component)."""
    if not isinstance(spec, Mixture):
        return _MECHANISM_DRAWS[type(spec)](spec, k, rng)
    which = _pick(spec.weights, rng, k.size)
    out: list[Mechanism] = [None] * k.size  # type: ignore[list-item]
    for c, component in enumerate(spec.components):
        nodes = np.flatnonzero(which == c)
        for i, mech in zip(nodes.tolist(), _draw_mechanisms(component, k[nodes], rng)):
            out[i] = mech
    return out


def _draw_linear(spec: Linear, k: np.ndarray, rng: Rng) -> list[Mechanism]:
    w = _split(_draw32(spec.weights, rng, int(k.sum())), k)
    return list(map(LinearMechanism, w, _draw32(spec.bias, rng, k.size)))


def _draw_mlp(spec: Mlp, k: np.ndarray, rng: Rng) -> list[Mechanism]:
    k_in = k + int(spec.noise_input)
    h = spec.hidden
    w1 = _split(_draw32(spec.weights, rng, int(k_in.sum()) * h), k_in * h)
    b1 = _draw32(spec.bias, rng, (k.size, h))
    w2 = _draw32(spec.weights, rng, (k.size, h)) / F32(math.sqrt(h))
    b2 = _draw32(spec.bias, rng, k.size)
    out: list[Mechanism] = []
    for i, (ki, kin) in enumerate(zip(k.tolist(), k_in.tolist())):
        w = w1[i].reshape(h, kin) / F32(math.sqrt(max(kin, 1)))
        w_noise = w[:, ki] if spec.noise_input else None
        out.append(MlpMechanism(w[:, :ki], w_noise, b1[i], w2[i], b2[i], spec.activation))
    return out


def _draw_gp(spec: Gp, k: np.ndarray, rng: Rng) -> list[Mechanism]:
    f = spec.features
    inv_l = 1.0 / _draw(spec.length_scale, rng, k.size)
    amp_scale = _draw(spec.output_scale, rng, k.size) * math.sqrt(2.0 / f)
    omega = _split(rng.standard_normal(int(k.sum()) * f), k * f)
    phase = rng.uniform(0.0, 2.0 * math.pi, (k.size, f)).astype(F32)
    amp = (rng.standard_normal((k.size, f)) * amp_scale[:, None]).astype(F32)
    return [
        RffMechanism((omega[i] * inv_l[i]).astype(F32).reshape(f, ki), phase[i], amp[i])
        for i, ki in enumerate(k.tolist())
    ]


def _draw_pnl(spec: Pnl, k: np.ndarray, rng: Rng) -> list[Mechanism]:
    w = _split(_draw32(spec.weights, rng, int(k.sum())), k)
    b = _draw32(spec.bias, rng, k.size)
    return [PnlMechanism(wi, bi, spec.nonlinearity) for wi, bi in zip(w, b)]


def _draw_square(spec: Square, k: np.ndarray, rng: Rng) -> list[Mechanism]:
    return list(map(SquareMechanism, _split(_draw32(spec.weights, rng, int(k.sum())), k)))


def _draw_periodic(spec: Periodic, k: np.ndarray, rng: Rng) -> list[Mechanism]:
    w = _split(_draw32(spec.weights, rng, int(k.sum())), k)
    freq = _split(_draw32(spec.frequency, rng, int(k.sum())), k)
    return list(map(PeriodicMechanism, w, freq))


def _draw_logistic(spec: LogisticMap, k: np.ndarray, rng: Rng) -> list[Mechanism]:
    w = _split(_draw32(spec.weights, rng, int(k.sum())), k)
    return list(map(LogisticMechanism, w, _draw32(spec.rate, rng, k.size)))


def _draw_hetero(spec: Heteroscedastic, k: np.ndarray, rng: Rng) -> list[Mechanism]:
    w = _split(_draw32(spec.weights, rng, int(k.sum())), k)
    b = _draw32(spec.bias, rng, k.size)
    v = _split(_draw32(spec.scale_weights, rng, int(k.sum())), k)
    return list(map(HeteroMechanism, w, b, v))


_MECHANISM_DRAWS: dict[type, Callable[[Any, np.ndarray, Rng], list[Mechanism]]] = {
    Linear: _draw_linear,
    Mlp: _draw_mlp,
    Gp: _draw_gp,
    Pnl: _draw_pnl,
    Square: _draw_square,
    Periodic: _draw_periodic,
    LogisticMap: _draw_logistic,
    Heteroscedastic: _draw_hetero,
}

# ---------------------------------------------------------------- noise


def _standard_uniform(rng: Rng, shape: tuple[int, int]) -> np.ndarray:
    u = rng.random(shape, dtype=F32)
    u -= F32(0.5)
    u *= F32(2.0 * math.sqrt(3.0))  # unit variance: scale is the standard deviation
    return u


# Unit-scale draws of each law; multiplied by the node's scale afterwards.
_NOISE_LAWS: dict[str, Callable[[Rng, tuple[int, int]], np.ndarray]] = {
    "gaussian": lambda rng, shape: rng.standard_normal(shape, dtype=F32),
    "laplace": lambda rng, shape: rng.laplace(0.0, 1.0, shape).astype(F32),
    "cauchy": lambda rng, shape: rng.standard_cauchy(shape).astype(F32),
    "uniform": _standard_uniform,
}


def _draw_noises(spec: NoiseSpec, d: int, rng: Rng) -> tuple[tuple[str, ...], np.ndarray]:
    """Each node's noise law (its ``type`` name) and float32 scale."""
    if not isinstance(spec, Mixture):
        return (spec.type,) * d, _draw32(spec.scale, rng, d)
    which = _pick(spec.weights, rng, d)
    kinds: list[str] = [""] * d
    scales = np.empty(d, dtype=F32)
    for c, component in enumerate(spec.components):
        nodes = np.flatnonzero(which == c)
        sub_kinds, scales[nodes] = _draw_noises(component, nodes.size, rng)
        for i, kind in zip(nodes.tolist(), sub_kinds):
            kinds[i] = kind
    return tuple(kinds), scales


# ---------------------------------------------------------------- the SCM


@dataclass
class ReferenceScm:
    """A DAG with one mechanism and one noise law per node; see :meth:`sample`."""

    adjacency: np.ndarray
    """uint8 (d, d), A[i, j] = 1 for i -> j."""
    order: np.ndarray
    """A topological order."""
    mechanisms: list[Mechanism]
    noise_kinds: tuple[str, ...]
    noise_scales: np.ndarray
    parents: list[np.ndarray] = field(init=False)
    """Parents of each node in ascending index order (the order of each mechanism's weights)."""
    _noise_groups: list[tuple[str, np.ndarray]] = field(init=False, repr=False)
    _linear: tuple[np.ndarray, np.ndarray] | None = field(init=False, repr=False)
    _inverse: np.ndarray | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        children, parents = np.nonzero(self.adjacency.T)  # sorted by child, then parent
        self.parents = _split(parents, np.bincount(children, minlength=self.d))
        kinds = np.array(self.noise_kinds)
        self._noise_groups = [(kind, np.flatnonzero(kinds == kind)) for kind in dict.fromkeys(self.noise_kinds)]
        self._linear = self._linear_system()

    @property
    def d(self) -> int:
        """Number of variables."""
        return self.adjacency.shape[0]

    def _linear_system(self) -> tuple[np.ndarray, np.ndarray] | None:
        """(W, b) with x = x W + b + noise when every mechanism is linear, else None."""
        if not all(isinstance(m, LinearMechanism) for m in self.mechanisms):
            return None
        w = np.zeros((self.d, self.d))
        children, parents = np.nonzero(self.adjacency.T)
        if children.size:
            w[parents, children] = np.concatenate([m.w for m in self.mechanisms])
        return w, np.array([m.b for m in self.mechanisms], dtype=F32)

    def sample(self, n: int, rng: Rng, do: Do = None) -> tuple[np.ndarray, np.ndarray]:
        """``n`` rows -> (data float32 (n, d), mask uint8 (n, d)), as ``Scm.sample``.

        ``do``: None; a dict {node: value} set on every row; or (mask, values), two (n, d)
        arrays setting X_i = values[r, i] where mask[r, i]. Noise is drawn for every cell
        first, so one generator state gives the same noise with or without ``do``.
        """
        noise = self._noise(n, rng)
        mask = np.zeros((n, self.d), dtype=np.uint8)
        if isinstance(do, tuple):
            is_set = np.asarray(do[0]) != 0
            mask[is_set] = 1
            values = np.asarray(do[1], dtype=F32)
            return np.ascontiguousarray(self._propagate(noise, {}, is_set.T, values.T).T), mask
        fixed = {int(i): F32(v) for i, v in (do or {}).items()}
        mask[:, list(fixed)] = 1
        if self._linear is not None:
            return self._solve_linear(noise, fixed), mask
        return np.ascontiguousarray(self._propagate(noise, fixed, None, None).T), mask

    def _noise(self, n: int, rng: Rng) -> np.ndarray:
        """Scaled noise of every node, (d, n) float32: one draw per law present."""
        if len(self._noise_groups) == 1:
            noise = _NOISE_LAWS[self._noise_groups[0][0]](rng, (self.d, n))
        else:
            noise = np.empty((self.d, n), dtype=F32)
            for kind, nodes in self._noise_groups:
                noise[nodes] = _NOISE_LAWS[kind](rng, (nodes.size, n))
        noise *= self.noise_scales[:, None]
        return noise

    def _propagate(
        self, noise: np.ndarray, fixed: dict[int, np.float32], set_t: np.ndarray | None, values_t: np.ndarray | None
    ) -> np.ndarray:
        """Columns (d, n) in topological order, one mechanism call over all rows per node;
        ``set_t`` (d, n) bool marks the cells that per-row do() sets to ``values_t``."""
        x = np.empty_like(noise)
        touched = set_t.any(axis=1) if set_t is not None else None
        with np.errstate(over="ignore", invalid="ignore"):  # squares and cubes may overflow, as in the engine
            for j in self.order.tolist():
                if j in fixed:
                    x[j] = fixed[j]
                    continue
                x[j] = self.mechanisms[j](x[self.parents[j]], noise[j])
                if touched is not None and touched[j]:
                    np.copyto(x[j], values_t[j], where=set_t[j])
        return x

    def _solve_linear(self, noise: np.ndarray, fixed: dict[int, np.float32]) -> np.ndarray:
        """Rows (n, d) of a linear SCM in closed form; do() cuts the nodes' incoming edges."""
        w, b = self._linear  # type: ignore[misc]
        rhs = noise.T + b
        if not fixed:
            if self._inverse is None:
                self._inverse = np.linalg.inv(np.eye(self.d) - w).astype(F32)
            return rhs @ self._inverse
        nodes = list(fixed)
        cut = w.copy()
        cut[:, nodes] = 0.0
        rhs[:, nodes] = list(fixed.values())
        return rhs @ np.linalg.inv(np.eye(self.d) - cut).astype(F32)


def linear_scm(
    weights: np.ndarray, bias: np.ndarray, noise_scales: np.ndarray, noise_kinds: Sequence[str] | None = None
) -> ReferenceScm:
    """A linear SCM with given parameters (x = x W + b + noise, W[i, j] the weight of
    i -> j), e.g. those of an engine SCM, to compare the two samplers on one SCM."""
    weights = np.asarray(weights)
    adjacency = (weights != 0).astype(np.uint8)
    order = np.array(list(nx.topological_sort(nx.from_numpy_array(adjacency, create_using=nx.DiGraph))))
    mechanisms: list[Mechanism] = [
        LinearMechanism(weights[adjacency[:, j] != 0, j].astype(F32), F32(bias[j])) for j in range(len(bias))
    ]
    kinds = tuple(noise_kinds) if noise_kinds is not None else ("gaussian",) * len(bias)
    return ReferenceScm(adjacency, order, mechanisms, kinds, np.asarray(noise_scales, dtype=F32))


# ---------------------------------------------------------------- families and tasks


def sample_scm_reference(family: Family | Mapping[str, Any], rng: Rng) -> ReferenceScm:
    """An SCM of ``family``: node count, graph, then per node a mechanism and a noise law."""
    family = parse_family(family)
    lo, hi = family.nodes
    d = int(rng.integers(lo, hi + 1))
    adjacency, order = sample_graph(family.graph, d, rng)
    mechanisms = _draw_mechanisms(family.mechanism, adjacency.sum(axis=0, dtype=np.int64), rng)
    kinds, scales = _draw_noises(family.noise, d, rng)
    return ReferenceScm(adjacency, order, mechanisms, kinds, scales)


def sample_tasks_reference(
    family: Family | Mapping[str, Any], seed: int, count: int, n_obs: int, n_int: int = 0
) -> TaskBatch:
    """``count`` tasks laid out as ``causal_meta.scm.sample_tasks`` returns them.

    Each task: an SCM, ``n_obs`` observational rows, then ``n_int`` rows that each set one
    uniformly chosen node to a draw of ``interventions.value``. One numpy generator seeded
    by ``seed`` serves the whole call (the reference does not promise the engine's
    per-task seeding).
    """
    family = parse_family(family)
    rng = np.random.default_rng(seed)
    n, d_max = n_obs + n_int, family.max_nodes
    batch = TaskBatch(
        np.zeros((count, n, d_max), dtype=F32),
        np.zeros((count, n, d_max), dtype=np.uint8),
        np.zeros((count, d_max, d_max), dtype=np.uint8),
        np.zeros(count, dtype=np.int64),
    )
    for t in range(count):
        scm = sample_scm_reference(family, rng)
        d = scm.d
        do: Do = None
        if n_int:
            mask = np.zeros((n, d), dtype=np.uint8)
            values = np.zeros((n, d), dtype=F32)
            rows, nodes = np.arange(n_obs, n), rng.integers(0, d, n_int)
            mask[rows, nodes] = 1
            values[rows, nodes] = _draw32(family.interventions.value, rng, n_int)
            do = (mask, values)
        batch.data[t, :, :d], batch.mask[t, :, :d] = scm.sample(n, rng, do)
        batch.adjacency[t, :d, :d] = scm.adjacency
        batch.n_nodes[t] = d
    return batch
