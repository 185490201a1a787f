"""What every study script shares: the run -> report flow over its options (``_options``)
and their checks (``_checks``), and how the script exits."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType
from typing import NoReturn

from rnn_core.errors import CheckpointError, ConfigError, DataError, SweepInterrupted
from rnn_core.statuses import ENDED, STOPPED_BY_BUDGET
from sweeps._checks import check_args, check_spec
from sweeps._options import DEFAULT_TRACKING, SCALING_AXES, Axis
from sweeps._resume import from_args, from_saved

__all__ = ["exit_now", "main_guard", "run_study"]


def _running(args: argparse.Namespace) -> dict:
    """How this driver runs a sweep: the spec's fields every run takes from its own command
    line, ``--resume`` included."""
    return {"cpus_per_trial": args.cpus_per_trial, "gpus_per_trial": args.gpus_per_trial,
            "max_failures": args.max_failures, "address": args.address,
            "storage_path": args.storage_path, "shared_storage": args.shared_storage,
            "tracking_uri": args.tracking_uri or DEFAULT_TRACKING,
            "experiment_name": args.experiment_name, "verbose": int(args.verbose),
            "keep_checkpoints": args.keep_checkpoints, "time_budget_s": args.time_budget,
            "optuna_storage": args.optuna_storage,
            "tracking_outage_s": args.tracking_outage_limit}


def run_study(study: str, args: argparse.Namespace, space: ModuleType,
              axes: Sequence[Axis] = SCALING_AXES, source: dict | None = None) -> int:
    """Check options, encode data once on the driver, sweep, report. Returns an exit code.

    Args:
        study: the study's name (Ray folder, MLflow parent run prefix, its report in
            ``reports.studies``).
        args: parsed options of ``build_parser(doc, space, axes)``.
        space: the search-space module (``GRID``, ``RECIPE``, ``PRESETS``).
        axes: the grid-axis options the parser has.
        source: more params for the parent run (where a study's configuration came from).
    """
    from rnn_core.tasks import get_task

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    task = get_task(space.TASK)
    check_args(args, task, space)
    from rnn_core import tuning
    from rnn_core.memory import release_memory

    resume = None
    if args.resume is not None:
        latest = args.resume == "latest"
        where = _checked_storage(args, args.storage_path if latest else args.resume,
                                 "--storage-path" if latest else "--resume")
        resume = tuning.find_resumable(where, study) if latest else where.uri
        meta = tuning.sweep_meta(resume)
        if meta["sweep_params"].get("scheduler") == "sha":
            raise ConfigError(f"--resume {resume}: this sweep ran with --scheduler sha, whose "
                              "rung barrier cannot be restored; start it again (asha and fifo "
                              "sweeps resume)")
        spec = from_saved(meta["sweep_params"], args, axes, str(resume), study=study,
                          task=task, **{**_running(args),
                                        "tracking_uri": args.tracking_uri or meta["tracking_uri"]})
        # the sweep's parent run and Optuna study are where this driver looks: before any work
        tuning.check_resumed_stores(meta, spec.tracking_uri, spec.optuna_storage)
        print(f"resuming {resume} (MLflow parent run {meta['parent_run_id']})")
    else:
        spec = from_args(args, space, axes, task, study=study, source=dict(source or {}),
                         **_running(args))
    if spec.optuna_storage is not None and spec.search in ("grid", "coefficient"):
        raise ConfigError(f"--optuna-storage only applies to --search random, tpe or nsga2; "
                          f"this sweep's search is {spec.search}, which keeps no Optuna study")
    check_spec(spec)
    tuning.check_tracking(spec.tracking_uri, args.experiment_name)  # fails before any work
    if resume is None:
        _checked_storage(args, args.storage_path, "--storage-path")
        if spec.optuna_storage is not None:
            tuning.check_optuna_storage(spec.optuna_storage)
    data, data_info = task.prepare(spec.data_path, spec.seed, spec.data_options)
    release_memory()  # tokenizing (a cold cache) leaves hundreds of MB free in the heap
    outcome = tuning.run_sweep(spec, data, resume=resume, data_info=data_info)
    if not outcome.trials:  # a budget spent before the first trial started: nothing to report
        print(f"{study}: no trial started within the time budget of "
              f"{_duration(spec.time_budget_s or outcome.seconds)}; nothing to report or "
              f"register (MLflow parent run {outcome.parent_run_id}): give a larger "
              "--time-budget", file=sys.stderr)
        return 1
    if not args.no_png:
        from reports import png_browser

        png_browser.warm()  # the report's browser starts while the models are logged
    counts = ", ".join(f"{n} {s.replace('_', ' ')}" for s, n in sorted(outcome.trials.items()))
    print(f"\nsweep finished in {_duration(outcome.seconds)}: {counts}\n"
          f"MLflow parent run {outcome.parent_run_id}\nRay results {outcome.path}")

    from reports.studies import report_builder

    out = Path(args.report_dir) if args.report_dir else default_report_dir(
        study, outcome.parent_run_id)
    tracking_uri = spec.tracking_uri
    usage = _keep_models(study, tracking_uri, outcome.parent_run_id, data)
    summary = report_builder(study)(tracking_uri, outcome.parent_run_id, out,
                                    pngs=not args.no_png)
    tuning.log_report(tracking_uri, outcome.parent_run_id, out)
    print(summary)
    if usage:
        print(usage)
    print(f"compare the trials in the MLflow UI: {mlflow_ui_command(tracking_uri)}")
    if outcome.optuna_study:
        study_name, storage = outcome.optuna_study
        print(f"Optuna study {study_name}: {optuna_dashboard_command(storage)}")
    if STOPPED_BY_BUDGET in outcome.trials and not outcome.epochs:
        print(f"the --time-budget ran out before any trial reported a {task.objective}; "
              "give it more time", file=sys.stderr)
        return 1
    if not set(ENDED) & set(outcome.trials):
        print("every trial failed; see the report's failed trials", file=sys.stderr)
        return 1
    return 0


def _checked_storage(args: argparse.Namespace, where: str, what: str):
    """The sweep's storage, refused before the data is prepared where it cannot serve (an
    unreachable URI, a node-local folder on a cluster: ``tuning.open_storage``)."""
    from rnn_core import tuning

    return tuning.open_storage(where, args.address, args.shared_storage, what)


CHECKOUT = Path(__file__).resolve().parents[1]


def _sqlite_file(uri: str) -> Path | None:
    return Path(uri[len("sqlite:///"):]).resolve() if uri.startswith("sqlite:///") else None


def _made_here() -> bool:
    """This process runs in the checkout's own .venv, which `make` installed: its targets
    then start the installed programs without installing anything."""
    return (CHECKOUT / "Makefile").is_file() and Path(sys.prefix).resolve() == CHECKOUT / ".venv"


def mlflow_ui_command(tracking_uri: str) -> str:
    """The command that opens the MLflow UI on a sweep's store, runnable from any folder: the
    Makefile's target where this checkout has one (one worker, no job runner, 127.0.0.1),
    else ``mlflow server`` with the same settings; a tracking server is already its UI."""
    if tracking_uri.startswith(("http://", "https://")):
        return f"open {tracking_uri} in a browser"
    db = _sqlite_file(tracking_uri)
    if db is not None and _made_here():
        return f"make -C {CHECKOUT} mlflow-ui MLFLOW_DB={db}  (then http://127.0.0.1:5000)"
    store = f"sqlite:///{db}" if db is not None else tracking_uri
    mlflow = Path(sys.executable).with_name("mlflow")
    return (f"MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false {mlflow} server --backend-store-uri "
            f"{store} --host 127.0.0.1 --port 5000 --workers 1  (then http://127.0.0.1:5000)")


def optuna_dashboard_command(storage: str) -> str:
    """The command that opens optuna-dashboard on a sampled search's study."""
    db = _sqlite_file(storage)
    if db is not None and _made_here():
        return f"make -C {CHECKOUT} optuna-dashboard OPTUNA_DB={db}  (then http://127.0.0.1:8080)"
    dashboard = Path(sys.executable).with_name("optuna-dashboard")
    return f"{dashboard} {storage} --host 127.0.0.1 --port 8080  (then http://127.0.0.1:8080)"


