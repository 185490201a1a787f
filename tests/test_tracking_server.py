"""Sweeps tracked on a real MLflow tracking server whose runs live in PostgreSQL and whose
artifacts it proxies, with the Optuna study in PostgreSQL too (``tests/_servers.py``).

The smoke sweep goes on while the server is frozen for 30 s (SIGSTOP: connections accepted,
nothing answered) and loses no metric; its runs, artifacts, registered model and report are
all read back over HTTP. An outage past ``--tracking-outage-limit`` (the server killed) stops
a sweep as interrupted, and ``--resume`` finishes it once the server is back on its port. A
TPE sweep killed with SIGKILL resumes, from another folder, with the URIs alone.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import optuna
import pytest
from mlflow.tracking import MlflowClient

from tests._sweeps import lost_metrics, printed_report, run_study, start_study, sweep_runs

pytestmark = pytest.mark.slow

OUTAGE_S = 30
ENDED = {"finished", "stopped_early"}


def _start(tmp: Path, *args: str, own: str, cwd: Path | None = None) -> subprocess.Popen:
    """A study process with its output in files of ``tmp`` (out.log, err.log)."""
    with (tmp / "out.log").open("w") as out, (tmp / "err.log").open("w") as err:
        return start_study("compound_scaling", *args, own=own, cwd=cwd or tmp, stdout=out,
                           stderr=err, start_new_session=True)


def _wait_for(proc: subprocess.Popen, out: Path, n: int, what: str = ": epoch ",
              timeout: float = 300) -> None:
    """Until the study has printed ``n`` lines with ``what`` (an epoch's, by default: each
    logged to MLflow before it is printed)."""
    end = time.monotonic() + timeout
    while out.read_text().count(what) < n:
        assert proc.poll() is None, f"the sweep ended first:\n{out.read_text()[-3000:]}"
        assert time.monotonic() < end, f"no {what!r} in time"
        time.sleep(0.2)


def _lost_metrics(client: MlflowClient, children, ray_folder: Path) -> tuple[int, int]:
    """``lost_metrics`` of the trials' result.json files in a local Ray folder."""
    return lost_metrics(client, children, (
        [json.loads(line) for line in r.read_text().splitlines()]
        for r in ray_folder.glob("*/result.json")))


@pytest.fixture(scope="module")
def blinked(mlflow_server, tmp_path_factory):
    """The smoke sweep on the server, frozen for ``OUTAGE_S`` once the first epoch is logged:
    (folder, process, stdout, stderr, outage start and end in ms since the epoch)."""
    tmp = tmp_path_factory.mktemp("blink")
    proc = _start(tmp, "--smoke-test", "--precision", "fp32", "--tracking-uri",
                  mlflow_server.uri, "--experiment-name", "blink", "--storage-path",
                  str(tmp / "ray"), own="freezes the tracking server mid-sweep")
    try:
        _wait_for(proc, tmp / "out.log", 1)
        mlflow_server.pause()
        stopped = time.time()
        time.sleep(OUTAGE_S)
    finally:
        mlflow_server.cont()
    thawed = time.time()
    proc.wait(timeout=400)
    return (tmp, proc, (tmp / "out.log").read_text(), (tmp / "err.log").read_text(),
            int(stopped * 1000), int(thawed * 1000))


def test_the_sweep_goes_on_through_an_outage_and_loses_no_metric(blinked, mlflow_server):
    tmp, proc, out, err, stopped, thawed = blinked
    assert proc.returncode == 0, err[-3000:]
    warnings = [ln for ln in err.splitlines() if ln.startswith("WARNING")
                and "MLflow" in ln]
    assert len(warnings) == 1 and "does not answer" in warnings[0], warnings
    assert "answers again after" in err
    client, parent, children = sweep_runs(mlflow_server.uri, "blink")
    ray_folder = next((tmp / "ray").glob("compound_scaling-*"))
    reported, lost = _lost_metrics(client, children, ray_folder)
    # trials trained on while the server was frozen, and their epochs kept their own times
    epochs = [m for c in children for m in client.get_metric_history(c.info.run_id, "val_acc")]
    during = [m for m in epochs if stopped < m.timestamp < thawed]
    print(f"{len(during)} of {len(epochs)} trial-epochs ended in the {OUTAGE_S} s outage; "
          f"{lost} of {reported} metric values lost")
    assert reported > 0 and lost == 0
    assert during, "no epoch ended during the outage"


def test_child_runs_are_complete_and_their_artifacts_read_back(blinked, mlflow_server,
                                                                s3_server):
    client, parent, children = sweep_runs(mlflow_server.uri, "blink")
    assert parent.info.status == "FINISHED"
    assert len(children) == 4  # none made twice by a creation that timed out
    assert {c.data.tags["trial_status"] for c in children} <= ENDED
    assert all(c.info.status in ("FINISHED", "KILLED") for c in children)
    finished = [c for c in children if c.data.tags["trial_status"] == "finished"]
    assert finished
    for child in finished:
        files = {a.path for a in client.list_artifacts(child.info.run_id, "checkpoint")}
        assert {"checkpoint/best.pt", "checkpoint/test_outputs.npz"} <= files
        path = client.download_artifacts(child.info.run_id, "checkpoint/test_outputs.npz",
                                         str(blinked[0]))
        with np.load(path) as npz:
            assert npz.files
    # proxied: the files are in the server's destination, an S3 bucket, none beside the sweep
    s3 = s3_server.filesystem()
    for child in children:
        key = (f"{mlflow_server.artifacts.removeprefix('s3://')}/{child.info.experiment_id}/"
               f"{child.info.run_id}/artifacts/checkpoint/best.pt")
        assert s3.get_file_info(key).size > 0, key
    assert not list(blinked[0].rglob("mlartifacts"))


