"""Where a sweep keeps its files: a local folder, or any filesystem pyarrow opens from a URI
(``s3://bucket/prefix``, ``gs://bucket/prefix``).

Ray Tune writes its results and checkpoints through ``pyarrow.fs.FileSystem.from_uri`` (Ray
2.60), and the sweep reads and writes its own state, the checkpoints it logs to MLflow and
the folders it removes through the same call, so a driver on another machine needs the URI
alone. An ``s3://`` URI reads its server and credentials from the environment as pyarrow 25
does in ``from_uri``: ``AWS_ENDPOINT_URL_S3`` or ``AWS_ENDPOINT_URL`` (another server than AWS,
``http://host:port``), ``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY`` (/
``AWS_SESSION_TOKEN``), ``AWS_REGION`` or ``AWS_DEFAULT_REGION``; or from the URI's query
(``?endpoint_override=host:port&scheme=http``). ``pyarrow.fs.S3FileSystem()`` built directly
ignores the endpoint variables, so nothing here builds one.
"""

from __future__ import annotations

import posixpath
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from rnn_core.errors import ConfigError


def is_uri(where: str | Path) -> bool:
    """Whether ``where`` names a filesystem by its scheme (``s3://...``) rather than a path."""
    return "://" in str(where)


_S3_HINT = (" (the S3 server and credentials come from AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID "
            "and AWS_SECRET_ACCESS_KEY)")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:300] if text else type(exc).__name__


@dataclass(frozen=True)
class Place:
    """A file or folder on a sweep's storage: the filesystem, the path on it, and the ``uri``
    that Ray Tune and a person are given (the absolute path of a local one)."""

    fs: Any  # pyarrow.fs.FileSystem
    path: str
    uri: str

    def __str__(self) -> str:
        return self.uri

    @property
    def local(self) -> bool:
        """On this machine's own filesystem (shared with other nodes only if it is a mount)."""
        from pyarrow.fs import LocalFileSystem

        return isinstance(self.fs, LocalFileSystem)

    @property
    def name(self) -> str:
        return posixpath.basename(self.path)

    @property
    def parent(self) -> Place:
        return Place(self.fs, posixpath.dirname(self.path), _uri_path(self.uri, None))

    def __truediv__(self, name: str) -> Place:
        return Place(self.fs, f"{self.path}/{name}", _uri_path(self.uri, name))

    def _type(self):
        return self.fs.get_file_info(self.path).type

    def exists(self) -> bool:
        from pyarrow.fs import FileType

        return self._type() != FileType.NotFound

    def is_dir(self) -> bool:
        from pyarrow.fs import FileType

        return self._type() == FileType.Directory

    def mtime(self) -> float:
        """Seconds since the epoch of the last write (an object store: its upload)."""
        return self.fs.get_file_info(self.path).mtime.timestamp()

    def read_bytes(self) -> bytes:
        with self.fs.open_input_stream(self.path) as f:
            return f.read()

    def read_text(self) -> str:
        return self.read_bytes().decode()

    def write_text(self, text: str) -> None:
        self.write_bytes(text.encode())

    def write_bytes(self, data: bytes) -> None:
        """Replace the file whole, so that a reader (or a driver killed mid-write) finds the
        old content or the new: a local file is written beside and renamed over; an object
        store replaces an object in one request, and has no folders to create."""
        if not self.local:
            with self.fs.open_output_stream(self.path) as f:
                f.write(data)
            return
        self.fs.create_dir(posixpath.dirname(self.path), recursive=True)
        tmp = self.path + ".tmp"
        with self.fs.open_output_stream(tmp) as f:
            f.write(data)
        self.fs.move(tmp, self.path)

    def folders(self) -> list[Place]:
        """The folders right inside this one (none where it does not exist)."""
        from pyarrow.fs import FileSelector, FileType

        infos = self.fs.get_file_info(FileSelector(self.path, allow_not_found=True))
        return [self / posixpath.basename(i.path) for i in infos
                if i.type == FileType.Directory]

    def files(self) -> list[Place]:
        """The files right inside this folder (none where it does not exist)."""
        from pyarrow.fs import FileSelector, FileType

        infos = self.fs.get_file_info(FileSelector(self.path, allow_not_found=True))
        return [self / posixpath.basename(i.path) for i in infos if i.type == FileType.File]

    def size(self) -> int:
        """Bytes of every file under this folder."""
        from pyarrow.fs import FileSelector

        infos = self.fs.get_file_info(FileSelector(self.path, recursive=True,
                                                   allow_not_found=True))
        return sum(i.size or 0 for i in infos)

    def remove(self) -> None:
        self.fs.delete_dir(self.path)

    def delete(self) -> None:
        """Remove this file, where it is."""
        if self.exists():
            self.fs.delete_file(self.path)


def _uri_path(uri: str, name: str | None) -> str:
    """``uri`` with ``name`` appended to its path (None: its last part dropped); the scheme,
    host and query (``?endpoint_override=...``) stay."""
    if not is_uri(uri):
        return posixpath.join(uri, name) if name else posixpath.dirname(uri)
    parts = urlsplit(uri)
    path = parts.path.rstrip("/")
    path = f"{path}/{name}" if name is not None else posixpath.dirname(path).rstrip("/")
    return parts._replace(path=path).geturl()


