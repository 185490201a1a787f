"""The SQLite files a sweep's driver writes (the MLflow store, the Optuna study): written
through SQLite's write-ahead log, synced to disk at its checkpoints rather than at every
commit.

The driver commits to them many times a second (every epoch of every trial, every ask of the
searcher), and in SQLite's default rollback-journal mode every commit waits for the disk
several times; the trials wait on the driver meanwhile (docs/scale.md has the figures). With
the log, a commit appends to it; a process that is killed loses nothing, a power cut can lose
the last commits but never corrupts the file. Both stores are opened through SQLAlchemy
(MLflow's and Optuna's own engines), so the settings are made on each new connection to a
file named here (``write_ahead``); other files keep SQLite's defaults.

A file in the log's mode keeps its recent commits in ``<file>-wal`` until a checkpoint;
``checkpoint`` moves them into the file itself, so that copying the ``.db`` file alone, as
people do, copies the whole store.
"""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

__all__ = ["checkpoint", "sqlite_file", "write_ahead"]

_FILES: set[str] = set()


def sqlite_file(url: str) -> Path | None:
    """The file of a ``sqlite:///`` URL (None for any other store)."""
    if not url.startswith("sqlite:///") or url.endswith(":memory:"):
        return None
    return Path(url[len("sqlite:///"):]).resolve()


def _on_connect(dbapi_connection, connection_record) -> None:
    if not isinstance(dbapi_connection, sqlite3.Connection):
        return
    files = {row[2] for row in dbapi_connection.execute("PRAGMA database_list")}
    if files & _FILES:
        dbapi_connection.execute("PRAGMA journal_mode=WAL")
        dbapi_connection.execute("PRAGMA synchronous=NORMAL")


def write_ahead(url: str) -> None:
    """Open the SQLite store ``url`` (any other URL: nothing) in write-ahead mode from this
    process's next connection to it on. Call before the store's first client in the process:
    SQLAlchemy keeps the connections it opened before."""
    path = sqlite_file(url)
    if path is None:
        return
    if not _FILES:
        from sqlalchemy import event
        from sqlalchemy.engine import Engine

        event.listen(Engine, "connect", _on_connect)
    _FILES.add(str(path))


def checkpoint() -> None:
    """Move the log's commits of every file opened in write-ahead mode into the file, as far
    as the other connections to it allow at once (a reader of an older state, an MLflow UI
    left open, keeps its part in the log, which SQLite moves later): the end of a sweep
    never waits on a reader."""
    for name in sorted(_FILES):
        if not Path(name).exists():
            continue
        try:
            with contextlib.closing(sqlite3.connect(name, timeout=1)) as con:
                con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except sqlite3.Error:
            pass  # the commits stay in the log, which every reader of the file reads
