"""Tests of causal_meta.config on a toy schema and the presets in tests/configs/."""

from __future__ import annotations

import dataclasses
import importlib.util
import os
from enum import Enum
from pathlib import Path

import pytest
from omegaconf import MISSING

from causal_meta import config
from causal_meta.config import ConfigError, option

PACKAGE = "configs"  # tests/configs, importable once tests/ is on sys.path


class Activation(Enum):
    relu = 1
    gelu = 2


@dataclasses.dataclass
class Model:
    layers: int = option(2, "number of layers")
    width: float = option(1.0, "width multiplier")
    activation: Activation = option(Activation.relu, "non-linearity")

    def __post_init__(self) -> None:
        if self.layers < 1:
            raise ValueError(f"layers must be >= 1, got {self.layers}")


@dataclasses.dataclass
class Toy:
    model: Model = option(Model, "the network")
    seed: int = option(0, "base seed of the task stream")
    tags: list[str] = option([], "free-form labels")
    note: str | None = option(None, "a remark stored with the run")


config.register("toy_schema", Toy)

ALL_KEYS = ["model", "model.layers", "model.width", "model.activation", "seed", "tags", "note"]


@pytest.fixture(autouse=True)
def _presets_importable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(Path(__file__).parent))


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run in an empty directory, as main() writes runs/ under the working directory."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def load(preset: str | None, *overrides: str) -> Toy:
    return config.load(Toy, preset, overrides, config_package=PACKAGE)


def run_main(*argv: str) -> list[tuple[Toy, Path]]:
    calls: list[tuple[Toy, Path]] = []
    config.main(
        Toy,
        lambda cfg, run_dir: calls.append((cfg, run_dir)),
        config_package=PACKAGE,
        default_preset="tiny",
        argv=argv,
    )
    return calls


# ----------------------------------------------------------------- presets and overrides


def test_list_presets_finds_the_yaml_files() -> None:
    assert config.list_presets(PACKAGE) == ["tiny", "typo", "untyped", "wide"]


def test_preset_values_override_schema_defaults() -> None:
    assert load("tiny") == Toy(model=Model(layers=3))
    assert load(None) == Toy()


def test_preset_can_build_on_another_preset() -> None:
    assert load("wide") == Toy(model=Model(layers=3, width=4.0), tags=["wide"])


def test_dotted_overrides_reach_nested_keys() -> None:
    cfg = load("tiny", "model.width=2.5", "model.activation=gelu", "seed=7", "tags=[a,b]")
    assert cfg == Toy(
        model=Model(layers=3, width=2.5, activation=Activation.gelu), seed=7, tags=["a", "b"]
    )


# ----------------------------------------------------------------- errors


def test_unknown_override_key_names_path_and_allowed_keys() -> None:
    with pytest.raises(ConfigError) as caught:
        load("tiny", "model.widht=2")
    assert caught.value.path == "model.widht"
    message = str(caught.value)
    assert message.startswith("model.widht: unknown key")
    assert "did you mean 'width'" in message
    assert "allowed under 'model': layers, width, activation" in message


def test_unknown_top_level_key_lists_top_level_keys() -> None:
    with pytest.raises(ConfigError, match="allowed at the top level: model, seed, tags, note"):
        load("tiny", "sed=3")


def test_adding_a_key_with_plus_is_refused_not_dropped() -> None:
    with pytest.raises(ConfigError, match=r"^model\.extra: unknown key 'extra'") as caught:
        load("tiny", "+model.extra=1")
    assert caught.value.path == "model.extra"


def test_unknown_key_in_a_preset_names_the_preset() -> None:
    with pytest.raises(ConfigError, match=r"^preset 'typo': model\.layerz: unknown key"):
        load("typo")


def test_wrong_type_names_path_value_and_expected_type() -> None:
    with pytest.raises(ConfigError) as caught:
        load("tiny", "model.layers=abc")
    assert caught.value.path == "model.layers"
    assert str(caught.value) == "model.layers: got 'abc' (str), expected int"


def test_wrong_enum_value_lists_the_choices() -> None:
    with pytest.raises(ConfigError, match=r"model\.activation: .*expected \{relu, gelu\}"):
        load("tiny", "model.activation=tanh")


def test_wrong_container_type_is_reported() -> None:
    with pytest.raises(ConfigError, match=r"^tags: got 3 \(int\), expected list\[str\]$"):
        load("tiny", "tags=3")


