"""The BoTorch BO baseline (``botorch``) and causal BO given the true graph (``cbo``):
the predict protocol, valid actions, the pieces of CBO checked by hand, and that each
finds what it should."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.vector import SyncVectorEnv
from scipy.stats import norm

import envs  # noqa: F401 - registers the ids
from agents.evaluate import evaluate
from agents.evaluate.policies import resolve
from agents.evaluate.sets import build_sets
from agents.policies import CboPolicy, RandomPolicy, true_knowledge
from agents.policies.botorch_bo import BoTorchPolicy
from agents.policies.cbo import (PRIOR, CausalKnowledge, _negative_log_likelihood, adjusted_prior, ancestors,
                                 fit_residual_gp, log_expected_improvement)
from envs import CausalBOEnv
from envs.settings import EnvSettings
from envs.vector import CausalBOVectorEnv

N_ENVS = 3


def builders(env: CausalBOVectorEnv) -> dict[str, Callable[[int], object]]:
    """Each new policy bound to ``env``, from a seed."""
    return {"botorch": lambda seed: BoTorchPolicy(seed), "cbo": lambda seed: CboPolicy(lambda: true_knowledge(env))}


def play(policy: object, env: CausalBOVectorEnv, steps: int, seed: int) -> tuple[np.ndarray, list]:
    """The actions (steps, N, D + 1) of ``policy`` from a reset with ``seed``, SB3-style."""
    obs, _ = env.reset(seed=seed)
    state, start, actions = None, np.ones(env.num_envs, bool), []
    for _ in range(steps):
        action, state = policy.predict(obs, state, start, deterministic=True)
        start[:] = False
        actions.append(action)
        obs, *_ = env.step(action)
    return np.array(actions), state


@pytest.mark.parametrize("name", ["botorch", "cbo"])
def test_batched_actions_are_valid_and_deterministic_given_the_seed(name: str) -> None:
    env = CausalBOVectorEnv(N_ENVS, level=3)
    make = builders(env)[name]
    actions, state = play(make(7), env, 4, seed=21)
    assert actions.shape == (4, N_ENVS, env.single_action_space.shape[0])
    assert all(env.action_space.contains(a) for a in actions)
    # The chosen variable is a valid one: a one-hot score over the valid nodes.
    obs, _ = env.reset(seed=21)
    assert obs["valid"][np.arange(N_ENVS)[None], actions[..., :-1].argmax(axis=-1)].all()
    assert [len(history) for history in state] == [4] * N_ENVS
    again, _ = play(make(7), env, 4, seed=21)
    np.testing.assert_array_equal(actions, again)


def test_botorch_depends_on_its_seed_and_leaves_torch_alone() -> None:
    import torch

    env = CausalBOVectorEnv(N_ENVS, level=3)
    torch.manual_seed(123)
    before = torch.get_rng_state()
    first, _ = play(BoTorchPolicy(1), env, 2, seed=21)
    assert torch.equal(torch.get_rng_state(), before)
    other, _ = play(BoTorchPolicy(2), env, 2, seed=21)
    assert not np.array_equal(first[0], other[0])  # the random initial designs differ


@pytest.mark.parametrize("name", ["botorch", "cbo"])
def test_a_single_observation_and_episode_starts(name: str) -> None:
    env = gym.make("CausalBO-v0", level=2)
    obs, _ = env.reset(seed=4)
    policy = BoTorchPolicy(0) if name == "botorch" else CboPolicy(lambda: true_knowledge(env))
    state = None
    for _ in range(3):
        action, state = policy.predict(obs, state, np.array([False]))
        assert action.shape == env.action_space.shape and env.action_space.contains(action)
        obs, *_ = env.step(action)
    first_obs, _ = env.reset()
    with pytest.raises(ValueError, match="pass episode_start=True"):
        policy.predict(first_obs, state)  # a new episode, not announced
    _, state = policy.predict(first_obs, state, np.array([True]))
    assert len(state[0]) == 1


def fake_observation(history: list[tuple[int, float, float]], d: int = 3, target: int = 2, n_obs: int = 5,
                     valid: tuple[int, ...] = (0, 1)) -> dict[str, np.ndarray]:
    """An observation of ``d`` variables: ``n_obs`` observational rows of zeros, then one
    row per (node, x, y): the node set to x, the target at y; ``valid`` may be chosen."""
    rows = n_obs + len(history)
    samples, intervened = np.zeros((rows, d), np.float32), np.zeros((rows, d), np.int8)
    for r, (node, x, y) in enumerate(history, start=n_obs):
        samples[r, node], samples[r, target], intervened[r, node] = x, y, 1
    return {"samples": samples, "intervened": intervened, "row_mask": np.ones(rows, np.int8),
            "node_mask": np.ones(d, np.int8), "target": np.eye(d, dtype=np.int8)[target],
            "valid": np.isin(np.arange(d), valid).astype(np.int8)}


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_botorch_approaches_the_minimiser_of_a_quadratic(seed: int) -> None:
    # One valid variable moves the target as 4 (u - 0.4)^2 - 1 (minimum -1 at u = 0.4).
    # Measured over seeds 0-9: BO plays within 0.05 of 0.4 after 3-8 steps and stays
    # there; a maximiser would go to u = -1 (6.84).
    policy, state, entries = BoTorchPolicy(seed=seed), None, []
    for _ in range(10):
        obs = fake_observation([(0, u, 4.0 * (u - 0.4) ** 2 - 1.0) for u in entries], valid=[0])
        action, state = policy.predict(obs, state)
        assert int(np.argmax(action[:-1])) == 0
        entries.append(float(action[-1]))
    near = np.abs(np.array(entries) - 0.4) < 0.05
    assert near[:8].any() and near[-1], np.round(entries, 3)


def test_botorch_tells_the_variables_apart() -> None:
    # Two variables with the same values tried: one's outcomes are low (a bowl around
    # u = 0.4), the other's high. The next action takes the low one near its best, and
    # swapping the labels swaps the choice: a model blind to the categorical input could
    # not.
    tried = [-0.6, 0.0, 0.6, 1.0]
    for good, bad in ((0, 1), (1, 0)):
        history = [(good, u, 4.0 * (u - 0.4) ** 2 - 1.0) for u in tried] + [(bad, u, 3.0 + u) for u in tried]
        action, _ = BoTorchPolicy(seed=0).predict(fake_observation(history), [[(n, u) for n, u, _ in history]])
        assert int(np.argmax(action[:2])) == good and abs(action[-1] - 0.4) < 0.3, action


def test_ancestors_by_hand() -> None:
    # 0 -> 1 -> 3, 2 -> 3, 4 -> 0, 5 alone.
    a = np.zeros((6, 6), np.uint8)
    for i, j in ((0, 1), (1, 3), (2, 3), (4, 0)):
        a[i, j] = 1
    assert np.flatnonzero(ancestors(a, 3)).tolist() == [0, 1, 2, 4]
    assert not ancestors(a, 5).any() and np.flatnonzero(ancestors(a, 1)).tolist() == [0, 4]


def test_back_door_adjustment_removes_confounding() -> None:
    # Z -> X, Z -> Y, X -> Y: E[Y | do(x)] = 0.5 x, but Y regressed on X alone has slope
    # 0.5 + 2 Cov(X, Z) / Var(X) = 0.5 + 2 * 0.8 / 1.64 = 1.48.
    rng = np.random.default_rng(0)
    z = rng.normal(size=4000)
    x = 0.8 * z + 0.6 * rng.normal(size=4000)
    y = 0.5 * x + 2.0 * z + 0.3 * rng.normal(size=4000)
    rows = np.column_stack([z, x, y])
    adjusted = adjusted_prior(rows, node=1, parents=np.array([0]), target=2)
    naive = adjusted_prior(rows, node=1, parents=np.array([], np.int64), target=2)
    grid = np.array([-2.0, 0.0, 2.0])
    np.testing.assert_allclose(np.diff(adjusted.mean(grid)) / 2.0, 0.5, atol=0.02)
    np.testing.assert_allclose(np.diff(naive.mean(grid)) / 2.0, 0.5 + 2.0 * 0.8 / 1.0, atol=0.1)
    # The standard error shrinks with the rows, and is larger away from the data.
    few = adjusted_prior(rows[:20], node=1, parents=np.array([0]), target=2)
    assert (few.stderr(grid) > 3 * adjusted.stderr(grid)).all()
    assert adjusted.stderr(np.array([3.0]))[0] > adjusted.stderr(np.array([0.0]))[0]
    # No observational rows: a zero prior mean with a wide standard error.
    empty = adjusted_prior(rows[:0], node=1, parents=np.array([0]), target=2)
    assert (empty.mean(grid) == 0).all() and (empty.stderr(grid) > 3).all()


def test_log_expected_improvement_matches_the_closed_form_and_stays_finite() -> None:
    rng = np.random.default_rng(1)
    mean, std = rng.normal(size=200) * 3, rng.uniform(0.1, 2, 200)
    z = (0.5 - mean) / std
    np.testing.assert_allclose(log_expected_improvement(mean, std, 0.5), np.log(std * (norm.pdf(z) + z * norm.cdf(z))),
                               rtol=1e-9)
    far = log_expected_improvement(np.array([50.0, 60.0, 1e4]), np.ones(3), 0.0)
    assert np.isfinite(far).all() and far[0] > far[1] > far[2]


def test_residual_gp_fit_maximises_the_likelihood() -> None:
    rng = np.random.default_rng(2)
    u = rng.uniform(-1, 1, 12)
    factor = 0.1 * np.column_stack([np.ones(12), u])
    r = np.sin(3 * u) + 0.05 * rng.normal(size=12)
    gp = fit_residual_gp(u, factor, r, noise_floor=1e-3)
    fitted = _negative_log_likelihood(np.log([gp.a, gp.length, gp.eta]), u, factor, r)
    others = [(1.0, 1.0, 0.1), (0.5, 0.2, 0.01), (2.0, 0.5, 0.002), (0.1, 2.0, 0.5)]
    assert all(fitted <= _negative_log_likelihood(np.log(p), u, factor, r) + 1e-9 for p in others)
    assert 1e-3 <= gp.eta < 0.05 and 0.2 < gp.length < 1.0  # a smooth signal with little noise
    mean, std = gp.posterior(u, factor)
    np.testing.assert_allclose(mean, r, atol=0.1)
    assert (std < 0.2).all()
    # The noise floor holds even where the likelihood would go lower, and one outcome
    # (its residual 0: the likelihood's best is a = eta = 0) leaves the GP unsure of the
    # other end of the range when the estimate's errors there are correlated (an
    # intercept error, factor 1 at both ends); with eta = 0 it would be certain.
    assert fit_residual_gp(u, factor, r, noise_floor=0.3).eta >= 0.3
    ends, ones = np.array([-1.0, 1.0]), np.ones((2, 1))
    one = fit_residual_gp(ends[:1], ones[:1], np.zeros(1), noise_floor=0.5)
    _, std = one.posterior(ends, ones)
    assert std[1] > 0.5, (one, std)
    # No data: the prior, with the do-estimate's error variance added.
    prior = fit_residual_gp(np.zeros(0), np.zeros((0, 2)), np.zeros(0), noise_floor=0.1)
    mean, std = prior.posterior(np.array([0.0, 0.5]), np.array([[0.0, 0.0], [1.0, 1.0]]))
    np.testing.assert_allclose(mean, 0.0)
    np.testing.assert_allclose(std, np.sqrt(PRIOR[0] + np.array([0.0, 2.0])))


def test_the_do_estimate_error_covariance_is_the_regressions() -> None:
    # The kernel term F F^T equals phi^T C phi, and its diagonal the squared standard
    # error; errors at the two ends of a slope are anti-correlated, which the rank-one
    # s(x) s(x') of Aglietti et al. would make +1.
    rng = np.random.default_rng(4)
    rows = np.column_stack([rng.normal(size=30), np.zeros(30)])
    rows[:, 1] = 0.7 * rows[:, 0] + 0.5 * rng.normal(size=30)
    prior = adjusted_prior(rows, node=0, parents=np.zeros(0, np.int64), target=1)
    x = np.array([-3.0, 3.0])
    features = np.column_stack([np.ones(2), x])
    covariance = prior.factor(x) @ prior.factor(x).T
    np.testing.assert_allclose(covariance, features @ prior.cov @ features.T, rtol=1e-10)
    np.testing.assert_allclose(np.sqrt(np.diag(covariance)), prior.stderr(x), rtol=1e-10)
    assert covariance[0, 1] < 0
    # One outcome under do(x) varies by about the residual variance 0.25 here.
    assert 0.15 < prior.outcome_variance < 0.4


def test_cbo_explores_only_ancestors_of_the_target() -> None:
    # Target 2 with parent 1 (Y = 0.9 X1 + noise) and child 0 (X0 = -2 Y + noise).
    # CBO's first step plays the low end of X1, from the do-estimate alone; after that
    # the expected improvement left in an untried variable's prior would draw it to X0,
    # but do(X0) cannot move Y and X0 is not in the exploration set.
    rng = np.random.default_rng(3)
    x1 = rng.normal(size=10)
    y = 0.9 * x1 + 0.1 * rng.normal(size=10)
    observational = np.column_stack([-2.0 * y + 0.1 * rng.normal(size=10), x1, y])
    adjacency = np.zeros((1, 3, 3), bool)
    adjacency[0, 1, 2] = adjacency[0, 2, 0] = True
    known = CausalKnowledge(adjacency, np.full((1, 3), -2.0), np.full((1, 3), 2.0))
    policy, state, history = CboPolicy(lambda: known), None, []
    for _ in range(6):
        obs = fake_observation(history, n_obs=10)
        obs["samples"][:10] = observational
        action, state = policy.predict(obs, state)
        node, u = int(np.argmax(action[:2])), float(action[-1])
        if not history:
            assert node == 1 and u == -1.0
        assert node == 1, history
        history.append((node, 2.0 * u, 0.9 * 2.0 * u + 0.1 * rng.normal()))
    wrong = CausalKnowledge(adjacency[:, :2, :2], known.low, known.high)
    with pytest.raises(ValueError, match="adjacency shape = .* bind the CBO policy"):
        CboPolicy(lambda: wrong).predict(fake_observation([]))


def steps_to_reach(env: gym.Env, make: Callable[[int], object], episodes: int, tolerance: float) -> list[int]:
    """Per episode, the first step whose simple regret is within ``tolerance`` target
    standard deviations of the optimum (horizon + 1 if none)."""
    reached = []
    for k in range(episodes):
        obs, info = env.reset(seed=k)
        policy, state, first = make(k), None, 21
        for t in range(20):
            action, state = policy.predict(obs, state, np.array([t == 0]))
            obs, _, _, _, step = env.step(action)
            if step["simple_regret"] <= tolerance * info["target_std"]:
                first = t + 1
                break
        reached.append(first)
    return reached


def test_cbo_reaches_the_optimum_of_level_1_faster_than_random() -> None:
    # Measured on these 10 episodes: CBO within 0.1 std of the optimum after 1-2 steps
    # (the do-estimate points at the right end of the parent), random after 17 on
    # average (most never within 20 steps).
    env = gym.make("CausalBO-v0", level=1)
    cbo = steps_to_reach(env, lambda k: CboPolicy(lambda: true_knowledge(env)), 10, 0.1)
    random = steps_to_reach(env, lambda k: RandomPolicy(seed=k), 10, 0.1)
    assert max(cbo) <= 3, cbo
    assert np.mean(cbo) < 0.25 * np.mean(random), (cbo, random)


def test_true_knowledge_agrees_across_environment_kinds() -> None:
    kwargs = {"level": 10}
    vector = CausalBOVectorEnv(4, **kwargs)
    sync = SyncVectorEnv([partial(CausalBOEnv, **kwargs)] * 4)
    for env in (vector, sync):
        env.reset(seed=9)
    a, b = true_knowledge(vector), true_knowledge(sync)
    np.testing.assert_array_equal(a.adjacency, b.adjacency)
    valid = np.stack([sub.episode.valid for sub in sync.envs])
    np.testing.assert_allclose(a.low[valid], b.low[valid], atol=1e-6)
    np.testing.assert_allclose(a.high[valid], b.high[valid], atol=1e-6)
    # The graph is the one whose target parents the environment reports.
    parents = np.stack([sub.episode.parents for sub in sync.envs])
    targets = [sub.episode.target for sub in sync.envs]
    np.testing.assert_array_equal(a.adjacency[np.arange(4), :, targets], parents)
    with pytest.raises(TypeError, match="CBO reference reads the graphs"):
        true_knowledge(gym.make("CartPole-v1"))


def test_the_harness_runs_both_by_name() -> None:
    assert resolve("botorch").name == "botorch" and resolve("cbo").name == "cbo"
    sets = build_sets([1], [], ["toy_graph"], 2, seed=0)
    records, scores, _ = evaluate(["botorch", "cbo"], sets, settings=EnvSettings(horizon=3), resamples=100)
    for name in ("level1", "toy_graph"):
        assert set(records[name]) >= {"botorch", "cbo", "random", "oracle"}
        assert records[name]["cbo"].simple_regret.shape == (2, 3)
        assert np.isfinite(records[name]["cbo"].simple_regret).all()
