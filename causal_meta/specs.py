"""Typed specifications of SCM families: graphs, mechanisms, noise, and mixtures of them.

A family reads naturally as YAML::

    nodes: 20                      # or [10, 30]: drawn uniformly per task
    graph: {type: er, edges_per_node: 2}
    mechanism:
      type: mixture
      components: [{type: linear}, {type: mlp, hidden: 32}]
      weights: [0.5, 0.5]
    noise: {type: gaussian, scale: {type: uniform, low: 0.5, high: 1.0}}

Every spec is a frozen dataclass with documented defaults. :func:`parse_family` turns a
plain mapping into specs and rejects unknown keys and type names with the dotted path and
the allowed values; ranges (probabilities, counts, ...) are checked by the engine, which
names the parameter the same way. A number where a distribution is expected means
``{type: fixed, value: number}``.

The `type` names and fields mirror the Rust engine's serde schema one to one
(``rust/src/{dist,graph,mechanism,noise,family}.rs``); defaults live only here.
"""

from __future__ import annotations

import dataclasses
import json
import math
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, Literal, TypeVar, Union

from causal_meta._core import MAX_NODES

# ---------------------------------------------------------------- distributions


@dataclass(frozen=True)
class Fixed:
    """Always ``value``."""

    value: float
    type: ClassVar[str] = "fixed"


@dataclass(frozen=True)
class Uniform:
    """Uniform on [low, high]."""

    low: float
    high: float
    type: ClassVar[str] = "uniform"


@dataclass(frozen=True)
class SignedUniform:
    """A random sign times Uniform[low, high]: weights bounded away from zero."""

    low: float = 0.5
    high: float = 2.0
    type: ClassVar[str] = "signed_uniform"


@dataclass(frozen=True)
class Gaussian:
    """Normal(mean, std^2)."""

    mean: float = 0.0
    std: float = 1.0
    type: ClassVar[str] = "gaussian"


@dataclass(frozen=True)
class LogUniform:
    """exp(Uniform[ln low, ln high]); low > 0."""

    low: float
    high: float
    type: ClassVar[str] = "log_uniform"


@dataclass(frozen=True)
class Gamma:
    """Gamma with shape k and scale theta (mean k * theta)."""

    shape: float
    scale: float
    type: ClassVar[str] = "gamma"


Dist = Union[Fixed, Uniform, SignedUniform, Gaussian, LogUniform, Gamma]

# ---------------------------------------------------------------- mixtures

T = TypeVar("T")


@dataclass(frozen=True)
class Mixture(Generic[T]):
    """One component drawn (per graph, or per node for mechanisms and noise) with
    probability proportional to ``weights``."""

    components: list[T]
    weights: list[float]
    type: ClassVar[str] = "mixture"


# ---------------------------------------------------------------- graphs


@dataclass(frozen=True)
class Er:
    """Erdos-Renyi. Give ``edge_prob`` or ``edges_per_node`` (expected edges = k * d);
    with neither, 2 edges per node."""

    edge_prob: float | None = None
    edges_per_node: float | None = None
    type: ClassVar[str] = "er"

    def __post_init__(self) -> None:
        if self.edge_prob is None and self.edges_per_node is None:
            object.__setattr__(self, "edges_per_node", 2.0)


@dataclass(frozen=True)
class ScaleFree:
    """Barabasi-Albert with ``m`` edges per new node; ``transpose`` makes hubs effects."""

    m: int = 2
    transpose: bool = False
    type: ClassVar[str] = "sf"


@dataclass(frozen=True)
class SmallWorld:
    """Watts-Strogatz: a ring with k // 2 neighbours per side (an odd ``k`` acts as k - 1,
    as in networkx), each edge rewired with ``rewire_prob``; needs k < d."""

    k: int = 4
    rewire_prob: float = 0.3
    type: ClassVar[str] = "ws"


@dataclass(frozen=True)
class StochasticBlock:
    """Stochastic block model with ``blocks`` (at most d) contiguous, near-equal blocks."""

    blocks: int = 3
    p_in: float = 0.5
    p_out: float = 0.05
    type: ClassVar[str] = "sbm"


@dataclass(frozen=True)
class Geometric:
    """Random geometric graph in the unit square with connection ``radius``."""

    radius: float = 0.3
    type: ClassVar[str] = "grg"


@dataclass(frozen=True)
class Chain:
    """0 -> 1 -> ... -> d-1."""

    type: ClassVar[str] = "chain"


@dataclass(frozen=True)
class Fork:
    """One cause with d-1 effects."""

    type: ClassVar[str] = "fork"


