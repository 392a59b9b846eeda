"""The shipped CPU checkpoint loads as a structure learner and beats chance on its family."""

from __future__ import annotations

import re
import resource
from collections.abc import Callable
from pathlib import Path

import gymnasium
import numpy as np
import pytest
import torch

import envs  # noqa: F401  # registers CausalBO-v0
from causal_meta.baselines import get_learner
from causal_meta.families import load_family
from causal_meta.metrics import edge_auroc
from causal_meta.pretrained import CHECKPOINTS, DEFAULT_CHECKPOINT, load_learner
from causal_meta.scm import sample_tasks
from causal_meta.surrogate import ParentSurrogate
from causal_meta.train.checkpoint import CheckpointError


def test_shipped_checkpoint_is_small_and_loads() -> None:
    assert DEFAULT_CHECKPOINT.is_file()
    assert DEFAULT_CHECKPOINT.stat().st_size < 8 * 2**20
    learner = load_learner(n_samples=5)
    tasks = sample_tasks(load_family("cpu_small/er2_linear_d10"), 7, 0, 1, 200)
    posterior = learner.fit(tasks.data[0], tasks.mask[0])
    assert posterior.probs.shape == (10, 10) and posterior.samples.shape == (5, 10, 10)
    assert np.all(np.diag(posterior.probs) == 0)


def test_shipped_checkpoint_ranks_edges_above_chance() -> None:
    # 40 tasks: the mean AUROC of a chance ranker is 0.5 with a standard error near 0.015.
    learner = load_learner(n_samples=1)
    tasks = sample_tasks(load_family("cpu_small/er2_linear_d10"), 11, 0, 40, 200)
    scores = [edge_auroc(tasks.adjacency[t], learner.fit(tasks.data[t], tasks.mask[t]).probs) for t in range(40)]
    assert np.mean(scores) > 0.6


def test_avici_is_a_registered_learner() -> None:
    learner = get_learner("avici", n_samples=3)
    tasks = sample_tasks(load_family("cpu_small/er2_linear_d10"), 3, 0, 1, 50)
    posterior = learner.fit(tasks.data[0], tasks.mask[0], seed=1)
    assert posterior.samples.shape == (3, 10, 10)
    # edge_probs gives the same probabilities as fit, without drawing graphs.
    direct = learner.edge_probs(tasks.data[0], tasks.mask[0]).double().numpy()
    np.testing.assert_array_equal(direct, posterior.probs)


@pytest.mark.parametrize("model", sorted(CHECKPOINTS))
def test_parent_surrogate_reads_the_target_column_of_the_observed_rows(model: str) -> None:
    """Any registered model's checkpoint serves as the single environment's surrogate
    (the batched surrogate's one-observation case)."""
    learner = load_learner(n_samples=0, model=model)
    surrogate = ParentSurrogate(learner.model)
    env = gymnasium.make("CausalBO-v0", level=5, surrogate=surrogate, w_info=0.5)
    obs, _ = env.reset(seed=4)
    for action in np.random.default_rng(0).uniform(-1, 1, (3, env.action_space.shape[0])).astype(np.float32):
        obs, _, _, _, info = env.step(action)
        assert np.isfinite(info["info_gain"])
    probs = env.unwrapped.parent_probabilities
    rows, d = obs["row_mask"].astype(bool), int(obs["node_mask"].sum())
    target = int(np.argmax(obs["target"]))
    # Independent path: the learner on the raw observed rows (it standardises them).
    expected = learner.edge_probs(obs["samples"][rows, :d], obs["intervened"][rows, :d]).double().numpy()[:, target]
    np.testing.assert_allclose(probs[:d], expected, rtol=1e-6, atol=1e-7)
    assert probs[target] == 0.0 and np.all(probs[d:] == 0.0)
    assert rows.sum() == 10 + 3  # n_obs rows, then one row per intervention


def test_environments_name_the_pretrained_surrogate() -> None:
    env = gymnasium.make("CausalBO-v0", level=3, surrogate="avici")
    assert isinstance(env.unwrapped.surrogate, ParentSurrogate)
    with pytest.raises(ValueError, match=r"surrogate = 'notears' is not allowed: must be None, 'avici' or a callable"):
        gymnasium.make("CausalBO-v0", level=3, surrogate="notears")


