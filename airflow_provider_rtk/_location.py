"""Where a download goes, parsed without touching storage: cheap enough for DAG parse time.

Destination rule: a destination is a **folder** unless its last path segment ends in a file extension (a
dot and letters/digits with at least one letter: ``standup.mp4``, ``s3://b/x/talk.webm``), does not end
with ``/`` and is not an existing folder; then it **names the video file**. So ``/archive/2026-05-04`` and
``/archive/2026.05.04`` are folders (created when missing), ``/archive/standup.mp4`` is a file.
"""

from __future__ import annotations

import os
import posixpath
import re
from dataclasses import dataclass
from typing import Final
from urllib.parse import unquote, urlsplit

_FILE_EXTENSION: Final = re.compile(r"\.(?=[A-Za-z0-9]*[A-Za-z])[A-Za-z0-9]+")


def names_file(destination: str) -> bool:
    """Whether ``destination`` names a file by its spelling (the destination rule above)."""
    if destination.endswith("/"):
        return False
    name = posixpath.basename(urlsplit(destination).path if "://" in destination else destination)
    extension = posixpath.splitext(name)[1]
    return bool(_FILE_EXTENSION.fullmatch(extension))


@dataclass(frozen=True)
class Location:
    """A destination parsed without touching storage: safe at DAG parse time.

    ``is_dir_hint``: a folder by the destination rule (module docstring); an existing folder is one too.
    """

    protocol: str
    path: str
    conn_id: str | None
    is_dir_hint: bool

    @classmethod
    def parse(cls, destination: str, conn_id: str | None) -> Location:
        """A local path, a ``file://`` URL or ``<protocol>://[conn_id@]bucket/key`` (as ObjectStoragePath)."""
        is_dir = not names_file(destination)
        parts = urlsplit(destination)
        if not parts.scheme:
            path = os.path.abspath(os.path.expanduser(destination))
            return cls("file", path, None, is_dir)
        if parts.scheme == "file":
            return cls("file", os.path.abspath(unquote(parts.path) or "/"), None, is_dir)
        user, _, host = parts.netloc.rpartition("@")
        path = f"{host}{parts.path}".rstrip("/")
        return cls(parts.scheme, path, conn_id or unquote(user) or None, is_dir)

    def uri(self, path: str | None = None) -> str:
        """``<protocol>://<path>`` without any connection id: for XCom and Asset URIs."""
        return f"{self.protocol}://{self.path if path is None else path}"
