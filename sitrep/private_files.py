"""Private YAML files (the web service's operator tokens and users, the monitoring tokens):
written atomically with owner-only permissions, re-read by the services when they change."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Generic, TypeVar

import yaml
from pydantic import BaseModel

__all__ = ["FollowedFile", "read_yaml", "write_private_yaml"]

T = TypeVar("T")


def read_yaml(path: Path) -> object:
    """The document of ``path``; an empty mapping when the file does not exist (yet)."""
    if not path.exists():
        return {}
    return yaml.safe_load(path.read_text(encoding="utf-8")) or {}


def write_private_yaml(path: Path, header: str, content: BaseModel) -> None:
    """Replace ``path`` in one step (a reader never sees half a file), readable by its owner
    only: it holds hashes, which still must not be handed to an offline guesser."""
    path.parent.mkdir(parents=True, exist_ok=True)
    document = yaml.safe_dump(content.model_dump(mode="json"), allow_unicode=True, sort_keys=False)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}-")
    with os.fdopen(handle, "w", encoding="utf-8") as out:
        out.write(header + document)
    os.chmod(temporary, 0o600)
    os.replace(temporary, path)


class FollowedFile(Generic[T]):
    """The parsed content of a file, parsed again whenever its modification time changes, so
    an added or revoked entry counts from the next request on, without a restart."""

    def __init__(self, path: Path, parse: Callable[[Path], T], missing: T) -> None:
        self.path = path
        self._parse = parse
        self._missing = missing
        self._mtime: float | None = None
        self._content = missing

    def current(self) -> T:
        try:
            mtime = self.path.stat().st_mtime
        except FileNotFoundError:
            self._content, self._mtime = self._missing, None
            return self._content
        if mtime != self._mtime:
            self._content = self._parse(self.path)
            self._mtime = mtime
        return self._content
