"""A resumed TPE sweep whose saved trial list is older than its saved searcher.

Ray saves its trial list (``experiment_state-*.json``), its trial counter and the searcher's
state as separate files, and on object storage uploads them in the background: a driver
killed mid-upload can leave the searcher and the counter ahead of the trial list (seen once
in seven runs of the shared-nothing cluster's kill test). Here the newest trial is taken out
of the saved trial list after a SIGKILL, and the resumed sweep must still ask nothing twice,
give that trial's Optuna trial to a new trial, and leave none RUNNING.

The trial taken out is the newest whose Optuna trial was still RUNNING at the kill (its
configuration goes to a new trial), or the newest that ASHA had stopped at its rung (a trial
started and stopped between two of Ray's saves: it stays in the rungs, ended, and no new
trial takes its place). Under FIFO, the trial still RUNNING."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time

import optuna
import pytest

from rnn_core.tuning._spec import SIDECAR
from rnn_core.tuning._state_copies import COPIES, mend
from rnn_core.tuning._storage import place
from tests._sweeps import run_study, start_study, sweep_runs

OWN = "kills a sweep and makes its saved trial list stale"


def _drop_newest_of(ray_folder, which: set[str]) -> str:
    """Take the trial Ray created last, of those in ``which``, out of the saved trial list;
    its id."""
    state_file, = ray_folder.glob("compound_scaling-*/experiment_state-*.json")
    state = json.loads(state_file.read_text())
    trials = state["trial_data"]
    assert len(trials) >= 2, "killed too early to test"
    ids = [json.loads(t[0])["trial_id"] for t in trials]
    # Ray lists its trials in the order it created them
    newest = max((k for k, tid in enumerate(ids) if tid in which), default=None)
    assert newest is not None, f"no trial of {ids} is one of {which}"
    trials.pop(newest)
    state_file.write_text(json.dumps(state))
    return ids[newest]


def _revive_an_ended(ray_folder, uri: str, dropped: str):
    """Make the saved trial list predate a trial's end as well: the newest trial whose MLflow
    run had ended, its finished one if any, RUNNING in the list (as Ray restores a trial that
    ended after its last save). Its child run as it ended (None: none had ended)."""
    _, _, children = sweep_runs(uri)
    ended = {c.data.tags["ray_trial_id"]: c for c in children
             if c.data.tags.get("trial_status") in ("finished", "stopped_early")}
    state_file, = ray_folder.glob("compound_scaling-*/experiment_state-*.json")
    state = json.loads(state_file.read_text())
    listed = [json.loads(t[0]) for t in state["trial_data"]]
    mine = [k for k, t in enumerate(listed) if t["trial_id"] in ended and t["trial_id"] != dropped]
    if not mine:
        return None
    k = max(mine, key=lambda k: (ended[listed[k]["trial_id"]].data.tags["trial_status"]
                                 == "finished", k))
    listed[k]["status"] = "RUNNING"
    state["trial_data"][k][0] = json.dumps(listed[k])
    state_file.write_text(json.dumps(state))
    return ended[listed[k]["trial_id"]]


def _in_state(uri: str, storage: str, name: str, state: str) -> set[str]:
    """Ray trial ids whose Optuna trial is in ``state`` (the child runs' tags tie the two)."""
    numbers = {t.number for t in optuna.load_study(study_name=name, storage=storage).trials
               if t.state.name == state}
    _, _, children = sweep_runs(uri)
    return {c.data.tags["ray_trial_id"] for c in children
            if int(c.data.tags.get("optuna_trial", -1)) in numbers}


@pytest.mark.slow
@pytest.mark.parametrize("scheduler, dropped_state", [("asha", "RUNNING"), ("asha", "PRUNED"),
                                                      ("fifo", "RUNNING")])
def test_a_stale_trial_list_loses_no_ask(tmp_path, scheduler, dropped_state):
    uri = f"sqlite:///{tmp_path}/m.db"
    args = ["--smoke-test", "--search", "tpe", "--scheduler", scheduler, "--num-samples", "4",
            "--max-epochs", "12", "--tracking-uri", uri, "--storage-path", str(tmp_path / "ray")]
    out = (tmp_path / "out.log").open("w")
    driver = start_study("compound_scaling", *args, own=OWN, cwd=tmp_path, stdout=out,
                         stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.time() + 300
    while time.time() < deadline and driver.poll() is None:
        text = (tmp_path / "out.log").read_text()
        if text.count(": started") >= 3 and text.count(": epoch ") >= 8 \
                and (scheduler == "fifo" or "stopped by the scheduler" in text):
            break  # Ray has saved its state with three trials or more, one stopped
        time.sleep(0.2)
    os.killpg(driver.pid, signal.SIGKILL)
    driver.wait()
    # a kill while Ray copied its state leaves its trial list cut short: first what the
    # resume does then, so that a whole list is taken from
    ray_folder, = (tmp_path / "ray").glob("compound_scaling-*")
    mend(place(ray_folder), place(tmp_path / "ray" / SIDECAR / ray_folder.name / COPIES), "")
    storage = f"sqlite:///{tmp_path}/optuna.db"
    name, = optuna.get_all_study_names(storage)
    dropped = _drop_newest_of(tmp_path / "ray", _in_state(uri, storage, name, dropped_state))
    revived = _revive_an_ended(tmp_path / "ray", uri, dropped)
    if revived is not None:  # the results Ray's driver wrote for it (one line an epoch)
        results, = (tmp_path / "ray").glob(
            f"compound_scaling-*/*_{revived.data.tags['ray_trial_id']}_*/result.json")
        reported = results.read_text()
    asked = len(optuna.load_study(study_name=name, storage=storage).trials)

    done = run_study("compound_scaling", "--resume", *args[-4:], cwd=tmp_path, timeout=400,
                     own=OWN)
    assert done.returncode == 0, done.stderr[-3000:]
    # the lost trial's epochs went with its deleted run: counted once, as the new trial's
    trained, budget = map(int, re.findall(r"progress: (\d+)/(\d+) trial-epochs",
                                          done.stdout)[-1])
    assert trained <= budget, done.stdout[-2000:]
    trials = optuna.load_study(study_name=name, storage=storage).trials
    assert asked <= 4 and [t.number for t in trials] == [0, 1, 2, 3]  # none asked twice
    assert all(t.state.name in ("COMPLETE", "PRUNED") for t in trials), (dropped, trials)
    _, parent, children = sweep_runs(uri)
    assert parent.info.status == "FINISHED"
    ended = [c for c in children if c.data.tags.get("trial_status") in ("finished",
                                                                         "stopped_early")]
    assert sorted(int(c.data.tags["optuna_trial"]) for c in ended) == [0, 1, 2, 3]
    if revived is not None:  # ended, as it was: not trained again, its run unchanged
        assert results.read_text() == reported
        again, = [c for c in children if c.info.run_id == revived.info.run_id]
        assert (again.info.end_time, again.data.tags, again.data.metrics) == (
            revived.info.end_time, revived.data.tags, revived.data.metrics)
    mine = [c for c in children if c.data.tags["ray_trial_id"] == dropped]
    if dropped_state == "PRUNED":  # it stays what it was: stopped at its rung
        assert [c.data.tags["trial_status"] for c in mine] == ["stopped_early"]
    else:  # its Optuna trial went to a new trial, which has the one run
        assert mine == []
