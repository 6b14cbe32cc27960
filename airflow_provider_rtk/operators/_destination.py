"""Where the download operator writes: the destination rule, and the storage behind a destination.

Destination rule: a destination is a **folder** unless its last path segment ends in a file extension (a
dot and letters/digits with at least one letter: ``standup.mp4``, ``s3://b/x/talk.webm``), does not end
with ``/`` and is not an existing folder; then it **names the video file**. So ``/archive/2026-05-04`` and
``/archive/2026.05.04`` are folders (created when missing), ``/archive/standup.mp4`` is a file.

``Location`` parses a destination without touching storage, so the operator uses it when a DAG file is
parsed; this module is small and loads no storage backend (``Destination`` attaches one when a task runs).
"""

from __future__ import annotations

import glob
import logging
import os
import posixpath
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, BinaryIO, Final
from urllib.parse import unquote, urlsplit

from airflow_provider_rtk.exceptions import RealtimeKitDownloadError, RealtimeKitInputError

if TYPE_CHECKING:
    from fsspec import AbstractFileSystem

log = logging.getLogger(__name__)

_FILE_EXTENSION: Final = re.compile(r"\.(?=[A-Za-z0-9]*[A-Za-z])[A-Za-z0-9]+")


def names_file(destination: str) -> bool:
    """Whether ``destination`` names a file by its spelling (the module docstring's rule)."""
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


class Destination:
    """Airflow object storage (``airflow.sdk.io.attach``) at a directory or file ``Location``.

    Works on the fsspec filesystem with plain paths rather than on ``ObjectStoragePath`` objects: on
    Airflow 3.1.0 with universal-pathlib >= 0.3, an ``ObjectStoragePath`` with a ``conn_id`` cannot even
    render its path (apache/airflow#56270).
    """

    def __init__(self, location: Location) -> None:
        from airflow.sdk.io import attach

        self.location = location
        self.fs: AbstractFileSystem = attach(location.protocol, conn_id=location.conn_id).fs
        self.local = location.protocol == "file"
        path = location.path
        if location.is_dir_hint and self.fs.isfile(path):
            raise RealtimeKitInputError(
                f"destination: {location.uri()} is an existing file, and a name without a file extension "
                "is a folder: name a folder, or the video file with its extension (e.g. standup.mp4)"
            )
        self.is_dir = location.is_dir_hint or self.fs.isdir(path)
        self.directory = path if self.is_dir else posixpath.dirname(path)
        self.file_name = None if self.is_dir else posixpath.basename(path)
        if self.is_dir:
            log.info("destination: the folder %s/ (files keep the recording's names)", location.uri())
        else:
            log.info(
                "destination: the file %s (a name with an extension names the video file)", location.uri()
            )

    def path_for(self, name: str) -> str:
        return posixpath.join(self.directory, name)

    def size(self, path: str) -> int | None:
        """Size of the file at ``path``, or None when there is none."""
        try:
            info = self.fs.info(path)
        except FileNotFoundError:
            return None
        if info.get("type") != "file":
            raise RealtimeKitDownloadError(f"{self.location.uri(path)} exists and is not a file")
        return int(info["size"])

    def remove_stale_partials(self, name: str, keep: str) -> None:
        """Delete what earlier tries left of ``name`` (a killed worker cannot clean up after itself)."""
        pattern = self.path_for(f".{glob.escape(name)}.partial-*")
        try:
            stale = [path for path in self.fs.glob(pattern) if path.rstrip("/") != keep.rstrip("/")]
        except FileNotFoundError:
            return
        for path in stale:
            log.info("deleting %s, left over by an earlier try", self.location.uri(path))
            try:
                self.fs.rm(path)
            except OSError:
                log.warning("could not delete %s: delete it by hand", self.location.uri(path), exc_info=True)

    def open_temp(self, path: str) -> TempFile:
        if self.local:
            os.makedirs(self.directory, exist_ok=True)
        return TempFile(self.fs, path)

    def commit(self, temp: str, final: str) -> None:
        """Give the complete temporary object the final name (atomic on a local filesystem)."""
        if self.local:
            os.replace(temp, final)
        else:
            self.fs.mv(temp, final)
        log.info("wrote %s", self.location.uri(final))


class TempFile:
    """A write handle on a temporary object that can start over from byte zero."""

    def __init__(self, fs: AbstractFileSystem, path: str) -> None:
        self.fs = fs
        self.path = path
        self._handle: BinaryIO = fs.open(path, "wb")

    def write(self, data: bytes) -> None:
        self._handle.write(data)

    def restart(self) -> None:
        self._handle.close()
        self._handle = self.fs.open(self.path, "wb")

    def close(self) -> None:
        self._handle.close()

    def discard(self) -> None:
        """Close and delete, best effort: called while another error is on its way up."""
        try:
            self._handle.close()
        except Exception:
            log.debug("closing %s before deleting it failed", self.path, exc_info=True)
        try:
            if self.fs.exists(self.path):
                self.fs.rm(self.path)
        except Exception:
            log.warning("could not delete the partial file %s: delete it by hand", self.path, exc_info=True)
