"""The evaluation harness: hand-worked metrics on a fixed chain, the statistics against
direct computations, determinism, vector = single paths, the CLI with every policy
kind (a tiny SB3 zip included) and its errors."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import trim_mean

import causal_meta
import envs  # noqa: F401 - registers the ids
from agents.evaluate import PolicySource, build_sets, evaluate
from agents.evaluate.__main__ import main
from agents.evaluate.config import EvaluateConfig
from agents.evaluate.rollout import make_env, run_set
from agents.evaluate.scores import episode_metrics, iqm_interval, mean_interval, ratio_interval
from agents.evaluate.sets import EVALUATION_SEED_FLOOR, EpisodeSet
from causal_meta import config
from causal_meta.config import ConfigError
from envs.actions import one_hot_actions
from envs.settings import EnvSettings


class ChainScript:
    """Three fixed steps on the 3-node chain root -> mid -> leaf, read from the hidden
    graphs (a test script, not an agent)."""

    def __init__(self, env) -> None:
        self.env = env

    def predict(self, observation, state=None, episode_start=None, deterministic=False):
        step = 0 if state is None else state
        nodes, entries = [], []
        for scm, target in zip(self.env._episodes.scms, self.env._episodes.target):
            a = scm.adjacency
            root = int(np.flatnonzero(a.sum(axis=0) == 0)[0])
            mid = int(np.flatnonzero(a[root])[0])
            leaf = int(np.flatnonzero(a[mid])[0])
            if target == leaf:  # do(root = high end), then do(mid = low end), then do(mid = centre)
                plan = [(root, 1.0), (mid, -1.0), (mid, 0.0)]
            else:  # the target is mid: do(leaf = high end), do(root = low end), do(root = centre)
                plan = [(leaf, 1.0), (root, -1.0), (root, 0.0)]
            nodes.append(plan[step][0])
            entries.append(plan[step][1])
        return one_hot_actions(np.array(nodes), np.array(entries), 3), step + 1


def test_metrics_of_a_hand_worked_chain(fixed_chain) -> None:
    # Every weight 2, unit noise: root ~ N(0, 1), mid ~ N(0, 5), leaf ~ N(0, 21); each
    # node's range is its mean +- 2 std.
    # Target leaf (std sqrt 21): E[leaf | do(root = v)] = 4 v, E[leaf | do(mid = v)] = 2 v;
    # the optimum is do(mid = -2 sqrt 5), E = -4 sqrt 5. The script's expected targets:
    # do(root = 2) -> 8, do(mid = -2 sqrt 5) -> -4 sqrt 5, do(mid = 0) -> 0; so simple regret
    # after 1 step 8 + 4 sqrt 5, after 3 steps 0; cumulative (8 + 4 sqrt 5) + 0 + 4 sqrt 5.
    # Target mid (std sqrt 5): the optimum is do(root = -2), E = -4; the leaf cannot move
    # mid: do(leaf = 2 sqrt 21) -> 0, do(root = -2) -> -4, do(root = 0) -> 0; simple regret
    # 4 then 0; cumulative 4 + 0 + 4.
    # Both: parents chosen at steps 2 and 3 (rate 2/3); value entries +1, -1, 0 (range use 2/3).
    chain = EpisodeSet("chain", {"level": 1}, episodes=12, seed=EVALUATION_SEED_FLOOR)
    env = make_env(chain, EnvSettings(horizon=3))
    records = run_set(lambda e: ChainScript(e), chain, env, horizon=3)
    m = episode_metrics(records, budgets=[1])
    leaf = records.target_std > 3  # sqrt 21 = 4.58 against sqrt 5 = 2.24
    assert 0 < leaf.sum() < 12, "the seeds should give both kinds of target"
    r5 = math.sqrt(5)
    np.testing.assert_allclose(m["simple_regret@1"], np.where(leaf, 8 + 4 * r5, 4.0), rtol=1e-6)
    np.testing.assert_allclose(m["simple_regret@3"], 0.0, atol=1e-6)
    np.testing.assert_allclose(m["cumulative_regret"], np.where(leaf, 8 + 8 * r5, 8.0), rtol=1e-6)
    np.testing.assert_allclose(m["cumulative_regret_std"], np.where(leaf, (8 + 8 * r5) / math.sqrt(21), 8 / r5),
                               rtol=1e-6)
    np.testing.assert_allclose(m["parent_rate"], 2 / 3)
    np.testing.assert_allclose(m["range_use"], 2 / 3)


def test_statistics_against_direct_computation() -> None:
    rng = np.random.default_rng(0)
    x = rng.exponential(size=200)
    est = mean_interval(x, resamples=2000, seed=1)
    assert est.mean == pytest.approx(x.mean()) and est.low < x.mean() < est.high
    # The interval's half-width is about 1.96 standard errors for a mean of 200 draws.
    assert (est.high - est.low) / 2 == pytest.approx(1.96 * x.std(ddof=1) / math.sqrt(200), rel=0.15)
    oracle, random = np.zeros(200), rng.exponential(2.0, size=200)
    policy = 0.25 * random + rng.normal(0, 0.01, 200)
    ratio = ratio_interval(policy, oracle, random, seed=2)
    assert ratio.mean == pytest.approx(policy.mean() / random.mean()) and ratio.low < ratio.mean < ratio.high
    assert math.isnan(ratio_interval(policy, random, random).mean)  # random at the oracle: undefined
    parts = [rng.normal(size=50), rng.normal(3, 1, size=80)]
    iqm = iqm_interval(parts, seed=3)
    assert iqm.mean == pytest.approx(np.mean([p.mean() for p in parts])) and iqm.low < iqm.mean < iqm.high


def test_the_across_set_figure_is_the_iqm_of_the_per_set_means() -> None:
    # Like GRPO's simple regret after 3 steps: most episodes at the optimum (score 0), a
    # fifth of them well above it, so that the set means are about 0.1.
    rng = np.random.default_rng(4)
    parts = [np.where(rng.random(100) < 0.2, rng.uniform(0.2, 0.8, 100), 0.0) for _ in range(8)]
    means = [p.mean() for p in parts]
    iqm = iqm_interval(parts, seed=5)
    assert iqm.mean == pytest.approx(trim_mean(means, 0.25))
    assert sorted(means)[2] <= iqm.mean <= sorted(means)[-3] and iqm.low < iqm.mean < iqm.high
    assert trim_mean(np.concatenate(parts), 0.25) == 0.0  # what an IQM of the pooled episodes shows


def test_the_iqm_row_can_be_checked_against_the_per_set_tables() -> None:
    sets = build_sets([1, 2, 3, 5], [], [], 8, seed=2)
    _, scores, _ = evaluate(["greedy"], sets, settings=EnvSettings(horizon=5), resamples=200, budgets=[3])
    for key in ("normalised_simple_regret@3", "normalised_cumulative_regret"):
        per_set = [scores.sets[s.name]["greedy"][key].mean for s in sets]
        assert scores.iqm["greedy"][key].mean == pytest.approx(trim_mean(per_set, 0.25)), key


def small_sets(episodes: int = 6) -> list[EpisodeSet]:
    return build_sets([2], ["tree"], ["psa"], episodes, seed=0)


def test_evaluation_is_deterministic_and_vector_equals_single() -> None:
    kwargs = dict(settings=EnvSettings(horizon=4), resamples=200, budgets=[1, 3])
    first = evaluate(["greedy", "bo"], small_sets(), **kwargs)[0]
    again = evaluate(["greedy", "bo"], small_sets(), **kwargs)[0]
    single = evaluate(["greedy", "bo"], small_sets(), vectorised=False, **kwargs)[0]
    for other in (again, single):
        for set_name, by_policy in first.items():
            assert by_policy.keys() == other[set_name].keys() == {"random", "oracle", "greedy", "bo"}
            for name, records in by_policy.items():
                a, b = records.to_json(), other[set_name][name].to_json()
                a.pop("seconds"), b.pop("seconds")
                assert a == b, (set_name, name)
    # The sets' seeds lie above every training seed.
    assert all(s.seed >= EVALUATION_SEED_FLOOR for s in small_sets())


def test_oracle_and_random_anchor_the_normalised_regret() -> None:
    _, scores, _ = evaluate(["greedy"], build_sets([3], [], [], 20, seed=1), settings=EnvSettings(horizon=5),
                            resamples=200)
    by_policy = scores.sets["level3"]
    assert by_policy["random"]["normalised_cumulative_regret"].mean == pytest.approx(1.0)
    assert by_policy["oracle"]["normalised_cumulative_regret"].mean == pytest.approx(0.0)
    assert by_policy["oracle"]["simple_regret@5"].mean == 0.0
    assert by_policy["greedy"]["normalised_cumulative_regret"].mean < 1.0


def test_cli_smoke_with_every_policy_kind(tiny_ppo_zip: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "eval"
    main(["--config", "smoke", "--output", str(out), "--policy", "random", "--policy", "greedy", "--policy", "oracle",
          "--policy", "bo", "--policy", str(tiny_ppo_zip)])
    printed = capsys.readouterr().out
    assert "## Per set" in printed and "ppo:ppo" in printed
    data = json.loads((out / "results.json").read_text())
    assert set(data["summary"]["level1"]) == {"random", "greedy", "oracle", "bo", "ppo:ppo"}
    assert "ppo:ppo" not in data["summary"]["tree"]  # 5-8 variables do not fit a 3-variable model
    assert any("ppo:ppo skips tree" in note for note in data["notes"])
    assert data["versions"]["stable-baselines3"] and data["config"]["episodes"] == 4
    for name in ("report.md", "regret_curves.png", "best_target.png", "normalised_regret.png", "config.yaml"):
        assert (out / name).stat().st_size > 0


@pytest.mark.parametrize(("args", "message"), [
    (["--policy", "clever"], r"policy = 'clever' is not allowed: not a built-in policy \['random', 'greedy'"),
    (["--policy", "missing.zip"], r"policy = 'missing.zip' is not allowed: .* no such file"),
    (["episodes=0"], r"episodes = 0 is not allowed: must be an integer >= 1"),
    (["epsiodes=3"], r"unknown key 'epsiodes' \(did you mean 'episodes'\?\)"),
    (["heldout=[lattice]"], r"heldout entry 'lattice' is not allowed: expected one of \['er_d60'"),
    (["--policy"], r"--policy needs a value"),
    (["budgets=[1,3,8]"], r"budgets = \[1, 3, 8\] is not allowed: \[8\] past the horizon 5; every budget must be "
                          r"in \[1, 5\]"),
    (["budgets=[0,3]"], r"budgets = \[0, 3\] is not allowed: \[0\] .*in \[1, 5\]"),
    (["env.optimum_samples=0"], r"env.optimum_samples = 0 is not allowed: must be an integer >= 2 in an evaluation "
                                r"\(regrets need the optimum\)"),
    (["env.w_parent=inf"], r"env.w_parent = inf is not allowed: must be a finite number"),
])
def test_cli_errors_name_the_field(args: list[str], message: str, tmp_path: Path,
                                   capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--config", "smoke", "--output", str(tmp_path), *args])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and len(err.strip().splitlines()) <= 2
    assert re.search(message, err), err


def test_cli_refuses_corrupt_and_misfitting_files(tiny_ppo_zip: Path, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture) -> None:
    junk = tmp_path / "junk.zip"
    junk.write_bytes(b"not a zip")
    with pytest.raises(SystemExit):
        main(["--config", "smoke", "--output", str(tmp_path / "a"), "--policy", str(junk)])
    assert "the file is neither a stable-baselines3 zip" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # every set is wider than the model's 3 variables
        main(["--config", "smoke", "--output", str(tmp_path / "b"), "--policy", str(tiny_ppo_zip), "levels=[5]",
              "named=[]"])
    assert "fits none of the sets" in capsys.readouterr().err


def test_a_checkpoint_of_another_model_is_named_for_what_it_is(tmp_path: Path,
                                                              capsys: pytest.CaptureFixture) -> None:
    shipped = Path(causal_meta.__file__).parent / "checkpoints" / "avici_cpu_small.pt"
    out = tmp_path / "eval"
    with pytest.raises(SystemExit):
        main(["--config", "smoke", "--output", str(out), "--policy", str(shipped)])
    err = capsys.readouterr().err
    assert "holds a model 'avici', not a policy" in err and "python -m agents.grpo" in err, err
    assert "trains" not in err, err
    assert not out.exists(), "the failed run left the folder it created behind"


def test_a_rerun_says_which_evaluation_it_overwrites(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "eval"
    args = ["--config", "smoke", "--output", str(out), "levels=[1]", "heldout=[]", "named=[]"]
    main(args)
    assert "overwrit" not in capsys.readouterr().err
    main(args)
    assert f"overwriting the evaluation in {out}" in capsys.readouterr().err


def test_budgets_past_the_horizon_are_refused_before_anything_runs(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"budgets = \[1, 30\] is not allowed: \[30\] past the horizon 20"):
        config.load(EvaluateConfig, None, ["budgets=[1,30]"], config_package="agents.configs.evaluate")
    with pytest.raises(ValueError, match=r"budgets = \[3, 10\] is not allowed: \[10\] past the horizon 4"):
        evaluate(["greedy"], build_sets([1], [], [], 2, seed=0), settings=EnvSettings(horizon=4),
                 budgets=[3, 10])
    # Budgets nobody asked for are fitted to the horizon.
    assert config.load(EvaluateConfig, None, ["env.horizon=4"], config_package="agents.configs.evaluate").budgets == [1, 3]


def test_a_policy_source_may_be_given_directly() -> None:
    source = PolicySource("centre", lambda env, seed: _Centre())
    records, scores, _ = evaluate([source], build_sets([1], [], [], 5, seed=0), settings=EnvSettings(horizon=3),
                                    resamples=200)
    np.testing.assert_array_equal(records["level1"]["centre"].entry, 0.0)
    assert scores.sets["level1"]["centre"]["range_use"].mean == 0.0
    with pytest.raises(ValueError, match=r"env.optimum_samples = 0 is not allowed: must be an integer >= 2 in an "
                                         r"evaluation"):
        evaluate(["greedy"], build_sets([1], [], [], 2, seed=0), settings=EnvSettings(optimum_samples=0))
    with pytest.raises(ValueError, match="each policy may appear once"):
        evaluate(["greedy", "greedy"], build_sets([1], [], [], 2, seed=0), settings=EnvSettings(horizon=2))
    with pytest.raises(ConfigError, match="resamples = 5 is not allowed"):
        config.load(EvaluateConfig, "smoke", ["resamples=5"], config_package="agents.configs.evaluate")


class _Centre:
    """Always the first valid node at the centre of its range."""

    def predict(self, observation, state=None, episode_start=None, deterministic=False):
        valid = np.asarray(observation["valid"], bool)
        return one_hot_actions(valid.argmax(axis=1), np.zeros(len(valid)), valid.shape[1]), state


def test_a_run_directory_given_as_policy_points_at_its_checkpoint(tmp_path: Path) -> None:
    from agents.evaluate.policies import resolve

    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / "last.pt").write_bytes(b"")
    with pytest.raises(ValueError, match=r"policy = .* is not allowed: policy .* is a directory, not a file; it holds "
                                         r".*checkpoints/last.pt"):
        resolve(str(tmp_path))
    with pytest.raises(ValueError, match="is a directory, not a file; pass the policy file itself"):
        resolve(str(tmp_path / "checkpoints"))
