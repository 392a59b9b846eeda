"""The vector environment equals N single environments, bit for bit, with Gymnasium
1.x autoreset; and it refuses what it does not support."""

from __future__ import annotations

import dataclasses
import pickle

import gymnasium as gym
import numpy as np
import pytest

import envs  # noqa: F401 - registers the ids
from causal_meta._core import start_episodes as start_engine_episodes
from causal_meta._core import step_envs
from causal_meta.scm import compile_family, task_seed
from envs.config import EnvConfig
from envs.episode import start_episodes
from envs.vector import CausalBOVectorEnv

N = 5


def assert_same_batch(vec: dict, sync: dict, what: str) -> None:
    assert vec.keys() == sync.keys(), what
    for key in sync:
        a, b = vec[key], sync[key]
        assert a.dtype == b.dtype and a.shape == b.shape, f"{what}[{key}]: {a.dtype}{a.shape} vs {b.dtype}{b.shape}"
        mask = sync.get(f"_{key}", np.ones(len(b), bool)) if not key.startswith("_") else np.ones(len(b), bool)
        np.testing.assert_array_equal(a[mask], b[mask], err_msg=f"{what}[{key}]")


@pytest.mark.parametrize("kwargs", [
    {"level": 5},
    {"level": 2, "samples_per_step": 3, "n_obs": 0, "horizon": 4},
    {"level": 13, "nodes": (6, 9), "optimum_samples": 4, "optimum_grid": 3, "horizon": 5},
    {"level": 12, "nodes": (6, 8), "optimum_samples": 0, "horizon": 3, "intervention_range": (-1.0, 3.0)},
], ids=["linear", "samples-per-step", "nonlinear", "no-optimum"])
def test_vector_env_equals_sync_vector_env_of_single_envs(kwargs: dict) -> None:
    horizon = kwargs.pop("horizon", 20)
    make = dict(num_envs=N, max_episode_steps=horizon, horizon=horizon, **kwargs)
    vec = gym.make_vec("CausalBO-v0", vectorization_mode="vector_entry_point", **make)
    sync = gym.make_vec("CausalBO-v0", vectorization_mode="sync", **make)
    assert isinstance(vec.unwrapped, CausalBOVectorEnv)
    assert vec.single_observation_space == sync.single_observation_space
    assert vec.single_action_space == sync.single_action_space
    for out_v, out_s in zip(vec.reset(seed=21), sync.reset(seed=21)):
        assert_same_batch(out_v, out_s, "reset")
    rng = np.random.default_rng(0)
    for t in range(3 * horizon + 2):
        if t == horizon // 2 + 1:  # stagger the episodes: reset some sub-environments early
            mask = np.array([True, False, True, False, False])
            for out_v, out_s in zip(vec.reset(options={"reset_mask": mask}), sync.reset(options={"reset_mask": mask})):
                assert_same_batch(out_v, out_s, f"partial reset {t}")
        actions = rng.uniform(-1.2, 1.2, vec.action_space.shape).astype(np.float32)
        obs_v, rew_v, term_v, trunc_v, info_v = vec.step(actions)
        obs_s, rew_s, term_s, trunc_s, info_s = sync.step(actions)
        assert_same_batch(obs_v, obs_s, f"obs {t}")
        assert_same_batch(info_v, info_s, f"info {t}")
        for a, b in ((rew_v, rew_s), (term_v, term_s), (trunc_v, trunc_s)):
            assert a.dtype == b.dtype
            np.testing.assert_array_equal(a, b, err_msg=f"step {t}")


