"""Named benchmark SCMs from the causal Bayesian optimisation literature.

Their mechanisms (exp, cos, sigmoid) are not engine mechanisms, so each is a small numpy
SCM with the part of the engine's ``Scm`` interface that the environment uses: ``d``,
``adjacency``, ``parents(i)``, ``topological_order``, ``is_linear``, ``seed_noise(seed)``
and ``sample(n, do={i: v} | None, seed=None) -> (data, mask)``. As in the engine, every
call draws noise for every variable, intervened or not, from the SCM's own stream (or
from a fresh stream when ``seed`` is given), so two calls with the same seed share their
noise whatever they intervene on.

Each SCM also names its variables, its target, and the published intervention domain of
each manipulable variable; the environment intervenes only on those, within them.

References
----------
Aglietti, V., Lu, X., Paleyes, A. and Gonzalez, J. (2020). Causal Bayesian
Optimization. AISTATS, PMLR 108. http://proceedings.mlr.press/v108/aglietti20a.html;
code: https://github.com/VirgiAgl/CausalBayesianOptimization (graphs/ToyGraph.py and
graphs/CompleteGraph.py hold the equations, manipulable variables and intervention
ranges used here).

Ferro, A., Pina, F., Severo, M., Dias, P., Botelho, F. and Lunet, N. (2015). Use of
statins and serum levels of prostate specific antigen. Acta Urologica Portuguesa
32(2):71-77. (The study behind the PSA graph of Aglietti et al.)
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

__all__ = ["NAMED_SCMS", "CompleteGraph", "NamedScm", "PsaGraph", "ToyGraph"]


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


class NamedScm:
    """A fixed SCM written in numpy; subclasses give the graph and the equations."""

    names: ClassVar[tuple[str, ...]]
    parent_names: ClassVar[dict[str, tuple[str, ...]]]
    target_name: ClassVar[str]
    domain_names: ClassVar[dict[str, tuple[float, float]]]
    is_linear: ClassVar[bool] = False

    def __init__(self) -> None:
        self._rng = np.random.default_rng(0)
        index = {name: i for i, name in enumerate(self.names)}
        self._parents = [sorted(index[p] for p in self.parent_names.get(name, ())) for name in self.names]
        self.target = index[self.target_name]
        self.domains = {index[name]: bounds for name, bounds in self.domain_names.items()}

    @property
    def d(self) -> int:
        return len(self.names)

    @property
    def adjacency(self) -> np.ndarray:
        """(d, d) uint8 with A[i, j] = 1 for i -> j."""
        a = np.zeros((self.d, self.d), dtype=np.uint8)
        for j, parents in enumerate(self._parents):
            a[parents, j] = 1
        return a

    @property
    def topological_order(self) -> list[int]:
        """The variables are listed causes first."""
        return list(range(self.d))

    def parents(self, i: int) -> list[int]:
        return list(self._parents[i])

    def seed_noise(self, seed: int) -> None:
        """Reset the SCM's own noise stream."""
        self._rng = np.random.default_rng(seed)

    def sample(self, n: int, do: dict[int, float] | None = None, seed: int | None = None
               ) -> tuple[np.ndarray, np.ndarray]:
        """``n`` rows as float32 (n, d) and the uint8 intervention mask."""
        rng = self._rng if seed is None else np.random.default_rng(seed)
        do = do or {}
        for i in do:
            if not 0 <= i < self.d:
                raise ValueError(f"do node = {i} is not allowed: must be a node index in [0, {self.d - 1}]")
        data = self._equations(self._noise(rng, n), do)
        mask = np.zeros((n, self.d), dtype=np.uint8)
        mask[:, list(do)] = 1
        return data.astype(np.float32), mask

    def _noise(self, rng: np.random.Generator, n: int) -> np.ndarray:
        raise NotImplementedError

    def _equations(self, noise: np.ndarray, do: dict[int, float]) -> np.ndarray:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}(d={self.d}, target={self.target_name})"


class _Columns:
    """Fills the columns of one sample in causal order, honouring do()."""

    def __init__(self, n: int, d: int, do: dict[int, float]) -> None:
        self.x = np.empty((n, d))
        self.do = do

    def set(self, i: int, value: Any) -> np.ndarray:
        self.x[:, i] = self.do.get(i, value)
        return self.x[:, i]


