"""The baseline policies: the protocol, the action rule, hand-checked behaviour of the
greedy heuristic, the GP against scikit-learn, and safe loading of SB3 zips."""

from __future__ import annotations

import base64
import json
import pickle
import zipfile
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
from sklearn.gaussian_process import GaussianProcessRegressor
from sklearn.gaussian_process.kernels import RBF, ConstantKernel, WhiteKernel
from stable_baselines3 import PPO

import envs  # noqa: F401 - registers the ids
from agents.baselines.load import load_sb3
from agents.policies import GpBoPolicy, GreedyPolicy, OraclePolicy, RandomPolicy
from agents.policies.gp import fit_gp, kernel, posterior
from agents.policies.greedy import target_correlations
from causal_meta.train.checkpoint import CheckpointError
from envs import CausalBOEnv
from envs.vector import CausalBOVectorEnv


def test_random_never_picks_the_target_and_covers_the_range() -> None:
    env = CausalBOVectorEnv(64, level=5)
    obs, _ = env.reset(seed=3)
    policy = RandomPolicy(seed=0)
    entries, chosen = [], []
    for _ in range(20):
        actions, _ = policy.predict(obs)
        obs, _, _, _, info = env.step(actions)
        chosen.append(info["node"])
        entries.append(actions[:, -1])
    chosen = np.array(chosen)
    assert not (chosen == env._episodes.target[None]).any()
    assert (chosen < env._episodes.valid.sum(axis=1)[None] + 1).all()
    entries = np.concatenate(entries)
    # 1280 uniform entries on [-1, 1]: the extreme ones lie within 0.02 of the ends with
    # probability 1 - 2 (0.99)^1280 > 0.9999, and the quartiles within 0.05 of +-0.5.
    assert entries.min() < -0.98 and entries.max() > 0.98
    np.testing.assert_allclose(np.quantile(entries, [0.25, 0.75]), [-0.5, 0.5], atol=0.05)
    # Every valid node of an episode gets chosen: 5-8 valid nodes, 20 uniform draws.
    counts = [len(set(chosen[:, i])) for i in range(64)]
    assert np.mean(counts) > 4


def test_a_single_observation_gives_a_single_action() -> None:
    env = CausalBOEnv(level=3)
    obs, _ = env.reset(seed=0)
    for policy in (RandomPolicy(), GreedyPolicy(), GpBoPolicy(), OraclePolicy(env.optimal_action)):
        action, _ = policy.predict(obs)
        assert action.shape == env.action_space.shape and env.action_space.contains(action)


def test_oracle_has_zero_regret_on_linear_scms() -> None:
    env = CausalBOVectorEnv(32, level=7)
    obs, _ = env.reset(seed=5)
    oracle = OraclePolicy(env.optimal_actions)
    for _ in range(3):
        obs, _, _, _, info = env.step(oracle.predict(obs)[0])
        assert (info["simple_regret"] == 0).all() and (info["cumulative_regret"] == 0).all()
    with pytest.raises(ValueError, match="bind the oracle to the environment"):
        oracle.predict({"target": np.zeros((3, 14))})


def observation(samples: np.ndarray, intervened: np.ndarray, target: int, valid: list[int]) -> dict[str, np.ndarray]:
    t, d = samples.shape
    return {"samples": samples.astype(np.float32), "intervened": intervened.astype(np.int8),
            "row_mask": np.ones(t, np.int8), "node_mask": np.ones(d, np.int8),
            "target": np.eye(d, dtype=np.int8)[target], "valid": np.isin(np.arange(d), valid).astype(np.int8)}


