"""Ray clusters the tests start on this machine with `ray start`: a head and one worker node
(one CPU each), isolated from every other Ray here: a `--temp-dir` of their own per node (so
`/tmp/ray/ray_current_cluster`, which a plain `ray.init()` reads, never names them), free ports,
an auth token of their own in the environment, and teardown kills only the processes of their
own `ray start` sessions (never `ray stop`, which stops every Ray instance of this user).

With ``private=True`` the worker node shares no disk with the head: its `ray start` runs in a
mount namespace of its own (``unshare --mount --propagation private``, root only), where a
fresh tmpfs covers /tmp, /dev/shm, the home folder and the data cache, so that node sees none
of the head's files (its Ray session, the sweep's folders, the servers' data, the encoded
data), and only the checkout and the Python environment are bound back, read-only, as an image
would give them. One folder of the cluster's own, ``Cluster.shared``, is bound back read-write
at the same path: it stands for an NFS mount both nodes see (``--shared-storage``). The two
nodes still share the network: the worker joins over 127.0.0.1.

Run as a script (``python tests/_cluster.py --hide P --keep P --share P ... -- CMD``) this file is
that namespace's first process: it makes the mounts and then runs CMD.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RAY = Path(sys.executable).with_name("ray")


def enter_private_view(hide: list[str], keep: list[str], share: list[str] = ()) -> None:
    """In a mount namespace of this process's own: a private tmpfs over each folder of
    ``hide``; each of ``keep`` bound back at its own path, read-only, and each of ``share``
    read-write (where it lies under a hidden folder, through a handle opened before the tmpfs
    covered it)."""
    handles = {p: (os.open(p, os.O_PATH | os.O_DIRECTORY), p in keep) for p in [*keep, *share]}
    for folder in hide:
        subprocess.run(["mount", "-t", "tmpfs", "-o", "mode=1777", "tmpfs", folder],
                       check=True)
    for path, (fd, read_only) in handles.items():
        os.makedirs(path, exist_ok=True)
        # --no-canonicalize: mount would resolve /proc/PID/fd/N to the path it names, which
        # is now the empty folder under the tmpfs
        subprocess.run(["mount", "--no-canonicalize", "--bind", f"/proc/{os.getpid()}/fd/{fd}",
                        path], check=True)
        if read_only:
            subprocess.run(["mount", "-o", "remount,bind,ro", path], check=True)
        os.close(fd)


def private_view(env: dict[str, str]) -> tuple[list[str], list[str]]:
    """(what a private node hides, what it keeps): the folders where the head keeps its
    files, and the code and Python it runs."""
    home = env.get("HOME") or str(Path.home())
    cache = env.get("RNN_SWEEPS_DATA") or str(Path(home, ".cache", "rnn-sweeps"))
    hide = ["/tmp", "/dev/shm", home]
    hide += [cache] if os.path.isdir(cache) and not _under(cache, hide) else []
    keep = []
    for p in sorted({str(ROOT), sys.prefix, sys.base_prefix}, key=len):
        real = os.path.realpath(p)
        if not _under(real, keep):
            keep.append(real)
    return hide, keep


def _under(path: str, folders: list[str]) -> bool:
    return any(os.path.commonpath([path, f]) == f for f in folders)


def private_mounts_missing() -> str | None:
    """Why this process cannot give a node a mount namespace of its own (None: it can)."""
    if os.geteuid() != 0:
        return "a node that shares no disk needs root (unshare --mount, mount -t tmpfs)"
    try:
        proc = subprocess.run(["unshare", "--mount", "--propagation", "private", "mount", "-t",
                               "tmpfs", "tmpfs", "/mnt"], capture_output=True, text=True,
                              timeout=30)
    except FileNotFoundError:
        return "unshare is not installed (util-linux)"
    if proc.returncode != 0:
        return f"unshare --mount fails here: {proc.stderr.strip()[:200]}"
    return None


def _session_of(pid: int) -> tuple[int, str] | None:
    """(session id, state) of a live process, None if it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()  # state ppid pgrp session ...
    return int(fields[3]), fields[0]


