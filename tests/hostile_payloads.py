"""What a hostile checkpoint may hold, shared by the tests of every safe loader."""

from __future__ import annotations

import io
import os
import shutil
import zipfile
from collections import OrderedDict
from pathlib import Path

KINDS = ["blocked-module", "subclass", "module-function", "reduce", "class"]


class Foreign:
    """An object a weights-only load refuses."""


class Ordered(OrderedDict):
    """A subclass of an allowlisted class: not allowlisted itself."""


class Payload:
    """Unpickling this calls ``function(*args)``: the proof that a loader ran code."""

    def __init__(self, function: object, *args: object) -> None:
        self.call = (function, args)

    def __reduce__(self):  # noqa: ANN204
        return self.call


def payload(tmp_path: Path, kind: str) -> tuple[object, str]:
    """The object of ``kind`` (one of KINDS) with the global torch refuses: a blocked
    module, an allowlisted class's subclass, a module function, a __reduce__ payload of
    a function from a module that is not blocked, an arbitrary class. The two payloads,
    if run, would create tmp_path/ran or delete tmp_path/victim (see `ran_code`)."""
    (tmp_path / "victim").mkdir(exist_ok=True)
    return {
        "blocked-module": (Payload(os.system, f"touch {tmp_path / 'ran'}"), "posix.system"),
        "subclass": (Ordered(a=1), "hostile_payloads.Ordered"),
        "module-function": (shutil.rmtree, "shutil.rmtree"),
        "reduce": (Payload(shutil.rmtree, str(tmp_path / "victim")), "shutil.rmtree"),
        "class": (Foreign(), "hostile_payloads.Foreign"),
    }[kind]


def ran_code(tmp_path: Path) -> bool:
    """Whether a payload of `payload` ran."""
    return (tmp_path / "ran").exists() or not (tmp_path / "victim").is_dir()


def assert_refused_safely(message: str, refused: str) -> None:
    """The refusal says what the file holds, in the loader's words, and passes on none of
    torch's advice to load unsafely."""
    assert "holds code or objects that a safe (weights-only) load refuses" in message, message
    assert f"(the first it refused: {refused})" in message and "was not loaded" in message, message
    assert "truncated" not in message and "weights_only set to" not in message and "weights_only=False" not in message


def add_zeros_member(source: bytes, name: str, size: int) -> bytes:
    """The zip ``source`` with one more member, ``name``: ``size`` zero bytes, deflated
    (a 64 MiB member takes about 64 KiB): what a zip bomb is made of."""
    buffer = io.BytesIO(source)
    with zipfile.ZipFile(buffer, "a", zipfile.ZIP_DEFLATED) as archive, archive.open(name, "w") as member:
        chunk = bytes(2**20)
        for start in range(0, size, len(chunk)):
            member.write(chunk[:size - start])
    return buffer.getvalue()
