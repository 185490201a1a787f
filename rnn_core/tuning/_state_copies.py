"""Complete copies of the files Ray keeps a sweep's state in, so that a driver killed while
Ray wrote one still resumes.

Ray Tune (2.60) writes its trial list (``experiment_state-*.json``), its searcher's state and
``tuner.pkl`` to the driver's staging folder, then copies them to the sweep's storage in a
background thread. On a local or mounted filesystem that copy truncates each file and writes
it again in place, so a SIGKILL mid-copy leaves an empty or partial file, which
``Tuner.restore`` then cannot parse (an empty trial list was seen once in a whole test run).
An object store replaces an object in one request, so there a file is whole or absent.

``StateCopies`` (a Ray callback on the driver) copies each of those files into the sweep's
sidecar once it is complete, replacing the copy whole; ``mend`` (before a resume reads them)
puts the copy back over a file that is incomplete. A copy can be one save older than the
searcher's state, which a resume already settles (a stale trial list: ``_asha_restore``).
"""

from __future__ import annotations

import json
import pickletools
import posixpath
import re
import time

from ray import tune

from rnn_core.errors import ConfigError
from rnn_core.tuning._storage import Place

COPIES = "ray_state"  # in the sidecar
TORN = ".torn"  # an incomplete file set aside, where no copy of it was kept
# the files Ray restores a sweep from, at the top of its experiment folder
_RAY_STATE = re.compile(r"^(tuner\.pkl|experiment_state-.+\.json|search_gen_state-.+\.json"
                        r"|basic-variant-state-.+\.json|searcher-state-.+\.pkl"
                        r"|callback-states-.+\.pkl)$")


def complete(data: bytes) -> bool:
    """Whether ``data`` is a whole file: a pickle whose opcodes reach its STOP (read without
    running it), or JSON that parses. Told apart by the pickle's first byte, not the name:
    Ray's ``search_gen_state-*.json`` is a pickle."""
    try:
        if data[:1] == b"\x80":  # PROTO: every pickle protocol from 2
            for _ in pickletools.genops(data):
                pass
        else:
            json.loads(data)
    except (ValueError, UnicodeDecodeError):  # JSONDecodeError, a pickle cut short
        return False
    return bool(data)


def state_files(folder: Place) -> list[Place]:
    return sorted((f for f in folder.files() if _RAY_STATE.match(f.name)),
                  key=lambda f: f.name)


def keep(folder: Place, copies: Place, seen: dict[str, tuple]) -> list[str]:
    """Copy each of Ray's state files in ``folder`` that changed since ``seen`` (its name:
    (mtime, size), updated) and is complete into ``copies``, replacing the copy whole; the
    names copied."""
    from pyarrow.fs import FileSelector

    kept = []
    for info in folder.fs.get_file_info(FileSelector(folder.path, allow_not_found=True)):
        name = posixpath.basename(info.path)
        mark = (info.mtime_ns, info.size)
        if not _RAY_STATE.match(name) or seen.get(name) == mark:
            continue
        seen[name] = mark  # a file read mid-copy is read again once its copy ends
        data = (folder / name).read_bytes()
        if complete(data):
            (copies / name).write_bytes(data)
            kept.append(name)
    return kept


def mend(folder: Place, copies: Place, what: str) -> list[str]:
    """Put the kept copy back over each of Ray's state files in ``folder`` that is incomplete;
    where none was kept, set the file aside in ``copies`` so that Ray reads the newest whole
    one of an earlier driver. A line for each file mended. ConfigError, with nothing changed,
    where a file is incomplete and neither remedy is there."""
    files = state_files(folder)
    torn = {f.name: data for f in files if not complete(data := f.read_bytes())}
    plan = []
    for f in (f for f in files if f.name in torn):
        copy = copies / f.name
        if copy.exists() and complete(data := copy.read_bytes()):
            plan.append((f, data))
            continue
        kind = f.name.split("-", 1)[0]
        if not any(g.name.split("-", 1)[0] == kind and g.name not in torn for g in files):
            raise ConfigError(f"{what} {folder.uri}: Ray's {f.name} there is incomplete (its "
                              "driver was killed while writing it) and no complete copy of "
                              "it was kept, so the sweep cannot resume from that folder")
        plan.append((f, None))
    said = []
    for f, data in plan:
        if data is not None:
            f.write_bytes(data)
            said.append(f"{f.name} was cut short by the kill: resumed from its last complete "
                        "copy")
        else:
            (copies / (f.name + TORN)).write_bytes(torn[f.name])
            f.delete()
            said.append(f"{f.name} was cut short by the kill and had no copy: set aside, so "
                        "the sweep resumes from the previous driver's state")
    return said


class StateCopies(tune.Callback):
    """Keeps the copies ``mend`` reads, looking at the storage folder at most once a
    ``period`` (Ray calls a callback at every step of its loop, and saves its state every 10 s
    or more)."""

    def __init__(self, folder: Place, copies: Place, period: float = 1.0):
        self.folder, self.copies, self.period = folder, copies, period
        self.seen: dict[str, tuple] = {}
        self.last = 0.0

    def on_step_end(self, iteration, trials, **info):
        now = time.monotonic()
        if now - self.last >= self.period:
            self.last = now
            keep(self.folder, self.copies, self.seen)

    def on_experiment_end(self, trials, **info):
        keep(self.folder, self.copies, self.seen)
