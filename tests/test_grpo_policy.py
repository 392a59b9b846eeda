"""The intervention policy: the value's log-density against numerical integration and
the CDF, invariance to row order, equivariance to variable order, padding, and the
agent's protocol and loading errors."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch
from scipy.integrate import quad
from scipy.stats import norm

from agents.grpo.curriculum import Curriculum, CurriculumConfig
from agents.grpo.policy import InterventionPolicy, Observation, PolicyConfig, RolloutCache, value_log_prob
from agents.grpo.train import STD_FLOOR, advantages


@pytest.mark.parametrize(("mean", "std"), [(0.0, 0.5), (1.3, 0.5), (-2.0, 0.3), (0.4, 1.5)])
def test_value_density_integrates_to_one_and_is_the_cdf_derivative(mean: float, std: float) -> None:
    def density(u: float) -> float:
        z = torch.tensor(math.atanh(u), dtype=torch.float64)
        return float(value_log_prob(z, torch.tensor(mean, dtype=torch.float64), torch.tensor(std, dtype=torch.float64))
                     .exp())

    total, error = quad(density, -1.0, 1.0, limit=200)
    assert total == pytest.approx(1.0, abs=1e-6), error

    def cdf(u: float) -> float:  # P(tanh(Z) <= u) = Phi((atanh u - mean) / std)
        return float(norm.cdf((math.atanh(u) - mean) / std))

    for u in (-0.95, -0.5, 0.0, 0.3, 0.9):
        h = 1e-6
        assert density(u) == pytest.approx((cdf(u + h) - cdf(u - h)) / (2 * h), rel=1e-5, abs=1e-9)
    # Without the squashing term this is the Gaussian's density, which is wrong:
    z = torch.tensor(0.9, dtype=torch.float64)
    assert float(value_log_prob(z, torch.tensor(mean), torch.tensor(std))) != pytest.approx(
        float(torch.distributions.Normal(mean, std).log_prob(z)))


def test_log_prob_of_sampled_actions_matches_their_distribution() -> None:
    torch.manual_seed(0)
    policy = InterventionPolicy(PolicyConfig(d_model=16, heads=2, head_dim=8, layers=1, ffn=32))
    logits = torch.tensor([[0.3, -0.2, 1.0, -1e9]])
    mean = torch.tensor([[0.1, -0.5, 0.7, 0.0]])
    nodes, z = policy.sample(logits, mean, 20000, torch.Generator().manual_seed(1))
    # Variables by their softmax (never the masked one), values around their means.
    freq = np.bincount(nodes[0].numpy(), minlength=4) / 20000
    np.testing.assert_allclose(freq, torch.softmax(logits, -1)[0].numpy(), atol=0.015)
    on_two = z[0][nodes[0] == 2]
    assert abs(float(on_two.mean()) - 0.7) < 0.03 and abs(float(on_two.std()) - 0.5) < 0.03
    log_p = policy.log_prob(logits, mean, nodes[:, :5], z[:, :5])
    manual = (torch.log_softmax(logits, -1)[0, nodes[0, :5]]
              + value_log_prob(z[0, :5], mean[0, nodes[0, :5]], torch.tensor(0.5)))
    torch.testing.assert_close(log_p[0], manual)


def random_observation(rng: np.random.Generator, b: int, t: int, d: int, real: int, rows: int) -> Observation:
    samples = rng.normal(size=(b, t, d)).astype(np.float32)
    samples[:, rows:] = 0.0
    samples[:, :, real:] = 0.0
    intervened = np.zeros((b, t, d), np.float32)
    intervened[:, 10:rows, :real] = rng.random((b, rows - 10, real)) < 0.3
    node_mask = np.arange(d) < real
    target = np.zeros((b, d), bool)
    target[:, 1] = True
    return Observation(torch.from_numpy(samples), torch.from_numpy(intervened),
                       torch.from_numpy(np.broadcast_to(np.arange(t) < rows, (b, t)).copy()),
                       torch.from_numpy(np.broadcast_to(node_mask, (b, d)).copy()), torch.from_numpy(target),
                       torch.from_numpy(np.broadcast_to(node_mask, (b, d)).copy() & ~target))


def test_row_invariance_variable_equivariance_and_padding() -> None:
    torch.manual_seed(0)
    policy = InterventionPolicy(PolicyConfig(d_model=32, heads=4, head_dim=8, layers=2, ffn=64)).eval()
    rng = np.random.default_rng(0)
    obs = random_observation(rng, b=3, t=20, d=6, real=6, rows=15)
    probs = torch.from_numpy(rng.random((3, 6)).astype(np.float32))
    logits, mean = policy(obs, probs)
    # Rows: any permutation of the observational rows (and of the empty ones) changes nothing.
    perm = torch.cat([torch.randperm(10), torch.arange(10, 15), 15 + torch.randperm(5)])
    shuffled = Observation(obs.samples[:, perm], obs.intervened[:, perm], obs.row_mask[:, perm], obs.node_mask,
                           obs.target, obs.valid)
    l2, m2 = policy(shuffled, probs)
    torch.testing.assert_close(l2, logits, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(m2, mean, rtol=1e-5, atol=1e-5)
    # Variables: permuting them permutes the outputs.
    sigma = torch.tensor([3, 5, 0, 1, 4, 2])
    moved = Observation(obs.samples[:, :, sigma], obs.intervened[:, :, sigma], obs.row_mask, obs.node_mask[:, sigma],
                        obs.target[:, sigma], obs.valid[:, sigma])
    l3, m3 = policy(moved, probs[:, sigma])
    torch.testing.assert_close(l3, logits[:, sigma], rtol=1e-5, atol=1e-4)
    torch.testing.assert_close(m3, mean[:, sigma], rtol=1e-5, atol=1e-5)
    # Padding: extra variables and rows holding garbage leave the real outputs alone.
    padded = random_observation(rng, b=3, t=26, d=9, real=6, rows=15)
    garbage = torch.from_numpy(rng.normal(size=(3, 26, 9)).astype(np.float32)) * 50
    keep_rows, keep_vars = padded.row_mask[:, :, None], padded.node_mask[:, None, :]
    samples = torch.where(keep_rows & keep_vars, 0.0, garbage)
    samples[:, :20, :6] = obs.samples
    samples = torch.where(keep_rows & keep_vars, samples, garbage)
    intervened = torch.zeros(3, 26, 9)
    intervened[:, :20, :6] = obs.intervened
    wide = Observation(samples, intervened, padded.row_mask, padded.node_mask, padded.target, padded.valid)
    wide_probs = torch.cat([probs, torch.rand(3, 3)], dim=1)
    l4, m4 = policy(wide, wide_probs)
    torch.testing.assert_close(l4[:, :6], logits, rtol=1e-5, atol=1e-4)
    torch.testing.assert_close(m4[:, :6], mean, rtol=1e-5, atol=1e-5)
    assert (l4[:, 6:] <= -1e8).all() and (logits[:, 1] <= -1e8).all()  # padding and the target are never chosen


def test_group_advantages() -> None:
    rewards = np.array([[1.0, 2.0, 3.0], [0.5, 0.5, 0.5], [1.0, 1.0 + 1e-6, 1.0]])
    adv, flat = advantages(rewards)
    np.testing.assert_allclose(adv[0], (rewards[0] - 2.0) / np.std(rewards[0]))
    assert flat.tolist() == [False, True, False] and (adv[1] == 0).all()
    # A near-flat group is divided by the floor, not by its tiny std.
    np.testing.assert_allclose(adv[2], (rewards[2] - rewards[2].mean()) / STD_FLOOR)


def test_curriculum_advances_on_thresholds_and_caps() -> None:
    cfg = CurriculumConfig(start=1, stop=3, check_every=2, patience=2, min_episodes=8, max_episodes=40,
                           parent_rate=0.8, regret=0.3, review=0.0)
    curriculum = Curriculum(cfg)
    good = {"reward": np.ones(4), "parent_rate": np.full(4, 0.9), "greedy_parent_rate": np.full(4, 0.9),
            "simple_regret_std": np.full(4, 0.1), "surrogate_f1": np.full(4, 0.5)}
    bad = {**good, "simple_regret_std": np.full(4, 1.0)}
    events = []
    for iteration in range(1, 9):  # two passing checks at iterations 2 and 4: advance at 4
        curriculum.record(np.full(4, curriculum.level), good)
        events.append(curriculum.check(iteration))
    assert events[3] == "advanced" and curriculum.history[1] == [4, 2, "advanced"]
    assert curriculum.level == 3  # iterations 6 and 8 passed again at level 2
    cfg_cap = CurriculumConfig(start=1, stop=2, check_every=1, patience=1, min_episodes=1, max_episodes=12, review=0.0)
    capped = Curriculum(cfg_cap)
    reasons = []
    for iteration in range(1, 5):
        capped.record(np.ones(4, np.int64), bad)
        reasons.append(capped.check(iteration))
    assert reasons == [None, None, "capped", None] and capped.level == 2
    assert capped.window["greedy_parent_rate"] == []  # at the last level the window is still cleared
    state = capped.state_dict()
    again = Curriculum(cfg_cap)
    again.load_state_dict(state)
    assert again.state_dict() == state and again.means()[1]["episodes"] == 16
    with pytest.raises(ValueError, match=r"curriculum.stop = 1 is not allowed: must be >= curriculum.start = 2"):
        CurriculumConfig(start=2, stop=1)
    review = Curriculum(CurriculumConfig(start=1, stop=5, review=0.5))
    review.level = 4
    draws = review.levels(4000, np.random.default_rng(0))
    assert set(draws.tolist()) == {1, 2, 3, 4} and abs((draws == 4).mean() - 0.5) < 0.03


def _episodes(seed: int, b: int = 3, n_obs: int = 5, horizon: int = 6, per_step: int = 2, d: int = 7
              ) -> tuple[Observation, torch.Tensor, torch.Tensor]:
    """Episodes as the vector env plays them: ``n_obs`` observational rows, then
    ``per_step`` rows per step with one intervened variable each, two spare padding rows,
    a padded variable (and fewer real ones in episode 1); per-state parent probabilities
    (B, horizon, D) and the states' row counts (B, horizon)."""
    gen = torch.Generator().manual_seed(seed)
    rows = n_obs + horizon * per_step
    node_mask = torch.ones(b, d, dtype=torch.bool)
    node_mask[:, d - 1] = False
    node_mask[1, d - 3:] = False
    intervened = torch.zeros(b, rows + 2, d)
    for step in range(horizon):
        chosen = torch.randint(0, d - 3, (b,), generator=gen)
        for i in range(per_step):
            intervened[torch.arange(b), n_obs + step * per_step + i, chosen] = 1
    row_mask = (torch.arange(rows + 2) < rows).expand(b, rows + 2).clone()
    samples = torch.randn(b, rows + 2, d, generator=gen) * row_mask[..., None] * node_mask[:, None]
    target = torch.zeros(b, d, dtype=torch.bool)
    target[:, 3] = True
    obs = Observation(samples, intervened * node_mask[:, None], row_mask, node_mask, target, node_mask & ~target)
    lengths = torch.tensor([n_obs + t * per_step for t in range(horizon)]).expand(b, horizon)
    return obs, torch.rand(b, horizon, d, generator=gen), lengths


