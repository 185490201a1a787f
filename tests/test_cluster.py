"""The session's one Ray cluster (``unshared`` in conftest.py, tests/_cluster.py): a head and a
worker node started with `ray start` on this machine, one CPU each, the worker in a mount
namespace of its own that sees none of the head's files but one folder, bound back read-write
at the same path: it stands for an NFS mount both nodes see. Here, with both nodes up: what
each node sees, the refusal of a node-local `--storage-path`, and the smoke sweep with ASHA on
the shared folder (`--shared-storage`), its trials on both nodes and in MLflow. Then
tests/test_cluster_resume.py kills a driver on it and tests/test_nodes.py loses its worker node
and stops it.

The cluster is isolated from every other Ray on the machine: its own `--temp-dir` per node (so
`/tmp/ray/ray_current_cluster`, which a plain `ray.init()` reads, never names it), free ports,
its own auth token in the environment, and teardown kills only the processes of its two `ray
start` sessions (never `ray stop`, which stops every Ray instance of this user).
"""

from __future__ import annotations

import os
import tempfile
import time
from collections import Counter
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from tests._cluster import ROOT
from tests._sweeps import run_study

pytestmark = pytest.mark.slow


def test_cluster_has_two_one_cpu_nodes_apart_from_the_default_ray(two_nodes):
    nodes = two_nodes.nodes()
    assert len(nodes) == 2
    assert sorted(n["head"] for n in nodes) == [False, True]
    assert all(n["cpus"] == 1 for n in nodes)
    # What a plain `ray.init()` elsewhere on this machine would join: not this cluster.
    default = Path(tempfile.gettempdir(), "ray", "ray_current_cluster")
    port = two_nodes.address.rsplit(":", 1)[1]
    assert not default.exists() or not default.read_text().strip().endswith(f":{port}")
    assert (two_nodes.temp / "head" / "ray_current_cluster").read_text().strip().endswith(port)


def test_the_worker_node_sees_none_of_the_heads_files_but_the_shared_folder(
        two_nodes, s3_server, postgres, tmp_path):
    marker = tmp_path / "written-by-the-head"
    marker.write_text("the worker node must not see this")
    mounted = two_nodes.shared / "written-by-the-head"
    mounted.write_text("both nodes see this")
    cache = os.environ.get("RNN_SWEEPS_DATA") or str(Path.home() / ".cache" / "rnn-sweeps")
    head_paths = [str(tmp_path), str(marker), str(two_nodes.temp / "head"),
                  str(postgres.folder), str(s3_server.log.parent),
                  *([cache] if os.path.isdir(cache) else [])]
    nodes = {("head" if n["head"] else "worker"): n["id"] for n in two_nodes.nodes()}
    views = two_nodes.look(list(nodes.values()), [*head_paths, str(mounted)])
    head, worker = views[nodes["head"]], views[nodes["worker"]]
    assert head["seen"] == [*head_paths, str(mounted)]  # the head sees its own files
    # the worker sees none (sweep folder, Ray session, servers, data) but the "NFS mount"
    assert worker["seen"] == [str(mounted)]
    assert worker["mount_ns"] != head["mount_ns"]
    # the same code, from an image-like read-only copy on the worker
    assert worker["rnn_core"] == head["rnn_core"] == str(ROOT / "rnn_core" / "__init__.py")
    assert head["code_writable"] and not worker["code_writable"]


def test_a_node_local_folder_is_refused_on_the_cluster(two_nodes, tmp_path):
    uri = f"sqlite:///{tmp_path}/m.db"
    proc = run_study(
        "compound_scaling", "--smoke-test", "--tracking-uri", uri, "--storage-path",
        str(tmp_path / "ray"), "--address", two_nodes.address, timeout=120, cwd=tmp_path,
        base_env=two_nodes.env, own="refused on the cluster before any trial starts")
    assert proc.returncode == 2, proc.stderr[-3000:]
    last = proc.stderr.strip().splitlines()[-1]
    assert f"--storage-path {tmp_path / 'ray'} is a folder on this machine" in last
    assert "has 2 nodes" in last and "--shared-storage" in last and "s3://" in last
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "ray").exists()
    exp = MlflowClient(uri).get_experiment_by_name("rnn-sweeps")
    assert MlflowClient(uri).search_runs([exp.experiment_id]) == []  # no parent run


@pytest.fixture(scope="module")
def sweep(two_nodes, tmp_path_factory):
    """The smoke sweep with ASHA, its Ray storage in the folder both nodes see; its MLflow
    store a SQLite file on the driver's disk, which the worker node does not see (only the
    driver writes MLflow)."""
    tmp = tmp_path_factory.mktemp("cluster")
    uri = f"sqlite:///{tmp}/m.db"
    nodes = two_nodes.nodes()
    t0 = time.perf_counter()
    proc = run_study(
        "compound_scaling", "--smoke-test", "--scheduler", "asha", "--tracking-uri", uri,
        "--storage-path", str(two_nodes.shared / "ray"), "--shared-storage", "--address",
        two_nodes.address, timeout=300, cwd=tmp, base_env=two_nodes.env,
        own="runs on the session's cluster, on its shared folder")
    seconds = time.perf_counter() - t0
    print(f"\ncluster up in {two_nodes.start_seconds:.1f} s; smoke sweep on it: "
          f"{seconds:.1f} s wall")
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    client = MlflowClient(uri)
    exp = client.get_experiment_by_name("rnn-sweeps")
    runs = client.search_runs([exp.experiment_id])
    return client, runs, nodes, two_nodes.shared


def test_trials_ran_on_both_nodes(sweep):
    _, runs, nodes, _ = sweep
    children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    per_node = Counter(c.data.tags.get("ray_node_id") for c in children)
    print(f"\ntrials per node: {sorted(per_node.values())}")
    assert set(per_node) == {n["id"] for n in nodes}
    assert len(per_node) == 2


def test_everything_landed_in_mlflow(sweep):
    client, runs, _, shared = sweep
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
        # read back by the driver from the shared folder, where the worker's trials wrote it
        ckpt = [a.path for a in client.list_artifacts(child.info.run_id, "checkpoint")]
        assert "checkpoint/best.pt" in ckpt
    assert any(c.data.tags["trial_status"] == "finished" for c in children)
    # Ray Tune's results went to --storage-path (the folder the parent run names).
    assert Path(parent.data.tags["ray_experiment_path"]).parent == (shared / "ray").resolve()