def test_greedy_by_hand() -> None:
    # Four rows of three variables; the target is X2. X0 rises with X2 (correlation +1),
    # X1 falls with it (correlation -0.4 by hand: centred X1 = [1, -1, 1, -1] and X2 =
    # [-3, -1, 1, 3], covariance -4 / ... normalised -4 / sqrt(4 * 20) = -0.447).
    x = np.array([[-3.0, 1.0, -3.0], [-1.0, -1.0, -1.0], [1.0, 1.0, 1.0], [3.0, -1.0, 3.0]])
    obs = observation(x, np.zeros_like(x), target=2, valid=[0, 1])
    np.testing.assert_allclose(target_correlations({k: v[None] for k, v in obs.items()})[0], [1.0, -0.4472136, 1.0],
                               rtol=1e-6)
    greedy = GreedyPolicy()
    action, state = greedy.predict(obs)
    # Step 0 explores the best-ranked variable, X0, at its low end (positive correlation).
    assert int(np.argmax(action[:2])) == 0 and action[-1] == -1.0 and state == [[(0, -1.0)]]
    # Its outcome: a row with X0 set to -2 and the target at -2.5.
    x1 = np.vstack([x, [-2.0, 0.0, -2.5]])
    flags = np.zeros_like(x1)
    flags[4, 0] = 1
    action, state = greedy.predict(observation(x1, flags, 2, [0, 1]), state)
    # Step 1 (odd) exploits the best pair found so far: (X0, low end).
    assert int(np.argmax(action[:2])) == 0 and action[-1] == -1.0
    x2 = np.vstack([x1, [-2.0, 0.0, -2.4]])
    flags = np.vstack([flags, [1, 0, 0]])
    action, state = greedy.predict(observation(x2, flags, 2, [0, 1]), state)
    # Step 2 explores X1, untried; its correlation with the target over all six rows is
    # still negative, so its high end.
    assert int(np.argmax(action[:2])) == 1 and action[-1] == 1.0
    with pytest.raises(ValueError, match="pass episode_start=True"):
        greedy.predict(observation(x, np.zeros_like(x), 2, [0, 1]), state)  # a new episode, not announced
    fresh, state = greedy.predict(observation(x, np.zeros_like(x), 2, [0, 1]), state, np.array([True]))
    assert state == [[(0, -1.0)]]


def test_gp_posterior_matches_scikit_learn() -> None:
    # Fixed hyperparameters: our kernel (rho + (1 - rho) [i = j]) RBF_l(u) equals an RBF of
    # unit length on the inputs (u / l, one_hot(i) * sqrt(-ln rho)), since two different
    # one-hot vectors are sqrt(2) apart: exp(-2 (-ln rho) / 2) = rho.
    rng = np.random.default_rng(0)
    nodes = rng.integers(0, 3, 12)
    u = rng.uniform(-1, 1, 12)
    y = np.sin(3 * u) + nodes - 1 + 0.1 * rng.normal(size=12)
    fit = fit_gp(nodes, u, y)
    scale = np.sqrt(-np.log(fit.rho)) if fit.rho > 0 else 30.0

    def features(n: np.ndarray, v: np.ndarray) -> np.ndarray:
        return np.column_stack([v / fit.length, np.eye(3)[n] * scale])

    reference = GaussianProcessRegressor(
        ConstantKernel(fit.signal, "fixed") * RBF(1.0, "fixed") + WhiteKernel(fit.signal * fit.noise, "fixed"),
        optimizer=None, alpha=1e-12).fit(features(nodes, u), y)
    test_nodes, test_u = rng.integers(0, 3, 50), rng.uniform(-1, 1, 50)
    mean_ref, std_ref = reference.predict(features(test_nodes, test_u), return_std=True)
    mean, std = posterior(fit, test_nodes, test_u)
    np.testing.assert_allclose(mean, mean_ref, rtol=1e-6, atol=1e-9)
    # scikit-learn's std includes the white noise; ours is the latent function's.
    np.testing.assert_allclose(std**2 + fit.signal * fit.noise, std_ref**2, rtol=1e-6)
    assert kernel(np.array([0]), np.array([0.0]), np.array([1]), np.array([0.0]), 1.0, 0.5)[0, 0] == 0.5


