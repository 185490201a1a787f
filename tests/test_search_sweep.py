"""Sampled searches end to end on the compound-scaling smoke space: a TPE sweep stopped by
Ctrl-C (SIGINT) is recorded as interrupted, not as finished, and a bare ``--resume`` completes
it with every child run keeping its name and its Optuna trial; NSGA-II leaves a two-objective
study and a front."""

from __future__ import annotations

import json

import optuna
import pytest

from tests._sweeps import interrupt_study, printed_report, run_study, shared_sweep, sweep_runs


def _study(tmp_path) -> optuna.Study:
    url = f"sqlite:///{tmp_path}/optuna.db"
    name, = optuna.get_all_study_names(url)
    return optuna.load_study(study_name=name, storage=url)


def _one_optuna_trial_per_run(study: optuna.Study, client, children) -> None:
    """Every child run names its own Optuna trial, whose params are the run's."""
    trials = {t.number: t for t in study.trials}
    numbers = [int(c.data.tags["optuna_trial"]) for c in children]
    assert sorted(numbers) == sorted(trials), numbers
    for child, n in zip(children, numbers, strict=True):
        for key, value in trials[n].params.items():
            assert child.data.params[key] == str(value), (child.info.run_name, key)


@pytest.mark.slow
def test_an_interrupted_tpe_sweep_resumes_its_optuna_study(tmp_path):
    uri = f"sqlite:///{tmp_path}/m.db"
    args = ["--tracking-uri", uri, "--storage-path", str(tmp_path / "ray")]
    code, out, err = interrupt_study("compound_scaling", "--smoke-test", "--search", "tpe",
                                     "--num-samples", "4", "--max-epochs", "6", *args,
                                     cwd=tmp_path, own="interrupts and resumes it", nth=2)
    # at the second trial's first epoch: that trial is pausing at its rung, and Ray keeps the
    # PAUSE it had not yet applied with its state, to apply on --resume (``_unasked_pause``)
    assert code == 130 and "sweep interrupted after" in err, out + err[-3000:]
    assert "continue it with --resume" in err
    # the trials that never started are not errors: no line per trial about missing results
    assert "Could not fetch metrics" not in err + out and "FileNotFoundError" not in err
    assert "sweep finished" not in out and "report: " not in out
    client, parent, children = sweep_runs(uri)
    assert parent.info.status == "KILLED" and int(parent.data.tags["interrupted"]) >= 1
    assert not client.list_artifacts(parent.info.run_id, "report")  # no report of a part
    assert "interrupted" in {c.data.tags["trial_status"] for c in children}
    before = _study(tmp_path).trials
    # none told a value by the interrupt (one the scheduler stopped is PRUNED)
    assert before and all(t.state.name in ("RUNNING", "PRUNED") for t in before), before
    state = next((tmp_path / "ray" / ".rnn_sweeps").glob("compound_scaling-*/sweep.json"))
    saved = json.loads(state.read_text())
    assert saved["optuna_study"] == _study(tmp_path).study_name
    assert saved["status"] == "interrupted"

    done = run_study("compound_scaling", "--resume", *args, cwd=tmp_path, timeout=400,
                     own="interrupts and resumes it")
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Optuna study compound_scaling-" in done.stdout
    study = _study(tmp_path)
    # the budget exactly: no trial asked again on resume, none left running
    assert [t.number for t in study.trials] == [0, 1, 2, 3]
    assert all(t.state.name in ("COMPLETE", "PRUNED") for t in study.trials), study.trials
    assert [t.params for t in study.trials[:len(before)]] == [t.params for t in before]
    client, parent, children = sweep_runs(uri)
    assert parent.info.status == "FINISHED" and parent.data.params["search"] == "tpe"
    assert len(children) == 4 == len({c.info.run_name for c in children})  # one run each
    for child in children:
        assert child.data.tags["trial_status"] in ("finished", "stopped_early")
        steps = [m.step for m in client.get_metric_history(child.info.run_id, "val_acc")]
        assert steps == list(range(1, len(steps) + 1)), (child.info.run_name, steps)
    _one_optuna_trial_per_run(study, client, children)


@pytest.mark.slow
def test_the_study_records_each_trial_as_asha_ended_it():
    """A trial ASHA stopped at a rung is PRUNED at the epoch it stopped after (whether it was
    stopped on the result that reached the rung, which Ray withholds from the searcher, or
    while it waited there); one that trained to the last epoch is COMPLETE. Each with the
    best validation accuracy MLflow holds for it."""
    shared = shared_sweep("searches")
    client, parent, children = sweep_runs(shared.uri, shared.experiment, search="tpe")
    study = optuna.load_study(study_name=parent.data.params["optuna_study"],
                              storage=f"sqlite:///{shared.folder}/optuna.db")
    trials = {t.number: t for t in study.trials}
    statuses = []
    for child in children:
        tags = child.data.tags
        trial, epochs = trials[int(tags["optuna_trial"])], int(tags["epochs_run"])
        statuses.append(tags["trial_status"])
        state = {"finished": "COMPLETE", "stopped_early": "PRUNED"}[tags["trial_status"]]
        assert (trial.state.name, trial.last_step) == (state, epochs), (tags, trial)
        assert trial.value == pytest.approx(child.data.metrics["best_val_acc"])
    # 4 trials, reduction factor 3: one goes on past the rung for certain, some stop there
    assert "stopped_early" in statuses and "finished" in statuses, statuses


@pytest.mark.slow
def test_nsga2_leaves_a_two_objective_study_and_its_front():
    shared = shared_sweep("searches")
    done = shared.procs[1]
    client, parent, children = sweep_runs(shared.uri, shared.experiment, search="nsga2")
    study = optuna.load_study(study_name=parent.data.params["optuna_study"],
                              storage=f"sqlite:///{shared.folder}/optuna.db")
    assert study.metric_names == ["best_val_acc", "n_params"]
    assert [d.name for d in study.directions] == ["MAXIMIZE", "MINIMIZE"]
    assert len(study.trials) == 4 and all(t.state.name == "COMPLETE" for t in study.trials)
    _one_optuna_trial_per_run(study, client, children)
    by_number = {int(c.data.tags["optuna_trial"]): c for c in children}
    for t in study.trials:  # Optuna holds the values MLflow holds
        run = by_number[t.number].data.metrics
        assert t.values == [run["best_val_acc"], run["n_params"]]
    page = printed_report(done.stdout).read_text()
    assert 'id="pareto"' in page and "NSGA-II" in page
