"""What ASHA by promotion keeps across a driver restart: its rungs, promotions, waiting and
speculative trials and its decision log, saved after every change at a cost that does not grow
with the sweep.

Every change is an operation (``_apply``), the same one whether it happens live or is read
back on ``--resume``. The state file (``asha_rungs.json``, local or on the sweep's storage:
``_storage.Place``) is a snapshot; the operations since it are journaled beside it, one JSON
line each, numbered: appended to ``asha_rungs.jsonl`` where the file is local, and where it is
in an object store (which cannot append) each save's lines are an object of their own,
``asha_rungs.jsonl.<first number>``. Once the journal holds as many operations as the
snapshot, or the sweep's last trial has ended, the snapshot is rewritten whole (replacing the
file in one write) and the journal emptied: each save writes what changed, and the snapshots'
total size stays proportional to the operations, where a snapshot after every change grew with
the square of the trial count. A driver killed mid-write leaves a last journal line that does
not parse, which is dropped (the change before it survives, as a whole snapshot did); lines
the snapshot already holds (killed between its write and the journal's emptying) are skipped
by number. A state read back with a journal is rewritten whole at its first save, so that
nothing is appended after a line cut off.
"""

from __future__ import annotations

import bisect
import json
from pathlib import Path

from rnn_core.tuning._storage import Place

__all__ = ["RungState"]

# the journal's operations before the snapshot is first rewritten
_MIN_JOURNAL = 1024


