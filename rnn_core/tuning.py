"""The one module that imports Ray Tune and MLflow (their APIs move between releases).

Layout in MLflow: one parent run per sweep; one child run per trial, nested under it with the
``mlflow.parentRunId`` tag, named by its config, holding the flat config as params, per-epoch
metrics with ``step=epoch``, its final status and its best checkpoint. All MLflow writes happen
on the driver (a Ray ``Callback``), so a SQLite store has a single writer and cluster workers
need no access to the tracking store.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import torch

from rnn_core import training
from rnn_core.data.text import EncodedCorpus
from rnn_core.errors import ConfigError

__all__ = ["SweepSpec", "SweepOutcome", "check_tracking", "run_sweep", "fetch_sweep",
           "log_report", "trial_name"]

log = logging.getLogger(__name__)
EPOCH_METRICS = ("train_loss", "train_acc", "val_loss", "val_acc", "best_val_acc",
                 "tokens_per_s", "epoch_seconds", "test_loss", "test_acc", "n_params")
NAME_KEYS = (("cell", ""), ("num_layers", "L"), ("hidden_size", "H"), ("embedding_dim", "E"))


@dataclass
class SweepSpec:
    """Everything a sweep needs; built by a ``sweeps/`` script from its arguments."""

    study: str
    param_space: dict[str, Any]  # values may be Tune grid_search / distributions
    base_config: dict[str, Any]
    max_epochs: int
    scheduler: str = "asha"
    grace_period: int = 1
    reduction_factor: float = 3
    num_samples: int = 1
    cpus_per_trial: float = 1
    gpus_per_trial: float = 0
    address: str | None = None
    storage_path: str = "ray_results"
    tracking_uri: str = "sqlite:///mlruns.db"
    experiment_name: str = "rnn-sweeps"
    max_concurrent_trials: int | None = None
    metric: str = "val_acc"
    mode: str = "max"
    sweep_params: dict[str, Any] = field(default_factory=dict)  # logged on the parent run


@dataclass
class SweepOutcome:
    parent_run_id: str
    experiment_id: str
    tracking_uri: str
    trials: dict[str, str]  # trial status -> count
    seconds: float


def trial_name(config: dict) -> str:
    """A readable run name, e.g. ``lstm-L2-H100-E32`` (+ ``-bi``)."""
    parts = [f"{p}{config[k]}" for k, p in NAME_KEYS if k in config]
    if config.get("bidirectional"):
        parts.append("bi")
    return "-".join(parts)


# ---------------------------------------------------------------- MLflow -----------------
def _mlflow():
    import mlflow  # imported lazily: it takes seconds and is only needed on the driver
    from mlflow.tracking import MlflowClient

    return mlflow, MlflowClient


def _artifact_root(tracking_uri: str) -> str | None:
    """Artifacts beside a SQLite store (``<folder>/mlartifacts``); the server decides otherwise."""
    if tracking_uri.startswith("sqlite:///"):
        db = Path(tracking_uri[len("sqlite:///"):])
        return (db.resolve().parent / "mlartifacts").as_uri()
    return None


def check_tracking(tracking_uri: str, experiment_name: str) -> tuple[Any, str]:
    """Open (create if needed) the store and experiment; bad URIs fail here, before Ray starts.

    Returns:
        (MlflowClient, experiment_id)
    """
    scheme = urlparse(tracking_uri).scheme
    if scheme not in {"sqlite", "http", "https", "file", "postgresql", "mysql"}:
        raise ConfigError(f"--tracking-uri {tracking_uri!r} is not supported; expected "
                          "sqlite:///path.db, http(s)://host:port or file:///folder")
    if scheme == "sqlite":
        folder = Path(tracking_uri[len("sqlite:///"):]).resolve().parent
        if not folder.is_dir():
            raise ConfigError(f"--tracking-uri {tracking_uri}: folder {folder} does not exist")
        if not os.access(folder, os.W_OK):
            raise ConfigError(f"--tracking-uri {tracking_uri}: folder {folder} is not writable")
    if scheme in {"http", "https"}:
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "10")
    _, MlflowClient = _mlflow()
    client = MlflowClient(tracking_uri)
    try:
        exp = client.get_experiment_by_name(experiment_name)
        exp_id = exp.experiment_id if exp else client.create_experiment(
            experiment_name, artifact_location=_artifact_root(tracking_uri))
    except Exception as exc:  # MLflow raises many types for an unreachable or broken store
        first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        raise ConfigError(f"--tracking-uri {tracking_uri} cannot be used: {first}") from exc
    return client, exp_id


def _flat_params(cfg: dict) -> dict[str, str]:
    return {k: str(v) for k, v in sorted(cfg.items())}


def _log_params(client, run_id: str, params: dict) -> None:
    from mlflow.entities import Param

    items = [Param(k, v[:6000]) for k, v in _flat_params(params).items()]
    for i in range(0, len(items), 100):
        client.log_batch(run_id, params=items[i:i + 100])


class _MlflowTrials:
    """Ray Tune callback: one MLflow child run per trial, written on the driver."""

    def __init__(self, client, experiment_id: str, parent_run_id: str, base: dict,
                 max_epochs: int) -> None:
        self.client, self.exp_id, self.parent = client, experiment_id, parent_run_id
        self.base, self.max_epochs = base, max_epochs
        self.runs: dict[str, str] = {}  # trial_id -> run_id
        self.last: dict[str, dict] = {}
        self.status: dict[str, str] = {}

    def start(self, trial) -> None:
        if trial.trial_id in self.runs:
            return
        cfg = {**self.base, **trial.config}
        run = self.client.create_run(self.exp_id, run_name=trial_name(cfg), tags={
            "mlflow.parentRunId": self.parent, "ray_trial_id": trial.trial_id,
            "trial_status": "running"})
        self.runs[trial.trial_id] = run.info.run_id
        _log_params(self.client, run.info.run_id, cfg)

    def result(self, trial, result: dict) -> None:
        from mlflow.entities import Metric

        self.start(trial)
        epoch = int(result.get("epoch", result.get("training_iteration", 0)))
        now = int(time.time() * 1000)
        metrics = [Metric(k, float(result[k]), now, epoch) for k in EPOCH_METRICS
                   if isinstance(result.get(k), (int, float))]
        self.client.log_batch(self.runs[trial.trial_id], metrics=metrics)
        self.last[trial.trial_id] = result

    def complete(self, trial, error: str | None = None) -> None:
        self.start(trial)
        run_id = self.runs[trial.trial_id]
        epochs = int(self.last.get(trial.trial_id, {}).get("epoch", 0))
        if error is not None:
            status, mlflow_status = "failed", "FAILED"
            self.client.set_tag(run_id, "error", error[-5000:])
        elif epochs < self.max_epochs:
            status, mlflow_status = "stopped_early", "KILLED"
        else:
            status, mlflow_status = "finished", "FINISHED"
        self.client.set_tag(run_id, "trial_status", status)
        self.client.set_tag(run_id, "epochs_run", str(epochs))
        ckpt = trial.checkpoint
        if ckpt is not None and Path(ckpt.path).is_dir():
            self.client.log_artifacts(run_id, ckpt.path, artifact_path="checkpoint")
        self.client.set_terminated(run_id, mlflow_status)
        self.status[trial.trial_id] = status


def _ray_callback(sink: _MlflowTrials):
    from ray.tune import Callback

    class MlflowTrialsCallback(Callback):
        def on_trial_start(self, iteration, trials, trial, **info):
            sink.start(trial)

        def on_trial_result(self, iteration, trials, trial, result, **info):
            sink.result(trial, result)

        def on_trial_complete(self, iteration, trials, trial, **info):
            sink.complete(trial)

        def on_trial_error(self, iteration, trials, trial, **info):
            err = trial.error_file and Path(trial.error_file)
            text = err.read_text() if err and err.exists() else "trial failed"
            sink.complete(trial, error=text.strip())

    return MlflowTrialsCallback()


# ---------------------------------------------------------------- Ray Tune ---------------
def _trial_fn(config: dict, data: EncodedCorpus) -> None:
    from ray import tune

    def report(metrics: dict, ckpt: dict | None) -> None:
        if ckpt is None:
            tune.report(metrics)
            return
        with tempfile.TemporaryDirectory() as d:
            torch.save(ckpt, Path(d) / "best.pt")
            (Path(d) / "config.json").write_text(json.dumps(ckpt["config"], indent=1))
            tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(d))

    if float(config.get("gpus", 0)) > 0:
        if torch.cuda.is_available():
            config = {**config, "device": "cuda"}
        else:
            log.warning("a GPU was requested but CUDA is not available; training on CPU")
    training.train(config, data, report)


def _export_project_path() -> None:
    """Let local Ray workers import this project even when it is run from a checkout."""
    root = str(Path(__file__).resolve().parents[1])
    paths = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    if root not in paths:
        os.environ["PYTHONPATH"] = os.pathsep.join([root, *paths])


def run_sweep(spec: SweepSpec, data: EncodedCorpus) -> SweepOutcome:
    """Run the sweep: MLflow parent run, Ray Tune trials, child runs; returns the parent id."""
    t0 = time.perf_counter()
    client, exp_id = check_tracking(spec.tracking_uri, spec.experiment_name)
    import ray
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler, FIFOScheduler

    parent = client.create_run(exp_id, run_name=f"{spec.study}-{time.strftime('%Y%m%d-%H%M%S')}",
                               tags={"study": spec.study, "sweep": "parent"})
    parent_id = parent.info.run_id
    _log_params(client, parent_id, {**spec.sweep_params, "vocab_size": data.vocab_size})
    sink = _MlflowTrials(client, exp_id, parent_id, spec.base_config, spec.max_epochs)
    try:
        if not ray.is_initialized():
            _export_project_path()
            ray.init(address=spec.address, include_dashboard=False,
                     logging_level=logging.WARNING, log_to_driver=False)
        scheduler = (ASHAScheduler(time_attr="training_iteration", max_t=spec.max_epochs,
                                   grace_period=spec.grace_period,
                                   reduction_factor=spec.reduction_factor)
                     if spec.scheduler == "asha" else FIFOScheduler())
        base = {**spec.base_config, "max_epochs": spec.max_epochs,
                "threads": max(1, int(spec.cpus_per_trial)), "gpus": spec.gpus_per_trial}
        sink.base = base
        trainable = tune.with_resources(tune.with_parameters(_trial_fn, data=data),
                                        {"cpu": spec.cpus_per_trial, "gpu": spec.gpus_per_trial})
        tuner = tune.Tuner(
            trainable,
            param_space={**base, **{k: tune.grid_search(v) if isinstance(v, list) else v
                                    for k, v in spec.param_space.items()}},
            tune_config=tune.TuneConfig(metric=spec.metric, mode=spec.mode, scheduler=scheduler,
                                        num_samples=spec.num_samples, reuse_actors=True,
                                        max_concurrent_trials=spec.max_concurrent_trials),
            run_config=tune.RunConfig(
                name=f"{spec.study}-{parent_id[:8]}",
                storage_path=str(Path(spec.storage_path).resolve()),
                callbacks=[_ray_callback(sink)],
                checkpoint_config=tune.CheckpointConfig(num_to_keep=1),
                verbose=1),
        )
        tuner.fit()
    except BaseException as exc:
        client.set_tag(parent_id, "error", f"{type(exc).__name__}: {exc}"[:5000])
        client.set_terminated(parent_id, "KILLED" if isinstance(exc, KeyboardInterrupt)
                              else "FAILED")
        raise
    counts: dict[str, int] = {}
    for s in sink.status.values():
        counts[s] = counts.get(s, 0) + 1
    client.set_tag(parent_id, "trial_counts", json.dumps(counts))
    client.set_terminated(parent_id, "FINISHED")
    return SweepOutcome(parent_id, exp_id, spec.tracking_uri, counts, time.perf_counter() - t0)


# ---------------------------------------------------------------- reading back -----------
def fetch_sweep(tracking_uri: str, parent_run_id: str | None = None,
                experiment_name: str | None = None):
    """Child runs of a sweep as (runs frame, epoch-history frame, parent run id).

    With no ``parent_run_id``, the newest parent run in ``experiment_name`` is used.
    """
    import pandas as pd

    _, MlflowClient = _mlflow()
    client = MlflowClient(tracking_uri)
    if parent_run_id is None:
        exp = client.get_experiment_by_name(experiment_name or "rnn-sweeps")
        if exp is None:
            raise ConfigError(f"experiment {experiment_name!r} not found in {tracking_uri}")
        parents = client.search_runs([exp.experiment_id], "tags.sweep = 'parent'",
                                     order_by=["attributes.start_time DESC"], max_results=1)
        if not parents:
            raise ConfigError(f"no sweep found in experiment {experiment_name!r}")
        parent_run_id = parents[0].info.run_id
    parent = client.get_run(parent_run_id)
    children = client.search_runs([parent.info.experiment_id],
                                  f"tags.mlflow.parentRunId = '{parent_run_id}'",
                                  max_results=5000)
    rows, hist = [], []
    for r in children:
        row = {"run_id": r.info.run_id, "run_name": r.info.run_name,
               "status": r.data.tags.get("trial_status", r.info.status.lower()),
               "error": r.data.tags.get("error", ""),
               "epochs_run": int(r.data.tags.get("epochs_run", 0) or 0),
               "seconds": ((r.info.end_time or r.info.start_time) - r.info.start_time) / 1000}
        row.update({f"param.{k}": v for k, v in r.data.params.items()})
        row.update(r.data.metrics)
        rows.append(row)
        for m in client.get_metric_history(r.info.run_id, "val_acc"):
            hist.append({"run_id": r.info.run_id, "run_name": r.info.run_name,
                         "epoch": m.step, "val_acc": m.value})
    return pd.DataFrame(rows), pd.DataFrame(hist, columns=["run_id", "run_name", "epoch",
                                                           "val_acc"]), parent_run_id


def log_report(tracking_uri: str, parent_run_id: str, folder: str | Path) -> None:
    """Attach a report folder to the sweep's parent run as artifacts under ``report/``."""
    _, MlflowClient = _mlflow()
    MlflowClient(tracking_uri).log_artifacts(parent_run_id, str(folder), artifact_path="report")
