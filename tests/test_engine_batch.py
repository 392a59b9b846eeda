"""The batched intervention call behind vector environments must equal N separate
``Scm.sample`` calls, stream for stream."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from causal_meta import _core
from causal_meta.scm import sample_scm
from causal_meta.specs import Er, Family, Mixture, Linear, Mlp


def scms(count: int) -> list:
    fam = Family(nodes=(3, 9), graph=Er(edge_prob=0.4), mechanism=Mixture([Linear(), Mlp(hidden=8)], [1, 1]))
    out = [sample_scm(fam, s) for s in range(count)]
    for s, scm in enumerate(out):
        scm.seed_noise(100 + s)
    return out


def test_batched_interventions_equal_separate_samples() -> None:
    batch = scms(12)
    single = copy.deepcopy(batch)
    rng = np.random.default_rng(0)
    for _ in range(3):  # streams advance identically over several steps
        nodes = np.array([rng.integers(-1, s.d) for s in batch], dtype=np.int64)
        values = rng.normal(size=12).astype(np.float32)
        out = _core.sample_interventions(batch, nodes, values, 2, 9)
        for k, scm in enumerate(single):
            do = None if nodes[k] < 0 else {int(nodes[k]): float(values[k])}
            expected, _ = scm.sample(2, do=do)
            np.testing.assert_array_equal(out[k, :, : scm.d], expected)
            assert not out[k, :, scm.d:].any()


@pytest.mark.parametrize(("nodes", "values", "d_max", "message"), [
    ([0, 0], [0.0], 9, "lengths = \\(2, 1\\)"),
    ([0, 50], [0.0, 1.0], 9, "nodes\\[1\\] = 50"),
    ([0, 1], [0.0, float("nan")], 9, "values\\[1\\] = NaN"),
    ([0, 1], [0.0, 1.0], 2, "d_max = 2"),
])
def test_bad_batched_arguments_name_the_field(nodes: list, values: list, d_max: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _core.sample_interventions(scms(2), np.array(nodes, np.int64), np.array(values, np.float32), 1, d_max)