def test_vector_env_level_option_and_errors() -> None:
    vec = CausalBOVectorEnv(3, level=1, max_nodes=9)
    _, info = vec.reset(seed=0, options={"level": 6})
    np.testing.assert_array_equal(info["level"], [6, 6, 6])
    with pytest.raises(ValueError, match=r"action shape = \(2, 10\) is not allowed: must be \(env, entry\) = "
                                         r"\(3, 10\)"):
        vec.step(np.zeros((2, 10), np.float32))
    with pytest.raises(ValueError, match=r"action\[env 1, entry 0\] = nan is not allowed: must be finite"):
        vec.step(np.array([[0.0] * 10, [np.nan] + [0.0] * 9, [0.0] * 10]))
    with pytest.raises(ValueError, match="surrogate is not allowed in the vector environment"):
        CausalBOVectorEnv(2, surrogate=lambda obs: obs)
    with pytest.raises(ValueError, match="benchmark is not allowed in the vector environment"):
        CausalBOVectorEnv(2, benchmark="psa")
    with pytest.raises(ValueError, match="horizon = 30 is not allowed with max_episode_steps = 20"):
        CausalBOVectorEnv(2, horizon=30, max_episode_steps=20)
    with pytest.raises(ValueError, match=r"num_envs = 0 is not allowed"):
        CausalBOVectorEnv(0)
    # 10**7 environments of T = 30 rows and at least 3 variables: past 2**27 observation cells.
    with pytest.raises(ValueError, match=r"num_envs \* T \* max_nodes = 10000000 \* 30 \* \d+ = \d+ is not allowed"):
        CausalBOVectorEnv(10**7)
    with pytest.raises(ValueError, match=r"level = 16 is not allowed"):
        gym.make_vec("CausalBO-v0", num_envs=2, vectorization_mode="vector_entry_point", level=16)


def test_batched_episode_starts_equal_single_ones_even_when_redrawn(monkeypatch: pytest.MonkeyPatch) -> None:
    """A batch of episode starts equals the same starts one at a time, including the rare
    redraws of SCMs without edges (made common here by a sparse family)."""
    sparse = compile_family({"nodes": [3, 5], "graph": {"type": "er", "edge_prob": 0.08}})
    monkeypatch.setattr(EnvConfig, "family", lambda self, level: sparse)
    cfg = EnvConfig.build(3)
    seeds = [task_seed(11, k) for k in range(60)]
    batch = start_episodes(cfg, [3] * len(seeds), seeds)
    for k, seed in enumerate(seeds):
        one = start_episodes(cfg, [3], [seed])
        assert pickle.dumps(batch.scms[k]) == pickle.dumps(one.scms[0])  # structure, parameters, noise stream
        assert batch.scms[k].adjacency.any()
        for field in ("target", "valid", "parents", "mean", "std", "effect", "optimum", "observations"):
            np.testing.assert_array_equal(getattr(batch, field)[k], getattr(one, field)[0], err_msg=field)


class RowCountSurrogate:
    """Parent probabilities that sharpen as rows fill and depend on the values seen, for
    observations with any leading axes (one environment's, or the vector what-if's
    (env) and (env, candidate) batches)."""

    def __call__(self, obs: dict[str, np.ndarray]) -> np.ndarray:
        filled = obs["row_mask"].mean(axis=-1)[..., None]
        signal = np.tanh(np.abs(obs["samples"]).sum(axis=-2) / 50.0)
        p = np.clip(0.5 + 0.3 * filled * signal, 0.0, 1.0)
        return p * obs["node_mask"]


@pytest.mark.parametrize("kwargs", [{"level": 5}, {"level": 13, "nodes": (6, 9), "samples_per_step": 3},
                                    {"level": 2, "w_info": 0.5}], ids=["linear", "nonlinear", "info-gain"])
