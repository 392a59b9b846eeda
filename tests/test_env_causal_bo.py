"""CausalBO-v0: checkers, seeding, the action rule, rewards and regrets computed by hand,
what-if, the surrogate hook, named SCMs, horizons, rendering and argument errors."""

from __future__ import annotations

import math
import subprocess
import sys
import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env as gym_check_env
from hypothesis import given, settings
from hypothesis import strategies as st
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.legend import Legend
from matplotlib.text import Text
from matplotlib.transforms import Bbox
from stable_baselines3.common.env_checker import check_env as sb3_check_env

import envs
from envs import render
from envs.actions import decode_actions, encode_actions
from envs.causal_bo import CausalBOEnv, parent_entropy
from envs.wrappers import FlattenObservation, ParentProbabilityObservation

ALL_IDS = [("CausalBO-v0", {"level": k}) for k in range(1, 16)]
ALL_IDS += [("CausalBO-ToyGraph-v0", {}), ("CausalBO-PSA-v0", {}), ("CausalBO-CompleteGraph-v0", {})]


def action(env: CausalBOEnv, node: int, u: float) -> np.ndarray:
    """Scores that pick ``node`` and the value entry ``u``."""
    a = -np.ones(env.config.max_nodes + 1, np.float32)
    a[node], a[-1] = 1.0, u
    return a


def same(a, b) -> bool:
    """Equal (nested) observations, infos and step tuples; NaN equals NaN."""
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, tuple):
        return isinstance(b, tuple) and len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, float) and math.isnan(a):
        return isinstance(b, float) and math.isnan(b)
    return type(a) is type(b) and bool(np.array_equal(a, b, equal_nan=np.asarray(a).dtype.kind == "f"))


@pytest.mark.parametrize(("env_id", "kwargs"), ALL_IDS, ids=[f"{i}-{k}" for i, k in ALL_IDS])
def test_gymnasium_and_sb3_checkers_pass(env_id: str, kwargs: dict) -> None:
    gym_check_env(gym.make(env_id, **kwargs).unwrapped, skip_render_check=False)
    with warnings.catch_warnings():
        # The (T, max_nodes) layout asked for is not an image or a vector; SB3 says so.
        warnings.filterwarnings("ignore", message=".*unconventional shape.*")
        sb3_check_env(gym.make(env_id, **kwargs))


def test_checkers_pass_with_rendering_and_flattening() -> None:
    gym_check_env(gym.make("CausalBO-v0", level=4, render_mode="rgb_array").unwrapped, skip_render_check=False)
    flat = FlattenObservation(gym.make("CausalBO-v0", level=4))
    sb3_check_env(flat)
    raw = gym.make("CausalBO-v0", level=4)
    obs, _ = raw.reset(seed=3)  # the layout is Gymnasium's own flatten
    expected = gym.spaces.flatten(raw.observation_space, obs)
    got, _ = flat.reset(seed=3)
    assert got.dtype == expected.dtype == np.float32 and np.array_equal(got, expected)
    assert flat.observation_space == gym.spaces.flatten_space(raw.observation_space)


def test_make_without_import_and_idempotent_registration() -> None:
    code = "import gymnasium; e = gymnasium.make('envs:CausalBO-v0', level=5); e.reset(seed=0); print('ok')"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "ok"
    import importlib

    importlib.reload(envs)  # registering again is harmless
    assert set(envs.IDS) <= set(gym.registry)


def run(env: CausalBOEnv, seed: int, steps: int, level_reset: int = 1) -> list:
    """Observations, rewards and infos of a seeded rollout with seeded random actions."""
    out = [env.reset(seed=seed)]
    rng = np.random.default_rng(seed)
    for _ in range(steps):
        out.append(env.step(rng.uniform(-1, 1, env.action_space.shape).astype(np.float32)))
    return out


@pytest.mark.parametrize("kwargs", [{"level": 3}, {"level": 13, "nodes": (6, 9), "optimum_samples": 8},
                                    {"benchmark": "toy_graph"}])
