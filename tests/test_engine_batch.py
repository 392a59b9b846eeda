"""The batched engine calls behind vector environments must equal their one-SCM
counterparts: interventions N separate ``Scm.sample`` calls, stream for stream; SCMs N
``Scm.from_family`` calls, byte for byte; linear moments the matrix-inverse formula."""

from __future__ import annotations

import copy
import json
import pickle

import numpy as np
import pytest

from causal_meta import _core
from causal_meta.scm import (
    Scm,
    compile_family,
    family_json,
    sample_graphs,
    sample_scm,
    sample_scms,
    sample_tasks,
    task_seed,
    task_seeds,
)
from causal_meta.specs import (
    Er,
    Family,
    GaussianNoise,
    LaplaceNoise,
    Linear,
    Mixture,
    Mlp,
    SmallWorld,
    Uniform,
    UniformNoise,
)


def scms(count: int) -> list:
    fam = Family(nodes=(3, 9), graph=Er(edge_prob=0.4), mechanism=Mixture([Linear(), Mlp(hidden=8)], [1, 1]))
    out = [sample_scm(fam, s) for s in range(count)]
    for s, scm in enumerate(out):
        scm.seed_noise(100 + s)
    return out


@pytest.mark.parametrize("count", [12, 40], ids=["inline", "thread-pool"])
def test_batched_interventions_equal_separate_samples(count: int) -> None:
    batch = scms(count)
    single = copy.deepcopy(batch)
    rng = np.random.default_rng(0)
    for _ in range(3):  # streams advance identically over several steps
        nodes = np.array([rng.integers(-1, s.d) for s in batch], dtype=np.int64)
        values = rng.normal(size=count).astype(np.float32)
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


LINEAR = Family(nodes=(4, 12), graph=SmallWorld(k=2, rewire_prob=0.3), mechanism=Linear(bias=Uniform(-1.0, 1.0)),
                noise=Mixture([GaussianNoise(Uniform(0.5, 1.0)), LaplaceNoise(Uniform(0.5, 1.0)),
                               UniformNoise(Uniform(0.5, 1.0))], [1, 1, 1]))


@pytest.mark.parametrize("seeds", [[0, 7, 2**64 - 1, 123456789], list(range(100, 140))], ids=["inline", "thread-pool"])
def test_batched_scms_equal_separate_draws(seeds: list[int]) -> None:
    text = family_json(LINEAR)
    for batch in (sample_scms(LINEAR, seeds), sample_scms(text, np.array(seeds, np.uint64))):
        for seed, scm in zip(seeds, batch):
            assert pickle.dumps(scm) == pickle.dumps(Scm.from_family(text, seed))  # structure, parameters, stream
    noise_seeds = [5 + k for k in range(len(seeds))]
    reseeded = sample_scms(LINEAR, seeds, noise_seeds=noise_seeds)
    for noise, seed, scm in zip(noise_seeds, seeds, reseeded):
        alone = Scm.from_family(text, seed)
        alone.seed_noise(noise)
        assert pickle.dumps(scm) == pickle.dumps(alone)


def test_task_seeds_equal_task_seed() -> None:
    bases = [0, 3, 2**64 - 1]
    assert task_seeds(bases, 9).tolist() == [task_seed(b, 9) for b in bases]
    assert task_seeds(np.array(bases, np.uint64), [1, 2, 3]).tolist() == [task_seed(b, i) for b, i in zip(bases, [1, 2, 3])]


def test_stack_graphs_pads_each_adjacency() -> None:
    batch = sample_scms(LINEAR, range(6))
    adjacency, n_nodes = _core.stack_graphs(batch, 13)
    for k, scm in enumerate(batch):
        assert n_nodes[k] == scm.d
        np.testing.assert_array_equal(adjacency[k, :scm.d, :scm.d], scm.adjacency)
        assert not adjacency[k, scm.d:].any() and not adjacency[k, :, scm.d:].any()


def inverse_moments(scm: Scm) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Total effects B = (I - W)^-1, mean B^T b and std sqrt(sum_j B[j, k]^2 var_j): the
    textbook formula that the engine's propagation replaces."""
    w, b = scm.linear_parameters()
    per_scale = {"gaussian": 1.0, "uniform": 1.0, "laplace": 2.0}
    var = np.array([per_scale[name] * s * s for name, s in zip(scm.noise_names, scm.noise_scales)])
    effects = np.linalg.inv(np.eye(scm.d) - w)
    return effects, effects.T @ b, np.sqrt(np.square(effects).T @ var)