def test_batched_what_if_equals_single_what_if(kwargs: dict) -> None:
    n, g = 6, 5
    surrogate = RowCountSurrogate() if "w_info" in kwargs else None
    vec = CausalBOVectorEnv(n, **kwargs)
    singles = [envs.CausalBOEnv(**kwargs, surrogate=surrogate) for _ in range(n)]
    obs, _ = vec.reset(seed=5)
    for i, single in enumerate(singles):
        single.reset(seed=5 + i)
    rng = np.random.default_rng(0)
    for _ in range(3):
        candidates = rng.uniform(-1.2, 1.2, (n, g, vec.config.max_nodes + 1)).astype(np.float32)
        batched = vec.what_if(candidates, surrogate)
        for i, single in enumerate(singles):
            one = single.what_if(candidates[i])
            for field in one._fields:
                np.testing.assert_array_equal(getattr(batched, field)[i], getattr(one, field), err_msg=field)
        actions = rng.uniform(-1, 1, (n, vec.config.max_nodes + 1)).astype(np.float32)
        obs = vec.step(actions)[0]
        for i, single in enumerate(singles):
            single.step(actions[i])
    if surrogate:
        assert np.abs(batched.info_gains).min() > 0  # the gain term counts
        assert np.abs(batched.rewards - vec.what_if(candidates).rewards).max() > 0
    with pytest.raises(ValueError, match=r"action shape = \(6, 9\) is not allowed: must be "
                                         r"\(env, candidate, entry\) = \(6, any, "):
        vec.what_if(np.zeros((6, 9)))


def test_stepping_before_reset_says_so() -> None:
    vec = CausalBOVectorEnv(3, level=2)
    with pytest.raises(RuntimeError, match=r"step\(\) called before reset\(\): sub-environment 0 has no episode"):
        vec.step(np.zeros((3, 5), np.float32))
    vec.reset(seed=0, options={"reset_mask": np.array([True, False, True])})
    with pytest.raises(RuntimeError, match=r"sub-environment 1 has no episode"):
        vec.step(np.zeros((3, 5), np.float32))


def test_engine_step_and_start_refuse_bad_arrays_by_name() -> None:
    """The engine calls behind the vector env name what is wrong with their arrays: a
    strided view, a short array, a wrong dtype; and a width or range that cannot hold an
    episode."""
    vec = CausalBOVectorEnv(3, level=2)
    vec.reset(seed=0)
    episodes, arrays, cfg = vec._episodes, vec._arrays, vec.config
    actions, stepping = np.zeros((3, cfg.max_nodes + 1)), np.ones(3, bool)

    def step(episodes=episodes, arrays=arrays, actions=actions):
        return step_envs(episodes, arrays, actions, stepping, 1, cfg.n_obs, vec._rules)

    strided = dataclasses.replace(episodes, mean=np.zeros((3, 2 * cfg.max_nodes))[:, ::2])
    with pytest.raises(ValueError, match=r"mean = a strided view is not allowed: must be a C-contiguous array"):
        step(strided)
    with pytest.raises(ValueError, match=r"std length = 6 is not allowed: must be \(count, D\)"):
        step(dataclasses.replace(episodes, std=np.ones((3, 2))))
    with pytest.raises(ValueError, match=r"actions length = 3 is not allowed: must be \(count, D \+ 1\)"):
        step(actions=np.zeros((3, 1)))
    with pytest.raises(TypeError, match=r"StepArrays\.steps"):
        step(arrays=dataclasses.replace(arrays, steps=arrays.steps.astype(np.int32)))
    with pytest.raises(TypeError, match=r"Episodes\.target"):
        step(dataclasses.replace(episodes, target=episodes.target.astype(np.int32)))
    arrays.steps[:] = cfg.horizon  # past the last row
    with pytest.raises(ValueError, match=r"must lie within the \d+ rows of the observation"):
        step()
    family = cfg.family(2)
    with pytest.raises(ValueError, match=r"width = 2 is not allowed: must be at least the SCM's \d nodes"):
        start_engine_episodes(family, [1, 2, 3], 0, 2, -2.0, 2.0)
    with pytest.raises(ValueError, match=r"low = NaN is not allowed"):
        start_engine_episodes(family, [1], 0, 9, float("nan"), 2.0)