def place(where: str | Path | Place, what: str = "") -> Place:
    """The place ``where`` names: a local path (made absolute) or a URI a pyarrow filesystem
    takes. ConfigError (prefixed by ``what``, the option) where no filesystem takes it."""
    if isinstance(where, Place):
        return where
    from pyarrow import fs as pafs

    text = str(where)
    if not is_uri(text):
        path = str(Path(text).resolve())
        return Place(pafs.LocalFileSystem(), path, path)
    name = f"{what} {text}".strip()
    try:
        fs, path = pafs.FileSystem.from_uri(text)
    except OSError as exc:  # asked its server (an S3 bucket's region), which did not answer
        raise ConfigError(f"{name} cannot be used: {_first_line(exc)}"
                          f"{_S3_HINT if text.startswith('s3://') else ''}") from None
    except Exception as exc:  # pyarrow's ArrowInvalid (a ValueError) for an unknown scheme
        raise ConfigError(f"{name}: {_first_line(exc)}; expected a local folder or a URI of a "
                          "filesystem pyarrow opens (s3://bucket/path, gs://bucket/path)"
                          ) from None
    if isinstance(fs, pafs.LocalFileSystem):  # file:///path
        return Place(fs, path, path)
    return Place(fs, path.rstrip("/"), text.rstrip("/"))


def check_reachable(where: Place, what: str) -> None:
    """Refuse a URI the sweep could not write to, before any work: a server that does not
    answer, credentials it refuses, a bucket that does not exist. A local folder is made by
    Ray Tune where it is missing."""
    if where.local:
        return
    try:
        node = where
        while not node.exists():  # a new prefix: its bucket (the top) must exist
            if "/" not in node.path.strip("/"):
                raise ConfigError(f"{what} {where.uri}: bucket {node.path!r} does not exist "
                                  "on that server; create it first")
            node = node.parent
    except OSError as exc:
        raise ConfigError(f"{what} {where.uri} cannot be used: {_first_line(exc)}"
                          f"{_S3_HINT if where.uri.startswith('s3://') else ''}") from None


def refuse_node_local(where: Place, address: str | None, shared: bool, what: str) -> None:
    """A local folder on a cluster of several nodes: each node's trials would write their
    checkpoints to that node's own disk, where the driver never reads them. Taken only when
    the user says it is a mount every node sees (``shared``)."""
    if not where.local or address is None or shared:
        return
    from rnn_core.tuning._ray import alive_nodes, connect

    connect(address)
    nodes = alive_nodes()
    if nodes > 1:
        raise ConfigError(
            f"{what} {where.uri} is a folder on this machine, and the Ray cluster at {address} "
            f"has {nodes} nodes, each of which would write its trials' checkpoints to its own "
            "disk: give an s3:// (or gs://) URI that every node can reach, or --shared-storage "
            "if that folder is a mount (NFS) that every node sees at the same path")


def open_storage(where: str | Path | Place, address: str | None = None, shared: bool = False,
                 what: str = "--storage-path") -> Place:
    """The sweep's storage, checked before any work (``check_reachable``,
    ``refuse_node_local``)."""
    root = place(where, what)
    check_reachable(root, what)
    refuse_node_local(root, address, shared, what)
    return root


def local_folder(tracking_uri: str, storage_path: str | Path) -> Path:
    """The folder on this machine for a file a sweep keeps beside its stores (a sampled
    search's Optuna study): beside the MLflow SQLite file, else in a local ``storage_path``.
    ConfigError where neither is on this machine."""
    if tracking_uri.startswith("sqlite:///"):
        return Path(tracking_uri[len("sqlite:///"):]).resolve().parent
    if is_uri(storage_path):
        raise ConfigError(f"a sampled search keeps its Optuna study in an SQLite file beside "
                          f"the MLflow store or in --storage-path, and neither --tracking-uri "
                          f"{tracking_uri} nor --storage-path {storage_path} is a folder on "
                          "this machine: give the study a database (--optuna-storage "
                          "postgresql://...) or a sqlite:/// --tracking-uri")
    return Path(storage_path).resolve()


def checkpoint_uri(checkpoint, root: Place | None) -> str:
    """Where a Ray checkpoint is, as ``place`` opens it again (a driver's later write, or the
    next driver's): its path on this machine, or its URI under the sweep's storage ``root``
    (which carries the server's options; Ray's own path names no scheme)."""
    if isinstance(checkpoint, str):
        return checkpoint
    from pyarrow.fs import LocalFileSystem

    if isinstance(checkpoint.filesystem, LocalFileSystem) or root is None:
        return checkpoint.path
    return (root / posixpath.relpath(checkpoint.path, root.path)).uri


@contextmanager
def checkpoint_folder(where: Place | None, names: tuple[str, ...]) -> Iterator[str | None]:
    """A local folder holding the files ``names`` of the checkpoint ``where`` where it has
    them: a local checkpoint's own folder, else a temporary one they are downloaded to (only
    those files: the optimizer state the checkpoint also holds stays in storage). None: no
    checkpoint, or one that is gone."""
    if where is None:
        yield None
        return
    if where.local:
        yield where.path if Path(where.path).is_dir() else None
        return
    from pyarrow.fs import FileSelector

    present = {posixpath.basename(i.path) for i in where.fs.get_file_info(
        FileSelector(where.path, allow_not_found=True))}
    with tempfile.TemporaryDirectory(prefix="rnn-ckpt-") as tmp:
        for name in names:
            if name in present:
                Path(tmp, name).write_bytes((where / name).read_bytes())
        yield tmp