def default_report_dir(study: str, parent_run_id: str) -> Path:
    """``./reports/<study>-<first 8 of the parent run id>``, the Ray folder's name too."""
    return Path("reports") / f"{study}-{parent_run_id[:8]}"


def _duration(seconds: float) -> str:
    s = round(seconds)
    return f"{s} s" if s < 60 else f"{s // 60} min {s % 60} s"


def _keep_models(study: str, tracking_uri: str, parent_run_id: str, data) -> str | None:
    """Log the validation pick and the rest of the Pareto front as MLflow models that take
    raw input; register the pick under the study's name. Returns how to use it (None where no
    model was logged)."""
    from reports.frames import model_picks, trials_frame
    from rnn_core import tuning

    record = tuning.fetch_sweep(tracking_uri, parent_run_id)
    picks = model_picks(trials_frame(record.runs, record.task), record.task)
    if not tuning.log_models(tracking_uri, parent_run_id, study, data, picks):
        return None
    return tuning.model_usage(tracking_uri, parent_run_id)


def exit_now(code: int) -> NoReturn:
    """End a study's process without the interpreter's teardown.

    With Ray and MLflow loaded, a normal exit spends ~1-1.5 s after the work is done unloading
    modules and running exit hooks, and ``ray.shutdown()`` another 1-1.5 s stopping a local
    Ray instance's processes one by one. Nothing is left to close by then: MLflow wrote
    synchronously, temporary folders are gone, a local Ray instance is killed with this
    process by the kernel (``tuning.leave_ray``); output and logs are flushed first.
    """
    try:
        if "rnn_core.tuning" in sys.modules:
            from rnn_core import tuning

            tuning.flush_stores()
            tuning.leave_ray()
        if "reports.png_browser" in sys.modules:  # the report's browser, a process of its own
            from reports import png_browser

            png_browser.stop()
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
    finally:
        os._exit(code)


def main_guard(main: Callable[[], int]) -> int:
    """Run ``main``; bad input becomes one sentence on stderr and exit code 2."""
    try:
        return main()
    except (ConfigError, DataError, CheckpointError, FileNotFoundError) as exc:
        print(f"{Path(sys.argv[0]).name}: error: {exc}", file=sys.stderr)
        return 2
    except SweepInterrupted as exc:
        print(f"{Path(sys.argv[0]).name}: {exc}", file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130

