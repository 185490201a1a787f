"""Failed trials and interrupted sweeps, with a real Ray instance and a real MLflow store."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from rnn_core import tuning
from tests._sweeps import run_study, start_study

ROOT = Path(__file__).resolve().parents[1]
TINY = {"train_subset": 64, "val_subset": 32, "test_subset": 32, "optimizer": "sgd",
        "num_layers": 1, "hidden_size": 8, "batch_size": 32}


@pytest.fixture
def ray_local():
    import ray

    yield
    ray.shutdown()


@pytest.mark.slow
def test_failing_trials_are_retried_recorded_and_the_sweep_goes_on(tmp_path, imdb, ray_local):
    uri = f"sqlite:///{tmp_path}/m.db"
    spec = tuning.SweepSpec(
        study="faults", task="sentiment", base_config=TINY, max_epochs=2, scheduler="fifo",
        max_failures=1,
        storage_path=str(tmp_path / "ray"), tracking_uri=uri,
        # a healthy trial beside one of each failure: an exception (unknown cell), a NaN loss
        # (lr inf) and a real out-of-memory (an embedding of 35,053 x 10^8 floats); a union
        # of one-point grids, each configuration run once
        param_space=[{"cell": "lstm", "lr": 1e-2, "embedding_dim": 8},
                     {"cell": "no_such_cell", "lr": 1e-2, "embedding_dim": 8},
                     {"cell": "lstm", "lr": float("inf"), "embedding_dim": 8},
                     {"cell": "lstm", "lr": 1e-2, "embedding_dim": 10**8}])
    outcome = tuning.run_sweep(spec, imdb)
    assert outcome.trials == {"finished": 1, "failed": 3}
    client = MlflowClient(uri)
    runs = client.search_runs([outcome.experiment_id],
                              f"tags.mlflow.parentRunId = '{outcome.parent_run_id}'")
    assert len(runs) == 4  # a retry reuses its trial's child run
    errors = {}
    for r in runs:
        p = r.data.params
        key = (p["cell"], float(p["lr"]), int(p["embedding_dim"]))
        if r.data.tags["trial_status"] == "failed":
            assert r.info.status == "FAILED"
            assert r.data.tags["retries"] == "1"  # tried twice: once + one retry
            errors[key] = r.data.tags["error"].splitlines()[0]
        else:
            assert key == ("lstm", 1e-2, 8) and "test_acc" in r.data.metrics
    assert "unknown cell 'no_such_cell'" in errors[("no_such_cell", 1e-2, 8)]
    assert "TrainingDiverged" in errors[("lstm", float("inf"), 8)]
    assert "out of memory" in errors[("lstm", 1e-2, 10**8)]
    assert client.get_run(outcome.parent_run_id).info.status == "FINISHED"


def _children(db: Path) -> list[tuple[str, str]]:
    """(run status, trial_status tag) of child runs, read straight from SQLite."""
    if not db.exists():
        return []
    try:
        with sqlite3.connect(db, timeout=1) as con:
            return con.execute(
                "SELECT r.status, t.value FROM runs r JOIN tags t ON t.run_uuid = r.run_uuid "
                "AND t.key = 'trial_status' WHERE r.run_uuid IN (SELECT run_uuid FROM tags "
                "WHERE key = 'mlflow.parentRunId')").fetchall()
    except sqlite3.OperationalError:
        return []


def _epochs_logged(db: Path) -> int:
    try:
        with sqlite3.connect(db, timeout=1) as con:
            return con.execute("SELECT COUNT(*) FROM metrics WHERE key = 'val_acc'").fetchone()[0]
    except sqlite3.OperationalError:
        return 0


@pytest.mark.slow
def test_sigkill_mid_sweep_then_resume(tmp_path):
    db, storage = tmp_path / "m.db", tmp_path / "ray"
    args = ["--smoke-test", "--tracking-uri", f"sqlite:///{db}", "--storage-path", str(storage),
            "--layers", "1", "--hidden", "16,32", "--embedding", "16,32",
            "--train-subset", "2000", "--max-epochs", "4", "--reduction-factor", "2"]
    own = "kills the sweep and resumes it"
    driver = start_study("compound_scaling", *args, own=own, cwd=tmp_path,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         start_new_session=True)
    deadline = time.time() + 240
    while _epochs_logged(db) < 3 and time.time() < deadline and driver.poll() is None:
        time.sleep(0.2)
    os.killpg(driver.pid, signal.SIGKILL)  # the driver and everything it started
    driver.wait()
    before = _children(db)
    assert before and sum(s != "running" for _, s in before) < 4, "killed too late to test"

    proc = run_study("compound_scaling", *args, "--resume", cwd=tmp_path, timeout=300, own=own)
    assert proc.returncode == 0, proc.stderr[-3000:]
    after = _children(db)
    assert len(after) == 4  # no duplicate child runs
    assert all(s in {"finished", "stopped_early"} for _, s in after)

    client = MlflowClient(f"sqlite:///{db}")
    exp = client.get_experiment_by_name("rnn-sweeps")
    parents = client.search_runs([exp.experiment_id], "tags.sweep = 'parent'")
    assert len(parents) == 1 and parents[0].data.tags["resumed"] == "1"
    assert parents[0].info.status == "FINISHED"
    for r in client.search_runs([exp.experiment_id], "tags.sweep != 'parent'"):
        steps = [m.step for m in client.get_metric_history(r.info.run_id, "val_acc")]
        assert steps == list(range(1, len(steps) + 1))  # each epoch logged once
    # no finished epoch ran twice: each trial's reported epochs strictly increase
    folder = next(storage.glob("compound_scaling-*"))
    for result in folder.glob("*/result.json"):
        epochs = [json.loads(line)["epoch"] for line in result.read_text().splitlines()]
        assert epochs == sorted(set(epochs)), (result, epochs)
    side = storage / ".rnn_sweeps" / folder.name
    asha = json.loads((side / "asha_rungs.json").read_text())
    assert len(asha["rungs"]["1"]) == 4  # every trial's epoch-1 result kept across the restart
    assert not asha["waiting"]  # every trial paused at a rung went on or stopped
    # 4 trials, rf 2: 2 go past epoch 1 and 1 past epoch 2, however the restart fell
    assert [len(asha["promoted"][m]) for m in ("1", "2")] == [2, 1]
    # one trial trains to the last epoch by promotion; another may get there speculatively,
    # in a slot left free while its rival had not reached epoch 2, and still be dropped
    # then: it trained every epoch, so it is finished too
    went_on = {tid for event, m, tid in asha["log"] if event == "speculate" and m == 2}
    with sqlite3.connect(db) as con:
        finished = {tid for (tid,) in con.execute(
            "SELECT i.value FROM tags i JOIN tags t ON t.run_uuid = i.run_uuid "
            "AND t.key = 'trial_status' WHERE i.key = 'ray_trial_id' AND t.value = 'finished'")}
    assert set(asha["promoted"]["2"]) <= finished <= set(asha["promoted"]["2"]) | went_on
    assert json.loads((side / "sweep.json").read_text())["status"] == "finished"