@dataclass(frozen=True)
class Collider:
    """d-1 causes of one effect."""

    type: ClassVar[str] = "collider"


@dataclass(frozen=True)
class Diamond:
    """Source -> d-2 parallel mediators -> sink."""

    type: ClassVar[str] = "diamond"


@dataclass(frozen=True)
class Butterfly:
    """floor((d-1)/2) sources -> hub -> sinks, plus source i -> sink i."""

    type: ClassVar[str] = "butterfly"


@dataclass(frozen=True)
class Layered:
    """Consecutive layers, edges only to the next layer, every later node with a parent."""

    layers: int = 3
    edge_prob: float = 0.5
    type: ClassVar[str] = "layered"


@dataclass(frozen=True)
class Hierarchical:
    """A rooted out-tree with ``branching`` children per node."""

    branching: int = 2
    type: ClassVar[str] = "hierarchical"


@dataclass(frozen=True)
class Bipartite:
    """Causes -> effects; each pair an edge with ``edge_prob``, each effect with a parent."""

    cause_fraction: float = 0.5
    edge_prob: float = 0.5
    type: ClassVar[str] = "bipartite"


GraphSpec = Union[
    Er, ScaleFree, SmallWorld, StochasticBlock, Geometric, Chain, Fork, Collider, Diamond,
    Butterfly, Layered, Hierarchical, Bipartite, Mixture,
]

# ---------------------------------------------------------------- mechanisms


@dataclass(frozen=True)
class Linear:
    """x = w . pa + b + noise."""

    weights: Dist = SignedUniform(0.5, 2.0)
    bias: Dist = Fixed(0.0)
    type: ClassVar[str] = "linear"


@dataclass(frozen=True)
class Mlp:
    """x = W2 act(W1 pa / sqrt(k) + b1) / sqrt(hidden) + b2 + noise; with ``noise_input``
    the noise is an input of the network instead (non-additive noise)."""

    hidden: int = 32
    activation: Literal["relu", "leaky_relu", "tanh", "sigmoid"] = "relu"
    weights: Dist = Gaussian(0.0, 1.0)
    bias: Dist = Uniform(-1.0, 1.0)
    noise_input: bool = False
    type: ClassVar[str] = "mlp"


@dataclass(frozen=True)
class Gp:
    """A Gaussian-process draw (RBF kernel) by ``features`` random Fourier features."""

    features: int = 256
    length_scale: Dist = Uniform(0.5, 2.0)
    output_scale: Dist = Fixed(1.0)
    type: ClassVar[str] = "gp"


@dataclass(frozen=True)
class Pnl:
    """Post-nonlinear: x = g(w . pa + b + noise)."""

    nonlinearity: Literal["cube", "sigmoid", "tanh"] = "tanh"
    weights: Dist = SignedUniform(0.5, 2.0)
    bias: Dist = Fixed(0.0)
    type: ClassVar[str] = "pnl"


@dataclass(frozen=True)
class Square:
    """x = sum_i w_i pa_i^2 + noise. Deep chains of squares grow doubly exponentially."""

    weights: Dist = SignedUniform(0.5, 1.0)
    type: ClassVar[str] = "square"


@dataclass(frozen=True)
class Periodic:
    """x = sum_i w_i sin(f_i pa_i) + noise."""

    weights: Dist = SignedUniform(0.5, 2.0)
    frequency: Dist = Uniform(0.5, 2.0)
    type: ClassVar[str] = "periodic"


@dataclass(frozen=True)
class LogisticMap:
    """z = sigmoid(w . pa), x = r z (1 - z) + noise; chaotic for r near 4."""

    weights: Dist = SignedUniform(0.5, 2.0)
    rate: Dist = Uniform(3.6, 4.0)
    type: ClassVar[str] = "logistic_map"


@dataclass(frozen=True)
class Heteroscedastic:
    """x = w . pa + b + softplus(v . pa) * noise."""

    weights: Dist = SignedUniform(0.5, 2.0)
    bias: Dist = Fixed(0.0)
    scale_weights: Dist = Gaussian(0.0, 0.5)
    type: ClassVar[str] = "heteroscedastic"


MechanismSpec = Union[Linear, Mlp, Gp, Pnl, Square, Periodic, LogisticMap, Heteroscedastic, Mixture]

# ---------------------------------------------------------------- noise


@dataclass(frozen=True)
class GaussianNoise:
    """Normal noise; ``scale`` is the standard deviation."""

    scale: Dist = Fixed(1.0)
    type: ClassVar[str] = "gaussian"


