"""On the session's cluster of two nodes that share no disk (``unshared`` in conftest.py), a
sweep that keeps nothing on the driver's disk survives the loss of its driver and a tracking
server that stops for 30 s.

One TPE sweep of 4 trials (4 epochs, ASHA's rung at epoch 2, so every trial trains epochs 1
and 2 without a pause), its Ray storage in S3 (SeaweedFS), its runs on the MLflow tracking
server (PostgreSQL, artifacts proxied to S3), its Optuna study in PostgreSQL, joined to the
cluster with `--address`:

1. **The driver killed, resumed from the URIs alone**: once trials training on both nodes
   have reported epoch 1, the driver is killed with SIGKILL; a second driver, started in
   another, empty folder with `--resume s3://.../<sweep folder>` and the same tracking and
   Optuna URIs, finishes the sweep: every trial ends, no Optuna trial asked twice and none
   left RUNNING, each trial one child run with epochs 1..n logged once each, the report made.
2. **The tracking server stopped for 30 s**: once the second driver has printed an epoch,
   the MLflow server is stopped by its PID and started again on its port 30 s later: the sweep
   goes on (epochs end meanwhile), the driver prints one warning line, and every metric the
   trials reported (their result.json files in S3) is in MLflow afterwards.

Both in one sweep to keep the suite's time; the checks of each are separate tests.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import threading
import time

import optuna
import pytest
from mlflow.tracking import MlflowClient
from pyarrow import fs

from tests._servers import BUCKET
from tests._sweeps import lost_metrics, node_of, printed_report, start_study, sweep_runs

pytestmark = pytest.mark.slow

OUTAGE_S = 30
EXPERIMENT = "cluster-resume"
STORAGE = f"s3://{BUCKET}/cluster-resume"
ARGS = ("--smoke-test", "--precision", "fp32", "--search", "tpe", "--num-samples", "4",
        "--train-subset", "2000", "--max-epochs", "4", "--grace-period", "2",
        "--reduction-factor", "2", "--experiment-name", EXPERIMENT)
OWN = "kills its driver and stops the tracking server mid-sweep, then resumes"
EPOCH = re.compile(r"\] (\S+): epoch (\d+)/")
ENDED = re.compile(r"\] (\S+): (finished|stopped by|paused at|failed)")


def _driver(cluster, folder, *args: str) -> subprocess.Popen:
    """A study process joined to the cluster, its stdout piped, its stderr in err.log."""
    with (folder / "err.log").open("w") as err:
        return start_study("compound_scaling", *args, "--address", cluster.address, own=OWN,
                           cwd=folder, base_env=cluster.env, stdout=subprocess.PIPE,
                           stderr=err, text=True, start_new_session=True)


def _lines(proc: subprocess.Popen, limit: float = 900):
    """(time, line) of each line the process prints; a process that hangs is killed."""
    watchdog = threading.Timer(limit, proc.kill)
    watchdog.daemon = True  # never keeps pytest from exiting
    watchdog.start()
    try:
        for line in proc.stdout:
            yield time.time(), line
    finally:
        watchdog.cancel()


@pytest.fixture(scope="module")
def swept(two_nodes, s3_server, mlflow_server, postgres, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cluster-resume")
    first, second = tmp / "first", tmp / "second"
    first.mkdir()
    second.mkdir()
    optuna_url = postgres.new_database("cluster_resume")
    uris = ("--tracking-uri", mlflow_server.uri, "--optuna-storage", optuna_url)
    client = MlflowClient(mlflow_server.uri)

    # 1. killed once trials training on both nodes (past epoch 1, before their rung) reported
    t0 = time.time()
    proc = _driver(two_nodes, first, *ARGS, *uris, "--storage-path", STORAGE)
    training: dict[str, str] = {}  # trial -> its node, while it trains
    killed, lines = [], _lines(proc)
    try:
        for _, line in lines:
            killed.append(line)
            if (m := ENDED.search(line)) is not None:
                training.pop(m[1], None)
            elif (m := EPOCH.search(line)) is not None and m[2] == "1":
                training[m[1]] = node_of(client, EXPERIMENT, m[1])
                if len(set(training.values())) == 2:
                    os.killpg(proc.pid, signal.SIGKILL)
                    break
    finally:
        lines.close()
        proc.kill()
        proc.wait()
    at_kill = time.time()
    name, = optuna.get_all_study_names(optuna_url)
    before = optuna.load_study(study_name=name, storage=optuna_url).trials
    _, _, children = sweep_runs(mlflow_server.uri, EXPERIMENT)
    running = {c.data.tags["ray_node_id"] for c in children
               if c.data.tags.get("trial_status") == "running"}

    # 2. resumed from another folder, the tracking server stopped for OUTAGE_S meanwhile
    s3 = s3_server.filesystem()
    prefix = STORAGE.removeprefix("s3://")
    side, = s3.get_file_info(fs.FileSelector(f"{prefix}/.rnn_sweeps"))
    resume = f"{STORAGE}/{side.base_name}"
    kept = tmp / "state-after-the-kill"  # Ray's state as the kill left it, for a failure's reader
    kept.mkdir()
    for info in s3.get_file_info(fs.FileSelector(f"{prefix}/{side.base_name}")):
        if info.type == fs.FileType.File:
            with s3.open_input_stream(info.path) as f:
                (kept / info.base_name).write_bytes(f.read())
    outage: dict[str, float] = {}

    def stop_for_a_while():
        outage["stopped"] = time.time()
        try:
            mlflow_server.stop()  # SIGTERM to its PID (SIGKILL had it not ended in 30 s)
            time.sleep(max(0.0, outage["stopped"] + OUTAGE_S - time.time()))
        finally:
            mlflow_server.start()  # on the same port; returns once it answers
            outage["back"] = time.time()

    blink = threading.Thread(target=stop_for_a_while)
    proc = _driver(two_nodes, second, "--resume", resume, *uris)
    resumed = []
    try:
        for at, line in _lines(proc):
            resumed.append((at, line))
            if blink.ident is None and EPOCH.search(line):
                blink.start()
        proc.wait(timeout=60)
    finally:
        proc.kill()
        if blink.is_alive():
            blink.join()
        if mlflow_server.proc.poll() is not None:
            mlflow_server.start()
    (tmp / "first.out").write_text("".join(killed))  # for a reader of a failure
    (tmp / "second.out").write_text("".join(line for _, line in resumed))
    print(f"\nthe driver killed {at_kill - t0:.0f} s in, after "
          f"{len(EPOCH.findall(''.join(killed)))} epochs; the resumed sweep finished "
          f"{time.time() - at_kill:.0f} s after the kill")
    return {"killed": "".join(killed), "training": training, "before": before,
            "running": running, "proc": proc, "resumed": resumed, "outage": outage,
            "err": (second / "err.log").read_text(), "second": second, "optuna": optuna_url,
            "study": name, "uri": mlflow_server.uri, "experiment": f"{prefix}/{side.base_name}",
            "nodes": {n["id"] for n in two_nodes.nodes()}, "kept": kept}


def test_the_driver_was_killed_while_trials_trained_on_both_nodes(swept):
    assert set(swept["training"].values()) == swept["nodes"], swept["killed"][-3000:]
    assert swept["running"] == swept["nodes"]  # their child runs: still running, one per node
    assert "sweep finished" not in swept["killed"]
    assert any(t.state.name == "RUNNING" for t in swept["before"])


def test_the_sweep_resumed_from_the_uris_alone_in_another_folder(swept):
    proc, out = swept["proc"], "".join(line for _, line in swept["resumed"])
    assert proc.returncode == 0, swept["err"][-3000:]
    assert "sweep finished" in out
    trials = optuna.load_study(study_name=swept["study"], storage=swept["optuna"]).trials
    assert [t.number for t in trials] == [0, 1, 2, 3]  # the budget, none asked twice
    assert [t.params for t in trials[:len(swept["before"])]] == [
        t.params for t in swept["before"]]
    states = [(t.number, t.state.name) for t in trials]
    assert all(state in ("COMPLETE", "PRUNED") for _, state in states), states  # none RUNNING
    client, parent, children = sweep_runs(swept["uri"], EXPERIMENT)
    assert parent.info.status == "FINISHED" and parent.data.tags["resumed"] == "1"
    assert sorted(int(c.data.tags["optuna_trial"]) for c in children) == [0, 1, 2, 3]
    assert {c.data.tags["trial_status"] for c in children} <= {"finished", "stopped_early"}
    for child in children:  # one run a trial, each epoch logged once
        steps = [m.step for m in client.get_metric_history(child.info.run_id, "val_acc")]
        assert steps == list(range(1, len(steps) + 1)) and steps, (child.info.run_name, steps)
    page = printed_report(out)
    assert page.is_relative_to(swept["second"]) and 'id="pareto"' in page.read_text()
    assert "report/report.html" in {
        a.path for a in client.list_artifacts(parent.info.run_id, "report")}
    assert sorted(os.listdir(swept["second"])) == ["err.log", "reports"]


def test_the_sweep_went_on_through_the_outage_and_lost_no_metric(swept, s3_server):
    outage, err = swept["outage"], swept["err"]
    assert {"stopped", "back"} <= set(outage)
    warnings = [ln for ln in err.splitlines() if ln.startswith("WARNING") and "MLflow" in ln]
    assert len(warnings) == 1 and "does not answer" in warnings[0], warnings
    assert "answers again after" in err
    during = [line for at, line in swept["resumed"]
              if outage["stopped"] < at < outage["back"] and EPOCH.search(line)]
    assert during, "no epoch ended while the server was stopped"
    client, _, children = sweep_runs(swept["uri"], EXPERIMENT)
    # every epoch either driver printed is in its trial's child run
    steps = {c.info.run_name: {m.step for m in client.get_metric_history(c.info.run_id,
                                                                         "val_acc")}
             for c in children}
    printed = [m for m in EPOCH.finditer(swept["killed"] + "".join(
        line for _, line in swept["resumed"]))]
    assert all(int(m[2]) in steps[m[1]] for m in printed), printed
    # every value in the trials' own result files in S3 is in MLflow
    s3 = s3_server.filesystem()
    results = []
    for info in s3.get_file_info(fs.FileSelector(swept["experiment"], recursive=True)):
        if info.path.endswith("/result.json"):
            with s3.open_input_stream(info.path) as f:
                rows = [json.loads(line) for line in f.read().decode().splitlines()]
            results += [rows] if rows else []
    # a trial that started after Ray's last save before the kill is one Ray cannot resume:
    # its Optuna trial went to a new trial, trained from epoch 1, and its own run was deleted
    # (if the first driver had made it); its result file stays in S3 and is not the sweep's
    saved = "".join(f.read_text() for f in swept["kept"].glob("experiment_state-*.json"))
    ours = {c.data.tags["ray_trial_id"] for c in children}
    dropped = {rows[0]["trial_id"] for rows in results} - ours
    assert not {t for t in dropped if t in saved}, (dropped, "Ray had saved them")
    reported, lost = lost_metrics(client, children,
                                  [rows for rows in results if rows[0]["trial_id"] in ours])
    print(f"\n{len(during)} epochs printed in the {OUTAGE_S} s outage "
          f"({outage['back'] - outage['stopped']:.0f} s with the restart); "
          f"{lost} of {reported} metric values lost; {len(dropped)} trial(s) Ray had not saved "
          "before the kill, retrained")
    assert reported > 0 and lost == 0