def test_linear_moments_equal_the_inverse_formula() -> None:
    batch = sample_scms(LINEAR, range(40))
    targets = np.array([k % scm.d for k, scm in enumerate(batch)])
    effect, mean, std = _core.linear_moments(batch, targets, 12)
    for k, scm in enumerate(batch):
        effects, want_mean, want_std = inverse_moments(scm)
        # float64 throughout; the two orders of summation differ by rounding only.
        np.testing.assert_allclose(effect[k, :scm.d], effects[:, targets[k]], rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(mean[k, :scm.d], want_mean, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(std[k, :scm.d], want_std, rtol=1e-12)
        assert (effect[k, scm.d:] == 0).all() and (mean[k, scm.d:] == 0).all() and (std[k, scm.d:] == 1).all()
        # Non-ancestors of the target have an exact zero effect.
        ancestors = effects[:, targets[k]] != 0
        assert (effect[k, :scm.d][~ancestors] == 0).all()


@pytest.mark.parametrize(("call", "message"), [
    (lambda: _core.linear_moments(sample_scms(LINEAR, [1]), np.array([99]), 12), r"targets\[0\] = 99"),
    (lambda: _core.linear_moments(sample_scms(LINEAR, [1, 2]), np.array([0]), 12), r"targets length = 1"),
    (lambda: _core.linear_moments(scms(3), np.zeros(3, np.int64), 9), r"scms\[\d\] has no exact linear moments"),
    (lambda: _core.stack_graphs(sample_scms(LINEAR, range(5)), 3), r"d_max = 3 is not allowed: scms\[\d\] has"),
    (lambda: sample_scms(LINEAR, [1, -2]), r"seeds\[1\] = -2 is not allowed"),
    (lambda: sample_scms(LINEAR, [1, 2], noise_seeds=[3]), r"noise_seeds length = 1"),
    (lambda: task_seeds([1, 2], [3]), r"index length = 1"),
])
def test_bad_batched_scm_arguments_name_the_field(call, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()


def test_seeds_of_the_wrong_kind_name_the_field() -> None:
    with pytest.raises(TypeError, match="seeds must be a sequence of integers, got float 3.5"):
        sample_scms(LINEAR, 3.5)
    with pytest.raises(TypeError, match=r"base_seeds\[0\] must be an integer"):
        task_seeds([1.5], 0)


@pytest.mark.parametrize("pairs", [3, 40], ids=["inline", "thread-pool"])
def test_column_under_interventions_equals_seeded_samples(pairs: int) -> None:
    scm = scms(1)[0]
    rng = np.random.default_rng(1)
    nodes = rng.integers(-1, scm.d, pairs)
    values = rng.normal(size=pairs).astype(np.float32)
    column = scm.d - 1
    out = scm.column_under_interventions(nodes, values, 7, 42, column)
    for m in range(pairs):
        do = None if nodes[m] < 0 else {int(nodes[m]): float(values[m])}
        np.testing.assert_array_equal(out[m], scm.sample(7, do=do, seed=42)[0][:, column])


@pytest.mark.parametrize(("nodes", "values", "column", "message"), [
    ([0, 1], [0.0], 0, r"lengths = \(2, 1\)"),
    ([0, 50], [0.0, 1.0], 0, r"nodes\[1\] = 50"),
    ([0, 1], [0.0, float("inf")], 0, r"values\[1\] = inf"),
    ([0], [0.0], 99, r"column = 99 is not allowed"),
])
def test_bad_column_under_interventions_arguments_name_the_field(nodes: list, values: list, column: int,
                                                                 message: str) -> None:
    with pytest.raises(ValueError, match=message):
        scms(1)[0].column_under_interventions(np.array(nodes), np.array(values, np.float32), 4, 0, column)


def test_a_compiled_family_gives_the_bytes_of_every_other_form() -> None:
    """A CompiledFamily is the family parsed once: every sampler gives with it what it
    gives with the Family, its mapping and its JSON; it pickles, compares and prints as
    its JSON, and compiling it again is the identity."""
    compiled = compile_family(LINEAR)
    forms = [LINEAR, LINEAR.to_dict(), family_json(LINEAR), compiled]
    reference = sample_tasks(LINEAR, 3, 5, 4, 7, 2)
    for form in forms[1:]:
        for got, want in zip(sample_tasks(form, 3, 5, 4, 7, 2), reference):
            np.testing.assert_array_equal(got, want)
        np.testing.assert_array_equal(sample_graphs(form, 3, 5, 4)[0], reference.adjacency)
        assert pickle.dumps(sample_scm(form, 9)) == pickle.dumps(sample_scm(LINEAR, 9))
        assert [pickle.dumps(s) for s in sample_scms(form, [1, 2])] == [pickle.dumps(s) for s in sample_scms(LINEAR, [1, 2])]
    assert compile_family(compiled) is compiled
    assert pickle.loads(pickle.dumps(compiled)) == compiled and compiled != compile_family(Family(nodes=9))
    assert compiled.max_nodes == 12 and json.loads(compiled.to_json()) == json.loads(family_json(LINEAR))
    assert repr(compiled).startswith("CompiledFamily({")


def test_bad_compiled_families_are_refused() -> None:
    with pytest.raises(ValueError, match=r"invalid spec at nodes"):
        _core.CompiledFamily('{"nodes": "many"}')
    with pytest.raises(TypeError, match=r"family must be a CompiledFamily or the family's JSON text, got dict"):
        _core.sample_tasks({"nodes": 3}, 0, 0, 1, 1, 0)
    with pytest.raises(ValueError, match=r"nodes\[1\] \(max nodes\) = 2 is not allowed"):
        compile_family({"nodes": [3, 2]})
