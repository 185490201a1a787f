"""The one place that imports Ray Tune, MLflow and Optuna (their APIs move between releases).

Private parts: ``_tracking`` (MLflow: store checks, child runs; ``_records``: reading
sweeps back),
``_scheduling`` (Ray Tune: the trial function, synchronous halving, the callback), ``_asha``
(ASHA by promotion, which survives a restart: its rule in ``_asha_rules``, free slots and the
cap in ``_asha_slots``, its saved state in ``_asha_state``; ``_asks``: the searcher asked as
slots free),
``_sweep`` (a sweep from start to end, and its resumption; ``_spec``: what a sweep is and its
state file; ``_sweep_setup``: what it builds before Ray runs), ``_outbox`` (the sweep's MLflow
writes, kept through a tracking server's outage; ``_run_writes``: each write applied;
``_mlflow_errors``: which errors another try may pass), ``_stores`` (the Optuna study's database,
and the stores a resumed sweep is given), ``_search`` (the grid, and
Optuna's random, TPE and NSGA-II samplers behind Ray's ``OptunaSearch``), ``_models`` (the
winners as MLflow models that take raw input, the validation pick registered), ``_ray``
(starting and leaving Ray), ``_trial`` (what runs in a trial's worker; imports torch, the rest
does not; ``_task_trial`` for a task's own trial function, without torch), ``_storage`` (the
sweep's files on a local folder or any pyarrow filesystem: s3://, gs://), ``_study_cache`` and
``_sqlite`` (the sweep's Optuna study read from memory; SQLite stores in write-ahead mode).

Layout in MLflow: one parent run per sweep; one child run per trial, nested under it with the
``mlflow.parentRunId`` tag, named by its config, holding the flat config as params, per-epoch
metrics with ``step=epoch``, its final status and its best checkpoint. All MLflow writes happen
on the driver, so a SQLite store has a single writer and cluster workers need no access to it.
"""

import importlib
import sys

from rnn_core.tuning._models import log_models, model_usage
from rnn_core.tuning._records import (
    SweepRecord,
    fetch_sweep,
    fetch_test_outputs,
    find_sweeps,
    log_report,
    run_name,
)
from rnn_core.tuning._spec import SweepOutcome, SweepSpec, find_resumable, sweep_meta
from rnn_core.tuning._storage import is_uri, local_folder, open_storage
from rnn_core.tuning._stores import check_optuna_storage, check_resumed_stores
from rnn_core.tuning._sweep import run_sweep
from rnn_core.tuning._tracking import check_tracking, trial_name

__all__ = ["PromotionASHA", "StudyCache", "SweepOutcome", "SweepRecord", "SweepSpec",
           "check_optuna_storage", "check_resumed_stores", "check_tracking", "fetch_sweep",
           "fetch_test_outputs", "find_resumable", "find_sweeps", "flush_stores", "is_uri",
           "leave_ray", "local_folder", "log_models", "log_report", "make_sampler",
           "make_searcher", "model_usage", "open_storage", "optuna_space", "run_name", "run_sweep",
           "rung_epochs", "sweep_meta", "trial_name", "write_ahead"]

# Public pieces that load Ray Tune or Optuna, imported on first use so that importing the
# package stays light (the command line and the reports never need them): the scheduler, its
# rungs, the searcher a sweep builds, and the sampler and study store under that searcher,
# which the simulators and benchmarks in bench/ drive.
_LAZY = {"PromotionASHA": "_asha", "rung_epochs": "_asha",
         "make_searcher": "_search", "make_sampler": "_search", "optuna_space": "_search",
         "StudyCache": "_study_cache", "write_ahead": "_sqlite"}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(f"rnn_core.tuning.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def flush_stores() -> None:
    """Call before exiting a process that ran sweeps: the SQLite stores it wrote hold all
    their commits in their own files again (``_sqlite``: the write-ahead log)."""
    from rnn_core.tuning._sqlite import checkpoint

    checkpoint()


def leave_ray() -> None:
    """Call before exiting a process that ran sweeps: disconnects from a Ray cluster; a local
    instance this process started ends with it (see ``_ray.leave``)."""
    if "ray" in sys.modules:
        from rnn_core.tuning._ray import leave

        leave()