def test_unknown_preset_lists_available_presets() -> None:
    with pytest.raises(ConfigError) as caught:
        load("tinny")
    message = str(caught.value)
    assert "unknown preset 'tinny'" in message
    assert "did you mean 'tiny'" in message
    assert "tiny, typo, untyped, wide" in message


def test_preset_not_built_on_the_schema_is_refused() -> None:
    for overrides in ((), ("model.layers=3",)):
        with pytest.raises(ConfigError, match="start its defaults list with '- toy_schema'"):
            load("untyped", *overrides)


@dataclasses.dataclass
class Named:
    name: str = option(MISSING, "must be given on the command line")


config.register("named_schema", Named)


def test_missing_value_says_how_to_set_it() -> None:
    with pytest.raises(ConfigError, match=r"^name: no value given \(\?\?\?\); set it with name="):
        config.load(Named, config_package=PACKAGE)
    assert config.load(Named, None, ["name=x"], config_package=PACKAGE) == Named(name="x")


def test_post_init_message_surfaces_with_its_path() -> None:
    with pytest.raises(ConfigError) as caught:
        load("tiny", "model.layers=0")
    assert caught.value.path == "model"
    assert str(caught.value) == "model: layers must be >= 1, got 0"


@dataclasses.dataclass(frozen=True)
class Limits:
    low: float = option(-1.0, "lowest value")
    high: float = option(1.0, "highest value")

    def __post_init__(self) -> None:
        if not self.low < self.high:
            raise ValueError(f"limits = ({self.low}, {self.high}) is not allowed: needs low < high")


@dataclasses.dataclass
class Boxed:
    limits: Limits = option(Limits, "a frozen section")
    seed: int = option(0, "a seed")


config.register("boxed_schema", Boxed)


def test_a_frozen_section_takes_overrides_and_stays_frozen(tmp_path: Path) -> None:
    """OmegaConf makes a frozen dataclass's node read-only; the config layer must still
    merge presets, overrides and saved files into it, and build the frozen instance."""
    cfg = config.load(Boxed, None, ["limits.high=3", "seed=2"], config_package=PACKAGE)
    assert cfg == Boxed(Limits(-1.0, 3.0), seed=2)
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.limits.low = 0.0  # type: ignore[misc]
    assert config.load_saved(config.save_resolved(cfg, tmp_path), Boxed) == cfg
    with pytest.raises(ConfigError, match=r"^limits: limits = \(-1.0, -2.0\) is not allowed: needs low < high$"):
        config.load(Boxed, None, ["limits.high=-2"], config_package=PACKAGE)
    assert config.describe(Boxed).splitlines()[3].split()[:3] == ["limits.high", "float", "1.0"]


# ----------------------------------------------------------------- files


def test_save_and_load_round_trip(tmp_path: Path) -> None:
    cfg = load("wide", "model.activation=gelu", "note='two words'")
    written = config.save_resolved(cfg, tmp_path / "run")
    assert written == tmp_path / "run" / "config.yaml"
    assert "activation: gelu" in written.read_text()
    assert config.load_saved(written, Toy) == cfg
    assert [p.name for p in written.parent.iterdir()] == ["config.yaml"]  # no temp left