def processes_in(sessions: set[int]) -> list[int]:
    """Live (not zombie) processes of these sessions: every process a `ray start` launched,
    workers included (they rename themselves to `ray::IDLE`, so command lines cannot tell)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            info = _session_of(int(entry.name))
            if info is not None and info[0] in sessions and info[1] != "Z":
                found.append(int(entry.name))
    return found


def _kill(pids: list[int], sig: int) -> None:
    for pid in pids:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


# A fresh driver's view of the cluster: the alive nodes, or what a task pinned to each node
# sees of the filesystem (the view the trials placed there get).
_ANSWER = "answer: "  # the line a driver run by ``Cluster.python`` answers on
_NODES = """
import json, sys, ray
ray.init(address=sys.argv[1], logging_level="ERROR", log_to_driver=False)
print(ANSWER + json.dumps([{"id": n["NodeID"], "cpus": n["Resources"].get("CPU"),
                   "head": "node:__internal_head__" in n["Resources"]}
                  for n in ray.nodes() if n["Alive"]]))
"""
_LOOK = """
import json, os, sys, ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy
ray.init(address=sys.argv[1], logging_level="ERROR", log_to_driver=False)
nodes, paths, root = json.loads(sys.argv[2]), json.loads(sys.argv[3]), sys.argv[4]

@ray.remote(num_cpus=0)
def look():
    import rnn_core
    return {"mount_ns": os.readlink("/proc/self/ns/mnt"), "rnn_core": rnn_core.__file__,
            "seen": [p for p in paths if os.path.exists(p)],
            "code_writable": os.access(root, os.W_OK)}

pin = [look.options(scheduling_strategy=NodeAffinitySchedulingStrategy(n, soft=False))
       for n in nodes]