def test_strided_actions_step_like_contiguous_ones() -> None:
    """A strided float64 view of the actions steps exactly like its contiguous copy."""
    runs = []
    for strided in (False, True):
        vec = CausalBOVectorEnv(3, level=4)
        vec.reset(seed=1)
        wide = np.random.default_rng(0).uniform(-1, 1, (3, 2 * (vec.config.max_nodes + 1)))
        actions = wide[:, ::2] if strided else np.ascontiguousarray(wide[:, ::2])
        runs.append(vec.step(actions)[1])
    np.testing.assert_array_equal(*runs)


def test_episode_starts_of_mixed_levels_equal_single_ones() -> None:
    """One start over several levels (one engine call per level, merged) equals the
    episodes started one at a time."""
    cfg = EnvConfig.build(6)
    levels, seeds = [3, 6, 3, 1, 6], [task_seed(5, k) for k in range(5)]
    batch = start_episodes(cfg, levels, seeds)
    for k, (level, seed) in enumerate(zip(levels, seeds)):
        one = start_episodes(cfg, [level], [seed])
        assert pickle.dumps(batch.scms[k]) == pickle.dumps(one.scms[0])
        for field in ("target", "valid", "parents", "mean", "std", "low", "high", "effect", "optimum", "observations"):
            np.testing.assert_array_equal(getattr(batch, field)[k], getattr(one, field)[0], err_msg=field)


def test_what_if_names_the_callers_index_of_a_bad_candidate() -> None:
    """A non-finite candidate is reported at the caller's (env, candidate, entry), not at
    an index into the flattened batch the environment decodes."""
    vec = CausalBOVectorEnv(3, level=2)
    vec.reset(seed=0)
    candidates = np.zeros((3, 4, vec.config.max_nodes + 1))
    candidates[1, 2, 3] = np.nan
    with pytest.raises(ValueError, match=r"action\[env 1, candidate 2, entry 3\] = nan is not allowed: must be finite"):
        vec.what_if(candidates)


def _misbehaving(leading: int, bad):
    """A surrogate answering 0.5 everywhere, but ``bad(answer)`` on the observations with
    ``leading`` leading axes (1: the current ones (env), 2: the hypothetical ones (env,
    candidate))."""
    def surrogate(obs: dict[str, np.ndarray]) -> np.ndarray:
        out = np.full(obs["node_mask"].shape, 0.5)
        return bad(out) if obs["node_mask"].ndim - 1 == leading else out
    return surrogate


def _put(index: tuple[int, ...], value: float):
    def bad(p: np.ndarray) -> np.ndarray:
        p[index] = value
        return p
    return bad


@pytest.mark.parametrize(("surrogate", "message"), [
    (_misbehaving(2, _put((2, 1, 0), np.nan)),
     r"surrogate output\[env 2, candidate 1, node 0\] = nan is not allowed: must be a probability in \[0, 1\]"),
    (_misbehaving(1, _put((1, 3), 1.5)),
     r"surrogate output\[env 1, node 3\] = 1.5 is not allowed: must be a probability in \[0, 1\]"),
    (_misbehaving(2, _put((0, 3, 2), -np.inf)),
     r"surrogate output\[env 0, candidate 3, node 2\] = -inf is not allowed: must be a probability"),
    (_misbehaving(2, lambda p: p[:, 0, 0]),
     r"surrogate output shape = \(3,\) is not allowed: must be \(env, candidate, node\) = \(3, 4, 4\)"),
    (_misbehaving(2, lambda p: p.transpose(1, 0, 2)),
     r"surrogate output shape = \(4, 3, 4\) is not allowed: must be \(env, candidate, node\) = \(3, 4, 4\)"),
    (_misbehaving(1, lambda p: np.full(p.shape, "high")), r"surrogate output dtype = <U4 is not allowed: must be real"),
], ids=["nan", "above-one", "minus-inf", "short", "transposed", "text"])
def test_what_if_refuses_a_bad_surrogate_output_by_name(surrogate, message: str) -> None:
    """The surrogate's outputs, on the current and on the hypothetical observations, are
    checked as the single environment checks its surrogate's, at the caller's (env,
    candidate, node): a NaN would otherwise become a NaN reward, and a wrong shape
    numpy's broadcast error."""
    vec = CausalBOVectorEnv(3, level=2, w_info=0.5)
    vec.reset(seed=0)
    assert vec.config.max_nodes == 4
    with pytest.raises(ValueError, match=message):
        vec.what_if(np.zeros((3, 4, vec.config.max_nodes + 1)), surrogate)


