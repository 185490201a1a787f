"""The sweep on a real multi-node Ray cluster: a head and one worker node started with `ray start`
on this machine (one CPU each), the smoke sweep joining it with `--address host:port` and ASHA,
trials landing on both nodes and in MLflow, then both nodes stopped.

The cluster is isolated from every other Ray on the machine: its own `--temp-dir` per node (so
`/tmp/ray/ray_current_cluster`, which a plain `ray.init()` reads, never names it), free ports,
its own auth token in the environment, and teardown kills only the processes of its two
`ray start` sessions (never `ray stop`, which stops every Ray instance of this user).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from tests._servers import free_port
from tests._sweeps import run_study

ROOT = Path(__file__).resolve().parents[1]
RAY = Path(sys.executable).with_name("ray")

pytestmark = pytest.mark.slow


def _session_of(pid: int) -> tuple[int, str] | None:
    """(session id, state) of a live process, None if it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()  # state ppid pgrp session ...
    return int(fields[3]), fields[0]


def _processes_in(sessions: set[int]) -> list[int]:
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


@dataclass
class Cluster:
    address: str
    env: dict[str, str]
    temp: Path
    sessions: set[int] = field(default_factory=set)
    start_seconds: float = 0.0

    def ray_start(self, *args: str, temp_dir: Path) -> None:
        """`ray start` in a session of its own: the session id marks every process it leaves."""
        proc = subprocess.Popen(
            [
                str(RAY),
                "start",
                "--num-cpus",
                "1",
                "--temp-dir",
                str(temp_dir),
                "--object-store-memory",
                str(500 * 2**20),
                "--disable-usage-stats",
                *args,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=self.env,
            cwd=self.temp,
            start_new_session=True,
        )
        self.sessions.add(proc.pid)
        out, _ = proc.communicate(timeout=120)
        assert proc.returncode == 0, out[-3000:]

    def python(self, code: str, timeout: int = 120) -> str:
        proc = subprocess.run(
            [sys.executable, "-c", code, self.address],
            capture_output=True,
            text=True,
            env=self.env,
            cwd=self.temp,
            timeout=timeout,
        )
        assert proc.returncode == 0, proc.stderr[-3000:]
        return proc.stdout

    def nodes(self) -> list[dict]:
        """Alive nodes, each {"id", "cpus", "head"}, asked of the cluster by a fresh driver."""
        out = self.python(
            "import json, sys, ray\n"
            "ray.init(address=sys.argv[1], logging_level='ERROR', log_to_driver=False)\n"
            "print(json.dumps([{'id': n['NodeID'], 'cpus': n['Resources'].get('CPU'),\n"
            "  'head': 'node:__internal_head__' in n['Resources']}\n"
            "  for n in ray.nodes() if n['Alive']]))\n"
        )
        return json.loads(out.strip().splitlines()[-1])

    def stop(self, grace: float = 5.0) -> list[int]:
        """Stop both nodes; returns the processes still alive afterwards (should be none)."""
        pids = _processes_in(self.sessions)
        _kill(pids, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while _processes_in(self.sessions) and time.monotonic() < deadline:
            time.sleep(0.2)
        # A SIGTERMed GCS can hang in its shutdown while raylets keep reconnecting to it;
        # `ray stop` escalates the same way.
        _kill(_processes_in(self.sessions), signal.SIGKILL)
        deadline = time.monotonic() + 10
        while _processes_in(self.sessions) and time.monotonic() < deadline:
            time.sleep(0.2)
        return _processes_in(self.sessions)


@pytest.fixture(scope="module")
def cluster():
    # Short and outside pytest's tmp tree: Ray's Unix socket paths live under the temp dir and
    # must stay under 108 characters.
    temp = Path(tempfile.mkdtemp(prefix="rnnc-", dir="/tmp"))
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    env.update(
        {
            "PYTHONPATH": str(ROOT),  # workers import rnn_core from this checkout
            # Ray 2.60: `ray start --head` turns token auth on when ~/.ray/auth_token exists, but
            # `ray start --address` and `ray.init(address=...)` only send a token with the mode set.
            "RAY_AUTH_MODE": "token",
            "RAY_AUTH_TOKEN": secrets.token_hex(32),
            "RAY_USAGE_STATS_ENABLED": "0",
        }
    )
    c = Cluster(address=f"127.0.0.1:{port}", env=env, temp=temp)
    try:
        t0 = time.perf_counter()
        c.ray_start(
            "--head", "--port", str(port), "--include-dashboard=false", temp_dir=temp / "head"
        )
        c.ray_start("--address", c.address, temp_dir=temp / "worker")
        deadline = time.monotonic() + 60
        while len(c.nodes()) < 2 and time.monotonic() < deadline:
            time.sleep(1)
        c.start_seconds = time.perf_counter() - t0
        yield c
    finally:
        left = c.stop()
        shutil.rmtree(temp, ignore_errors=True)
        assert not left, f"Ray processes of the test cluster still alive: {left}"


@pytest.fixture(scope="module")
def sweep(cluster, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cluster")
    uri = f"sqlite:///{tmp}/m.db"
    nodes = cluster.nodes()
    t0 = time.perf_counter()
    # both nodes run on this machine, so the folder is one they share, as a mount would be
    proc = run_study(
        "compound_scaling", "--smoke-test", "--scheduler", "asha", "--tracking-uri", uri,
        "--storage-path", str(tmp / "ray"), "--shared-storage", "--address", cluster.address,
        timeout=300, cwd=tmp, base_env=cluster.env, own="runs on a cluster of its own")
    seconds = time.perf_counter() - t0
    print(f"\ncluster up in {cluster.start_seconds:.1f} s; smoke sweep on it: {seconds:.1f} s wall")
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    client = MlflowClient(uri)
    exp = client.get_experiment_by_name("rnn-sweeps")
    runs = client.search_runs([exp.experiment_id])
    return client, runs, nodes, tmp


def test_cluster_has_two_one_cpu_nodes_apart_from_the_default_ray(cluster):
    nodes = cluster.nodes()
    assert len(nodes) == 2
    assert sorted(n["head"] for n in nodes) == [False, True]
    assert all(n["cpus"] == 1 for n in nodes)
    # What a plain `ray.init()` elsewhere on this machine would join: not this cluster.
    default = Path(tempfile.gettempdir(), "ray", "ray_current_cluster")
    port = cluster.address.rsplit(":", 1)[1]
    assert not default.exists() or not default.read_text().strip().endswith(f":{port}")
    assert (cluster.temp / "head" / "ray_current_cluster").read_text().strip().endswith(port)


def test_trials_ran_on_both_nodes(sweep):
    _, runs, nodes, _ = sweep
    children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    per_node = Counter(c.data.tags.get("ray_node_id") for c in children)
    print(f"\ntrials per node: {sorted(per_node.values())}")
    assert set(per_node) == {n["id"] for n in nodes}
    assert len(per_node) == 2


def test_everything_landed_in_mlflow(sweep):
    client, runs, _, tmp = sweep
    parents = [r for r in runs if r.data.tags.get("sweep") == "parent"]
    assert len(parents) == 1
    parent = parents[0]
    assert parent.info.status == "FINISHED"
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert len(children) >= 4
    assert len(runs) == 1 + len(children)
    for child in children:
        assert {"num_layers", "hidden_size", "embedding_dim"} <= set(child.data.params)
        history = client.get_metric_history(child.info.run_id, "val_acc")
        assert [m.step for m in history] == list(range(1, len(history) + 1))
        assert child.data.metrics["n_params"] > 0
        assert child.data.tags["trial_status"] in {"finished", "stopped_early"}
        ckpt = [a.path for a in client.list_artifacts(child.info.run_id, "checkpoint")]
        assert "checkpoint/best.pt" in ckpt
    assert any(c.data.tags["trial_status"] == "finished" for c in children)
    # Ray Tune's results went to --storage-path (the folder the parent run names).
    assert Path(parent.data.tags["ray_experiment_path"]).parent == (tmp / "ray").resolve()


def test_a_node_local_folder_is_refused_on_the_cluster(cluster, tmp_path):
    uri = f"sqlite:///{tmp_path}/m.db"
    proc = run_study(
        "compound_scaling", "--smoke-test", "--tracking-uri", uri, "--storage-path",
        str(tmp_path / "ray"), "--address", cluster.address, timeout=120, cwd=tmp_path,
        base_env=cluster.env, own="refused on the cluster before any trial starts")
    assert proc.returncode == 2, proc.stderr[-3000:]
    last = proc.stderr.strip().splitlines()[-1]
    assert f"--storage-path {tmp_path / 'ray'} is a folder on this machine" in last
    assert "has 2 nodes" in last and "--shared-storage" in last and "s3://" in last
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "ray").exists()
    exp = MlflowClient(uri).get_experiment_by_name("rnn-sweeps")
    assert MlflowClient(uri).search_runs([exp.experiment_id]) == []  # no parent run


def test_both_nodes_stop_and_leave_no_process(cluster, sweep):
    assert _processes_in(cluster.sessions)  # running until now
    assert cluster.stop() == []
    port = int(cluster.address.rsplit(":", 1)[1])
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", port)) != 0  # the GCS is gone