def _state(obs: Observation, rows: int) -> Observation:
    keep = torch.arange(obs.samples.shape[1]) < rows
    mask = keep.expand_as(obs.row_mask)
    return Observation(obs.samples * mask[..., None], obs.intervened * mask[..., None], mask, obs.node_mask,
                       obs.target, obs.valid)


@pytest.mark.parametrize("seed", [0, 1])
def test_one_pass_and_cached_rollout_equal_the_per_state_reference(seed: int) -> None:
    torch.manual_seed(seed)
    policy = InterventionPolicy(PolicyConfig(d_model=16, heads=2, head_dim=8, layers=2, ffn=32)).eval()
    obs, probs, lengths = _episodes(seed)
    with torch.no_grad():
        logits, mean = policy.forward_episodes(obs, probs, lengths)
        cache = RolloutCache()
        for t in range(lengths.shape[1]):
            state = _state(obs, int(lengths[0, t]))
            ref_logits, ref_mean = policy(state, probs[:, t])
            step_logits, step_mean = policy.rollout_step(state, probs[:, t], cache)
            real = obs.node_mask
            for got_logits, got_mean in ((logits[:, t], mean[:, t]), (step_logits, step_mean)):
                torch.testing.assert_close(got_logits, ref_logits, rtol=1e-5, atol=1e-5)
                torch.testing.assert_close(got_mean[real], ref_mean[real], rtol=1e-5, atol=1e-5)
    # A state differs from the next one: the comparison above could fail.
    assert not torch.allclose(logits[:, 0], logits[:, 1], atol=1e-3)


