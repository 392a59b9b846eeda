"""YAML from files that someone else may have written.

The safe loader refuses Python tags, so no file can run code; this one also refuses
anchors and aliases. A few hundred bytes of nested aliases expand to gigabytes (the
"billion laughs" file) in the loader, in OmegaConf, and in every error message that
prints the value; no file of this project needs them, so they are refused before
anything expands, with the line that holds the first one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

__all__ = ["AliasNotAllowed", "load_file"]


class AliasNotAllowed(yaml.YAMLError):
    """A YAML anchor or alias, which these loaders refuse."""


class _Loader(yaml.SafeLoader):
    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
            line = event.start_mark.line + 1
            raise AliasNotAllowed(f"YAML anchors and aliases are not allowed (line {line}): write the value out "
                                  "where it is used")
        return super().compose_node(parent, index)


def load_file(path: str | Path) -> Any:
    """The content of the YAML file ``path``, loaded safely and without aliases."""
    with open(path, encoding="utf-8") as f:
        return yaml.load(f, Loader=_Loader)  # noqa: S506 - _Loader is a SafeLoader