def test_what_if_gain_is_zero_where_a_float32_surrogate_is_certain() -> None:
    """Probabilities of exactly 0 and 1 in float32 (a sigmoid saturates there) give the
    same entropy before and after, so a gain of 0, not NaN (see parent_entropy)."""
    vec = CausalBOVectorEnv(3, level=2, w_info=0.5)
    vec.reset(seed=0)

    def certain(obs: dict[str, np.ndarray]) -> np.ndarray:
        return (obs["node_mask"] * obs["row_mask"].any(axis=-1)[..., None]).astype(np.float32)
    scored = vec.what_if(np.zeros((3, 4, vec.config.max_nodes + 1)), certain)
    np.testing.assert_array_equal(scored.info_gains, np.zeros((3, 4)))
    assert np.isfinite(scored.rewards).all()


@pytest.mark.filterwarnings("error")  # huge finite entries are valid actions: no overflow warning on the way
def test_actions_outside_the_box_clip_their_value_alike_everywhere() -> None:
    """An action outside Box(-1, 1) is decoded as documented, by the single environment's
    step and what-if and by the vector environment's step (the engine's decode) and
    what-if alike: the value entry is clipped to [-1, 1], and the scores are used as they
    are (only their order counts; clipping them would tie 2 and 3, or 9e307 and 1e308,
    and hand the choice to the lower index)."""
    n = 3
    vec = CausalBOVectorEnv(n, level=5)
    singles = [envs.CausalBOEnv(level=5) for _ in range(n)]
    vec.reset(seed=3)
    for i, single in enumerate(singles):
        single.reset(seed=3 + i)
    d, episodes = vec.config.max_nodes, vec._episodes
    outside, inside = np.full((n, d + 1), -5.0), np.full((n, d + 1), -1.0)
    chosen = np.zeros(n, np.int64)
    for i, (low_score, high_score) in enumerate([(2.0, 3.0), (9e307, 1e308), (-3.0, -2.0)]):
        first, chosen[i] = np.flatnonzero(episodes.valid[i])[:2]
        outside[i, first], outside[i, chosen[i]] = low_score, high_score
        inside[i, chosen[i]] = 1.0
    outside[:, d], inside[:, d] = [7.0, -1e308, 1e308], [1.0, -1.0, 1.0]

    both = vec.what_if(np.stack([outside, inside], axis=1))  # one group: the same noise for both candidates
    for field in both._fields:
        np.testing.assert_array_equal(getattr(both, field)[:, 0], getattr(both, field)[:, 1], err_msg=field)
    np.testing.assert_array_equal(both.nodes[:, 0], chosen)
    for i, single in enumerate(singles):
        one = single.what_if(np.stack([outside[i], inside[i]]))
        for field in one._fields:
            np.testing.assert_array_equal(getattr(one, field), getattr(both, field)[i], err_msg=field)

    ends = np.where(inside[:, d] > 0, episodes.high[np.arange(n), chosen], episodes.low[np.arange(n), chosen])
    _, rewards, _, _, info = vec.step(outside)
    np.testing.assert_array_equal(info["node"], chosen)
    np.testing.assert_array_equal(info["value"], ends.astype(np.float32))
    for i, single in enumerate(singles):
        _, reward, _, _, one = single.step(outside[i])
        assert (one["node"], one["value"], reward) == (chosen[i], info["value"][i], rewards[i])
