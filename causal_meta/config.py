"""Typed configuration for every causal-meta entry point, built on Hydra.

Users of the research code this project replaces already drive it with Hydra, so the
entry points keep Hydra's habits (presets, dotted ``key=value`` overrides, ``--multirun``
sweeps, launcher plugins such as ``hydra/launcher=submitit_slurm``) and this module only
adds what Hydra leaves open:

* a dataclass schema per entry point, stored in Hydra's ConfigStore with `register`, so
  presets and overrides are type-checked instead of being free-form dictionaries;
* errors that name the dotted key, the offending value and what is allowed
  (`ConfigError`), including messages raised by a dataclass ``__post_init__``;
* a small CLI wrapper (`main`) that accepts ``--config NAME`` and a positional preset
  name, keeps Hydra from changing directory, configuring logging or writing
  ``outputs/``, and gives every run a directory under ``runs/`` holding its resolved
  ``config.yaml``.

A preset is a YAML file at the top level of a Python package (for instance
``agents/configs/pretrain/avici.yaml``) that builds on the registered schema::

    defaults:
      - pretrain_schema   # the name given to register()
      - _self_
    model:
      layers: 6
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import os
import sys
import types
import typing
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from enum import Enum
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

import hydra
import yaml
from hydra import compose, initialize_config_module
from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.config_store import ConfigStore
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override
from hydra.errors import HydraException, MissingConfigException, OverrideParseException
from hydra.initialize import get_gh_backup, restore_gh_from_backup
from omegaconf import DictConfig, ListConfig, OmegaConf, open_dict, read_write
from omegaconf.errors import (
    ConfigAttributeError,
    ConfigKeyError,
    MissingMandatoryValue,
    OmegaConfBaseException,
    ValidationError,
)

from causal_meta import safe_yaml
from causal_meta.options import option, to_plain
from causal_meta.atomic import write_atomic

__all__ = [
    "CONFIG_FILE",
    "ConfigError",
    "RUNS_ROOT",
    "describe",
    "entry_point",
    "list_presets",
    "load",
    "load_saved",
    "main",
    "option",
    "output_flag",
    "pop_flags",
    "quote",
    "register",
    "register_group",
    "run_dir_override",
    "save_resolved",
    "to_plain",
]

T = TypeVar("T")

RUNS_ROOT = "runs"
"""Directory, relative to the working directory, that holds one sub-directory per run."""

CONFIG_FILE = "config.yaml"

_HYDRA_VERSION_BASE = "1.3"

# Hydra settings every entry point shares; a user override of the same key wins.
# No chdir, no `.hydra/` copies, no logging set-up, and run directories under runs/:
# runs/<job name>/ for a single run, runs/<job name>/<overrides>/ for each sweep job.
_HYDRA_SETTINGS = (
    "hydra.job.chdir=false",
    "hydra.output_subdir=null",
    "hydra/hydra_logging=none",
    "hydra/job_logging=none",
    f"hydra.run.dir={RUNS_ROOT}/${{hydra.job.name}}",
    f"hydra.sweep.dir={RUNS_ROOT}/${{hydra.job.name}}",
    "hydra.sweep.subdir=${hydra.job.override_dirname}",
)

# Config groups that only mean something to Hydra's multirun machinery.
_MULTIRUN_GROUPS = ("hydra/launcher", "hydra/sweeper")

_SCHEMAS: dict[str, type] = {}


class ConfigError(ValueError):
    """A configuration the user wrote is invalid; the message says where and what is allowed.

    ``path`` is the dotted key at fault ("" for the whole config, None when no single key
    is to blame, e.g. an unknown preset).
    """

    def __init__(self, message: str, path: str | None = None) -> None:
        super().__init__(message)
        self.path = path


# --------------------------------------------------------------------------- schemas


def register(name: str, schema: type) -> None:
    """Store ``schema`` in Hydra's ConfigStore as ``name``, the base presets list first.

    Call it when the module defining the schema is imported, so that Hydra finds the
    schema wherever the config is composed (also inside a Slurm job).
    """
    if not (isinstance(schema, type) and dataclasses.is_dataclass(schema)):
        raise TypeError(f"register({name!r}, ...) needs a dataclass, got {schema!r}")
    previous = _SCHEMAS.get(name)
    # The same class may come back through a module reload; another class may not.
    if previous is not None and _qualified(previous) != _qualified(schema):
        raise ValueError(f"config schema name {name!r} is taken by {_qualified(previous)}")
    ConfigStore.instance().store(name=name, node=_structured(schema))
    _SCHEMAS[name] = schema


def register_group(group: str, name: str, schema: type) -> None:
    """Store ``schema`` as option ``name`` of the config group ``group`` (for example the
    settings of one model in ``model``): a preset picks it in its defaults list
    (``- model: avici``) and a command line switches it (``model=bcnp``)."""
    if not (isinstance(schema, type) and dataclasses.is_dataclass(schema)):
        raise TypeError(f"register_group({group!r}, {name!r}, ...) needs a dataclass, got {schema!r}")
    ConfigStore.instance().store(group=group, name=name, node=_structured(schema))


def _structured(schema: type | object) -> DictConfig:
    """``OmegaConf.structured(schema)`` with every node writable. OmegaConf marks the node
    of a frozen dataclass (such as :class:`envs.settings.EnvSettings`) read-only, which
    would refuse each preset value and override under it; the instance that loading builds
    at the end (``OmegaConf.to_object``) is frozen all the same."""
    cfg = OmegaConf.structured(schema)
    _writable(cfg)
    return cfg


def _writable(node: Any) -> None:
    if isinstance(node, (DictConfig, ListConfig)):
        OmegaConf.set_readonly(node, None)  # None: inherit from the parent, writable at the root
        for key in node.keys() if isinstance(node, DictConfig) else range(len(node)):
            _writable(node._get_node(key))  # the node itself: indexing would resolve interpolations


def _qualified(schema: type) -> str:
    return f"{schema.__module__}.{schema.__qualname__}"


def _schema_name(schema: type) -> str:
    for name, known in _SCHEMAS.items():
        if known is schema:
            return name
    raise ValueError(
        f"{schema.__qualname__} is not registered: call "
        f"causal_meta.config.register(NAME, {schema.__qualname__}) first"
    )


# --------------------------------------------------------------------------- loading


def list_presets(config_package: str) -> list[str]:
    """Names of the presets shipped in ``config_package``: its top-level ``*.yaml`` files.

    Sub-directories are Hydra config groups (chosen with ``group=option``), not presets.
    """
    root = resources.files(config_package)
    return sorted(
        entry.name.removesuffix(".yaml")
        for entry in root.iterdir()
        if entry.is_file() and entry.name.endswith(".yaml")
    )


def load(
    schema: type[T],
    preset: str | None = None,
    overrides: Sequence[str] = (),
    *,
    config_package: str,
) -> T:
    """Compose ``preset`` (None: the schema's defaults) with ``overrides`` into a ``schema``.

    Raises ConfigError naming the key, the value and what is allowed when the preset or
    an override does not fit the schema.
    """
    cfg, _ = _compose_checked(schema, preset, overrides, config_package)
    return _to_typed(cfg)


def save_resolved(cfg: object, run_dir: str | os.PathLike[str]) -> Path:
    """Write ``cfg`` (a schema instance) to ``run_dir/config.yaml`` and return that path.

    The write is atomic (temp file, fsync, rename), so a reader never sees half a file
    even if the run is killed, and concurrent DDP ranks writing the same file are safe.
    """
    if not dataclasses.is_dataclass(cfg) or isinstance(cfg, type):
        raise TypeError(f"save_resolved needs a config instance, got {cfg!r}")
    target = Path(run_dir) / CONFIG_FILE
    text = yaml.safe_dump(to_plain(cfg), sort_keys=False, allow_unicode=True)
    write_atomic(target, text.encode("utf-8"))
    return target


def load_saved(path: str | os.PathLike[str], schema: type[T]) -> T:
    """Read a ``config.yaml`` written by `save_resolved` back into ``schema``.

    Uses a safe YAML loader (a file from someone else cannot run code) and the same
    validation as `load`.
    """
    try:
        data = safe_yaml.load_file(path)
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML: {err}") from err
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of keys, got {type(data).__name__}")
    try:
        cfg = OmegaConf.merge(_structured(schema), data)
    except OmegaConfBaseException as err:
        raise _prefixed(_from_omegaconf(err), str(path)) from err
    assert isinstance(cfg, DictConfig)
    return _to_typed(cfg)


def _compose_checked(
    schema: type[T], preset: str | None, overrides: Sequence[str], config_package: str
) -> tuple[DictConfig, DictConfig]:
    """Compose with Hydra and split the result into (task config, Hydra's own config)."""
    name = _schema_name(schema) if preset is None else preset
    if preset is not None:
        _check_preset_exists(preset, config_package)
    with _hydra_session(config_package):
        full = _compose(schema, name, overrides)
    return _split_hydra(full)


def _compose(schema: type, name: str, overrides: Sequence[str]) -> DictConfig:
    """Compose config ``name``; blame the preset itself when it, not an override, is wrong."""
    settings = _hydra_settings(name, overrides)
    try:
        cfg = compose(name, overrides=[*settings, *overrides], return_hydra_config=True)
    except (HydraException, OmegaConfBaseException) as err:
        if overrides:
            _compose(schema, name, ())
            raise _translate(err) from err
        raise _translate(err, where=f"preset '{name}'") from err
    built_on = OmegaConf.get_type(cfg)
    if not (isinstance(built_on, type) and issubclass(built_on, schema)):
        raise ConfigError(
            f"preset '{name}' does not build on the {schema.__qualname__} schema "
            f"(it is a {getattr(built_on, '__qualname__', built_on)}): start its defaults "
            f"list with '- {_schema_name(schema)}' followed by '- _self_'"
        )
    return cfg


def _check_preset_exists(preset: str, config_package: str) -> None:
    available = list_presets(config_package)
    if preset not in available:
        raise ConfigError(
            f"unknown preset '{preset}'{_did_you_mean(preset, available)}; "
            f"presets in {config_package}: {', '.join(available) or '(none)'}"
        )


@contextmanager
def _hydra_session(config_package: str) -> Iterator[None]:
    """Initialise Hydra for one composition, even from inside a running Hydra job.

    Hydra allows one global session at a time; a sweep job that loads another preset
    would otherwise fail with "GlobalHydra is already initialized".
    """
    outer = get_gh_backup()
    GlobalHydra.instance().clear()
    try:
        with initialize_config_module(config_package, version_base=_HYDRA_VERSION_BASE):
            yield
    finally:
        restore_gh_from_backup(outer)


def _hydra_settings(job_name: str, overrides: Sequence[str]) -> list[str]:
    """The shared Hydra settings that the user did not override, plus the job name."""
    chosen = {_override_key(o) for o in overrides}
    settings = [*_HYDRA_SETTINGS, f"hydra.job.name={job_name}"]
    return [s for s in settings if _override_key(s) not in chosen]


def _override_key(override: str) -> str:
    return override.split("=", 1)[0].lstrip("+~")


def _split_hydra(full: DictConfig) -> tuple[DictConfig, DictConfig]:
    hydra_cfg = full.hydra
    task = copy.deepcopy(full)
    with read_write(task), open_dict(task):
        del task["hydra"]
    return task, hydra_cfg


def _to_typed(cfg: DictConfig) -> Any:
    """Turn a composed config into schema instances, naming the key of any failure."""
    _reject_unknown_keys(cfg)
    try:
        return OmegaConf.to_object(cfg)
    except OmegaConfBaseException as err:
        raise _from_omegaconf(err) from err
    except ValueError as err:  # raised by a dataclass __post_init__
        path = _failing_node(cfg)
        raise ConfigError(f"{path or '(top level)'}: {err}", path) from err


def _reject_unknown_keys(cfg: DictConfig) -> None:
    """Refuse keys the schema lacks: Hydra lets ``+key=value`` add them and they'd be dropped."""
    for path, node in _dataclass_nodes(cfg, ""):
        owner = OmegaConf.get_type(node)
        assert owner is not None
        allowed = {f.name for f in dataclasses.fields(owner)}
        for key in node:
            if key not in allowed:
                raise _unknown_key(_join(path, key, node), str(key), owner)


def _failing_node(cfg: DictConfig) -> str:
    """Path of the innermost schema node whose construction raises ValueError."""
    for path, node in _dataclass_nodes(cfg, ""):
        try:
            OmegaConf.to_object(node)
        except ValueError:
            return path
    return ""


def _dataclass_nodes(
    node: DictConfig | ListConfig, path: str
) -> Iterator[tuple[str, DictConfig]]:
    """Every schema-typed node under ``node`` with its dotted path, children first."""
    keys = node.keys() if isinstance(node, DictConfig) else range(len(node))
    for key in keys:
        if OmegaConf.is_missing(node, key) or OmegaConf.is_interpolation(node, key):
            continue
        child = node[key]
        if isinstance(child, (DictConfig, ListConfig)):
            yield from _dataclass_nodes(child, _join(path, key, node))
    if isinstance(node, DictConfig) and dataclasses.is_dataclass(OmegaConf.get_type(node)):
        yield path, node


def _join(path: str, key: Any, parent: DictConfig | ListConfig) -> str:
    if isinstance(parent, ListConfig):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else str(key)


# --------------------------------------------------------------------------- errors


def _translate(err: Exception, where: str = "") -> ConfigError:
    """Turn a Hydra or OmegaConf error into a ConfigError with the key at fault.

    ``where`` (e.g. "preset 'avici'") prefixes the message when the fault is not in an
    override the user just typed.
    """
    cause: BaseException | None = err
    while cause is not None:
        if isinstance(cause, OmegaConfBaseException) and cause.full_key is not None:
            return _prefixed(_from_omegaconf(cause), where)
        cause = cause.__cause__ or cause.__context__
    message = str(err)
    if isinstance(err, OverrideParseException):
        message = f"cannot parse override '{err.override}': {message}"
    if isinstance(err, MissingConfigException) and "hydra/launcher" in message:
        message += (
            "\nLauncher plugins are optional: the Slurm one comes with "
            "pip install 'causal-meta[slurm]'"
        )
    return _prefixed(ConfigError(message), where)


def _from_omegaconf(err: OmegaConfBaseException) -> ConfigError:
    path = err.full_key or ""
    shown = path or "(top level)"
    owner = err.object_type
    schema_owner = isinstance(owner, type) and dataclasses.is_dataclass(owner)
    hints = typing.get_type_hints(owner) if schema_owner else {}
    if isinstance(err, (ConfigKeyError, ConfigAttributeError)) and schema_owner:
        return _unknown_key(path, str(err.key), owner)
    if isinstance(err, MissingMandatoryValue):
        problem = f"no value given (???); set it with {path}=VALUE"
    elif isinstance(err, ValidationError) and err.key in hints:
        expected = _type_name(hints[err.key])
        problem = f"got {err.value!r} ({type(err.value).__name__}), expected {expected}"
    else:
        problem = str(err.msg or err).splitlines()[0]
    return ConfigError(f"{shown}: {problem}", path)


def _prefixed(error: ConfigError, where: str) -> ConfigError:
    return ConfigError(f"{where}: {error}", error.path) if where else error


def _unknown_key(path: str, key: str, owner: type) -> ConfigError:
    allowed = [f.name for f in dataclasses.fields(owner)]
    parent = path.rpartition(".")[0]
    where = f"under '{parent}'" if parent else "at the top level"
    return ConfigError(
        f"{path}: unknown key '{key}'{_did_you_mean(key, allowed)}; "
        f"allowed {where}: {', '.join(allowed)}",
        path,
    )


def _did_you_mean(word: str, choices: Sequence[str]) -> str:
    close = difflib.get_close_matches(word, choices, n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


# --------------------------------------------------------------------------- help


def describe(schema: type | object) -> str:
    """A table of every key: dotted path, type, default and help text (for ``--help``).

    Given a config instance instead of a schema class, the DEFAULT column shows its
    values. Help texts come from ``field(metadata={"help": ...})`` (see `option`).
    """
    return _table(_structured(schema))


def _table(cfg: DictConfig) -> str:
    rows = [("KEY", "TYPE", "DEFAULT", "HELP"), *_rows(cfg, "")]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    lines = (
        "  ".join(cell.ljust(width) for cell, width in zip(row[:3], widths)) + "  " + row[3]
        for row in rows
    )
    return "\n".join(line.rstrip() for line in lines)


def _rows(node: DictConfig, path: str) -> Iterator[tuple[str, str, str, str]]:
    owner = OmegaConf.get_type(node)
    assert owner is not None
    hints = typing.get_type_hints(owner)
    raw = OmegaConf.to_container(node, resolve=False, enum_to_str=True)
    assert isinstance(raw, dict)
    for f in dataclasses.fields(owner):
        key = _join(path, f.name, node)
        help_text = f.metadata.get("help", "")
        child = None
        if not (OmegaConf.is_missing(node, f.name) or OmegaConf.is_interpolation(node, f.name)):
            child = node[f.name]
        child_type = OmegaConf.get_type(child) if isinstance(child, DictConfig) else None
        if dataclasses.is_dataclass(child_type):
            assert isinstance(child, DictConfig)
            yield key, _type_name(child_type), "", help_text
            yield from _rows(child, key)
        else:
            yield key, _type_name(hints[f.name]), _render(raw[f.name]), help_text


def _type_name(tp: Any) -> str:
    """Spell a type the way a user reads it in ``--help`` and error messages."""
    if isinstance(tp, type) and issubclass(tp, Enum):
        return "{" + ", ".join(member.name for member in tp) + "}"
    args = typing.get_args(tp)
    origin = typing.get_origin(tp)
    if origin is typing.Union or origin is types.UnionType:
        return " | ".join(_type_name(arg) for arg in args)
    if origin is not None:
        return f"{_type_name(origin)}[{', '.join(_type_name(arg) for arg in args)}]"
    if tp is type(None):
        return "None"
    return getattr(tp, "__name__", None) or str(tp).removeprefix("typing.")


def _render(value: Any) -> str:
    """Spell a value in override syntax, so it can be pasted back as ``key=value``."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list):
        return "[" + ", ".join(_render(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_render(v)}" for k, v in value.items()) + "}"
    if value == "":
        return "''"
    return str(value)


# --------------------------------------------------------------------------- files


# --------------------------------------------------------------------------- CLI


@dataclasses.dataclass(frozen=True)
class _Cli:
    preset: str | None
    overrides: list[str]
    multirun: bool
    help: bool


_PRESET_FLAGS = ("--config", "--config-name", "-cn")


def main(
    schema: type[T],
    run: Callable[[T, Path], object],
    *,
    config_package: str,
    default_preset: str | None,
    argv: Sequence[str] | None = None,
    usage: str | None = None,
) -> None:
    """Command-line entry point: parse ``argv``, build the config, call ``run(cfg, run_dir)``.

    ``[PRESET | --config NAME | --config-name NAME] [-m|--multirun] [key=value ...]``;
    ``usage`` is the command line that ``--help`` shows (None: that one).
    Before ``run`` is called, ``run_dir`` exists and holds the resolved ``config.yaml``.
    A single run uses ``runs/<job name>/``; with ``--multirun`` Hydra's sweeper and
    launcher (e.g. ``hydra/launcher=submitit_slurm``) start one job per combination, each
    in ``runs/<job name>/<its overrides>/``. The job name is the preset name unless
    ``hydra.job.name=NAME`` is given. Invalid input exits with status 2 and a message.
    """
    args = sys.argv[1:] if argv is None else list(argv)
    try:
        cli = _parse_cli(args, default_preset)
        if cli.help:
            print(_help(schema, cli, config_package, default_preset, usage))
            return
        if cli.multirun:
            _multirun(schema, run, cli, config_package)
            return
        cfg, run_dir, created = _prepare_single_run(schema, cli, config_package)
    except ConfigError as err:
        print(f"error: {err}\n(see --help)", file=sys.stderr)
        raise SystemExit(2) from err
    try:
        run(cfg, run_dir)
    except BaseException:
        if created is not None:
            _remove_unused(run_dir, created)
        raise


def pop_flags(args: Sequence[str], names: Sequence[str]) -> tuple[dict[str, list[str]], list[str]]:
    """Split an entry point's own ``--name VALUE`` (or ``--name=VALUE``) flags off
    ``args``: their values by name, in order, and the remaining arguments for `main`.
    ConfigError for a flag without a value."""
    found: dict[str, list[str]] = {name: [] for name in names}
    rest: list[str] = []
    tokens = iter(args)
    for token in tokens:
        flag, has_value, inline = token.partition("=")
        if flag in found:
            value = inline if has_value else next(tokens, None)
            if not value:
                raise ConfigError(f"{flag} needs a value")
            found[flag].append(value)
        else:
            rest.append(token)
    return found, rest


def entry_point(
    schema: type[T],
    run: Callable[[T, Path], object],
    *,
    config_package: str,
    default_preset: str | None,
    doc: str,
    argv: Sequence[str] | None = None,
    flags: Mapping[str, Callable[[list[str]], str]] | None = None,
) -> None:
    """The command line of an entry point around `main`: ``doc`` printed before the
    ``--help`` table, whose usage line is the command line ``doc`` shows (its first line
    that starts with ``python -m``, so that the two cannot disagree); each of the entry
    point's own ``--flag VALUE`` options turned into an override by
    ``flags[flag](values)`` (all values given, in order); and a
    ValueError that ``run`` raises (a bad file or setting found while running) printed
    as one line with exit status 2 instead of a traceback (set the environment variable
    ``CAUSAL_META_TRACEBACK=1`` to see the traceback)."""
    args = list(sys.argv[1:] if argv is None else argv)
    if "-h" in args or "--help" in args:
        print(doc)
    flags = flags or {}
    try:
        found, rest = pop_flags(args, list(flags))
        rest += [make(values) for flag, make in flags.items() if (values := found[flag])]
    except ConfigError as err:
        print(f"error: {err}\n(see --help)", file=sys.stderr)
        raise SystemExit(2) from err

    def guarded(cfg: T, run_dir: Path) -> None:
        try:
            run(cfg, run_dir)
        except ValueError as err:
            if os.environ.get("CAUSAL_META_TRACEBACK"):
                raise
            print(f"error: {err}", file=sys.stderr)
            raise SystemExit(2) from err

    main(schema, guarded, config_package=config_package, default_preset=default_preset, argv=rest,
         usage=_synopsis(doc))


def _synopsis(doc: str) -> str | None:
    """The first line of ``doc`` that starts with ``python -m`` (None if none does)."""
    lines = (line.strip() for line in doc.splitlines())
    return next((line for line in lines if line.startswith("python -m ")), None)


def output_flag(values: list[str]) -> str:
    """``--output DIR``: the run directory (the last one given)."""
    return run_dir_override(values[-1])


def quote(value: str) -> str:
    """``value`` as a quoted string in Hydra's override grammar (paths may hold commas,
    spaces or brackets)."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def run_dir_override(path: str | os.PathLike[str]) -> str:
    """The override that makes ``path`` the run directory (what ``--output`` means)."""
    return f"hydra.run.dir={quote(str(Path(path).absolute()))}"


def _parse_cli(args: Sequence[str], default_preset: str | None) -> _Cli:
    preset: str | None = None
    overrides: list[str] = []
    multirun = show_help = False
    tokens = iter(args)
    for token in tokens:
        flag, _, inline = token.partition("=")
        if token in ("-h", "--help"):
            show_help = True
        elif token in ("-m", "--multirun"):
            multirun = True
        elif flag in _PRESET_FLAGS:
            value = inline or next(tokens, None)
            if not value:
                raise ConfigError(f"{flag} needs a preset name")
            preset = _set_preset(preset, value)
        elif token.startswith("-"):
            raise ConfigError(
                f"unknown option '{token}'; options: -h/--help, -m/--multirun, "
                "--config NAME, --config-name NAME (or the preset name alone)"
            )
        elif "=" in token or token.startswith("~"):
            overrides.append(token)
        else:
            preset = _set_preset(preset, token)
    return _Cli(preset or default_preset, overrides, multirun, show_help)


def _set_preset(current: str | None, new: str) -> str:
    if current is not None and current != new:
        raise ConfigError(f"two presets given: '{current}' and '{new}'; choose one")
    return new


def _prepare_single_run(schema: type[T], cli: _Cli, config_package: str) -> tuple[T, Path, Path | None]:
    """Validated config and its run directory, with ``config.yaml`` already written, and
    the outermost directory that writing it created (None: the run directory existed)."""
    for override in cli.overrides:
        if _override_key(override) in _MULTIRUN_GROUPS:
            raise ConfigError(
                f"'{override}' only takes effect with --multirun (-m); "
                "without it the run would start right here"
            )
    cfg, hydra_cfg = _compose_checked(schema, cli.preset, cli.overrides, config_package)
    typed = _to_typed(cfg)
    run_dir = Path(hydra_cfg.run.dir).absolute()
    missing = [path for path in (run_dir, *run_dir.parents) if not path.exists()]
    save_resolved(typed, run_dir)
    return typed, run_dir, missing[-1] if missing else None


def _remove_unused(run_dir: Path, created: Path) -> None:
    """After a failed run: remove ``run_dir``, and its parents up to ``created`` (the
    directories this run made), if it holds nothing but the ``config.yaml`` written before
    the run started. A run that wrote anything else (a checkpoint, a log) keeps it all."""
    if [entry.name for entry in run_dir.iterdir()] != [CONFIG_FILE]:
        return
    (run_dir / CONFIG_FILE).unlink()
    for directory in (run_dir, *run_dir.parents):
        if any(directory.iterdir()):
            return
        directory.rmdir()
        if directory == created:
            return


def _multirun(
    schema: type[T], run: Callable[[T, Path], object], cli: _Cli, config_package: str
) -> None:
    """Hand the sweep to Hydra once every job's config is known to be valid.

    Checking first means a typo fails in a second, locally, instead of in each job after
    it waited in the Slurm queue (Hydra composes the jobs' configs on the nodes).
    """
    name = cli.preset or _schema_name(schema)
    for job_overrides in _sweep_jobs(cli.overrides, config_package):
        _to_typed(_compose_checked(schema, cli.preset, job_overrides, config_package)[0])

    def job(cfg: DictConfig) -> None:
        typed = _to_typed(cfg)
        run_dir = Path(HydraConfig.get().runtime.output_dir)
        save_resolved(typed, run_dir)
        run(typed, run_dir)

    app = hydra.main(
        config_path=f"pkg://{config_package}",
        config_name=name,
        version_base=_HYDRA_VERSION_BASE,
    )(job)
    hydra_argv = ["--multirun", *_hydra_settings(name, cli.overrides), *cli.overrides]
    with _argv(hydra_argv):
        app()


def _sweep_jobs(overrides: Sequence[str], config_package: str) -> list[list[str]]:
    """The override list of every job Hydra's basic sweeper will start.

    With another sweeper (``hydra/sweeper=...``) the jobs are not known in advance, so
    only the fixed overrides are checked here; Hydra checks the rest per job.
    """
    with _hydra_session(config_package):
        parser = OverridesParser.create(config_loader=GlobalHydra.instance().config_loader())
        try:
            parsed = parser.parse_overrides(list(overrides))
        except HydraException as err:
            raise _translate(err) from err
    fixed = [o for o in parsed if not o.is_sweep_override()]
    if any(o.key_or_group == "hydra/sweeper" for o in parsed):
        return [[_text(o) for o in fixed]]
    hydra_own = [_text(o) for o in fixed if _is_hydra_key(o)]
    for_task = [o for o in parsed if not _is_hydra_key(o)]
    try:
        (jobs,) = BasicSweeper.split_arguments(for_task, max_batch_size=None)
    except HydraException as err:
        raise _translate(err) from err
    return [[*hydra_own, *job] for job in jobs]


def _is_hydra_key(override: Override) -> bool:
    return override.key_or_group == "hydra" or override.key_or_group.startswith(
        ("hydra.", "hydra/")
    )


def _text(override: Override) -> str:
    assert override.input_line is not None
    return override.input_line


@contextmanager
def _argv(args: Sequence[str]) -> Iterator[None]:
    """Give ``hydra.main`` its command line: Hydra's public API reads only ``sys.argv``."""
    saved = sys.argv
    sys.argv = [saved[0] if saved else "causal-meta", *args]
    try:
        yield
    finally:
        sys.argv = saved


def _help(schema: type, cli: _Cli, config_package: str, default_preset: str | None, usage: str | None) -> str:
    cfg, _ = _compose_checked(schema, cli.preset, cli.overrides, config_package)
    usage = usage or f"{_prog()} [PRESET | --config NAME] [-m] [KEY=VALUE ...]"
    presets = ", ".join(list_presets(config_package)) or "(none)"
    source = f"preset '{cli.preset}'" if cli.preset else "the schema defaults"
    return f"""\
usage: {usage}

Starts from a preset and changes it with dotted KEY=VALUE overrides (Hydra syntax:
model.layers=4, 'tags=[a,b]', key=null).

  PRESET, --config NAME, --config-name NAME
                  preset to start from; in {config_package}: {presets}
                  (default: {default_preset or 'the schema defaults'})
  -m, --multirun  sweep: KEY=a,b starts one job per value (or per combination);
                  add hydra/launcher=submitit_slurm to run the jobs on Slurm
  -h, --help      show this help

A run writes to {RUNS_ROOT}/<name>/ (a sweep job to {RUNS_ROOT}/<name>/<its overrides>/),
starting with config.yaml; <name> is the preset unless hydra.job.name=NAME is given.

Keys (DEFAULT shows {source}{' with the overrides given' if cli.overrides else ''}):
{_table(cfg)}"""


def _prog() -> str:
    spec = getattr(sys.modules.get("__main__"), "__spec__", None)
    if spec is not None and spec.name:
        return f"python -m {spec.name.removesuffix('.__main__')}"
    return Path(sys.argv[0]).name if sys.argv and sys.argv[0] else "causal-meta"