class RungState:
    """The saved state, with the indexes the scheduler reads it by.

    ``rungs``: per rung, trial id -> signed objective in arrival order (``order``: its place);
    ``promoted``: per rung, the trials promoted for sure; ``waiting``: trial id -> the rung it
    is paused at (``at``: the same by rung); ``stopped``; ``log``: [event, rung, trial id];
    ``spec``: trial id -> the rung it left speculatively (``spec_at``: by rung); ``held``:
    speculative trials held at their next rung -> their objective there; ``yielded``:
    speculative trials paused for a certain trial's slot; ``resume``: confirmed while paused
    off a rung, to be handed out. ``ranked``: per rung, its pool (the trials waiting there or
    gone on speculatively from it) in rank order, ``(-objective, arrival, trial id)``: the
    best, a trial's rank and the trials below a cut are read off it without a sort.
    """

    def __init__(self, milestones: list[int], path: Place | None = None) -> None:
        self.rungs: dict[int, dict[str, float]] = {m: {} for m in milestones}
        self.order: dict[int, dict[str, int]] = {m: {} for m in milestones}
        self.promoted: dict[int, set[str]] = {m: set() for m in milestones}
        self.waiting: dict[str, int] = {}
        self.at: dict[int, set[str]] = {m: set() for m in milestones}
        self.stopped: set[str] = set()
        self.log: list[list] = []
        self.spec: dict[str, int] = {}
        self.spec_at: dict[int, set[str]] = {m: set() for m in milestones}
        self.held: dict[str, float] = {}
        self.yielded: set[str] = set()
        self.resume: set[str] = set()
        self.ranked: dict[int, list[tuple[float, int, str]]] = {m: [] for m in milestones}
        self._arrivals = dict.fromkeys(milestones, 0)  # the next arrival's place, per rung
        self.path = path
        self.loaded = False  # read back from a saved state (``--resume``)
        self._done = 0  # operations applied, numbered from 1
        self._snapshot = 0  # of them, those the snapshot holds
        self._pending: list[list] = []
        self._file = None
        # the snapshot is on the storage (one existence check, not one a save); a journal
        # read back is replaced at the first save
        self._written = self._rewrite = False
        if path is not None and path.exists():
            self._load()
            self.loaded = self._written = True

    def __getstate__(self) -> dict:
        return {**vars(self), "_file": None}  # Ray pickles the scheduler with its state

    # -- changes

    def record(self, m: int, tid: str, value: float) -> None:
        self._do("record", m, tid, value)

    def wait(self, tid: str, m: int) -> None:
        self._do("wait", tid, m)

    def unwait(self, tid: str) -> None:
        if tid in self.waiting:
            self._do("unwait", tid)

    def speculate(self, tid: str, m: int) -> None:
        self._do("spec", tid, m)

    def unspec(self, tid: str) -> None:
        if tid in self.spec or tid in self.held or tid in self.yielded:
            self._do("unspec", tid)

    def promote(self, m: int, tid: str) -> None:
        self._do("promote", m, tid)

    def stop(self, tid: str) -> None:
        self._do("stopped", tid)

    def forget(self, tid: str) -> None:
        """Drop ``tid`` from every rung, pool and set (a trial Ray's restored state does not
        know), logged ``forget``."""
        self._do("forget", tid)
        self.note("forget", None, tid)

    def note(self, event: str, m, tid: str) -> None:
        """An entry of the decision log."""
        self._do("log", event, m, tid)

    def hold(self, tid: str, value: float) -> None:
        self._do("held", tid, value)

    def set_yielded(self, tid: str, on: bool) -> None:
        if (tid in self.yielded) != on:
            self._do("yield" if on else "unyield", tid)

    def set_resume(self, tid: str, on: bool) -> None:
        if (tid in self.resume) != on:
            self._do("resume" if on else "unresume", tid)

    def key(self, m: int, tid: str) -> tuple[float, int, str]:
        """Rank order at rung ``m``: better objective first, equal ones by arrival."""
        return -self.rungs[m][tid], self.order[m][tid], tid

    def rank(self, m: int, tid: str) -> int:
        """How many trials of rung ``m``'s pool rank above ``tid``."""
        return bisect.bisect_left(self.ranked[m], self.key(m, tid))

    def _enter(self, m: int, tid: str) -> None:
        if tid not in self.at[m] and tid not in self.spec_at[m]:
            bisect.insort(self.ranked[m], self.key(m, tid))

    def _leave(self, m: int, tid: str) -> None:
        if tid not in self.at[m] and tid not in self.spec_at[m]:
            i, ranked = self.rank(m, tid), self.ranked[m]
            if i < len(ranked) and ranked[i][2] == tid:
                del ranked[i]

    @property
    def changes(self) -> int:
        """Operations applied so far: a version of the state."""
        return self._done

    def _do(self, op: str, *args) -> None:
        self._apply(op, args)
        self._done += 1
        self._pending.append([self._done, op, *args])

    def _apply(self, op: str, args) -> None:
        if op == "record":
            m, tid, value = args
            self.rungs[m][tid] = value
            self.order[m][tid] = self._arrivals[m]
            self._arrivals[m] += 1
        elif op == "wait":
            tid, m = args
            if (was := self.waiting.get(tid)) is not None:  # waited there already
                self.at[was].discard(tid)
                self._leave(was, tid)
            self._enter(m, tid)
            self.waiting[tid] = m
            self.at[m].add(tid)
        elif op == "unwait":
            m = self.waiting.pop(args[0])
            self.at[m].discard(args[0])
            self._leave(m, args[0])
        elif op == "spec":
            tid, m = args
            self._enter(m, tid)
            self.spec[tid] = m
            self.spec_at[m].add(tid)
        elif op == "unspec":
            tid = args[0]
            if (m := self.spec.pop(tid, None)) is not None:
                self.spec_at[m].discard(tid)
                self._leave(m, tid)
            self.held.pop(tid, None)
            self.yielded.discard(tid)
        elif op == "promote":
            self.promoted[args[0]].add(args[1])
        elif op == "stopped":
            self.stopped.add(args[0])
        elif op == "log":
            self.log.append(list(args))
        elif op == "held":
            self.held[args[0]] = args[1]
        elif op in ("yield", "unyield"):
            (self.yielded.add if op == "yield" else self.yielded.discard)(args[0])
        elif op in ("resume", "unresume"):
            (self.resume.add if op == "resume" else self.resume.discard)(args[0])
        elif op == "forget":
            tid = args[0]
            if tid in self.waiting:
                self._apply("unwait", (tid,))
            self._apply("unspec", (tid,))
            for m in self.rungs:
                self.rungs[m].pop(tid, None)
                self.order[m].pop(tid, None)
                self.promoted[m].discard(tid)
            self.stopped.discard(tid)
            self.resume.discard(tid)
        else:
            raise ValueError(f"unknown ASHA state operation {op!r}")

    # -- the files

    def snapshot(self) -> dict:
        """The state as the state file holds it."""
        return {"rungs": {str(m): r for m, r in self.rungs.items()},
                "promoted": {str(m): sorted(p) for m, p in self.promoted.items()},
                "waiting": self.waiting, "stopped": sorted(self.stopped), "log": self.log,
                "speculative": self.spec, "held": self.held, "yielded": sorted(self.yielded),
                "resume": sorted(self.resume), "operations": self._done}

    def save(self, whole: bool = False) -> None:
        """Journal the changes since the last save; rewrite the snapshot instead once the
        journal is as long as it, or where ``whole``."""
        if self.path is None or not (self._pending or whole):
            self._pending.clear()
            return
        journal = self._done - self._snapshot
        if (whole or self._rewrite or not self._written
                or journal >= max(_MIN_JOURNAL, self._snapshot)):
            self.path.write_text(json.dumps(self.snapshot()))
            self._snapshot = self._done
            self._written, self._rewrite = True, False
            self._empty_journal()
        else:
            self._append("".join(json.dumps(p) + "\n" for p in self._pending))
        self._pending.clear()

    # the journal: one file appended to where the state file is local, else numbered objects

    def _journal_file(self) -> Path:
        return Path(f"{self.path.path}l")

    def _chunks(self) -> list[Place]:
        """The journal's objects on an object store, in order."""
        prefix = f"{self.path.name}l."
        found = [f for f in self.path.parent.files() if f.name.startswith(prefix)]
        return sorted(found, key=lambda f: int(f.name[len(prefix):]))

    def _append(self, lines: str) -> None:
        if not self.path.local:
            (self.path.parent / f"{self.path.name}l.{self._pending[0][0]}").write_text(lines)
            return
        if self._file is None:
            self._file = self._journal_file().open("a")
        self._file.write(lines)
        self._file.flush()

    def _empty_journal(self) -> None:
        if not self.path.local:
            for chunk in self._chunks():
                chunk.delete()
            return
        if self._file is not None:
            self._file.close()
        self._file = self._journal_file().open("w")  # emptied: the snapshot holds it all

    def _journal_lines(self) -> list[str]:
        if not self.path.local:
            return [ln for chunk in self._chunks() for ln in chunk.read_text().splitlines()]
        journal = self._journal_file()
        return journal.read_text().splitlines() if journal.exists() else []

    def _load(self) -> None:
        saved = json.loads(self.path.read_text())
        for m in self.rungs:
            for tid, value in saved["rungs"].get(str(m), {}).items():
                self._apply("record", (m, tid, value))
            self.promoted[m].update(saved["promoted"].get(str(m), []))
        for tid, m in saved["waiting"].items():
            self._apply("wait", (tid, int(m)))
        self.stopped.update(saved["stopped"])
        self.log.extend(saved["log"])
        for tid, m in saved.get("speculative", {}).items():
            self._apply("spec", (tid, int(m)))
        self.held.update(saved.get("held", {}))
        self.yielded.update(saved.get("yielded", []))
        self.resume.update(saved.get("resume", []))
        self._done = self._snapshot = int(saved.get("operations", 0))
        lines = self._journal_lines()
        self._rewrite = bool(lines)
        for line in lines:
            try:
                n, op, *args = json.loads(line)
            except ValueError:
                break  # the last line, cut off where the driver was killed
            if n > self._done:
                self._apply(op, args)
                self._done = n
