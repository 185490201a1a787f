"""MLflow read back: a sweep's runs and histories, its parent runs, a run's test outputs."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any, NamedTuple

from rnn_core.errors import ConfigError
from rnn_core.tasks import Task, task_of
from rnn_core.tuning._tracking import TEST_OUTPUTS, client_for


class SweepRecord(NamedTuple):
    """A sweep as MLflow holds it."""

    runs: Any  # pandas frame: one row per child run (params as ``param.*``, metrics, tags)
    history: Any  # pandas frame: run_id, run_name, epoch, <objective>, time, epoch_seconds
    parent_run_id: str
    task: Task
    study: str
    params: dict = {}  # the parent run's params: preset, grid, scheduler, data options
    started: float = 0.0  # the parent run's start, seconds since the epoch
    experiment_id: str = ""


def newest_sweep(client, experiment_name: str | None) -> str:
    """The parent run id of the newest sweep in ``experiment_name`` (default rnn-sweeps)."""
    exp = client.get_experiment_by_name(experiment_name or "rnn-sweeps")
    if exp is None:
        raise ConfigError(f"experiment {experiment_name!r} not found in "
                          f"{client.tracking_uri}")
    parents = client.search_runs([exp.experiment_id], "tags.sweep = 'parent'",
                                 order_by=["attributes.start_time DESC"], max_results=1)
    if not parents:
        raise ConfigError(f"no sweep found in experiment {experiment_name!r}")
    return parents[0].info.run_id


def find_sweeps(tracking_uri: str, experiment_name: str | None, study: str | None = None,
                skip_study: str | None = None, experiment_id: str | None = None,
                finished_only: bool = True) -> list[str]:
    """Parent run ids of the finished sweeps (every sweep, without ``finished_only``) in
    ``experiment_name`` (or ``experiment_id``), newest first: those of ``study`` only, or all
    but ``skip_study``'s. ConfigError for an unknown experiment."""
    client = client_for(tracking_uri)
    exp = (client.get_experiment(experiment_id) if experiment_id
           else client.get_experiment_by_name(experiment_name))
    if exp is None:
        raise ConfigError(f"experiment {experiment_name!r} not found in {tracking_uri}")
    query = "tags.sweep = 'parent'" + (" and attributes.status = 'FINISHED'"
                                       if finished_only else "")
    if study:
        query += f" and tags.study = '{study}'"
    runs = client.search_runs([exp.experiment_id], query,
                              order_by=["attributes.start_time DESC"], max_results=500)
    return [r.info.run_id for r in runs if not skip_study
            or r.data.tags.get("study") != skip_study]


def fetch_sweep(tracking_uri: str, parent_run_id: str | None = None,
                experiment_name: str | None = None,
                history_metrics: tuple[str, ...] = ()) -> SweepRecord:
    """A sweep's child runs and their objective by epoch, read back from MLflow
    (``history_metrics``: more metrics by epoch in the history).

    With no ``parent_run_id``, the newest parent run in ``experiment_name`` is used. The task
    (and so the objective) is the parent run's ``task`` tag; sweeps logged before tasks
    existed have none and were sentiment sweeps.
    """
    import pandas as pd

    client = client_for(tracking_uri)
    parent_run_id = parent_run_id or newest_sweep(client, experiment_name)
    try:
        parent = client.get_run(parent_run_id)
    except Exception as exc:  # MLflow raises its own type for an unknown id
        raise ConfigError(f"run {parent_run_id!r} not found in {tracking_uri}") from exc
    if parent.data.tags.get("sweep") != "parent":
        raise ConfigError(f"run {parent_run_id} is not a sweep's parent run")
    task = task_of(parent.data.tags)
    children = client.search_runs([parent.info.experiment_id],
                                  f"tags.mlflow.parentRunId = '{parent_run_id}'",
                                  max_results=5000)
    rows, hist = [], []
    for r in children:
        row = {"run_id": r.info.run_id, "run_name": r.info.run_name,
               "status": r.data.tags.get("trial_status", r.info.status.lower()),
               "error": r.data.tags.get("error", ""),
               "retries": int(r.data.tags.get("retries", 0) or 0),
               "epochs_run": int(r.data.tags.get("epochs_run", 0) or 0),
               "start_time": r.info.start_time / 1000,
               "seconds": ((r.info.end_time or r.info.start_time) - r.info.start_time) / 1000}
        row.update({f"param.{k}": v for k, v in r.data.params.items()})
        row.update(r.data.metrics)
        rows.append(row)
        by_step = {k: {m.step: m.value for m in client.get_metric_history(r.info.run_id, k)}
                   for k in ("epoch_seconds", *history_metrics)}
        for m in client.get_metric_history(r.info.run_id, task.objective):
            # time: when the epoch's result was logged (the compute spent by then, for a
            # search's best-so-far curve)
            hist.append({"run_id": r.info.run_id, "run_name": r.info.run_name,
                         "epoch": m.step, task.objective: m.value, "time": m.timestamp / 1000,
                         **{k: v.get(m.step, float("nan")) for k, v in by_step.items()}})
    columns = ["run_id", "run_name", "epoch", task.objective, "time", "epoch_seconds",
               *history_metrics]
    return SweepRecord(pd.DataFrame(rows), pd.DataFrame(hist, columns=columns), parent_run_id,
                       task, parent.data.tags.get("study", ""), dict(parent.data.params),
                       parent.info.start_time / 1000, parent.info.experiment_id)


def run_name(tracking_uri: str, run_id: str) -> str:
    """A run's name; ConfigError naming the store where it has no such run."""
    from mlflow.exceptions import MlflowException

    try:
        return client_for(tracking_uri).get_run(run_id).info.run_name
    except MlflowException:
        raise ConfigError(f"run {run_id} is not in {tracking_uri}") from None


def fetch_test_outputs(tracking_uri: str, run_id: str) -> dict | None:
    """A child run's per-example test results (``TEST_OUTPUTS``) as
    NumPy arrays; None where it has none (stopped before its test, or logged before they
    were kept)."""
    import numpy as np
    from mlflow.exceptions import MlflowException

    client = client_for(tracking_uri)
    with tempfile.TemporaryDirectory() as tmp:
        try:
            path = client.download_artifacts(run_id, f"checkpoint/{TEST_OUTPUTS}", tmp)
        except (MlflowException, OSError):
            return None
        with np.load(path) as npz:
            return {k: npz[k] for k in npz.files}


def log_report(tracking_uri: str, parent_run_id: str, folder: str | Path) -> None:
    """Attach a report folder to the sweep's parent run as artifacts under ``report/``."""
    client_for(tracking_uri).log_artifacts(parent_run_id, str(folder), artifact_path="report")