def test_interventions_are_ordered_in_time_and_later_rows_do_not_reach_earlier_states() -> None:
    torch.manual_seed(0)
    policy = InterventionPolicy(PolicyConfig(d_model=16, heads=2, head_dim=8, layers=2, ffn=32)).eval()
    obs, probs, lengths = _episodes(3, b=2)
    with torch.no_grad():
        logits, _ = policy.forward_episodes(obs, probs, lengths)
        changed = obs.samples.clone()
        changed[:, int(lengths[0, 3]):] += 3.0  # the rows of step 3 onwards
        later, _ = policy.forward_episodes(dataclasses.replace(obs, samples=changed), probs, lengths)
    torch.testing.assert_close(later[:, :4], logits[:, :4], rtol=1e-6, atol=1e-6)
    assert not torch.allclose(later[:, 4:], logits[:, 4:], atol=1e-3)


def test_rollout_step_refuses_episodes_out_of_lockstep() -> None:
    policy = InterventionPolicy(PolicyConfig(d_model=16, heads=2, head_dim=8, layers=1, ffn=32)).eval()
    obs, probs, _ = _episodes(0, b=2)
    ragged = Observation(obs.samples, obs.intervened, obs.row_mask.clone(), obs.node_mask, obs.target, obs.valid)
    ragged.row_mask[1, -3] = False
    with pytest.raises(ValueError, match="lockstep"):
        policy.rollout_step(ragged, probs[:, 0], RolloutCache())