def test_trajectories_are_determined_by_the_seed(kwargs: dict) -> None:
    a = run(CausalBOEnv(**kwargs), 11, 12)
    b = run(CausalBOEnv(**kwargs), 11, 12)
    assert all(same(x, y) for x, y in zip(a, b))
    c = run(CausalBOEnv(**kwargs), 12, 12)
    assert not same(a[0][0], c[0][0])


def test_an_episode_is_a_pure_function_of_seed_and_index() -> None:
    quiet, busy = CausalBOEnv(level=7), CausalBOEnv(level=7)
    quiet.reset(seed=5)
    busy.reset(seed=5)
    for _ in range(3):  # the busy env acts and asks what-if questions between resets
        busy.step(busy.action_space.sample())
        busy.what_if(np.stack([busy.action_space.sample() for _ in range(4)]))
        quiet_obs, quiet_info = quiet.reset()
        busy_obs, busy_info = busy.reset()
        assert same(quiet_obs, busy_obs) and same(quiet_info, busy_info)
    assert busy.reset(seed=5)[1] == CausalBOEnv(level=7).reset(seed=5)[1]


def test_random_actions_never_touch_the_target_or_padding() -> None:
    for level in (1, 3, 6, 9):
        env = CausalBOEnv(level=level, max_nodes=25)
        for episode in range(4):
            _, info = env.reset(seed=episode)
            ep = env.episode
            assert ep.parents[: ep.d].any(), "the target must have a parent"
            for _ in range(10):
                _, _, _, _, step = env.step(env.action_space.sample())
                assert step["node"] != info["target"] and step["node"] < ep.d
                assert ep.low[step["node"]] - 1e-5 <= step["value"] <= ep.high[step["node"]] + 1e-5


def test_the_action_rule() -> None:
    env = CausalBOEnv(level=5)
    env.reset(seed=2)
    ep = env.episode
    node = int(np.flatnonzero(ep.valid)[0])
    a = action(env, node, -1.0)
    a[ep.target] = 5.0  # the target's high score is ignored
    a[ep.d:-1] = 9.0 if ep.d < env.config.max_nodes else a[ep.d:-1]
    info = env.step(a)[4]
    assert info["node"] == node and info["value"] == pytest.approx(ep.low[node], rel=1e-6)
    assert env.step(action(env, node, 7.0))[4]["value"] == pytest.approx(ep.high[node], rel=1e-6)  # clipped
    mid = env.step(action(env, node, 0.0))[4]["value"]
    assert mid == pytest.approx((ep.low[node] + ep.high[node]) / 2, rel=1e-5, abs=1e-6)
    tie = np.zeros(env.config.max_nodes + 1, np.float32)  # ties go to the lowest valid index
    assert env.step(tie)[4]["node"] == int(np.flatnonzero(ep.valid)[0])


