"""A 100-trial sweep through the whole platform on real Ray: the replay task of bench/
(recorded learning curves, no torch), ASHA by promotion under a cap on running trials, TPE in
its SQLite study, every trial in MLflow. What ``bench/scale.py`` measures at 250-1,000 trials,
checked here for what must hold at any size, and that TPE is fed as slots free.
"""

from __future__ import annotations

import json

import pytest

from bench.replay import SPACE, TASK
from bench.sim import check_log
from rnn_core import tuning

N, CPUS, CAP, RF = 100, 8, 6, 3
STARTUP = max(2, min(10, N // 3))  # TPE's random start-up (``_search.make_sampler``)


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    import ray

    tmp = tmp_path_factory.mktemp("scale")
    spec = tuning.SweepSpec(
        study="scale", task="replay", param_space=SPACE,
        base_config={"seed": 0, "time_scale": 0.005}, max_epochs=4, scheduler="asha",
        reduction_factor=RF, num_samples=N, search="tpe", storage_path=str(tmp / "ray"),
        tracking_uri=f"sqlite:///{tmp}/m.db", local_cpus=CPUS, max_concurrent_trials=CAP)
    data, info = TASK.prepare(None, 0, {})
    if ray.is_initialized():  # left by another test: its workers preload that sweep's task
        ray.shutdown()
    try:
        outcome = tuning.run_sweep(spec, data, data_info=info)
    finally:
        ray.shutdown()
    return tmp, outcome


@pytest.mark.slow
def test_every_trial_ends_by_the_rules_and_is_complete_in_mlflow(sweep):
    import os

    tmp, outcome = sweep
    # the task's own trial function: its workers preload it, and no torch
    assert os.environ["RAY_preload_python_modules"] == "rnn_core.tuning._task_trial,bench.replay"
    assert sum(outcome.trials.values()) == N
    assert set(outcome.trials) <= {"finished", "stopped_early"}
    state = json.loads(next((tmp / "ray").glob(".rnn_sweeps/*/asha_rungs.json")).read_text())
    assert check_log(state, RF) == []
    assert not state["waiting"] and not state["speculative"] and not state["held"]
    assert len(state["rungs"]["1"]) == N and len(state["promoted"]["1"]) == -(-N // RF)
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{tmp}/m.db")
    runs = client.search_runs([outcome.experiment_id],
                              f"tags.mlflow.parentRunId = '{outcome.parent_run_id}'",
                              max_results=1000)
    assert len(runs) == N
    assert {r.data.metrics["torch_in_worker"] for r in runs} == {0.0}  # what each worker held
    for r in runs:
        epochs = [m.step for m in client.get_metric_history(r.info.run_id, "best_val_acc")]
        assert epochs == list(range(1, len(epochs) + 1))  # each epoch once, none missing
        assert r.data.tags["epochs_run"] == str(len(epochs))
        if r.data.tags["trial_status"] == "finished":
            assert r.info.status == "FINISHED" and len(epochs) == 4 and "test_acc" in r.data.metrics
        else:
            assert r.info.status == "KILLED" and len(epochs) < 4


@pytest.mark.slow
def test_tpe_is_asked_as_slots_free_and_models_most_trials(sweep):
    """Under the cap, each trial is asked for when a slot frees, so all but the first
    ``CAP + STARTUP`` can be drawn from TPE's model: when a trial is asked, count the trials
    that had reported an epoch by then (MLflow's timestamp of their first epoch; the
    trials at a rung that ``RungSampler`` shows TPE). Asking every trial up front, as a
    sweep did when new trials were held under the cap, leaves them all random."""
    import optuna
    from mlflow.tracking import MlflowClient

    tmp, outcome = sweep
    study, storage = outcome.optuna_study
    asked = {t.number: t.datetime_start.timestamp() * 1e3
             for t in optuna.load_study(study_name=study, storage=storage).trials}
    client = MlflowClient(f"sqlite:///{tmp}/m.db")
    first = sorted(
        client.get_metric_history(r.info.run_id, "best_val_acc")[0].timestamp
        for r in client.search_runs([outcome.experiment_id],
                                    f"tags.mlflow.parentRunId = '{outcome.parent_run_id}'",
                                    max_results=1000))
    seen = [sum(t < at for t in first) for _, at in sorted(asked.items())]
    modelled = sum(s >= STARTUP for s in seen)
    assert len(asked) == N
    assert modelled >= N - CAP - STARTUP - 10, seen


def test_the_replay_trial_imports_no_torch():
    """What a worker of a replay sweep imports (the trial function's module, the task's trial
    seam, the replay) and runs, in a fresh interpreter: no torch (~300 MB a worker)."""
    import subprocess
    import sys
    from pathlib import Path

    code = ("import sys; import rnn_core.tuning._scheduling, rnn_core.tuning._task_trial; "
            "from bench.replay import TASK, replay_trial; data, _ = TASK.prepare(None, 0, {}); "
            "out = []; config = {'num_layers': 1, 'hidden_size': 32, 'embedding_dim': 16, "
            "'replica': 0.5, 'time_scale': 0.0, 'max_epochs': 4}; "
            "replay_trial(config, data, lambda m, s: out.append((m, s)), None); "
            "print(len(out), out[-1][0]['torch_in_worker'], 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=Path(__file__).resolve().parents[1]).stdout
    assert out.split() == ["4", "0.0", "False"]


def test_the_ideal_of_an_open_stream_draws_on_and_keeps_its_slots_busy():
    """``bench/scale.py --stream``'s ideal: the asked trials, then more with new replicas,
    on the simulated stream with no overhead: it fits more trials than it was given when the
    budget allows, keeps every slot busy until the budget, and keeps the stream's rules."""
    from bench.scale import ideal_makespan

    data, _ = TASK.prepare(None, 0, {})
    asked = [{"num_layers": 1 + i % 3, "hidden_size": 32, "embedding_dim": 16,
              "replica": i / 10, "time_scale": 1.0, "max_epochs": 4} for i in range(10)]
    res = ideal_makespan(asked, data, slots=4, budget=60.0)
    assert 10 < res.trials < 100 and res.makespan == 60.0  # more, and not all it had
    assert res.utilisation > 0.95 and res.violations == [], res


@pytest.mark.slow
def test_fifo_under_a_cap_trains_at_most_the_cap_at_once(tmp_path):
    """Under FIFO a sampled search's cap (``max_concurrent_trials``) is a limiter inside the
    generator that settles a resumed sweep's lost asks (Ray ignores the cap for a generator
    it is given; without the limiter 3 trials of these trained at once on 8 logical CPUs):
    at most the cap's 2 trials at once, and 2 do (each trial's MLflow run, started and
    ended by the driver)."""
    import ray
    from mlflow.tracking import MlflowClient

    cap = 2
    spec = tuning.SweepSpec(
        study="scale", task="replay", param_space=SPACE,
        base_config={"seed": 0, "time_scale": 0.06}, max_epochs=3, scheduler="fifo",
        num_samples=6, search="tpe", storage_path=str(tmp_path / "ray"),
        tracking_uri=f"sqlite:///{tmp_path}/m.db", local_cpus=CPUS, max_concurrent_trials=cap)
    data, info = TASK.prepare(None, 0, {})
    if ray.is_initialized():
        ray.shutdown()
    try:
        outcome = tuning.run_sweep(spec, data, data_info=info)
    finally:
        ray.shutdown()
    assert outcome.trials == {"finished": 6}
    runs = MlflowClient(f"sqlite:///{tmp_path}/m.db").search_runs(
        [outcome.experiment_id], f"tags.mlflow.parentRunId = '{outcome.parent_run_id}'")
    events = sorted([(r.info.start_time, 1) for r in runs] + [(r.info.end_time, -1)
                                                              for r in runs])
    running, most = 0, 0
    for _, step in events:  # an end before a start at the same millisecond
        running += step
        most = max(most, running)
    assert most == cap, events
