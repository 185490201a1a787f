"""Failed trials and interrupted sweeps, with a real Ray instance and a real MLflow store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from rnn_core import tuning
from tests._sweeps import KILL_ARGS, check_resumed, kill_mid_sweep, run_study

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


@pytest.mark.slow
def test_sigkill_mid_sweep_then_resume(tmp_path):
    db, storage = tmp_path / "m.db", tmp_path / "ray"
    args = ["--tracking-uri", f"sqlite:///{db}", "--storage-path", str(storage)]
    own = "kills the sweep and resumes it"
    kill_mid_sweep(*args, own=own, cwd=tmp_path, db=db)
    folder = next(storage.glob("compound_scaling-*"))
    side = storage / ".rnn_sweeps" / folder.name
    # as a kill while Ray copied its state to storage leaves it (seen in a whole test run):
    # the trial list emptied; the sweep resumes from the copy the driver kept of it
    trial_list, = folder.glob("experiment_state-*.json")
    assert (side / "ray_state" / trial_list.name).exists()
    trial_list.write_bytes(b"")
    proc = run_study("compound_scaling", *KILL_ARGS, *args, "--resume", cwd=tmp_path,
                     timeout=300, own=own)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"resume: {trial_list.name} was cut short by the kill" in proc.stderr
    epochs = [[json.loads(line)["epoch"] for line in result.read_text().splitlines()]
              for result in folder.glob("*/result.json")]
    check_resumed(db, json.loads((side / "asha_rungs.json").read_text()), epochs,
                  json.loads((side / "sweep.json").read_text()))