@given(st.integers(0, 2**32 - 1))
@settings(max_examples=40, deadline=None)
def test_encode_actions_inverts_the_action_rule(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n, d = 7, 5
    valid = rng.random((n, d)) < 0.7
    valid[np.arange(n), rng.integers(0, d, n)] = True
    low = rng.normal(size=(n, d)).astype(np.float32).astype(np.float64)
    high = (low + rng.uniform(0.1, 10.0, (n, d))).astype(np.float32).astype(np.float64)
    nodes = np.array([rng.choice(np.flatnonzero(v)) for v in valid])
    values = rng.uniform(low[np.arange(n), nodes], high[np.arange(n), nodes])
    decoded_nodes, decoded = decode_actions(encode_actions(nodes, values, low, high).astype(np.float64), valid, low,
                                            high)
    np.testing.assert_array_equal(decoded_nodes, nodes)
    # float32 actions and values: agreement to float32 precision of the interval
    assert (np.abs(decoded - values) <= 1e-6 * (np.abs(values) + (high - low)[np.arange(n), nodes])).all()


def test_valid_observation_marks_the_choosable_nodes() -> None:
    env = CausalBOEnv(level=4)
    obs, info = env.reset(seed=0)
    np.testing.assert_array_equal(obs["valid"], env.episode.valid.astype(np.int8))
    assert obs["valid"][info["target"]] == 0 and obs["valid"].sum() == obs["node_mask"].sum() - 1
    psa = CausalBOEnv(benchmark="psa")
    obs, _ = psa.reset(seed=0)
    assert np.flatnonzero(obs["valid"]).tolist() == [2, 3]  # aspirin and statin only
    assert info["target_std"] == env.episode.std[info["target"]]


@pytest.mark.parametrize("graph", ["sbm", "grg", "tree", "er1"])
def test_graph_override_reaches_structures_no_level_uses(graph: str) -> None:
    env = CausalBOEnv(level=7, graph=graph)
    env.reset(seed=0)
    assert env.config.graph == graph and env.episode.d >= 10
    with pytest.raises(ValueError, match=r"graph = 'lattice' is not allowed: expected one of \['bipartite'"):
        CausalBOEnv(level=7, graph="lattice")


@pytest.mark.parametrize(("bad", "message"), [
    (np.full(9, np.nan, np.float32), r"action\[entry 0\] = nan is not allowed: must be finite"),
    (np.zeros(5, np.float32), r"action shape = \(5,\) is not allowed: must be \(entry,\) = \(9,\)"),
    (np.zeros((2, 9), np.float32), r"action shape = \(2, 9\) is not allowed: must be \(entry,\) = \(9,\)"),
])
def test_bad_actions_raise_clear_errors(bad: np.ndarray, message: str) -> None:
    env = CausalBOEnv(level=5)
    env.reset(seed=0)
    with pytest.raises(ValueError, match=message):
        env.step(bad)
    with pytest.raises(ValueError, match=r"action shape = \(9,\) is not allowed: must be \(candidate, entry\) = "
                                         r"\(any, 9\)"):
        env.what_if(np.zeros(9))
    env.what_if(np.zeros((2, 9)))  # a batch is what what_if takes


def chain_env(target_is_leaf: bool, **kwargs) -> tuple[CausalBOEnv, int, int, int, dict]:
    for seed in range(50):
        env = CausalBOEnv(level=1, **kwargs)
        obs, info = env.reset(seed=seed)
        a = env.episode.scm.adjacency
        root = int(np.flatnonzero(a.sum(axis=0) == 0)[0])
        mid = int(np.flatnonzero(a[root])[0])
        leaf = int(np.flatnonzero(a[mid])[0])
        if (info["target"] == leaf) == target_is_leaf:
            return env, root, mid, leaf, info
    raise AssertionError("no seed gave the wanted target")


def test_reward_and_regret_on_a_fixed_linear_chain(fixed_chain) -> None:
    # root -> mid -> leaf, x = 2 * parent + N(0, 1): variances 1, 5, 21, means 0.
    env, root, mid, leaf, info = chain_env(target_is_leaf=True)
    ep = env.episode
    np.testing.assert_allclose(ep.std[[root, mid, leaf]], [1.0, math.sqrt(5), math.sqrt(21)], rtol=1e-12)
    np.testing.assert_allclose(ep.mean[:3], 0.0, atol=1e-12)
    # E[leaf | do(root = v)] = 4 v on [-2, 2]; E[leaf | do(mid = v)] = 2 v on [-2 sqrt5, 2 sqrt5].
    best = -4 * math.sqrt(5)
    assert (info["optimal_node"], info["optimal_stderr"]) == (mid, 0.0)
    assert info["optimal_value"] == pytest.approx(-2 * math.sqrt(5))
    assert info["optimal_expected_target"] == pytest.approx(best)

    obs, reward, _, _, step = env.step(action(env, root, 1.0))  # do(root = 2): not a parent
    y = step["target_value"]
    assert step["value"] == pytest.approx(2.0) and not step["is_parent"]
    assert reward == pytest.approx(0.9 * -max(-5.0, min(5.0, y / math.sqrt(21))))
    assert obs["samples"][10, leaf] == pytest.approx(y / math.sqrt(21), rel=1e-6)
    assert obs["samples"][10, root] == pytest.approx(2.0) and obs["intervened"][10, root] == 1
    assert step["expected_target"] == pytest.approx(8.0)
    assert step["simple_regret"] == pytest.approx(8.0 - best) == step["cumulative_regret"]

    _, reward, _, _, step2 = env.step(action(env, mid, -1.0))  # the optimum, a parent
    assert step2["is_parent"] and step2["expected_target"] == pytest.approx(best)
    assert reward == pytest.approx(0.9 * -max(-5.0, min(5.0, step2["target_value"] / math.sqrt(21))) + 0.1)
    assert step2["simple_regret"] == pytest.approx(0.0, abs=1e-12)
    assert step2["cumulative_regret"] == pytest.approx(8.0 - best)
    assert step2["best_target_value"] == min(y, step2["target_value"])

    step3 = env.step(action(env, mid, 0.0))[4]  # do(mid = 0): E = 0
    assert step3["expected_target"] == pytest.approx(0.0, abs=1e-12)
    assert step3["simple_regret"] == pytest.approx(0.0, abs=1e-12)
    assert step3["cumulative_regret"] == pytest.approx(8.0 - 2 * best)


def test_chain_with_the_mid_node_as_target_and_reward_clipping(fixed_chain) -> None:
    env, root, mid, leaf, info = chain_env(target_is_leaf=False, intervention_range=20.0)
    # E[mid | do(root = v)] = 2 v on [-20, 20]; the leaf cannot move the mid node.
    assert (info["optimal_node"], info["optimal_value"]) == (root, pytest.approx(-20.0))
    assert info["optimal_expected_target"] == pytest.approx(-40.0)
    _, reward, _, _, step = env.step(action(env, root, -1.0))  # mid ~ N(-40, 1): z ~ -18, clipped at 5
    assert step["target_value"] / math.sqrt(5) < -5 and reward == pytest.approx(0.9 * 5.0 + 0.1)
    step = env.step(action(env, leaf, 1.0))[4]
    assert step["expected_target"] == pytest.approx(0.0, abs=1e-12) and not step["is_parent"]


def test_what_if_scores_without_advancing_and_is_seeded() -> None:
    a, b = CausalBOEnv(level=6), CausalBOEnv(level=6)
    a.reset(seed=3)
    b.reset(seed=3)
    candidates = np.stack([a.action_space.sample() for _ in range(6)] * 2)
    first = a.what_if(candidates)
    assert same(first, b.what_if(candidates))  # deterministic under the seed
    np.testing.assert_array_equal(first.rewards[:6], first.rewards[6:])  # common random numbers
    ep = a.episode
    expected = 0.9 * -np.clip((first.target_values - ep.mean[ep.target]) / ep.std[ep.target], -5, 5)
    np.testing.assert_allclose(first.rewards, expected + 0.1 * ep.parents[first.nodes])
    assert not np.array_equal(a.what_if(candidates).target_values, first.target_values)  # fresh noise per call
    step = candidates[0]
    assert same(a.step(step), b.step(step))  # what-if left the episode alone


class CountingSurrogate:
    """Parent probabilities that sharpen as rows fill: more data, less entropy."""

    def __call__(self, obs: dict[str, np.ndarray]) -> np.ndarray:
        filled = obs["row_mask"].mean()
        p = np.full(obs["node_mask"].shape, 0.5 + 0.45 * filled, dtype=np.float64)
        return p * obs["node_mask"]


def test_surrogate_info_gain_and_probability_channel() -> None:
    env = CausalBOEnv(level=4, surrogate=CountingSurrogate(), w_info=2.0)
    wrapped = ParentProbabilityObservation(env)
    obs, _ = wrapped.reset(seed=0)
    assert wrapped.observation_space.contains(obs)
    ep = env.episode
    before = parent_entropy(CountingSurrogate()(obs), ep.valid)
    obs, reward, _, _, info = wrapped.step(wrapped.action_space.sample())
    after = parent_entropy(CountingSurrogate()(obs), ep.valid)
    assert info["info_gain"] == pytest.approx(before - after) and info["info_gain"] > 0
    r_target = 0.9 * -np.clip((info["target_value"] - ep.mean[ep.target]) / ep.std[ep.target], -5, 5)
    assert reward == pytest.approx(r_target + 0.1 * info["is_parent"] + 2.0 * info["info_gain"])
    np.testing.assert_array_equal(obs["parent_probs"], env.parent_probabilities.astype(np.float32))
    gains = env.what_if(np.stack([env.action_space.sample() for _ in range(3)])).rewards
    assert gains.shape == (3,)
    with pytest.raises(ValueError, match="surrogate = None"):
        ParentProbabilityObservation(CausalBOEnv(level=4))
    bad = CausalBOEnv(level=4, surrogate=lambda obs: np.ones(2))
    with pytest.raises(ValueError, match=r"surrogate output shape = \(2,\) is not allowed: must be \(node,\) = \(6,\)"):
        bad.reset(seed=0)
    undefined = CausalBOEnv(level=4, surrogate=lambda obs: np.where(np.arange(6) == 4, np.nan, 0.5))
    with pytest.raises(ValueError, match=r"surrogate output\[node 4\] = nan is not allowed: must be a probability"):
        undefined.reset(seed=0)


def test_what_if_scores_the_information_gain_of_a_surrogate_given_to_it() -> None:
    """``what_if(surrogate=...)`` on an environment built without a surrogate gives the
    gains and rewards of the same environment built with it (whose entropy before the
    candidates is cached from its last step); without one the gain is 0."""
    plain, own = CausalBOEnv(level=4, w_info=2.0), CausalBOEnv(level=4, w_info=2.0, surrogate=CountingSurrogate())
    candidates = np.random.default_rng(1).uniform(-1, 1, (3, plain.action_space.shape[0])).astype(np.float32)
    for env in (plain, own):
        env.reset(seed=3)
        env.step(candidates[0])
    given, cached = plain.what_if(candidates, surrogate=CountingSurrogate()), own.what_if(candidates)
    for field in given._fields:
        np.testing.assert_array_equal(getattr(given, field), getattr(cached, field), err_msg=field)
    assert (given.info_gains > 0).all()
    none = CausalBOEnv(level=4, w_info=2.0)
    none.reset(seed=3)
    none.step(candidates[0])
    without = none.what_if(candidates)
    np.testing.assert_array_equal(without.info_gains, np.zeros(3))
    np.testing.assert_allclose(given.rewards, without.rewards + 2.0 * given.info_gains, rtol=0, atol=1e-12)


def test_parent_entropy_of_a_certain_float32_probability_is_not_nan() -> None:
    """A saturated float32 sigmoid gives probabilities of exactly 0 and 1, whose entropy
    is about 0 in any dtype; in float32 the clip's 1 - 1e-12 rounds to 1 and gave
    0 * log(0) = NaN."""
    valid = np.array([1, 1, 0])
    probs = np.array([1.0, 0.0, 0.5], np.float32)
    exact = parent_entropy(probs.astype(np.float64), valid)
    assert parent_entropy(probs, valid) == exact and 0 <= exact < 1e-9
    batch = np.stack([probs, np.full(3, 0.5, np.float32)])
    np.testing.assert_allclose(parent_entropy(batch, valid), [exact, 2 * np.log(2)], rtol=1e-12)


def test_psa_graph_optimum_is_full_statin() -> None:
    env = CausalBOEnv(benchmark="psa")
    _, info = env.reset(seed=0)
    assert (info["target"], info["optimal_node"], info["optimal_value"]) == (5, 3, 1.0)
    for _ in range(20):
        step = env.step(env.action_space.sample())[4]
        assert step["node"] in (2, 3) and 0.0 <= step["value"] <= 1.0


def test_level_option_switches_the_curriculum() -> None:
    env = CausalBOEnv(level=1, max_nodes=50)
    assert env.reset(seed=0, options={"level": 15})[1]["level"] == 15
    assert env.reset()[1]["level"] == 15  # the level persists
    assert env.reset(options={"level": 2})[1]["level"] == 2
    with pytest.raises(ValueError, match=r"options\['level'\] = 16 is not allowed"):
        env.reset(options={"level": 16})
    with pytest.raises(ValueError, match=r"options\['level'\] = 4 is not allowed: its SCMs have up to 6 nodes "
                                         r"but max_nodes = 3"):
        CausalBOEnv(level=1).reset(options={"level": 4})
    with pytest.raises(ValueError, match=r"options key 'lvl' is not allowed"):
        env.reset(options={"lvl": 2})


def test_horizons_and_truncation() -> None:
    env = gym.make("CausalBO-v0", level=2)
    env.reset(seed=0)
    truncated = [env.step(env.action_space.sample())[3] for _ in range(20)]
    assert truncated == [False] * 19 + [True]
    prod = gym.make("CausalBO-v0", level=2, horizon=envs.PRODUCTION_HORIZON, max_episode_steps=30)
    obs, _ = prod.reset(seed=0)
    assert obs["samples"].shape == (10 + 30, 4)
    assert [prod.step(prod.action_space.sample())[3] for _ in range(30)][-2:] == [False, True]
    raw = CausalBOEnv(level=2, horizon=2, samples_per_step=3, n_obs=0)
    obs, _ = raw.reset(seed=0)
    assert obs["samples"].shape == (6, 4) and obs["row_mask"].sum() == 0
    raw.step(raw.action_space.sample())
    assert raw.step(raw.action_space.sample())[0]["row_mask"].sum() == 6
    with pytest.raises(RuntimeError, match="step 3 is past horizon = 2"):
        raw.step(raw.action_space.sample())


def test_rendering() -> None:
    env = CausalBOEnv(level=6, render_mode="rgb_array")
    env.reset(seed=1)
    for _ in range(3):
        env.step(env.action_space.sample())
    frame = env.render()
    assert frame.dtype == np.uint8 and frame.ndim == 3 and frame.shape[2] == 3 and frame.std() > 0
    text = CausalBOEnv(benchmark="psa", render_mode="ansi")
    text.reset(seed=0)
    text.step(text.action_space.sample())
    out = text.render()
    assert "target psa (parents: age, bmi, aspirin, statin, cancer)" in out and "optimum: do(statin = 1)" in out



@pytest.mark.parametrize("kwargs", [{"level": 6}, {"level": 13}, {"benchmark": "psa"}], ids=["small", "big", "named"])
def test_rendered_frame_is_readable_and_says_what_is_hidden(kwargs: dict) -> None:
    """The frame keeps its size; a caption says the target is minimised and the truth
    drawn is hidden from the agent; every text is at least 8.5 pixels to the em (the
    legends were once 6.7, letters about 5 pixels tall) and lies wholly inside the frame;
    and the legends cover no axes, so neither nodes nor points."""
    env = CausalBOEnv(render_mode="rgb_array", **kwargs)
    env.reset(seed=1)
    for _ in range(4):
        env.step(env.action_space.sample())
    assert env.render().shape == (320, 720, 3)
    fig = render.figure(env)
    FigureCanvasAgg(fig).draw()  # lays the figure out, as rgb_array does
    caption = fig.get_suptitle()
    assert "minimise the target" in caption and "hidden from the agent" in caption
    axes = fig.findobj(Axes)
    ticks = {id(t) for ax in axes for t in ax.get_xticklabels() + ax.get_yticklabels()}
    frame = fig.bbox

    def inside(box: Bbox) -> bool:
        return frame.x0 <= box.x0 and box.x1 <= frame.x1 and frame.y0 <= box.y0 and box.y1 <= frame.y1
    for text in fig.findobj(Text):
        if text.get_visible() and text.get_text():
            assert text.get_fontsize() * fig.dpi / 72 >= 8.5, text.get_text()
            # tick labels past the axis limits are not drawn: the axes' bounds below hold those drawn
            assert id(text) in ticks or inside(text.get_window_extent()), text.get_text()
    assert all(inside(ax.get_tightbbox()) for ax in axes)
    legends = fig.findobj(Legend)
    assert len(legends) == 2
    for legend in legends:
        for ax in axes:
            assert not legend.get_window_extent().overlaps(ax.bbox), [t.get_text() for t in legend.get_texts()]

@pytest.mark.parametrize(("kwargs", "message"), [
    ({"level": 0}, r"level = 0 is not allowed: must be an integer in \[1, 15\]"),
    ({"level": 16}, r"level = 16 is not allowed"),
    ({"level": 3, "mechanism": "quadratic"}, r"mechanism = 'quadratic' is not allowed: expected one of"),
    ({"intervention_range": (2.0, -2.0)}, r"intervention_range = \(2.0, -2.0\) is not allowed: needs low < high"),
    ({"intervention_range": float("nan")}, r"intervention_range.low = nan is not allowed: must be a finite"),
    ({"intervention_range": "wide"}, r"intervention_range = 'wide' is not allowed: expected a number w"),
    ({"n_obs": -1}, r"n_obs = -1 is not allowed: must be an integer in \[0, 65536\]"),
    ({"horizon": 10**6}, r"horizon = 1000000 is not allowed: must be an integer in \[1, 65536\]"),
    ({"horizon": 1000, "samples_per_step": 100},
     r"n_obs \+ horizon \* samples_per_step = 10 \+ 1000 \* 100 = 100010 is not allowed: must be at most 65536"),
    ({"optimum_grid": 10**6}, r"optimum_grid = 1000000 is not allowed: must be an integer in \[2, 1025\]"),
    ({"level": 13, "optimum_samples": 10**7},
     r"optimum_samples = 10000000 is not allowed: must be an integer in \[2, 1048576\]"),
    ({"level": 13, "optimum_samples": 2**20},
     r"optimum_grid \* max_nodes \* optimum_samples = 17 \* \d+ \* 1048576 = \d+ is not allowed"),
    ({"optimum_samples": True}, r"optimum_samples = True is not allowed"),
    ({"samples_per_step": 0}, r"samples_per_step = 0 is not allowed"),
    ({"horizon": 0}, r"horizon = 0 is not allowed"),
    ({"level": 5, "max_nodes": 4}, r"max_nodes = 4 is not allowed: the SCMs have up to 8 nodes"),
    ({"nodes": 1}, r"nodes = 1 is not allowed: needs at least 2 nodes"),
    ({"benchmark": "coral"},
     r"benchmark = 'coral' is not allowed: expected one of \['complete_graph', 'psa', 'toy_graph'\]"),
    ({"benchmark": "psa", "level": 2}, r"level is not allowed with benchmark = 'psa'"),
    ({"w_target": float("inf")}, r"w_target = inf is not allowed: must be a finite number"),
    ({"optimum_samples": 1}, r"optimum_samples = 1 is not allowed: must be an integer in \[2, 1048576\]"),
    ({"render_mode": "rgb"}, r"render_mode = 'rgb' is not allowed: expected None or one of"),
])
def test_bad_arguments_raise_clear_errors(kwargs: dict, message: str) -> None:
    # gymnasium.make warns about an unknown render mode before the environment refuses it
    make = CausalBOEnv if "render_mode" in kwargs else lambda **kw: gym.make("CausalBO-v0", **kw)
    with pytest.raises(ValueError, match=message):
        make(**kwargs)


def test_optimum_can_be_skipped_for_nonlinear_scms() -> None:
    env = CausalBOEnv(level=12, nodes=(6, 8), optimum_samples=0)
    _, info = env.reset(seed=0)
    if env.episode.scm.is_linear:  # a mixture may draw all-linear mechanisms: then it is exact anyway
        return
    assert info["optimal_node"] == -1 and math.isnan(info["optimal_expected_target"])
    step = env.step(env.action_space.sample())[4]
    assert math.isnan(step["simple_regret"]) and math.isnan(step["expected_target"])