@dataclass(frozen=True)
class LaplaceNoise:
    """Laplace noise; ``scale`` is b (standard deviation sqrt(2) b)."""

    scale: Dist = Fixed(1.0)
    type: ClassVar[str] = "laplace"


@dataclass(frozen=True)
class CauchyNoise:
    """Cauchy noise; ``scale`` is the half-width at half-maximum."""

    scale: Dist = Fixed(1.0)
    type: ClassVar[str] = "cauchy"


@dataclass(frozen=True)
class UniformNoise:
    """Uniform noise on [-sqrt(3) s, sqrt(3) s]: ``scale`` is the standard deviation."""

    scale: Dist = Fixed(1.0)
    type: ClassVar[str] = "uniform"


NoiseSpec = Union[GaussianNoise, LaplaceNoise, CauchyNoise, UniformNoise, Mixture]

# ---------------------------------------------------------------- family


@dataclass(frozen=True)
class Interventions:
    """Interventional rows of a task each set one uniformly chosen node to a ``value`` draw."""

    value: Dist = Uniform(-2.0, 2.0)


@dataclass(frozen=True)
class Family:
    """A distribution over SCMs: ``nodes`` (int, or [min, max] drawn uniformly per task),
    then a graph, then per node a mechanism and a noise law."""

    nodes: tuple[int, int] = (20, 20)
    graph: GraphSpec = field(default_factory=Er)
    mechanism: MechanismSpec = field(default_factory=Linear)
    noise: NoiseSpec = field(default_factory=GaussianNoise)
    interventions: Interventions = field(default_factory=Interventions)

    def __post_init__(self) -> None:
        object.__setattr__(self, "nodes", _node_range(self.nodes, "family.nodes"))

    @property
    def max_nodes(self) -> int:
        """The padded width of batches from this family."""
        return self.nodes[1]

    def to_dict(self) -> dict[str, Any]:
        """Plain data with a ``type`` tag on every tagged spec (the engine's input)."""
        return _to_plain(self)

    def to_json(self) -> str:
        """The JSON the engine parses."""
        return json.dumps(self.to_dict())


_KINDS: dict[str, tuple[type, ...]] = {
    "distribution": (Fixed, Uniform, SignedUniform, Gaussian, LogUniform, Gamma),
    "graph": (Er, ScaleFree, SmallWorld, StochasticBlock, Geometric, Chain, Fork, Collider,
              Diamond, Butterfly, Layered, Hierarchical, Bipartite, Mixture),
    "mechanism": (Linear, Mlp, Gp, Pnl, Square, Periodic, LogisticMap, Heteroscedastic, Mixture),
    "noise": (GaussianNoise, LaplaceNoise, CauchyNoise, UniformNoise, Mixture),
}
_KIND_OF_UNION = {Dist: "distribution", GraphSpec: "graph", MechanismSpec: "mechanism", NoiseSpec: "noise"}


class SpecError(ValueError):
    """A family spec that does not parse; the message names the dotted path."""


def parse_family(data: Family | Mapping[str, Any]) -> Family:
    """Build a :class:`Family` from a mapping (e.g. loaded YAML), checking keys and types."""
    if isinstance(data, Family):
        return data
    if not isinstance(data, Mapping):
        raise SpecError(f"family: expected a mapping, got {type(data).__name__}")
    return _parse_dataclass(Family, data, "family")


def parse_spec(kind: str, data: Any, path: str | None = None) -> Any:
    """Parse one spec of ``kind`` ('graph', 'mechanism', 'noise', 'distribution')."""
    if kind not in _KINDS:
        raise SpecError(f"kind = {kind!r} is not allowed: expected one of {sorted(_KINDS)}")
    return _parse_tagged(kind, data, path or kind)


def _parse_tagged(kind: str, data: Any, path: str) -> Any:
    allowed = _KINDS[kind]
    if dataclasses.is_dataclass(data) and isinstance(data, allowed):
        return data
    if kind == "distribution" and isinstance(data, (int, float)) and not isinstance(data, bool):
        return Fixed(_as_float(data, path))
    if not isinstance(data, Mapping) or "type" not in data:
        raise SpecError(f"{path}: expected a mapping with a 'type' key, got {data!r}")
    by_name = {cls.type: cls for cls in allowed}
    name = data["type"]
    if name not in by_name:
        raise SpecError(f"{path}.type = {name!r} is not allowed: expected one of {sorted(by_name)}")
    fields = {k: v for k, v in data.items() if k != "type"}
    if by_name[name] is Mixture:
        return _parse_mixture(kind, fields, path)
    return _parse_dataclass(by_name[name], fields, path)


