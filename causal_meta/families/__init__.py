"""Named task families and audit suites, stored as YAML data beside this module.

Each file ``causal_meta/families/<name>.yaml`` is a *collection* with

* ``description``: what it is and why;
* ``train`` (optional): the training family;
* ``families`` (optional): named families for validation, testing or auditing;
* ``include`` (optional): other collections whose ``families`` join this one's.

A family entry may start from another with ``base: REF`` and override keys of it. A
reference ``NAME`` means the ``train`` family of collection NAME and ``NAME/FAMILY`` one
of its named families. Overrides merge key by key, except that a mapping carrying a
``type`` replaces the base's mapping whole (a new graph type shares no fields with the
old one). Files are read with a safe YAML loader, so loading never runs code.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from causal_meta import safe_yaml
from causal_meta.specs import Family, SpecError, parse_family

__all__ = ["Collection", "list_collections", "load_collection", "load_family", "load_suite"]

_PACKAGE = "causal_meta.families"
_KEYS = ("description", "train", "families", "include")


@dataclass(frozen=True)
class Collection:
    """A parsed collection file."""

    name: str
    description: str
    train: Family | None
    families: dict[str, Family] = field(default_factory=dict)


def list_collections() -> list[str]:
    """Names of the collections shipped with the package."""
    root = resources.files(_PACKAGE)
    return sorted(p.name[:-5] for p in root.iterdir() if p.name.endswith(".yaml"))


def load_collection(name: str) -> Collection:
    """Load a shipped collection by name, or any collection file by path."""
    return _Loader().collection(name)


def load_family(ref: str) -> Family:
    """A single family: ``NAME`` (the collection's train family), ``NAME/FAMILY``, or a
    path to a YAML file holding one family spec."""
    if ref.endswith((".yaml", ".yml")) and Path(ref).is_file():
        return parse_family(_read_yaml(Path(ref)))
    return parse_family(_Loader().family_dict(ref))


def load_suite(name: str) -> dict[str, Family]:
    """The named families of a collection (its ``families`` plus those it includes)."""
    return dict(load_collection(name).families)


class _Loader:
    """Resolves ``base`` and ``include`` references with cycle detection and caching."""

    def __init__(self) -> None:
        self._raw: dict[str, dict[str, Any]] = {}
        self._resolving: list[str] = []

    def raw(self, name: str) -> dict[str, Any]:
        if name not in self._raw:
            self._raw[name] = _check_collection(name, _read_yaml(_locate(name)))
        return self._raw[name]

    def family_dict(self, ref: str) -> dict[str, Any]:
        if ref in self._resolving:
            chain = " -> ".join([*self._resolving, ref])
            raise SpecError(f"family reference cycle: {chain}")
        self._resolving.append(ref)
        try:
            name, _, member = ref.partition("/")
            coll = self.raw(name)
            if not member:
                if coll.get("train") is None:
                    raise SpecError(f"{ref}: collection {name!r} has no train family; "
                                    f"use {name}/FAMILY with FAMILY in {sorted(coll.get('families') or {})}")
                entry = coll["train"]
            else:
                members = coll.get("families") or {}
                if member not in members:
                    raise SpecError(f"{ref}: no family {member!r} in {name!r}; allowed: {sorted(members)}")
                entry = members[member]
            return self.resolve(entry, ref)
        finally:
            self._resolving.pop()

    def resolve(self, entry: Any, where: str) -> dict[str, Any]:
        if not isinstance(entry, Mapping):
            raise SpecError(f"{where}: a family must be a mapping, got {entry!r}")
        entry = dict(entry)
        base = entry.pop("base", None)
        if base is None:
            return entry
        if not isinstance(base, str):
            raise SpecError(f"{where}.base = {base!r} is not allowed: expected a reference NAME or NAME/FAMILY")
        return _merge(self.family_dict(base), entry)

    def collection(self, name: str) -> Collection:
        coll = self.raw(name)
        families: dict[str, Family] = {}
        for included in coll.get("include") or []:
            families.update(self.collection(included).families)
        for member, entry in (coll.get("families") or {}).items():
            families[member] = _parse(self.resolve(entry, f"{name}/{member}"), f"{name}/{member}")
        train = coll.get("train")
        return Collection(
            name=Path(name).stem,
            description=" ".join(str(coll.get("description", "")).split()),
            train=None if train is None else _parse(self.resolve(train, name), name),
            families=families,
        )


def _parse(data: dict[str, Any], where: str) -> Family:
    try:
        return parse_family(data)
    except SpecError as e:
        raise SpecError(f"in family {where}: {e}") from None


def _locate(name: str) -> Path:
    path = Path(name)
    if path.suffix in (".yaml", ".yml"):
        if not path.is_file():
            raise FileNotFoundError(f"family collection file {name!r} does not exist")
        return path
    candidate = resources.files(_PACKAGE) / f"{name}.yaml"
    if not candidate.is_file():
        raise SpecError(f"collection = {name!r} is not allowed: expected one of {list_collections()} or a path to a .yaml file")
    return Path(str(candidate))


def _read_yaml(path: Path) -> Any:
    try:
        return safe_yaml.load_file(path)
    except yaml.YAMLError as err:
        raise SpecError(f"{path}: not valid YAML for a family: {err}") from err


def _check_collection(name: str, data: Any) -> dict[str, Any]:
    if not isinstance(data, Mapping):
        raise SpecError(f"{name}: a collection file must hold a mapping, got {type(data).__name__}")
    unknown = [k for k in data if k not in _KEYS]
    if unknown:
        raise SpecError(f"{name}: unknown key {unknown[0]!r}; allowed keys: {list(_KEYS)}")
    return dict(data)


def _merge(base: dict[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in override.items():
        old = out.get(key)
        if isinstance(value, Mapping) and isinstance(old, Mapping) and "type" not in value:
            out[key] = _merge(dict(old), value)
        else:
            out[key] = value
    return out