def test_load_saved_validates_like_load(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("model:\n  layers: 0\n")
    with pytest.raises(ConfigError, match="^model: layers must be >= 1, got 0$"):
        config.load_saved(path, Toy)
    path.write_text("model:\n  depth: 2\n")
    with pytest.raises(ConfigError, match=r"model\.depth: unknown key 'depth'"):
        config.load_saved(path, Toy)


def test_load_saved_uses_a_safe_loader(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("seed: !!python/object/apply:os.getpid []\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        config.load_saved(path, Toy)


# ----------------------------------------------------------------- help


def test_describe_lists_every_key_with_type_default_and_help() -> None:
    rows = {line.split()[0]: line for line in config.describe(Toy).splitlines()[1:]}
    assert list(rows) == ALL_KEYS
    assert rows["model.layers"].split()[1:4] == ["int", "2", "number"]
    assert "{relu, gelu}" in rows["model.activation"]
    assert "str | None" in rows["note"] and "null" in rows["note"]
    assert rows["tags"].split()[1:3] == ["list[str]", "[]"]
    assert "\nseed  " in config.describe(Toy()) and " 5 " in config.describe(Toy(seed=5))


def test_register_refuses_a_name_taken_by_another_schema() -> None:
    config.register("toy_schema", Toy)  # the same schema again is fine
    with pytest.raises(ValueError, match=r"'toy_schema' is taken by .*\bToy$"):
        config.register("toy_schema", Model)


def test_help_lists_presets_and_every_key(
    in_tmp: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_main("--help", "wide") == []
    out = capsys.readouterr().out
    assert "tiny, typo, untyped, wide" in out
    for key in ALL_KEYS:
        assert f"\n{key} " in out
    assert "model.width       float" in out and " 4.0 " in out  # values of preset 'wide'
    assert not (in_tmp / "runs").exists()


# ----------------------------------------------------------------- CLI


def test_config_alias_equals_config_name(in_tmp: Path) -> None:
    ((by_alias, alias_dir),) = run_main("--config", "wide", "seed=3")
    ((by_name, name_dir),) = run_main("--config-name=wide", "seed=3")
    ((by_position, _),) = run_main("wide", "seed=3")
    assert by_alias == by_name == by_position == load("wide", "seed=3")
    assert alias_dir == name_dir == in_tmp / "runs/wide"


def test_single_run_writes_resolved_config(in_tmp: Path) -> None:
    ((cfg, run_dir),) = run_main("model.width=2", "hydra.job.name=trial")
    assert run_dir == in_tmp / "runs/trial"
    assert config.load_saved(in_tmp / "runs/trial/config.yaml", Toy) == cfg
    assert sorted(os.listdir(in_tmp)) == ["runs"]


def test_cli_errors_exit_2_with_the_message(
    in_tmp: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for argv in (("model.layers=abc",), ("--verbose",), ("tiny", "wide"), ("seed=[",)):
        with pytest.raises(SystemExit) as caught:
            run_main(*argv)
        assert caught.value.code == 2
    err = capsys.readouterr().err
    assert "model.layers: got 'abc' (str), expected int" in err
    assert "unknown option '--verbose'" in err
    assert "two presets given" in err
    assert "cannot parse override 'seed=['" in err


def _fail(cfg: Toy, run_dir: Path) -> None:
    raise ValueError("bad input found while running")


def _fail_after_writing(cfg: Toy, run_dir: Path) -> None:
    (run_dir / "partial.txt").write_text("a result worth keeping")
    raise ValueError("bad input found after a first result")


def test_a_failed_run_removes_the_folder_it_created(in_tmp: Path) -> None:
    with pytest.raises(ValueError, match="found while running"):
        config.main(Toy, _fail, config_package=PACKAGE, default_preset="tiny", argv=["hydra.job.name=failed"])
    assert not (in_tmp / "runs").exists()  # runs/ too: this run made it
    with pytest.raises(ValueError, match="after a first result"):  # a folder with results stays
        config.main(Toy, _fail_after_writing, config_package=PACKAGE, default_preset="tiny",
                    argv=["hydra.job.name=partial"])
    assert (in_tmp / "runs/partial/partial.txt").is_file()


def test_a_failed_run_keeps_a_folder_that_existed_before(in_tmp: Path) -> None:
    earlier = in_tmp / "runs/kept"
    earlier.mkdir(parents=True)
    with pytest.raises(ValueError):
        config.main(Toy, _fail, config_package=PACKAGE, default_preset="tiny", argv=["hydra.job.name=kept"])
    assert earlier.is_dir()


def test_launcher_without_multirun_is_refused(in_tmp: Path) -> None:
    with pytest.raises(SystemExit):
        run_main("hydra/launcher=basic")
    assert not (in_tmp / "runs").exists()


def test_multirun_sweep_runs_each_value(in_tmp: Path) -> None:
    calls: list[tuple[Toy, Path]] = []
    cwds: list[Path] = []

    def record(cfg: Toy, run_dir: Path) -> None:
        calls.append((cfg, run_dir))
        cwds.append(Path.cwd())

    config.main(
        Toy,
        record,
        config_package=PACKAGE,
        default_preset="tiny",
        argv=["-m", "seed=1,2", "model.width=3"],
    )
    assert sorted(cfg.seed for cfg, _ in calls) == [1, 2]
    assert all(cfg.model == Model(layers=3, width=3.0) for cfg, _ in calls)
    run_dirs = sorted(str(run_dir) for _, run_dir in calls)
    assert run_dirs == [
        str(in_tmp / "runs/tiny/model.width=3,seed=1"),
        str(in_tmp / "runs/tiny/model.width=3,seed=2"),
    ]
    for cfg, run_dir in calls:
        assert os.listdir(run_dir) == ["config.yaml"]  # Hydra adds no .hydra/ or logs
        assert config.load_saved(run_dir / "config.yaml", Toy) == cfg
    assert sorted(os.listdir(in_tmp)) == ["runs"]  # no outputs/ or multirun/
    assert cwds == [in_tmp, in_tmp]  # Hydra did not chdir into the job directories


def test_multirun_passes_the_launcher_choice_to_hydra(in_tmp: Path) -> None:
    calls = run_main("--multirun", "--config", "wide", "hydra/launcher=basic", "seed=5,6")
    assert sorted(cfg.seed for cfg, _ in calls) == [5, 6]


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:  # a parent package is missing
        return False


@pytest.mark.skipif(
    _installed("hydra_plugins.hydra_submitit_launcher"),
    reason="the submitit launcher is installed",
)
def test_missing_slurm_launcher_points_to_the_extra(
    in_tmp: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        run_main("-m", "hydra/launcher=submitit_slurm", "seed=1,2")
    assert "causal-meta[slurm]" in capsys.readouterr().err


def test_multirun_checks_every_job_before_starting_any(
    in_tmp: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    calls: list[Toy] = []
    with pytest.raises(SystemExit):
        config.main(
            Toy,
            lambda cfg, _: calls.append(cfg),
            config_package=PACKAGE,
            default_preset="tiny",
            argv=["-m", "model.layers=2,0"],
        )
    assert calls == []
    assert "model: layers must be >= 1, got 0" in capsys.readouterr().err


def test_load_works_inside_a_sweep_job(in_tmp: Path) -> None:
    inner: list[Toy] = []
    config.main(
        Toy,
        lambda cfg, _: inner.append(load("wide", f"seed={cfg.seed}")),
        config_package=PACKAGE,
        default_preset="tiny",
        argv=["-m", "seed=1,2"],
    )
    assert sorted(cfg.seed for cfg in inner) == [1, 2]
    assert all(cfg.tags == ["wide"] for cfg in inner)


BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n" + "".join(
    f"{chr(99 + i)}: &{chr(99 + i)} [{', '.join([f'*{chr(98 + i)}'] * 9)}]\n" for i in range(8))


def test_yaml_alias_bombs_are_refused_before_they_expand(tmp_path: Path) -> None:
    """A ~500-byte file of nested aliases (9**10 leaves once expanded) is refused at its
    first anchor, by the saved-config, family and collection loaders alike."""
    from causal_meta.families import load_collection, load_family
    from causal_meta.specs import SpecError

    bomb = tmp_path / "bomb.yaml"
    bomb.write_text(BOMB)
    assert len(BOMB) < 600
    with pytest.raises(config.ConfigError, match=r"anchors and aliases are not allowed \(line 1\)"):
        config.load_saved(bomb, Toy)
    with pytest.raises(SpecError, match=r"anchors and aliases are not allowed \(line 1\)"):
        load_family(str(bomb))
    with pytest.raises(SpecError, match=r"anchors and aliases are not allowed"):
        load_collection(str(bomb))


@pytest.mark.parametrize("key", ["data.family", "trainer.val_families"])
def test_a_family_file_with_a_python_tag_is_refused_when_the_config_loads(
    key: str, in_tmp: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from agents.pretrain import main as pretrain
    from causal_meta.train.config import PretrainConfig

    tagged = in_tmp / "tagged.yaml"
    tagged.write_text('nodes: 5\ngraph: !!python/object/apply:os.system ["echo hi"]\n')
    value = str(tagged) if key == "data.family" else f"[{tagged}]"
    with pytest.raises(ConfigError, match=rf"{key}.* = .*tagged.yaml.* is not allowed: .*python/object/apply"):
        config.load(PretrainConfig, "smoke", [f"{key}={value}"], config_package="agents.configs.pretrain")
    with pytest.raises(SystemExit):
        pretrain(["avici", "--config", "smoke", f"{key}={value}", f"hydra.run.dir={in_tmp / 'run'}"])
    assert "python/object/apply" in capsys.readouterr().err
    assert not (in_tmp / "run").exists(), "the run directory was made before the family file was read"