def test_parent_surrogate_rejects_bad_observations() -> None:
    surrogate = ParentSurrogate.load()
    obs = {"samples": np.zeros((4, 3), np.float32), "intervened": np.zeros((4, 3), np.int8),
           "row_mask": np.array([1, 1, 0, 0], np.int8), "node_mask": np.array([1, 1, 0], np.int8),
           "target": np.array([0, 0, 1], np.int8)}
    with pytest.raises(ValueError, match=r"observation\['target'\] = \[0 0 1\] is not allowed: must be one-hot on a "
                                         "real variable"):
        surrogate(obs)
    with pytest.raises(ValueError, match=r"observation\['node_mask'\] = \[0 1 1\] is not allowed: must mark a "
                                         "non-empty prefix"):
        surrogate({**obs, "node_mask": np.array([0, 1, 1], np.int8)})
    with pytest.raises(ValueError, match=r"observation\['row_mask'\] = \[0 0 0 0\] is not allowed: must mark at least "
                                         "one row"):
        surrogate({**obs, "row_mask": np.zeros(4, np.int8), "target": np.array([0, 1, 0], np.int8)})
    with pytest.raises(ValueError, match=r"observation\['row_mask'\] = \[1 0 1 0\] is not allowed: must mark a prefix"):
        surrogate({**obs, "row_mask": np.array([1, 0, 1, 0], np.int8), "target": np.array([0, 1, 0], np.int8)})
    # In a batch, the bad observation is named at the caller's index.
    batch = {key: np.stack([np.stack([value] * 3)] * 2) for key, value in obs.items()}
    batch["target"][:] = [1, 0, 0]
    batch["target"][1, 2] = [1, 1, 0]
    with pytest.raises(ValueError, match=r"observation\['target'\]\[1, 2\] = \[1 1 0\] is not allowed"):
        surrogate(batch)


def tampered(tmp_path: Path, edit: Callable[[dict], None]) -> Path:
    """The shipped checkpoint with ``edit`` applied, saved as a new file: what someone
    else's file may hold (format and model name intact, contents not)."""
    saved = torch.load(DEFAULT_CHECKPOINT, weights_only=True)
    edit(saved)
    path = tmp_path / "tampered.pt"
    torch.save(saved, path)
    return path


def _set(section: str, key: str, value: object) -> Callable[[dict], None]:
    return lambda saved: saved[section]["model"].__setitem__(key, value)


def _rename_weight(saved: dict) -> None:
    weights = saved["state"]["model"]
    first = next(iter(weights))
    weights["renamed." + first] = weights.pop(first)


@pytest.mark.parametrize(("edit", "message"), [
    # An architecture of ~2**36 parameters (256 GiB): refused from its shapes, nothing built.
    (_set("config", "d_model", 2**16), r"the weights of the avici model do not fit its own config \(.* has shape"),
    (_set("config", "ffn", -1), r"its config cannot build the avici model \(ValueError: .*ffn = -1 is not allowed"),
    (_set("config", "extra", 1), r"its config cannot build the avici model \(TypeError: .*'extra'"),
    (lambda saved: saved["config"].pop("model"), r"has no config\.model"),
    (lambda saved: saved.pop("state"), r"has no state\b"),
    (_rename_weight, r"do not fit its own config \(missing .*; unexpected renamed\."),
    (lambda saved: saved["state"].__setitem__("model", [1, 2]), r"the weights of the avici model are not a mapping"),
], ids=["huge-architecture", "negative-size", "unknown-key", "no-config", "no-state", "renamed-weight",
        "weights-not-a-dict"])
def test_a_tampered_checkpoint_is_refused_before_anything_is_built(tmp_path: Path, edit: Callable[[dict], None],
                                                                   message: str) -> None:
    path = tampered(tmp_path, edit)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(CheckpointError, match=message) as caught:
        load_learner(path)
    assert caught.value.path == path and str(path) in str(caught.value)
    # The 256 GiB architecture was never allocated: the peak resident size grew by far
    # less than one of its layers (2**16 x 2**16 floats = 16 GiB).
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak < 2**20  # KiB: 1 GiB


def test_a_tampered_checkpoint_is_refused_as_the_grpo_surrogate(tmp_path: Path) -> None:
    from agents.grpo.config import GrpoConfig
    from agents.grpo.train import Trainer

    path = tampered(tmp_path, _set("config", "key_size", 7))
    cfg = GrpoConfig()
    cfg.surrogate.checkpoint = str(path)
    with pytest.raises(CheckpointError, match=r"^surrogate\.checkpoint: checkpoint .* do not fit its own config"):
        Trainer(cfg, tmp_path / "run")