print(ANSWER + json.dumps(dict(zip(nodes, ray.get([f.remote() for f in pin], timeout=120)))))
"""


@dataclass
class Cluster:
    address: str
    env: dict[str, str]
    temp: Path
    private: bool = False  # the worker node in a mount namespace of its own
    session: dict[str, int] = field(default_factory=dict)  # "head", "worker" -> session id
    start_seconds: float = 0.0
    stopped: bool = False

    @property
    def shared(self) -> Path:
        """A folder both nodes see at this path, read-write, as an NFS mount."""
        return self.temp / "shared"

    @property
    def sessions(self) -> set[int]:
        return set(self.session.values())

    def ray_start(self, role: str, *args: str, cpus: int = 1) -> None:
        """`ray start` of node ``role`` in a session of its own (the session id marks every
        process it leaves); the private worker in its own mount namespace too."""
        temp_dir = self.temp / role
        cmd = [str(RAY), "start", "--num-cpus", str(cpus), "--temp-dir", str(temp_dir),
               "--object-store-memory", str(500 * 2**20), "--disable-usage-stats", *args]
        if self.private and role == "worker":
            hide, keep = private_view(self.env)
            cmd = ["unshare", "--mount", "--propagation", "private", sys.executable, __file__,
                   *(f"--hide={p}" for p in hide), *(f"--keep={p}" for p in keep),
                   f"--share={self.shared}", f"--cwd={temp_dir}", "--", *cmd]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True, env=self.env, cwd=self.temp, start_new_session=True)
        self.session[role] = proc.pid
        out, _ = proc.communicate(timeout=120)
        assert proc.returncode == 0, out[-3000:]

    def python(self, code: str, *args: str, timeout: int = 120) -> str:
        """What ``code``, a driver of this cluster, printed after ``ANSWER``: Ray may print
        more to stdout once it has (its warning about a node whose heartbeats lag, while a
        lost node is not yet marked dead)."""
        proc = subprocess.run([sys.executable, "-c", f"ANSWER = {_ANSWER!r}\n{code}",
                               self.address, *args],
                              capture_output=True, text=True, env=self.env, cwd=self.temp,
                              timeout=timeout)
        assert proc.returncode == 0, proc.stderr[-3000:]
        answers = [line[len(_ANSWER):] for line in proc.stdout.splitlines()
                   if line.startswith(_ANSWER)]
        assert answers, proc.stdout[-3000:]
        return answers[-1]

    def nodes(self) -> list[dict]:
        """Alive nodes, each {"id", "cpus", "head"}, asked of the cluster by a fresh driver."""
        return json.loads(self.python(_NODES))

    def look(self, node_ids: list[str], paths: list[str]) -> dict[str, dict]:
        """Node id -> what a task pinned to that node sees: its mount namespace, where it
        imports rnn_core from, which of ``paths`` exist, whether it may write the checkout."""
        return json.loads(self.python(_LOOK, json.dumps(node_ids), json.dumps(paths),
                                      str(ROOT)))

    def lose(self, role: str) -> list[int]:
        """SIGKILL every process of node ``role`` (its raylet, workers, agents) at once: the
        node is lost as a machine that dies is. Returns the processes killed."""
        pids = processes_in({self.session[role]})
        _kill(pids, signal.SIGKILL)
        return pids

    def rejoin(self, role: str = "worker") -> None:
        """Start node ``role`` again, after ``lose``, and wait until the cluster counts it."""
        self.ray_start(role, "--address", self.address)
        deadline = time.monotonic() + 60
        while len(self.nodes()) < 2 and time.monotonic() < deadline:
            time.sleep(1)

    def stop(self, grace: float = 5.0) -> list[int]:
        """Stop both nodes; returns the processes still alive afterwards (should be none)."""
        self.stopped = True
        pids = processes_in(self.sessions)
        _kill(pids, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while processes_in(self.sessions) and time.monotonic() < deadline:
            time.sleep(0.2)
        # A SIGTERMed GCS can hang in its shutdown while raylets keep reconnecting to it;
        # `ray stop` escalates the same way.
        _kill(processes_in(self.sessions), signal.SIGKILL)
        deadline = time.monotonic() + 10
        while processes_in(self.sessions) and time.monotonic() < deadline:
            time.sleep(0.2)
        return processes_in(self.sessions)


def start_cluster(env: dict[str, str] | None = None, private: bool = False,
                  head_only: int = 0) -> Cluster:
    """A head and a worker node, up and joined; ``env`` added to every node's environment
    (what the trials need that Ray does not pass them, such as S3's variables). With
    ``head_only`` CPUs: the head alone, with that many."""
    from tests._servers import free_port

    # Short and outside pytest's tmp tree: Ray's Unix socket paths live under the temp dir and
    # must stay under 108 characters.
    temp = Path(tempfile.mkdtemp(prefix="rnnc-", dir="/tmp"))
    port = free_port()
    base = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    base.update({
        "PYTHONPATH": str(ROOT),  # workers import rnn_core from this checkout
        # Ray 2.60: `ray start --head` turns token auth on when ~/.ray/auth_token exists, but
        # `ray start --address` and `ray.init(address=...)` only send a token with the mode set.
        "RAY_AUTH_MODE": "token",
        "RAY_AUTH_TOKEN": secrets.token_hex(32),
        "RAY_USAGE_STATS_ENABLED": "0",
        **(env or {})})
    c = Cluster(address=f"127.0.0.1:{port}", env=base, temp=temp, private=private)
    c.shared.mkdir()
    try:
        t0 = time.perf_counter()
        c.ray_start("head", "--head", "--port", str(port), "--include-dashboard=false",
                    cpus=head_only or 1)
        if not head_only:
            c.ray_start("worker", "--address", c.address)
        deadline = time.monotonic() + 60
        while len(c.nodes()) < (1 if head_only else 2) and time.monotonic() < deadline:
            time.sleep(1)
        c.start_seconds = time.perf_counter() - t0
    except BaseException:
        c.stop()
        shutil.rmtree(temp, ignore_errors=True)
        raise
    return c


def end_cluster(c: Cluster) -> list[int]:
    """Stop the nodes and remove the cluster's folder: the processes left (none)."""
    left = c.stop()
    shutil.rmtree(c.temp, ignore_errors=True)
    return left


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--hide", action="append", default=[])
    p.add_argument("--keep", action="append", default=[])
    p.add_argument("--share", action="append", default=[])
    p.add_argument("--cwd", required=True, help="made and entered once the mounts are made")
    p.add_argument("cmd", nargs=argparse.REMAINDER)
    a = p.parse_args()
    enter_private_view(a.hide, a.keep, a.share)
    # the folder this process started in is now hidden, but would stay its working folder
    os.makedirs(a.cwd, exist_ok=True)
    os.chdir(a.cwd)
    cmd = a.cmd[1:] if a.cmd[:1] == ["--"] else a.cmd
    os.execvpe(cmd[0], cmd, os.environ)
