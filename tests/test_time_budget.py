"""``--time-budget``: its values, and (slow) a real sweep that the budget cuts short, whose
report and Optuna study say so and whose model is still kept, and an open stream of trials
(``--num-samples 0``) that the budget ends."""

from __future__ import annotations

import argparse
import json

import optuna
import pytest

from bench.sim import check_log
from rnn_core.tuning import PromotionASHA
from sweeps._options import _duration_arg
from tests._sweeps import printed_report, run_study, sweep_runs


@pytest.mark.parametrize("text, seconds", [("3h", 10800), ("1.5h", 5400), ("90m", 5400),
                                           ("600s", 600), (" 2H ", 7200)])
def test_a_budget_is_a_duration_with_its_unit(text, seconds):
    assert _duration_arg(text) == seconds


@pytest.mark.parametrize("text", ["3", "", "h", "-1h", "0m", "infh", "nanm", "3d"])
def test_a_budget_without_a_unit_or_above_zero_is_refused(text):
    with pytest.raises(argparse.ArgumentTypeError, match="expected a duration above 0"):
        _duration_arg(text)


@pytest.mark.slow
def test_a_spent_budget_stops_the_trials_where_they_are_and_reports_on_them(tmp_path):
    """Trials of 3,000 tiny epochs cannot end within 40 s: the budget stops the sweep, the
    trials that trained are ``stopped_by_budget`` (not the scheduler's ``stopped_early``),
    none is left RUNNING in the Optuna study, and the sweep still reports and keeps a model."""
    uri = f"sqlite:///{tmp_path}/m.db"
    done = run_study("sentiment_search", "--smoke-test", "--num-samples", "12", "--max-epochs",
                     "3000", "--scheduler", "fifo", "--time-budget", "40s", "--tracking-uri",
                     uri, "--storage-path", str(tmp_path / "ray"), cwd=tmp_path,
                     own="a sweep cut by its time budget")
    assert done.returncode == 0, done.stderr[-3000:]
    client, parent, children = sweep_runs(uri)
    # 40 s, not less: Ray starts trial workers at nice 15, which a loaded machine starves
    assert parent.data.tags["time_budget_s"] == "40" and parent.info.status == "FINISHED"
    statuses = {c.data.tags["trial_status"] for c in children}
    assert statuses == {"stopped_by_budget"}, statuses
    assert int(parent.data.tags["time_budget_spent"]) == len(children) < 12
    # a trial started in the budget's last seconds may be cut before its first epoch
    epochs = [int(c.data.tags["epochs_run"]) for c in children]
    assert all(0 <= e < 3000 for e in epochs) and sum(epochs) > 0, epochs
    study = optuna.load_study(study_name=parent.data.params["optuna_study"],
                              storage=f"sqlite:///{tmp_path}/optuna.db")
    states = {t.state.name for t in study.trials}
    assert "RUNNING" not in states and "PRUNED" in states, states
    assert "stopped when the time budget ran out" in printed_report(done.stdout).read_text()
    assert "registered model sentiment_search-smoke version 1" in done.stdout


@pytest.mark.slow
def test_an_open_stream_draws_trials_until_the_budget_is_spent(tmp_path):
    """--num-samples 0: TPE is asked for new trials as slots free until the budget is spent
    (more than the smoke preset's 6), ASHA as an open stream promotes within
    floor(arrived / 3), each to the best waiting trial, and stops none at its rung; the
    trials the budget cut are stopped_by_budget, and the sweep reports."""
    uri = f"sqlite:///{tmp_path}/m.db"
    done = run_study("sentiment_search", "--smoke-test", "--num-samples", "0", "--search", "tpe",
                     "--scheduler", "asha", "--max-epochs", "3", "--time-budget", "40s",
                     "--tracking-uri", uri, "--storage-path", str(tmp_path / "ray"),
                     cwd=tmp_path, own="an open stream of trials ended by its time budget")
    assert done.returncode == 0, done.stderr[-3000:]
    assert "new trials until the time budget is spent" in done.stdout
    client, parent, children = sweep_runs(uri)
    assert len(children) > 6
    statuses = {c.data.tags["trial_status"] for c in children}
    assert "stopped_by_budget" in statuses and statuses <= {"finished", "stopped_by_budget"}
    side = next((tmp_path / "ray").glob(".rnn_sweeps/*/asha_rungs.json"))
    state = json.loads(json.dumps(
        PromotionASHA(None, 1, 3, 3, state_file=side)._state.snapshot()))  # with its journal
    assert {event for event, _, _ in state["log"]} <= {"arrive", "promote"}
    # Ray ends the sweep at the budget without telling the scheduler of the trials paused
    # at a rung: they are left waiting in its state, every other rule holds
    broken = [v for v in check_log(state, 3) if not v.endswith("left waiting")]
    assert broken == []
    assert 1 <= len(state["promoted"]["1"]) <= len(state["rungs"]["1"]) // 3