def test_gp_bo_beats_random_at_the_horizon() -> None:
    # On level 3 (linear, 3-5 nodes) 20 steps let the GP locate the best end of the best
    # variable; measured on 32 episodes: 0.005 against random's 0.47 (std units ~1).
    env = CausalBOVectorEnv(32, level=3)
    finals = {}
    for name, policy in (("bo", GpBoPolicy(seed=1)), ("random", RandomPolicy(seed=1))):
        obs, _ = env.reset(seed=100)
        state, start = None, np.ones(32, bool)
        for _ in range(20):
            actions, state = policy.predict(obs, state, start)
            start[:] = False
            obs, _, _, _, info = env.step(actions)
        finals[name] = info["simple_regret"].mean()
    assert finals["bo"] < 0.5 * finals["random"]


def test_sb3_zip_loads_and_predicts_like_sb3(tiny_ppo_zip: Path) -> None:
    policy = load_sb3(tiny_ppo_zip)
    assert (policy.algorithm, policy.rows, policy.width) == ("PPO", 15, 3)
    reference = PPO.load(tiny_ppo_zip, device="cpu")  # our own file: SB3's loader is fine here
    obs, _ = gym.make("CausalBO-v0", level=1, horizon=5).reset(seed=0)
    np.testing.assert_array_equal(policy.predict(obs, deterministic=True)[0],
                                  reference.predict(obs, deterministic=True)[0])
    with pytest.raises(ValueError, match=r"observation shape \(T, max_nodes\) = \(15, 4\) is not allowed"):
        policy.predict(gym.make("CausalBO-v0", level=2, horizon=5).reset(seed=0)[0])


class _Trap:
    """Unpickling this writes a file: the proof that a loader ran code from a zip."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):  # noqa: ANN204
        return (Path(self.path).write_text, ("pwned",))


def _tamper(source: Path, target: Path, key: str, payload: object) -> None:
    with zipfile.ZipFile(source) as archive:
        entries = {name: archive.read(name) for name in archive.namelist()}
    data = json.loads(entries["data"])
    data[key] = {":type:": "<class 'x'>", ":serialized:": base64.b64encode(pickle.dumps(payload)).decode()}
    entries["data"] = json.dumps(data).encode()
    with zipfile.ZipFile(target, "w") as archive:
        for name, content in entries.items():
            archive.writestr(name, content)


@pytest.mark.parametrize("key", ["clip_range", "lr_schedule", "policy_class", "observation_space"])
def test_loading_a_tampered_sb3_zip_runs_no_code(tiny_ppo_zip: Path, tmp_path: Path, key: str) -> None:
    marker = tmp_path / "marker"
    bad = tmp_path / "bad.zip"
    _tamper(tiny_ppo_zip, bad, key, _Trap(str(marker)))
    try:
        load_sb3(bad)
    except CheckpointError:
        pass  # refused: the class or the space is not what a CausalBO zip holds
    assert not marker.exists()


@pytest.mark.parametrize(("mutate", "message"), [
    (lambda d: d.update(policy_kwargs={":serialized:": "eA=="}), r"policy_kwargs hold Python objects"),
    (lambda d: d["observation_space"].update(spaces="Box(0, 1, (4,))"), r"is not a CausalBO Dict observation"),
    (lambda d: d.pop("policy_class"), r"has no pickled policy_class"),
])
def test_unusable_sb3_zips_are_refused_with_the_reason(tiny_ppo_zip: Path, tmp_path: Path, mutate, message: str
                                                       ) -> None:
    with zipfile.ZipFile(tiny_ppo_zip) as archive:
        entries = {name: archive.read(name) for name in archive.namelist()}
    data = json.loads(entries["data"])
    mutate(data)
    entries["data"] = json.dumps(data).encode()
    bad = tmp_path / "bad.zip"
    with zipfile.ZipFile(bad, "w") as archive:
        for name, content in entries.items():
            archive.writestr(name, content)
    with pytest.raises(CheckpointError, match=message):
        load_sb3(bad)
    (tmp_path / "junk.zip").write_bytes(b"PK\x03\x04 not really")
    with pytest.raises(CheckpointError, match="not a readable stable-baselines3 zip"):
        load_sb3(tmp_path / "junk.zip")
