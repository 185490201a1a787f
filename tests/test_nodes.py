"""A sweep on two Ray nodes that share no disk, one of them lost mid-sweep; then the cluster
stopped.

The worker node runs in a mount namespace of its own (``tests/_cluster.py``: a private tmpfs
over /tmp, /dev/shm, the home folder and the data cache; the checkout and the Python
environment bound back read-only), so it sees none of the head's files (tests/test_cluster.py
shows it): the sweep can only work through what the nodes share on the network, Ray's storage
in S3 (SeaweedFS) and the MLflow tracking server (its runs in PostgreSQL, its artifacts
proxied to S3), as on machines that share no disk. The cluster is the session's one
(``unshared`` in conftest.py); the other sweeps on it run first, in tests/test_cluster.py.

One sweep proves both halves, to keep the suite's time: 4 trials of 4 epochs, ASHA with one
rung at epoch 2 (every trial trains epochs 1 and 2 without a pause), ``--max-failures 2``.
Once a trial has reported epoch 1 from the worker node, every process of that node (its
raylet, its workers, its agents) is killed with SIGKILL while the trial trains its epoch 2.
The sweep then finishes on the head: every trial ends, the lost trial continues from the
checkpoint the worker wrote to S3 (its epochs reported once each: only the interrupted epoch
is trained again), the scheduler's rules hold, and its child run stays one run.
"""

from __future__ import annotations

import json
import math
import re
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from bench.sim import check_log
from tests._cluster import processes_in
from tests._sweeps import node_of, start_study, sweep_runs

pytestmark = pytest.mark.slow

ARGS = ("--smoke-test", "--precision", "fp32", "--layers", "1", "--hidden", "16,32",
        "--embedding", "16,32", "--train-subset", "2000", "--max-epochs", "4",
        "--grace-period", "2", "--reduction-factor", "2", "--max-failures", "2",
        "--keep-checkpoints", "--experiment-name", "nodes")
EPOCH = re.compile(r"\] (\S+): epoch (\d+)/")


@pytest.fixture(scope="module")
def lost(two_nodes, mlflow_server, tmp_path_factory):
    """The sweep, with the worker node killed as described above."""
    unshared = two_nodes
    tmp = tmp_path_factory.mktemp("nodes")
    nodes = {("head" if n["head"] else "worker"): n["id"] for n in unshared.nodes()}
    assert set(nodes) == {"head", "worker"}, nodes
    client = MlflowClient(mlflow_server.uri)
    with (tmp / "err.log").open("w") as err:
        proc = start_study("compound_scaling", *ARGS, "--storage-path", "s3://rnn-sweeps/nodes",
                           "--tracking-uri", mlflow_server.uri, "--address", unshared.address,
                           own="kills a node of its own cluster mid-sweep", cwd=tmp,
                           base_env=unshared.env, stdout=subprocess.PIPE, stderr=err, text=True)
        lines, killed, victim, at = [], [], None, {"start": time.perf_counter()}
        watchdog = threading.Timer(900, proc.kill)  # a sweep that hangs ends the read below
        watchdog.start()
        try:
            for line in proc.stdout:
                lines.append(line)
                m = EPOCH.search(line)
                if victim is None and m and m[2] == "1" \
                        and node_of(client, "nodes", m[1]) == nodes["worker"]:
                    victim, killed = m[1], unshared.lose("worker")
                    at["kill"] = time.perf_counter()
                elif victim and "retry" not in at and f"{victim}: failed, retrying" in line:
                    at["retry"] = time.perf_counter()
            proc.wait(timeout=600)
        finally:
            watchdog.cancel()
            proc.kill()
    assert victim is not None, "no trial reported epoch 1 from the worker node"
    wall = time.perf_counter() - at["start"]
    # Ray marks a node dead once its health checks have failed for a while (about 16 s here):
    # a sweep that ends sooner after the kill finds it still listed
    alive = unshared.nodes()
    while len(alive) > 1 and time.perf_counter() - at["kill"] < 90:
        time.sleep(2)
        alive = unshared.nodes()
    print(f"\ncluster up in {unshared.start_seconds:.0f} s; sweep {wall:.0f} s wall; the "
          f"worker node killed {at['kill'] - at['start']:.0f} s in, its trial "
          f"retried {at.get('retry', math.nan) - at['kill']:.1f} s later; "
          f"{len(alive)} node(s) listed {time.perf_counter() - at['kill']:.0f} s after the kill")
    return {"tmp": tmp, "nodes": nodes, "proc": proc,
            "out": "".join(lines), "err": (tmp / "err.log").read_text(), "victim": victim,
            "killed": killed, "left": processes_in({unshared.session["worker"]}),
            "alive": alive, "uri": mlflow_server.uri, "cluster": unshared}