def test_loading_a_learner_imports_no_training_logging_or_plotting_code() -> None:
    """The CausalBO surrogate as a user asks for it, in a fresh interpreter: the model and
    the checkpoint format load, and nothing of the training stack (Hydra, TensorBoard, the
    loop, the report's pyplot, which would also switch the user's matplotlib backend).
    tqdm is not checked: torch itself imports it."""
    import subprocess
    import sys

    forbidden = ["hydra", "omegaconf", "torch.utils.tensorboard", "matplotlib", "causal_meta.config",
                 "causal_meta.train.loop", "causal_meta.train.logging", "causal_meta.train.evaluate",
                 "causal_meta.baselines"]
    script = ("import sys, gymnasium, envs\n"
              "env = gymnasium.make('CausalBO-v0', surrogate='avici')\n"
              "env.reset(seed=0)\n"
              "from causal_meta.pretrained import load_learner\n"
              "load_learner(n_samples=2)\n"
              f"print([m for m in {forbidden!r} if m in sys.modules])")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "[]", done.stdout


def test_the_shipped_bcnp_checkpoint_loads_and_gives_dags() -> None:
    """The BCNP checkpoint shipped next to AVICI's: every sample is a DAG, and its edge
    ranking beats chance on its family (40 tasks: chance AUROC 0.5 +- 0.015)."""
    import networkx as nx

    learner = get_learner("bcnp", n_samples=20)
    assert learner.name == "bcnp" and learner.model.config.name == "bcnp"
    tasks = sample_tasks(load_family("cpu_small/er2_linear_d10"), 13, 0, 40, 200)
    aurocs = []
    for data, mask, truth in zip(tasks.data, tasks.mask, tasks.adjacency):
        posterior = learner.fit(data, mask, seed=2)
        assert all(nx.is_directed_acyclic_graph(nx.DiGraph(g)) for g in posterior.samples)
        aurocs.append(edge_auroc(truth, posterior.probs))
    assert np.mean(aurocs) > 0.6


def test_a_model_without_a_shipped_checkpoint_needs_a_path() -> None:
    with pytest.raises(ValueError, match=r"model = 'nosuch' is not allowed without a path: checkpoints ship for "
                                         r"\['avici', 'bcnp'\]"):
        load_learner(model="nosuch")


def _relabelled(tmp_path: Path, source: Path, metadata_name: str) -> Path:
    """The checkpoint at ``source`` (config and weights intact) with another model name in
    its metadata: a file that names two models."""
    saved = torch.load(source, weights_only=True)
    saved["metadata"]["model_name"] = metadata_name
    path = tmp_path / f"{metadata_name}_says_metadata.pt"
    torch.save(saved, path)
    return path


@pytest.mark.parametrize(("source", "metadata", "configured", "model"), [
    ("avici", "bcnp", "avici", "bcnp"),
    ("avici", "bcnp", "avici", None),
    ("bcnp", "avici", "bcnp", "avici"),
])
def test_a_checkpoint_naming_two_models_is_refused(tmp_path: Path, source: str, metadata: str, configured: str,
                                                   model: str | None) -> None:
    from causal_meta.pretrained import CHECKPOINTS

    path = _relabelled(tmp_path, CHECKPOINTS[source], metadata)
    allowed = repr(model) if model is not None else r"one of \['avici', 'bcnp'\]"
    with pytest.raises(CheckpointError, match=rf"{path} names two models: its metadata says '{metadata}' but its "
                                              rf"config\.model\.name says '{configured}'.* allows {allowed}") as caught:
        load_learner(path, model=model)
    assert caught.value.path == path


def test_the_model_asked_for_is_checked_against_the_file(tmp_path: Path) -> None:
    from causal_meta.pretrained import CHECKPOINTS

    with pytest.raises(CheckpointError, match=r"saved by model 'avici', but this run trains 'bcnp'"):
        load_learner(CHECKPOINTS["avici"], model="bcnp")
    assert load_learner(CHECKPOINTS["bcnp"], model="bcnp", n_samples=0).name == "bcnp"


def test_a_learner_with_a_nan_weight_is_refused_at_load(tmp_path: Path) -> None:
    def poison(saved: dict) -> None:
        weights = saved["state"]["model"]
        weights[next(iter(weights))].view(-1)[0] = float("nan")

    path = tampered(tmp_path, poison)
    first = next(iter(torch.load(DEFAULT_CHECKPOINT, weights_only=True)["state"]["model"]))
    with pytest.raises(CheckpointError, match=rf"^checkpoint {path}: tensor state\.model\.{re.escape(first)} holds 1 "
                                              r"NaN or infinite value") as caught:
        load_learner(path)
    assert caught.value.path == path