def test_the_report_and_model_come_from_the_server(blinked, mlflow_server):
    tmp, _, out, *_ = blinked
    page = printed_report(out).read_text()
    assert 'id="pareto"' in page
    client, parent, _ = sweep_runs(mlflow_server.uri, "blink")
    assert "report/report.html" in {a.path for a in client.list_artifacts(parent.info.run_id,
                                                                           "report")}
    name, version = parent.data.tags["registered_model"].split("/")
    assert client.get_model_version(name, version).status == "READY"
    assert f"export MLFLOW_TRACKING_URI={mlflow_server.uri}" in out


def test_an_outage_past_the_limit_stops_the_sweep_for_resume(mlflow_server, tmp_path):
    # the server dies (SIGKILL) as the first trial starts: the 2 s limit runs out while the
    # trials train (1,000 reviews), or, on an idle machine, as the driver waits at the end;
    # either way the sweep stops for --resume (tests/test_outbox.py: the stop mid-sweep)
    args = ["--smoke-test", "--precision", "fp32", "--train-subset", "1000", "--tracking-uri",
            mlflow_server.uri, "--experiment-name", "outage", "--storage-path",
            str(tmp_path / "ray"), "--tracking-outage-limit", "2s"]
    own = "kills the tracking server for longer than the limit, then resumes"
    proc = _start(tmp_path, *args, own=own)
    try:
        _wait_for(proc, tmp_path / "out.log", 1, ": started")
        mlflow_server.stop(grace=0)
        proc.wait(timeout=300)
    finally:
        mlflow_server.start()  # on the same port
    err = (tmp_path / "err.log").read_text()
    assert proc.returncode == 130, err[-3000:]
    assert "did not answer for 2 s (--tracking-outage-limit)" in err, err[-3000:]
    assert "--resume" in err and "once MLflow answers again" in err
    assert "sweep finished" not in (tmp_path / "out.log").read_text()
    side = next((tmp_path / "ray" / ".rnn_sweeps").glob("compound_scaling-*"))
    assert json.loads((side / "sweep.json").read_text())["status"] == "interrupted"
    assert json.loads((side / "mlflow_outbox.json").read_text())  # what waits for MLflow
    _, parent, _ = sweep_runs(mlflow_server.uri, "outage")
    assert parent.info.status == "RUNNING"  # its end waits in the journal: never FINISHED

    done = run_study("compound_scaling", *args, "--resume", cwd=tmp_path, timeout=400, own=own)
    assert done.returncode == 0, done.stderr[-3000:]
    assert not (side / "mlflow_outbox.json").exists()
    client, parent, children = sweep_runs(mlflow_server.uri, "outage")
    assert parent.info.status == "FINISHED" and parent.data.tags["resumed"] == "1"
    assert len(children) == 4 and {c.data.tags["trial_status"] for c in children} <= ENDED
    for child in children:
        steps = [m.step for m in client.get_metric_history(child.info.run_id, "val_acc")]
        assert steps == list(range(1, len(steps) + 1)), steps  # each epoch once
    reported, lost = _lost_metrics(client, children, next((tmp_path / "ray").glob(
        "compound_scaling-*")))
    assert reported > 0 and lost == 0


def test_a_killed_tpe_sweep_resumes_from_its_uris(mlflow_server, postgres, tmp_path):
    """Its Optuna study in PostgreSQL, its runs on the server, Ray's state in --storage-path:
    a driver in an empty folder continues the study, no trial number asked twice."""
    optuna_url = postgres.new_database("tpe_resume")
    uris = ["--tracking-uri", mlflow_server.uri, "--optuna-storage", optuna_url,
            "--storage-path", str(tmp_path / "ray"), "--experiment-name", "tpe-resume"]
    own = "kills the sweep and resumes it from another folder"
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    second.mkdir()
    proc = _start(first, "--smoke-test", "--search", "tpe", "--num-samples", "4", *uris,
                  own=own)
    _wait_for(proc, first / "out.log", 2)
    os.killpg(proc.pid, signal.SIGKILL)  # the driver and the Ray instance it started
    proc.wait()
    name, = optuna.get_all_study_names(optuna_url)
    before = optuna.load_study(study_name=name, storage=optuna_url).trials
    assert before and len(before) < 4 or any(t.state.name == "RUNNING" for t in before)

    done = run_study("compound_scaling", "--resume", *uris, cwd=second, timeout=400, own=own)
    assert done.returncode == 0, done.stderr[-3000:]
    trials = optuna.load_study(study_name=name, storage=optuna_url).trials
    assert [t.number for t in trials] == [0, 1, 2, 3]  # the budget, none asked twice
    assert [t.params for t in trials[:len(before)]] == [t.params for t in before]
    assert all(t.state.name in ("COMPLETE", "PRUNED") for t in trials)
    client, parent, children = sweep_runs(mlflow_server.uri, "tpe-resume")
    assert parent.info.status == "FINISHED"
    # one run an Optuna trial, that of a trial Ray had not saved before the kill replaced
    assert sorted(int(c.data.tags["optuna_trial"]) for c in children) == [0, 1, 2, 3]
    for child in children:
        steps = [m.step for m in client.get_metric_history(child.info.run_id, "val_acc")]
        assert steps == list(range(1, len(steps) + 1)), steps  # each epoch once
    assert not list(tmp_path.rglob("*.db"))  # no SQLite file: the URIs hold everything
