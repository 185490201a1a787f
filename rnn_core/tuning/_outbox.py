"""A sweep's MLflow writes, sent in order by one thread, kept through a tracking outage.

Every write of a sweep in progress (a child run made, an epoch's metrics, a status, a
checkpoint) is an entry put here. While MLflow answers, ``put`` returns once its entry is
written, as a direct call would: Ray saves its state after the callback that logged an epoch,
so a driver killed at any moment leaves MLflow at least as far on as Ray's state. When MLflow
stops answering (a server restarting, a database failing over), the sweep goes on: ``put``
returns at once, the entries wait in order, one warning line says so, and the thread tries
again every few seconds and sends them all, with their own times, when MLflow is back. While
entries wait they are also saved to a journal file beside the sweep's state, so a driver that
dies meanwhile, or stops because the outage outlasted its limit (``expired``), loses none: the
next driver (``--resume``) sends them before anything else (``replay``).

An entry that reached the server without its answer reaching the driver (a timeout) may be
written twice when it is sent again: metrics, params, tags, statuses and files are the same
the second time, and a child run made twice is found by its trial id and its spare deleted
when the outage ends.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import deque
from pathlib import Path

from rnn_core.tuning._mlflow_errors import first_line, transient, unreachable
from rnn_core.tuning._run_writes import PARENT, RunWrites
from rnn_core.tuning._storage import Place, checkpoint_uri, place

__all__ = ["OUTBOX_FILE", "PARENT", "Outbox", "now_ms"]

log = logging.getLogger(__name__)

OUTBOX_FILE = "mlflow_outbox.json"  # beside the sweep's state: the entries not yet written


def now_ms() -> int:
    """What MLflow keeps as a time: milliseconds since the epoch."""
    return int(time.time() * 1000)


class Outbox:
    """The MLflow writes of one sweep (see the module docstring).

    Entries are JSON lists ``[kind, key, ...]``, ``key`` a Ray trial id or ``PARENT``:
    ``["create", tid, run_name, tags, params, start_ms]``, ``["batch", key, metrics, params,
    tags]`` (metrics ``[name, value, ms, step]``), ``["status", key, status, end_ms]``
    (``RUNNING`` reopens a run), ``["files", key, checkpoint, names, artifact_path]`` (the
    files of a Ray checkpoint, its path or URI: ``_storage.checkpoint_uri``) and
    ``["delete", key]``.

    Args:
        client: the sweep's MlflowClient.
        experiment_id, parent_run_id: where the child runs go.
        journal: the file that keeps waiting entries, on this machine or the sweep's storage
            (None: memory only).
        root: the sweep's folder on its storage, under which its checkpoints are.
        limit_s: how long MLflow may stay unreachable before ``expired``.
        wait_s: how long ``put`` waits for a slow write before leaving it to the thread.
        retry_s: the pause between tries while MLflow is unreachable.
    """

    def __init__(self, client, experiment_id: str, parent_run_id: str,
                 journal: str | Path | Place | None = None, limit_s: float = 600,
                 wait_s: float = 5, retry_s: float = 2, root: Place | None = None) -> None:
        self.client, self.exp_id, self.parent = client, experiment_id, parent_run_id
        self.uri, self.root = str(client.tracking_uri), root
        self.journal = None if journal is None else place(journal)
        self.limit_s, self.wait_s, self.retry_s = limit_s, wait_s, retry_s
        self.writes = RunWrites(client, experiment_id, parent_run_id)
        self.error: BaseException | None = None  # the first write MLflow refused
        self.down_since: float | None = None  # the first failed try since the last success
        self._outage_at: float | None = None  # the first failed try since nothing waited
        self._queue: deque[list] = deque()
        self._cv = threading.Condition()
        self._put = self._sent = 0  # entries put, entries written (in order)
        self._sent_at_outage = 0
        # what an earlier driver left in the journal, sent ahead of the rest by ``replay``
        self._kept: list[list] = (json.loads(journal.read_text())
                                  if journal is not None and journal.exists() else [])
        self._closed = False
        self._thread = threading.Thread(target=self._loop, name="mlflow-outbox", daemon=True)
        self._thread.start()

    def __getstate__(self) -> dict:
        """Ray pickles the sweep's callbacks into its state, and a resumed driver replaces
        them with live ones: the settings travel, the thread and the waiting entries (in
        the journal) do not."""
        return {k: v for k, v in self.__dict__.items()
                if k not in ("_cv", "_thread", "_queue", "_kept")}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state, _cv=threading.Condition(), _queue=deque(), _kept=[],
                             _thread=None, _closed=True)

    # -- the driver's side

    @property
    def ids(self) -> dict[str, str]:
        """Trial id -> its child run id, as far as this driver knows."""
        return self.writes.ids

    @property
    def expired(self) -> bool:
        """MLflow has been unreachable for longer than ``limit_s``."""
        since = self.down_since
        return since is not None and time.monotonic() - since > self.limit_s

    @property
    def pending(self) -> int:
        return len(self._kept) + len(self._queue)

    def put(self, entry: list) -> None:
        """Queue ``entry``; wait for it to be written while MLflow answers (``wait_s`` at
        most), else journal the waiting entries and return."""
        with self._cv:
            backlog = bool(self._queue)
            self._queue.append(entry)
            self._put += 1
            mine = self._put
            self._cv.notify_all()
            if not backlog and self.down_since is None:
                self._cv.wait_for(lambda: self._sent >= mine or self.down_since is not None,
                                  timeout=self.wait_s)
            if self._sent < mine:
                self._save()

    def tag(self, key: str | None, **tags: str) -> None:
        self.put(["batch", key, [], {}, tags])

    def end(self, key: str | None, status: str) -> None:
        """Close a run (``RUNNING``: reopen it), at this moment whenever it is written."""
        self.put(["status", key, status, None if status == "RUNNING" else now_ms()])

    def files(self, key: str | None, checkpoint, names: tuple[str, ...],
              artifact_path: str) -> None:
        """Log the files ``names`` a Ray checkpoint holds (none where it lacks the first),
        read from it when the entry is written."""
        self.put(["files", key, checkpoint_uri(checkpoint, self.root), list(names),
                  artifact_path])

    def replay(self) -> int:
        """Queue the entries an earlier driver left in the journal (read when this outbox was
        made; the file keeps them until they are written), ahead of any new one; returns how
        many. Run creations among them may have reached MLflow: each is looked up by its
        trial id first."""
        with self._cv:
            entries, self._kept = self._kept, []
            self._queue.extendleft(reversed(entries))
            self._put += len(entries)  # what is written counts them: ``put`` waits its turn
            self.writes.unsure.update(e[1] for e in entries if e[0] == "create")
            self._cv.notify_all()
        return len(entries)

    def drain(self, timeout: float | None = None) -> bool:
        """Wait until every entry is written (True), MLflow has been unreachable past the
        limit, or ``timeout`` seconds pass (False; the rest stays in the journal)."""
        end = None if timeout is None else time.monotonic() + timeout
        with self._cv:
            while self._queue and not self.expired and self._alive():
                left = None if end is None else end - time.monotonic()
                if left is not None and left <= 0:
                    break
                self._cv.wait(timeout=min(1.0, left) if left is not None else 1.0)
            if self._queue:
                self._save()
            return not self._queue

    def send_kept(self) -> None:
        """Send what an interrupted driver kept in the journal, before anything else; a
        ConfigError where MLflow stops answering meanwhile (the journal stays)."""
        n = self.replay()
        if not n:
            return
        log.info("sending %d MLflow writes the interrupted driver kept", n)
        if not self.drain():
            self.close()
            from rnn_core.errors import ConfigError

            raise ConfigError(f"--resume: MLflow at {self.uri} stopped answering while the "
                              f"{n} writes the interrupted driver kept were sent; they stay "
                              f"in {self.journal}: try again once it answers")

    def _alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def close(self, drain_s: float = 0) -> None:
        """Stop the thread, after ``drain_s`` seconds at most for the last writes (none once
        MLflow has been away past the limit); entries still waiting stay in the journal."""
        if drain_s and not self.expired:
            self.drain(timeout=drain_s)
        with self._cv:
            self._closed = True
            if self._queue:
                self._save()
            self._cv.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=self.wait_s)

    def outage(self) -> str:
        """What the console says of an outage that outlasted the limit."""
        where = f" (kept in {self.journal})" if self.journal else ""
        return (f"MLflow at {self.uri} did not answer for {self.limit_s:g} s "
                f"(--tracking-outage-limit); {self.pending} writes wait{where}")

    # -- the thread's side

    def _save(self) -> None:
        """Write the waiting entries to the journal (under the lock): a new file renamed over
        the old one, so a driver killed mid-write leaves the previous list."""
        if self.journal is not None:
            self.journal.write_text(json.dumps([*self._kept, *self._queue]))

    def _loop(self) -> None:
        while True:
            with self._cv:
                self._cv.wait_for(lambda: self._queue or self._closed)
                if self._closed:
                    return
                entry = self._queue[0]
            try:
                self.writes.send(entry)
            except Exception as exc:  # MLflow raises many types; ``transient`` sorts them
                if transient(exc):
                    self._failed(exc, entry)
                    if not self._until_reachable():
                        return
                    continue
                with self._cv:
                    self.error = self.error or exc
                log.error("MLflow refused a write (%s %s): %s", entry[0], entry[1],
                          first_line(exc))
            self._written(entry)

    def _failed(self, exc: BaseException, entry: list) -> None:
        if entry[0] == "create":
            self.writes.unsure.add(entry[1])  # it may have been made without the answer arriving
        with self._cv:
            if self.down_since is None:
                self.down_since = time.monotonic()
                self._save()
            if self._outage_at is None:
                self._outage_at = self.down_since
                self._sent_at_outage = self._sent
                log.warning("MLflow at %s does not answer (%s): the sweep goes on and keeps "
                            "its writes to send when MLflow is back, for %g s at most "
                            "(--tracking-outage-limit)", self.uri, unreachable(exc),
                            self.limit_s)
            self._cv.notify_all()

    def _until_reachable(self) -> bool:
        """Wait ``retry_s`` at a time until the tracking server answers; False once closed."""
        while True:
            with self._cv:
                if self._cv.wait_for(lambda: self._closed, timeout=self.retry_s):
                    return False
            if self._reachable():
                return True

    def _reachable(self) -> bool:
        """A tracking server answers its health check (a cheap request: a stalled server
        would hold a real write until it times out, and might apply it later still);
        another store is tried with the next write itself."""
        if not self.uri.startswith(("http://", "https://")):
            return True
        import requests

        try:
            return requests.get(f"{self.uri.rstrip('/')}/health", timeout=5).status_code < 500
        except requests.RequestException:
            return False

    def _written(self, entry: list) -> None:
        with self._cv:
            # the head, unless ``replay`` put entries ahead of it while it was being sent
            at = next(i for i, e in enumerate(self._queue) if e is entry)
            del self._queue[at]
            self._sent += 1
            self.down_since = None  # MLflow answers: the limit counts from the next failure
            back = self._outage_at is not None and not self._queue
            if back:
                log.info("MLflow at %s answers again after %.0f s: %d waiting writes sent",
                         self.uri, time.monotonic() - self._outage_at,
                         self._sent - self._sent_at_outage)
            if not self._queue and not self._kept and self.journal is not None:
                self.journal.delete()
            self._cv.notify_all()
        if back:
            self.writes.drop_spares()
            with self._cv:
                self._outage_at = None