def test_the_sweep_finished_with_every_trial_ended(lost):
    proc, out = lost["proc"], lost["out"]
    assert proc.returncode == 0, lost["err"][-3000:]
    assert "sweep finished" in out
    assert lost["killed"] and not lost["left"]  # every process of the worker node: gone
    assert [n["head"] for n in lost["alive"]] == [True]  # the cluster is the head alone
    client, parent, children = sweep_runs(lost["uri"], "nodes")
    assert parent.info.status == "FINISHED"
    assert len(children) == 4  # none lost, none made twice
    assert {c.data.tags["trial_status"] for c in children} <= {"finished", "stopped_early"}
    assert all(c.info.status in ("FINISHED", "KILLED") for c in children)


def test_trials_ran_on_both_nodes_and_checkpoints_are_in_s3(lost, s3_server):
    client, parent, children = sweep_runs(lost["uri"], "nodes")
    been = {n.split(":", 1)[1] for c in children for n in c.data.tags["ray_nodes"].split()}
    assert been == set(lost["nodes"].values())
    s3 = s3_server.filesystem()
    from pyarrow import fs

    folder = parent.data.tags["ray_experiment_path"].removeprefix("s3://")
    found = [i.path for i in s3.get_file_info(fs.FileSelector(folder, recursive=True))]
    for child in children:  # every trial's last checkpoints, written from where it ran
        tid = child.data.tags["ray_trial_id"]
        assert any(tid in p and "/checkpoint_" in p and p.endswith("state.pt") for p in found)
        # the files MLflow keeps, proxied by the server into its S3 destination
        assert {"checkpoint/best.pt", "checkpoint/config.json"} <= {
            a.path for a in client.list_artifacts(child.info.run_id, "checkpoint")}
        key = (f"rnn-sweeps/mlartifacts/{child.info.experiment_id}/{child.info.run_id}"
               "/artifacts/checkpoint/best.pt")
        assert s3.get_file_info(key).type == fs.FileType.File, key
    assert not list(lost["tmp"].rglob("*.pt"))  # nothing of the sweep on the driver's disk


def test_the_lost_trial_went_on_from_its_checkpoint_on_the_head(lost):
    client, _, children = sweep_runs(lost["uri"], "nodes")
    run, = [c for c in children if c.info.run_name == lost["victim"]]
    head, worker = lost["nodes"]["head"], lost["nodes"]["worker"]
    assert int(run.data.tags["retries"]) >= 1  # the kill; a later try that failed too counts
    assert "failed, retrying from its last checkpoint" in lost["out"]
    # epoch 1 on the worker, the rest on the head, from epoch 2 (the one the kill cut)
    assert run.data.tags["ray_nodes"] == f"1:{worker} 2:{head}"
    reported = [int(m[2]) for m in EPOCH.finditer(lost["out"]) if m[1] == lost["victim"]]
    assert reported == list(range(1, len(reported) + 1)) and len(reported) >= 2, reported
    steps = [m.step for m in client.get_metric_history(run.info.run_id, "val_acc")]
    assert steps == reported  # one run, each epoch once
    # no trial reported an epoch twice (any other that failed went on the same way)
    for child in children:
        if child.info.run_name != lost["victim"]:
            epochs = [int(m[2]) for m in EPOCH.finditer(lost["out"])
                      if m[1] == child.info.run_name]
            assert epochs == list(range(1, len(epochs) + 1)), (child.info.run_name, epochs)


def test_the_schedulers_rules_held(lost, s3_server):
    _, parent, children = sweep_runs(lost["uri"], "nodes")
    folder = Path(parent.data.tags["ray_experiment_path"].removeprefix("s3://"))
    side = f"{folder.parent}/.rnn_sweeps/{folder.name}/asha_rungs.json"
    with s3_server.filesystem().open_input_stream(side) as f:
        state = json.loads(f.read())
    assert check_log(state, 2) == []
    assert len(state["rungs"]["2"]) == 4 and len(state["promoted"]["2"]) == 2
    assert not state["waiting"]
    went_on = {tid for event, m, tid in state["log"] if event == "speculate"}
    for child in children:  # a trial trains past the rung only when promoted (or speculated)
        tid, last = child.data.tags["ray_trial_id"], int(child.data.tags["epochs_run"])
        if tid in state["promoted"]["2"]:
            assert last == 4
        elif tid not in went_on:
            assert last == 2


def test_both_nodes_stop_and_leave_no_process(lost):
    """Last: the session's cluster is stopped here (the fixture's end checks it again)."""
    cluster = lost["cluster"]
    assert processes_in({cluster.session["head"]})  # running until now
    assert cluster.stop() == []
    port = int(cluster.address.rsplit(":", 1)[1])
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", port)) != 0  # the GCS is gone