class ToyGraph(NamedScm):
    """The three-node toy graph of Aglietti et al. (2020), X -> Z -> Y:

        X = e_X,  Z = exp(-X) + e_Z,  Y = cos(Z) - exp(-Z / 20) + e_Y,  e ~ N(0, 1),

    minimising Y over do(X = x), x in [-5, 5], and do(Z = z), z in [-5, 20]. The optimum is
    do(Z = z*) with z* near -3.2, where E[Y] = cos(z*) - exp(-z*/20) is about -2.17.
    """

    names = ("X", "Z", "Y")
    parent_names = {"Z": ("X",), "Y": ("Z",)}
    target_name = "Y"
    domain_names = {"X": (-5.0, 5.0), "Z": (-5.0, 20.0)}

    def _noise(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return rng.standard_normal((n, 3))

    def _equations(self, noise: np.ndarray, do: dict[int, float]) -> np.ndarray:
        c = _Columns(len(noise), 3, do)
        x = c.set(0, noise[:, 0])
        z = c.set(1, np.exp(-x) + noise[:, 1])
        c.set(2, np.cos(z) - np.exp(-z / 20.0) + noise[:, 2])
        return c.x


class PsaGraph(NamedScm):
    """The prostate-specific antigen (PSA) graph of Aglietti et al. (2020, Fig. 1), after
    Ferro et al. (2015), with the structural equations used in the causal BO literature:

        age     ~ U(55, 75)
        bmi     ~ N(27 - 0.01 age, 0.7^2)
        aspirin = sigmoid(-8.0 + 0.10 age + 0.03 bmi)
        statin  = sigmoid(-13.0 + 0.10 age + 0.20 bmi)
        cancer  = sigmoid(2.2 - 0.05 age + 0.01 bmi - 0.04 statin + 0.02 aspirin)
        psa     ~ N(6.8 + 0.04 age - 0.15 bmi - 0.60 statin + 0.55 aspirin + 1.00 cancer, 0.4^2)

    minimising PSA over the drug doses do(aspirin = a) and do(statin = s), a, s in [0, 1];
    age, BMI and cancer are not manipulable. Full statin is the best single intervention.
    """

    names = ("age", "bmi", "aspirin", "statin", "cancer", "psa")
    parent_names = {
        "bmi": ("age",),
        "aspirin": ("age", "bmi"),
        "statin": ("age", "bmi"),
        "cancer": ("age", "bmi", "aspirin", "statin"),
        "psa": ("age", "bmi", "aspirin", "statin", "cancer"),
    }
    target_name = "psa"
    domain_names = {"aspirin": (0.0, 1.0), "statin": (0.0, 1.0)}

    def _noise(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return np.column_stack([rng.uniform(55.0, 75.0, n), rng.standard_normal(n), rng.standard_normal(n)])

    def _equations(self, noise: np.ndarray, do: dict[int, float]) -> np.ndarray:
        c = _Columns(len(noise), 6, do)
        age = c.set(0, noise[:, 0])
        bmi = c.set(1, 27.0 - 0.01 * age + 0.7 * noise[:, 1])
        aspirin = c.set(2, _sigmoid(-8.0 + 0.10 * age + 0.03 * bmi))
        statin = c.set(3, _sigmoid(-13.0 + 0.10 * age + 0.20 * bmi))
        cancer = c.set(4, _sigmoid(2.2 - 0.05 * age + 0.01 * bmi - 0.04 * statin + 0.02 * aspirin))
        c.set(5, 6.8 + 0.04 * age - 0.15 * bmi - 0.60 * statin + 0.55 * aspirin + 1.00 * cancer + 0.4 * noise[:, 2])
        return c.x


class CompleteGraph(NamedScm):
    """The synthetic "complete graph" of Aglietti et al. (2020, Fig. 2c), with two hidden
    confounders U1 (of A and Y) and U2 (of B and Y) that the agent never observes:

        U1, U2, e_* ~ N(0, 1)
        F = e_F,  A = F^2 + U1 + e_A,  B = U2 + e_B,  C = exp(-B) + e_C,
        D = exp(-C) / 10 + e_D,  E = cos(A) + C / 10 + e_E,
        Y = cos(D) - D / 5 + sin(E) - E / 4 + U1 + exp(-U2) + e_Y,

    minimising Y over single interventions on the published manipulable variables,
    do(B = b), b in [-5, 4], do(D = d), d in [-5, 5], and do(E = e), e in [-6, 3]. The
    confounders are noise terms shared by two equations, so the observed graph (the one
    ``adjacency`` gives) is F -> A -> E, B -> C -> D, C -> E, D -> Y, E -> Y. The best
    single intervention is do(D = d*), d* near 3.34, where cos d - d / 5 is lowest.
    """

    names = ("F", "A", "B", "C", "D", "E", "Y")
    parent_names = {"A": ("F",), "C": ("B",), "D": ("C",), "E": ("A", "C"), "Y": ("D", "E")}
    target_name = "Y"
    domain_names = {"B": (-5.0, 4.0), "D": (-5.0, 5.0), "E": (-6.0, 3.0)}

    def _noise(self, rng: np.random.Generator, n: int) -> np.ndarray:
        # Columns: U1, U2, then e_F, e_A, e_B, e_C, e_D, e_E, e_Y.
        return rng.standard_normal((n, 9))

    def _equations(self, noise: np.ndarray, do: dict[int, float]) -> np.ndarray:
        u1, u2, e = noise[:, 0], noise[:, 1], noise[:, 2:]
        c = _Columns(len(noise), 7, do)
        f = c.set(0, e[:, 0])
        a = c.set(1, f**2 + u1 + e[:, 1])
        b = c.set(2, u2 + e[:, 2])
        cc = c.set(3, np.exp(-b) + e[:, 3])
        d = c.set(4, np.exp(-cc) / 10.0 + e[:, 4])
        ee = c.set(5, np.cos(a) + cc / 10.0 + e[:, 5])
        c.set(6, np.cos(d) - d / 5.0 + np.sin(ee) - ee / 4.0 + u1 + np.exp(-u2) + e[:, 6])
        return c.x


NAMED_SCMS: dict[str, type[NamedScm]] = {"toy_graph": ToyGraph, "psa": PsaGraph, "complete_graph": CompleteGraph}
"""Named SCMs by the ``benchmark`` keyword of the environment."""
