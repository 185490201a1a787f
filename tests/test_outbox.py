"""The sweep's MLflow writes through an outage, without a sweep: a tracking server nobody runs
(connection refused at once) takes none of them, they wait in the journal, and a later driver
sends them to a real store once, with their own times, however often it replays them."""

from __future__ import annotations

import json

import pytest
from mlflow.tracking import MlflowClient

from rnn_core.tuning import check_tracking
from rnn_core.tuning._mlflow_errors import transient
from rnn_core.tuning._outbox import OUTBOX_FILE, PARENT, Outbox
from tests._servers import free_port


@pytest.fixture
def away(monkeypatch):
    """A client of a tracking server that is not there (what check_tracking sets: no retries
    inside MLflow, the outbox tries again)."""
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "5")
    return MlflowClient(f"http://127.0.0.1:{free_port()}")


def test_unreachable_is_tried_again_and_a_refusal_is_not(away, tmp_path):
    with pytest.raises(Exception) as down:
        away.get_run("0" * 32)
    assert transient(down.value)
    store, _ = check_tracking(f"sqlite:///{tmp_path}/m.db", "outbox")
    with pytest.raises(Exception) as unknown:  # MLflow's 404: another try meets it again
        store.get_run("0" * 32)
    assert not transient(unknown.value)


def test_writes_kept_through_an_outage_reach_mlflow_once(away, tmp_path):
    client, exp_id = check_tracking(f"sqlite:///{tmp_path}/m.db", "outbox")
    parent = client.create_run(exp_id, tags={"sweep": "parent"}).info.run_id
    journal = tmp_path / "side" / OUTBOX_FILE
    entries = [
        ["create", "t1", "lstm-L1", {"mlflow.parentRunId": parent, "ray_trial_id": "t1"},
         {"cell": "lstm"}, 1000],
        ["batch", "t1", [["val_acc", 0.5, 2000, 1], ["val_loss", 0.7, 2000, 1]], {}, {}],
        ["batch", "t1", [["val_acc", 0.625, 3000, 2]], {}, {"trial_status": "finished"}],
        ["status", "t1", "FINISHED", 4000],
        ["batch", PARENT, [], {}, {"trial_counts": "{}"}],
    ]
    box = Outbox(away, exp_id, parent, journal, limit_s=600, wait_s=1, retry_s=0.2)
    for entry in entries:
        box.put(entry)
    assert box.down_since is not None and not box.expired and box.pending == len(entries)
    box.close()
    assert json.loads(journal.read_text()) == entries
    kept = journal.read_text()
    # twice: the second as a driver killed after sending, before the journal was removed
    for _ in range(2):
        journal.write_text(kept)
        box = Outbox(client, exp_id, parent, journal)
        box.tag(PARENT, resumed="1")  # written before the kept ones are sent: they stay kept
        assert json.loads(journal.read_text()) == entries
        assert box.replay() == len(entries) and box.drain(timeout=60)
        box.close()
        assert not journal.exists()
    child, = client.search_runs([exp_id], f"tags.mlflow.parentRunId = '{parent}'")
    history = client.get_metric_history(child.info.run_id, "val_acc")
    assert [(m.step, m.value, m.timestamp) for m in history] == [(1, 0.5, 2000),
                                                                  (2, 0.625, 3000)]
    assert len(client.get_metric_history(child.info.run_id, "val_loss")) == 1
    assert (child.info.status, child.info.start_time, child.info.end_time) == \
        ("FINISHED", 1000, 4000)
    assert child.data.params == {"cell": "lstm"}
    assert child.data.tags["trial_status"] == "finished"
    assert client.get_run(parent).data.tags["trial_counts"] == "{}"


def test_an_outage_past_the_limit_stops_the_sweep_as_ctrl_c_does(away):
    """Past the limit the MLflow callback hands the sweep to the SIGINT handler in place (Ray
    Tune's during a sweep: it stops the trials and saves its state), once; the rest of that
    path is the interrupted sweep's (tests/test_tracking_server.py)."""
    import signal
    import time

    from rnn_core.tasks import get_task, task_keys
    from rnn_core.tuning._scheduling import MlflowTrialsCallback
    from rnn_core.tuning._tracking import TrialRuns

    task = get_task("sentiment")
    box = Outbox(away, "0", "0" * 32, limit_s=0.5, wait_s=1, retry_s=0.2)
    callback = MlflowTrialsCallback(TrialRuns(box, task_keys(task), 2, task))
    got = []
    before = signal.signal(signal.SIGINT, lambda signum, frame: got.append(signum))
    try:
        callback.on_step_begin(0, [])
        callback.runs.start("t1", {"num_layers": 1})  # MLflow does not answer: the limit runs
        assert got == [] and box.down_since is not None
        end = time.monotonic() + 60
        while not box.expired and time.monotonic() < end:
            time.sleep(0.1)
        for step in (1, 2):
            callback.on_step_begin(step, [])
        assert got == [signal.SIGINT]
    finally:
        signal.signal(signal.SIGINT, before)
        box.close()