def _parse_mixture(kind: str, data: Mapping[str, Any], path: str) -> Mixture:
    _check_keys(Mixture, data, path)
    comps = data.get("components")
    weights = data.get("weights")
    if not isinstance(comps, list) or not comps:
        raise SpecError(f"{path}.components: expected a non-empty list, got {comps!r}")
    if weights is None:
        weights = [1.0] * len(comps)
    parsed = [_parse_tagged(kind, c, f"{path}.components[{i}]") for i, c in enumerate(comps)]
    return Mixture(parsed, [_as_float(w, f"{path}.weights[{i}]") for i, w in enumerate(_as_list(weights, f"{path}.weights"))])


def _check_keys(cls: type, data: Mapping[str, Any], path: str) -> None:
    names = [f.name for f in dataclasses.fields(cls)]
    unknown = [k for k in data if k not in names]
    if unknown:
        type_name = getattr(cls, "type", cls.__name__)
        raise SpecError(f"{path}: unknown key {unknown[0]!r} for {type_name}; allowed keys: {names}")


def _parse_dataclass(cls: type, data: Mapping[str, Any], path: str) -> Any:
    _check_keys(cls, data, path)
    hints = typing.get_type_hints(cls)
    kwargs = {k: _parse_value(hints[k], v, f"{path}.{k}") for k, v in data.items()}
    try:
        return cls(**kwargs)
    except TypeError as e:  # a required field is missing
        raise SpecError(f"{path}: {e}") from None


def _parse_value(hint: Any, value: Any, path: str) -> Any:
    if hint in _KIND_OF_UNION:
        return _parse_tagged(_KIND_OF_UNION[hint], value, path)
    if hint is Interventions:
        if not isinstance(value, Mapping):
            raise SpecError(f"{path}: expected a mapping, got {value!r}")
        return _parse_dataclass(Interventions, value, path)
    if hint == tuple[int, int]:
        return _node_range(value, path)
    origin = typing.get_origin(hint)
    if origin is Literal:
        if value not in typing.get_args(hint):
            raise SpecError(f"{path} = {value!r} is not allowed: expected one of {list(typing.get_args(hint))}")
        return value
    if origin in (Union, types.UnionType):  # Optional[float]
        if value is None:
            return None
        return _parse_value(next(a for a in typing.get_args(hint) if a is not type(None)), value, path)
    if hint is float:
        return _as_float(value, path)
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise SpecError(f"{path} = {value!r} is not allowed: expected an integer")
        return value
    if hint is bool:
        if not isinstance(value, bool):
            raise SpecError(f"{path} = {value!r} is not allowed: expected true or false")
        return value
    raise SpecError(f"{path}: unsupported field type {hint}")  # pragma: no cover - schema bug


def _as_float(value: Any, path: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise SpecError(f"{path} = {value!r} is not allowed: expected a number")
    value = float(value)
    if not math.isfinite(value):
        # JSON cannot carry NaN or infinity to the engine, so they stop here.
        raise SpecError(f"{path} = {value} is not allowed: must be a finite number")
    return value


def _as_list(value: Any, path: str) -> list[Any]:
    if not isinstance(value, (list, tuple)):
        raise SpecError(f"{path} = {value!r} is not allowed: expected a list")
    return list(value)


def _node_range(value: Any, path: str) -> tuple[int, int]:
    if isinstance(value, int) and not isinstance(value, bool):
        value = (value, value)
    if not (isinstance(value, (list, tuple)) and len(value) == 2
            and all(isinstance(v, int) and not isinstance(v, bool) for v in value)):
        raise SpecError(f"{path} = {value!r} is not allowed: expected an integer or [min, max] integers")
    for i, v in enumerate(value):
        if not 1 <= v <= MAX_NODES:
            raise SpecError(f"{path}[{i}] = {v} is not allowed: must be an integer in [1, {MAX_NODES}]")
    return (value[0], value[1])


def _to_plain(spec: Any, path: str = "family") -> Any:
    if dataclasses.is_dataclass(spec):
        out = {f.name: _to_plain(getattr(spec, f.name), f"{path}.{f.name}") for f in dataclasses.fields(spec)}
        tag = getattr(type(spec), "type", None)
        if tag is not None:
            out = {"type": tag, **out}
        return out
    if isinstance(spec, (list, tuple)):
        return [_to_plain(v, f"{path}[{i}]") for i, v in enumerate(spec)]
    if isinstance(spec, float):
        return _as_float(spec, path)  # specs built in code skip parsing; check here too
    return spec
