"""A resumed TPE sweep whose saved trial list is older than its saved searcher.

Ray saves its trial list (``experiment_state-*.json``), its trial counter and the searcher's
state as separate files, and on object storage uploads them in the background: a driver
killed mid-upload can leave the searcher and the counter ahead of the trial list (seen once
in seven runs of the shared-nothing cluster's kill test). Here the newest trial is taken out
of the saved trial list after a SIGKILL, and the resumed sweep must still ask nothing twice,
give that trial's Optuna trial to a new trial, and leave none RUNNING.

The trial taken out is the newest whose Optuna trial was still RUNNING at the kill: the
smoke preset's trials are short enough that the newest one can have ended before it. (A trial
that ended while Ray's list lacked it is a sweep's record, not a lost ask: the resumed sweep
runs a trial in its place: docs/resume_and_failures.md.)"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

import optuna
import pytest

from tests._sweeps import run_study, start_study, sweep_runs

OWN = "kills a sweep and makes its saved trial list stale"


def _drop_newest_running_trial(ray_folder, running: set[str]) -> str:
    """Take the trial Ray created last, of those in ``running``, out of the saved trial list;
    its id."""
    state_file, = ray_folder.glob("compound_scaling-*/experiment_state-*.json")
    state = json.loads(state_file.read_text())
    trials = state["trial_data"]
    assert len(trials) >= 2, "killed too early to test"
    ids = [json.loads(t[0])["trial_id"] for t in trials]
    # Ray lists its trials in the order it created them
    newest = max((k for k, tid in enumerate(ids) if tid in running), default=None)
    assert newest is not None, f"no trial of {ids} was still training at the kill"
    trials.pop(newest)
    state_file.write_text(json.dumps(state))
    return ids[newest]


def _running_at_kill(uri: str, storage: str, name: str) -> set[str]:
    """Ray trial ids whose Optuna trial is RUNNING (the child runs' tags tie the two)."""
    running = {t.number for t in optuna.load_study(study_name=name, storage=storage).trials
               if t.state.name == "RUNNING"}
    _, _, children = sweep_runs(uri)
    return {c.data.tags["ray_trial_id"] for c in children
            if int(c.data.tags.get("optuna_trial", -1)) in running}


@pytest.mark.slow
def test_a_stale_trial_list_loses_no_ask(tmp_path):
    uri = f"sqlite:///{tmp_path}/m.db"
    args = ["--smoke-test", "--search", "tpe", "--num-samples", "4", "--max-epochs", "12",
            "--tracking-uri", uri, "--storage-path", str(tmp_path / "ray")]
    out = (tmp_path / "out.log").open("w")
    driver = start_study("compound_scaling", *args, own=OWN, cwd=tmp_path, stdout=out,
                         stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.time() + 300
    while time.time() < deadline and driver.poll() is None:
        text = (tmp_path / "out.log").read_text()
        if text.count(": started") >= 3 and text.count(": epoch ") >= 8:
            break  # Ray has saved its state with three trials or more
        time.sleep(0.2)
    os.killpg(driver.pid, signal.SIGKILL)
    driver.wait()
    storage = f"sqlite:///{tmp_path}/optuna.db"
    name, = optuna.get_all_study_names(storage)
    dropped = _drop_newest_running_trial(tmp_path / "ray", _running_at_kill(uri, storage, name))
    asked = len(optuna.load_study(study_name=name, storage=storage).trials)

    done = run_study("compound_scaling", "--resume", *args[-4:], cwd=tmp_path, timeout=400,
                     own=OWN)
    assert done.returncode == 0, done.stderr[-3000:]
    trials = optuna.load_study(study_name=name, storage=storage).trials
    assert asked <= 4 and [t.number for t in trials] == [0, 1, 2, 3]  # none asked twice
    assert all(t.state.name in ("COMPLETE", "PRUNED") for t in trials), (dropped, trials)
    _, parent, children = sweep_runs(uri)
    assert parent.info.status == "FINISHED"
    ended = [c for c in children if c.data.tags.get("trial_status") in ("finished",
                                                                         "stopped_early")]
    assert sorted(int(c.data.tags["optuna_trial"]) for c in ended) == [0, 1, 2, 3]
