"""MLflow: the store, and one child run per trial written from the driver (read back:
``_records``)."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from rnn_core.errors import ConfigError
from rnn_core.statuses import (
    CLOSED,
    FAILED,
    FINISHED,
    INTERRUPTED,
    RUNNING,
    STOPPED_EARLY,
)
from rnn_core.tasks import Task, task_of
from rnn_core.tuning._outbox import Outbox, now_ms

# a finished trial's per-example test results (NumPy arrays, ``np.savez_compressed``), saved
# beside its best state and kept in MLflow under ``checkpoint/``
TEST_OUTPUTS = "test_outputs.npz"
# what a child run keeps of its trial's last checkpoint (test outputs: finished trials only)
CHECKPOINT_FILES = ("best.pt", "config.json", TEST_OUTPUTS)


def trial_name(config: dict, extra: tuple[str, ...] = ()) -> str:
    """A readable run name from a trial config (values may be strings, as MLflow params are).

    Depth/width studies: the task's name keys, ``lstm-L2-H100-E32`` (+ ``-bi``;
    ``lstm-L2-H100-glove50-tuned`` with pretrained inputs) for sentiment,
    ``lstm-L2-H200-drop0.5`` for the language model. Studies over cell variants
    (``variant = "cell/backend"``): ``gru-native-bi-glove50-frozen``, ``mgu-scratch-uni-learned64``.
    ``extra``: more keys a sampled search varies, appended (``-adam-lr0.00312``). Repeats of
    the grid (``samples`` > 1) add their seed: ``lstm-L2-H100-E32-s1``.
    """
    parts = [_base_name(config)]
    for key in (k for k in extra if k in config):
        v = config[key]
        parts.append(v if isinstance(v, str) else f"{key}{v:.3g}" if isinstance(v, float)
                     else f"{key}{v}")
    if int(config.get("samples", 1)) > 1:  # repeats of the grid differ only by seed
        parts.append(f"s{config['seed']}")
    return "-".join(parts)


def _base_name(config: dict) -> str:
    bi = str(config.get("bidirectional")).lower() == "true"
    if "variant" in config:
        cell, _, backend = str(config["variant"]).partition("/")
        emb = str(config.get("embedding", "learned"))
        inputs = (f"learned{config.get('embedding_dim', '')}" if emb == "learned"
                  else _inputs_name(config, emb))
        return f"{cell}-{backend}-{'bi' if bi else 'uni'}-{inputs}"
    keys = task_of(config).name_keys
    emb = str(config.get("embedding", "learned"))
    # pretrained inputs fix the width: their name says more than E50
    parts = [_inputs_name(config, emb) if k == "embedding_dim" and emb != "learned"
             else f"{p}{config[k]}" for k, p in keys if k in config]
    if bi:
        parts.append("bi")
    return "-".join(parts)


def _inputs_name(config: dict, emb: str) -> str:
    """Pretrained inputs by name, frozen or tuned: ``glove50-tuned``."""
    name = Path(emb).stem if ("/" in emb or "." in emb) else emb
    frozen = str(config.get("freeze_embedding")).lower() == "true"
    return name + ("-frozen" if frozen else "-tuned")


def client_for(tracking_uri: str):
    from mlflow.tracking import MlflowClient  # lazily: seconds to import, driver only

    return MlflowClient(tracking_uri)


def _artifact_root(tracking_uri: str) -> str | None:
    """Artifacts beside a SQLite store (``<folder>/mlartifacts``); a server decides otherwise."""
    if tracking_uri.startswith("sqlite:///"):
        return (Path(tracking_uri[len("sqlite:///"):]).resolve().parent / "mlartifacts").as_uri()
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
        db = Path(tracking_uri[len("sqlite:///"):]).resolve()
        if not db.parent.is_dir():
            raise ConfigError(f"--tracking-uri {tracking_uri}: folder {db.parent} does not exist")
        if not os.access(db.parent, os.W_OK) or (db.exists() and not os.access(db, os.W_OK)):
            raise ConfigError(f"--tracking-uri {tracking_uri}: {db} is not writable")
        if not db.exists():
            _seed_sqlite_store(db)
        from rnn_core.tuning._sqlite import write_ahead

        write_ahead(tracking_uri)
    if scheme in {"http", "https"}:
        # a write that fails is tried again by the sweep's outbox, which keeps the sweep going
        # meanwhile; MLflow's own retries would hold the driver for minutes
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "10")
        # MLflow prints two lines with links at every run's end; the sweep prints its own
        os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")
        _check_server(tracking_uri)
    client = client_for(tracking_uri)
    try:
        exp = client.get_experiment_by_name(experiment_name)
        exp_id = exp.experiment_id if exp else client.create_experiment(
            experiment_name, artifact_location=_artifact_root(tracking_uri))
    except Exception as exc:  # MLflow raises many types for an unreachable or broken store
        text = str(exc).strip()
        first = text.splitlines()[0][:200] if text else type(exc).__name__
        raise ConfigError(f"--tracking-uri {tracking_uri} cannot be used: {first}") from exc
    return client, exp_id


def _check_server(tracking_uri: str) -> None:
    """A tracking server answers at ``tracking_uri``: ConfigError in one sentence where
    nothing does (MLflow's own error names a URL and three nested exceptions)."""
    import requests

    from rnn_core.tuning._mlflow_errors import unreachable

    try:
        requests.get(f"{tracking_uri.rstrip('/')}/health", timeout=10)
    except requests.RequestException as exc:
        raise ConfigError(f"--tracking-uri {tracking_uri}: no MLflow tracking server answers "
                          f"there ({unreachable(exc)}); start one (docs/cluster.md) or give "
                          "another URI") from None


def _seed_sqlite_store(db: Path) -> None:
    """Start a new SQLite store as a copy of an empty one MLflow made earlier (same version):
    milliseconds instead of MLflow's ~1.3 s of migrations (``_compat_mlflow``)."""
    from rnn_core.data.cache import cache_dir
    from rnn_core.tuning._compat_mlflow import seed_sqlite_store

    seed_sqlite_store(db, cache_dir() / "mlflow-schema")


def log_params(client, run_id: str, params: dict) -> None:
    from mlflow.entities import Param

    items = [Param(k, str(v)[:6000]) for k, v in sorted(params.items())]
    for i in range(0, len(items), 100):
        client.log_batch(run_id, params=items[i:i + 100])



@functools.cache
def _ray_result_keys() -> frozenset[str]:
    """What Ray Tune adds to every result a trial reports (its iteration, times, pid, ...) and
    the loop's ``epoch``, the step: every other number a trial reports is a metric of the
    loop's, logged as it is, so a metric the loop adds reaches MLflow without a list to keep."""
    from ray.tune import result

    return frozenset({*result.AUTO_RESULT_KEYS, *result.DEFAULT_RESULT_KEYS, result.DONE,
                      "epoch"})

class TrialRuns:
    """One MLflow child run per Ray trial, written on the driver through the sweep's
    ``Outbox`` (in order, and kept through a tracking outage).

    On a resumed sweep it adopts the child runs already under the parent, so no trial gets a
    second run and no epoch is logged twice.
    """

    def __init__(self, outbox: Outbox, base: dict, max_epochs: int, task: Task,
                 trial_tags: Callable[[str], dict[str, str]] | None = None,
                 name_extra: tuple[str, ...] = ()) -> None:
        self.outbox, self.client = outbox, outbox.client
        self.exp_id, self.parent = outbox.exp_id, outbox.parent
        self.trial_tags = trial_tags  # more tags for a new child run (its Optuna trial)
        self.name_extra = name_extra  # keys appended to run names (``trial_name``)
        self.base, self.max_epochs, self.task = base, max_epochs, task
        self.runs: set[str] = set()  # trials with a child run (made, or on its way)
        self.last_epoch: dict[str, int] = {}
        # epochs logged, one per trial and epoch (``adopt``, ``result``), and of those, the
        # adopted ones of lost trials whose runs were deleted (``start``)
        self.epochs_logged, self.lost_epochs = 0, 0
        self.status: dict[str, str] = {}
        self.retries: dict[str, int] = {}
        self.live: set[str] = set()  # trials whose run this driver has created or reopened
        # trial_id -> the Ray nodes it reported from, each with the first epoch it reported
        # there ("1:NODE 3:NODE": moved after epoch 2, by a pause or a lost node)
        self.nodes: dict[str, str] = {}
        # adopted runs of Optuna trials that had not ended: Optuna trial number -> trial id
        self.asked: dict[str, str] = {}

    def adopt(self) -> None:
        """Load the child runs an interrupted sweep already made."""
        found: dict[str, list] = {}
        for r in self.client.search_runs([self.exp_id],
                                         f"tags.mlflow.parentRunId = '{self.parent}'",
                                         max_results=5000):
            if "ray_trial_id" in r.data.tags:
                found.setdefault(r.data.tags["ray_trial_id"], []).append(r)
        for tid, made in found.items():
            epochs = {r.info.run_id: max((m.step for m in self.client.get_metric_history(
                r.info.run_id, self.task.objective)), default=0) for r in made}
            r = max(made, key=lambda r: epochs[r.info.run_id])
            for spare in made:  # made twice in an outage that ended with the driver: empty
                if spare is not r:
                    self.client.delete_run(spare.info.run_id)
            self.runs.add(tid)
            self.outbox.ids[tid] = r.info.run_id
            self.last_epoch[tid] = epochs[r.info.run_id]
            if "ray_nodes" in r.data.tags:
                self.nodes[tid] = r.data.tags["ray_nodes"]
            if r.data.tags.get("trial_status") in CLOSED:
                self.status[tid] = r.data.tags["trial_status"]
            elif "optuna_trial" in r.data.tags:
                self.asked[r.data.tags["optuna_trial"]] = tid
        self.epochs_logged = sum(self.last_epoch.values())

    def start(self, trial_id: str, config: dict) -> None:
        if trial_id in self.runs:
            if trial_id not in self.status and trial_id not in self.live:
                self.outbox.end(trial_id, "RUNNING")  # adopted
                self.outbox.tag(trial_id, trial_status=RUNNING)
                self.live.add(trial_id)
            return
        cfg = {**self.base, **config}
        tags = {"mlflow.parentRunId": self.parent, "ray_trial_id": trial_id,
                "trial_status": RUNNING,
                **(self.trial_tags(trial_id) if self.trial_tags else {})}
        lost = self.asked.pop(tags.get("optuna_trial", ""), None)
        if lost is not None and lost != trial_id and lost not in self.live:
            # its Ray trial started after Ray last saved its state before the driver died: Ray
            # knows it no more, and the Optuna trial goes to this new trial, from its start
            self.outbox.put(["delete", lost])
            self.runs.discard(lost)
            self.lost_epochs += (gone := self.last_epoch.pop(lost, 0))
            self.epochs_logged -= gone
        self.outbox.put(["create", trial_id, trial_name(cfg, self.name_extra), tags,
                         {k: str(v)[:6000] for k, v in cfg.items()}, now_ms()])
        self.runs.add(trial_id)
        self.live.add(trial_id)
        self.last_epoch[trial_id] = 0

    def result(self, trial_id: str, config: dict, result: dict) -> None:
        self.start(trial_id, config)
        epoch = int(result.get("epoch", result.get("training_iteration", 0)))
        if epoch <= self.last_epoch.get(trial_id, 0):
            return  # already logged before an interruption
        self.epochs_logged += epoch - self.last_epoch.get(trial_id, 0)
        now = now_ms()
        metrics = [[k, float(v), now, epoch] for k, v in result.items()
                   if k not in _ray_result_keys() and isinstance(v, (int, float))
                   and not isinstance(v, bool)]
        node = str(result.get("node_id") or "")
        been = self.nodes.get(trial_id, "")
        tags = {}
        if node and not been.endswith(f":{node}"):
            been = f"{been} {epoch}:{node}".strip()
            tags = {"ray_node_id": node, "ray_nodes": been[-5000:]}
            self.nodes[trial_id] = been
        # one write per epoch: while MLflow answers, the trial waits for it before its next
        self.outbox.put(["batch", trial_id, metrics, {}, tags])
        self.last_epoch[trial_id] = epoch

    def recover(self, trial_id: str, config: dict, error: str) -> None:
        """A failed trial that Ray will retry from its last checkpoint."""
        self.start(trial_id, config)
        self.retries[trial_id] = self.retries.get(trial_id, 0) + 1
        n = self.retries[trial_id]
        self.outbox.tag(trial_id, **{"retries": str(n), f"error_attempt_{n}": error[:5000]})

    def interrupt(self, trial_id: str) -> None:
        """The sweep stopped before this trial ended: its run says so, and ``adopt`` reopens
        it on ``--resume`` (only ended trials carry an end status)."""
        if trial_id in self.runs and trial_id not in self.status:
            self.outbox.tag(trial_id, trial_status=INTERRUPTED)
            self.outbox.end(trial_id, "KILLED")
            self.live.discard(trial_id)

    def complete(self, trial_id: str, config: dict, checkpoint=None,
                 error: str | None = None, status: str | None = None) -> None:
        """Close a trial's run: failed, finished (every epoch), else stopped early, or
        ``status`` for a trial that did not reach the end (``stopped_by_budget``).
        ``checkpoint``: the trial's last Ray checkpoint, whose ``CHECKPOINT_FILES`` the run
        keeps (None: it has none)."""
        if trial_id in self.status and trial_id not in self.live:
            return  # its run had ended before this driver (``_restored_ends``): it stays so
        self.start(trial_id, config)
        epochs = self.last_epoch.get(trial_id, 0)
        if error is not None:
            status, mlflow_status = FAILED, "FAILED"
        elif epochs < self.max_epochs:
            status, mlflow_status = status or STOPPED_EARLY, "KILLED"
        else:
            status, mlflow_status = FINISHED, "FINISHED"
        self.outbox.tag(trial_id, trial_status=status, epochs_run=str(epochs),
                        **({"error": error[:5000]} if error is not None else {}))
        if checkpoint is not None:
            self.outbox.files(trial_id, checkpoint, CHECKPOINT_FILES, "checkpoint")
        self.outbox.end(trial_id, mlflow_status)
        self.status[trial_id] = status
