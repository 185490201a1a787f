"""What every study script shares: its options, their checks, and the run -> report flow."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, NoReturn

from rnn_core.errors import CheckpointError, ConfigError, DataError, SweepInterrupted
from rnn_core.statuses import ENDED, STOPPED_BY_BUDGET
from search_spaces.distributions import Choice, Conditional, has_distributions, n_points
from search_spaces.grids import is_union
from sweeps._resume import SEARCHES, as_lists, from_args, from_saved

if TYPE_CHECKING:
    from rnn_core.tuning import SweepSpec

SCHEDULERS = ("asha", "sha", "fifo")
DEFAULT_TRACKING = "sqlite:///mlruns.db"  # --tracking-uri of a new sweep
OPTIMIZERS = ("sgd", "adagrad", "rmsprop", "adam")


def _int_list(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        msg = f"{text!r} is not a comma-separated list of integers"
        raise argparse.ArgumentTypeError(msg) from None
    if not values:
        raise argparse.ArgumentTypeError("expected at least one value")
    if min(values) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: every value must be at least 1")
    return values


def _number(text: str, kind: type, noun: str):
    try:
        return kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a {noun}") from None


def _samples_arg(text: str) -> int:
    """``--num-samples``: a whole number of 1 or more, or 0 (trials until --time-budget)."""
    value = _number(text, int, "whole number")
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r}: expected 1 or more, or 0 for trials "
                                         "until --time-budget")
    return value


def _positive(kind: type) -> Callable[[str], float]:
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a {kind.__name__}") from None
        if not value > 0 or value == float("inf"):
            raise argparse.ArgumentTypeError(f"{text!r} must be a finite number above 0")
        return value

    return parse


_UNITS = {"h": 3600, "m": 60, "s": 1}


def _duration_arg(text: str) -> float:
    """``3h``, ``90m``, ``600s`` (or ``1.5h``) in seconds; a unit is required, because a bare
    number would be read as hours by some and as minutes by others."""
    t = text.strip().lower()
    try:
        seconds = float(t[:-1]) * _UNITS[t[-1]] if t else None
    except (KeyError, ValueError):
        seconds = None
    if seconds is None or not 0 < seconds < float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r}: expected a duration above 0 with its unit, "
                                         "e.g. 3h, 90m or 600s")
    return seconds


def _non_negative_float(text: str) -> float:
    value = _number(text, float, "number")
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be 0 or more")
    return value


@dataclass(frozen=True)
class Axis:
    """A command-line option that replaces one grid axis, e.g. ``--layers 1,2``."""

    flag: str
    key: str  # the grid key it replaces
    parse: Callable[[str], list]
    help: str

    @property
    def dest(self) -> str:
        return self.flag.lstrip("-").replace("-", "_")


# compound scaling's axis options (the default, so its CLI stays as it was)
SCALING_AXES: tuple[Axis, ...] = (
    Axis("--layers", "num_layers", _int_list, "override the grid, e.g. 1,2"),
    Axis("--hidden", "hidden_size", _int_list, "override the grid, e.g. 100,200"),
    Axis("--embedding", "embedding_dim", _int_list, "override the grid, e.g. 32,64"),
)


def build_parser(doc: str | None, space: ModuleType,
                 axes: Sequence[Axis] = SCALING_AXES) -> argparse.ArgumentParser:
    from rnn_core.tasks import get_task

    task = get_task(space.TASK)
    p = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawTextHelpFormatter,
                                allow_abbrev=False)
    p.add_argument("--preset", choices=sorted(k for k in space.PRESETS if k != "smoke"),
                   help="data size and epochs (default: full)")
    p.add_argument("--smoke-test", action="store_true",
                   help="tiny grid on a tiny subset: about 1-2 minutes on 2 CPU cores")
    p.add_argument("--scheduler", choices=SCHEDULERS,
                   help="asha: a trial pauses at each rung; as trials arrive there, the best "
                        f"1/factor of them go on ({task.objective}), the rest stop; "
                        "sha: synchronous successive halving (all trials reach a rung, then "
                        "the best 1/factor go on); fifo: run every trial fully (default: "
                        f"{getattr(space, 'SCHEDULER', 'asha')})")
    p.add_argument("--max-epochs", type=_positive(int), help="epochs per trial (preset default)")
    p.add_argument("--grace-period", type=_positive(int),
                   help="ASHA/SHA: epochs before a trial can be stopped (default 1)")
    p.add_argument("--reduction-factor", type=_positive(float),
                   help="ASHA/SHA: keep the top 1/factor at each rung; a whole number of 2 "
                        "or more (default 3)")
    p.add_argument("--search", choices=SEARCHES,
                   help="grid: every configuration of the space; random: draw "
                        "--num-samples configurations; tpe: Optuna's TPE proposes each next "
                        "one from the results so far (with ASHA by default); nsga2: Optuna's "
                        f"NSGA-II, {task.objective} and n_params together (default: "
                        f"{getattr(space, 'SEARCH', 'grid')}; docs/search.md)")
    p.add_argument("--num-samples", type=_samples_arg,
                   help="grid: repeat the whole grid this many times (default 1); random, "
                        "tpe, nsga2: the number of trials (default: the preset's, else a "
                        "quarter of the space's configurations); 0 with a sampled search and "
                        "--time-budget: new trials until the budget is spent (an open "
                        "stream: docs/scheduling.md)")
    for axis in axes:
        p.add_argument(axis.flag, type=axis.parse, dest=axis.dest, help=axis.help)
    p.add_argument("--train-subset", type=_positive(int),
                   help=f"train on this many {task.subset[1]} of the training split "
                        "(preset default)")
    p.add_argument("--optimizer", choices=OPTIMIZERS, help="override the recipe's optimizer")
    p.add_argument("--lr", type=_positive(float), help="override the recipe's learning rate")
    p.add_argument("--test-every-epoch", action="store_const", const=True,
                   help="also log each epoch's test metrics of the current model "
                        "(epoch_test_*): for recording benchmark tables such as "
                        "bench/data/search_table.csv; models are still picked on validation")
    p.add_argument("--precision", choices=("auto", "fp32", "bf16", "fp16"),
                   help="auto (default): bfloat16 autocast where the CPU (AVX-512 BF16, AMX) "
                        "or GPU runs it natively, else float32; fp16 (CUDA only) uses a "
                        "gradient scaler. Weights, optimizer state and metrics stay float32")
    p.add_argument("--time-budget", type=_duration_arg, metavar="DURATION",
                   help="stop the sweep after this long (3h, 90m, 600s): no trial starts or "
                        "goes on after it, the running ones stop where they are "
                        "(stopped_by_budget) and the report is written on what ended; new "
                        "sweeps only, not with --resume (default: no limit)")
    p.add_argument("--cpus-per-trial", type=_positive(float), default=1,
                   help="CPUs (and torch threads) per trial (default 1)")
    p.add_argument("--gpus-per-trial", type=_non_negative_float, default=0,
                   help="GPUs per trial; fractions pack several trials on one GPU (default 0)")
    p.add_argument("--address", help="join a running Ray cluster: auto, or host:port")
    p.add_argument("--storage-path", default="ray_results",
                   help="Ray Tune results, checkpoints and the sweep's state: a folder, or a "
                        "URI such as s3://bucket/prefix or gs://bucket/prefix (S3 server and "
                        "credentials from AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, ...; "
                        "docs/cluster.md)")
    p.add_argument("--shared-storage", action="store_true",
                   help="with --address: the --storage-path folder is a mount (NFS) every "
                        "node sees at the same path; without it a folder is refused on a "
                        "cluster of several nodes")
    p.add_argument("--seed", type=int, help="seeds the split, batching and weights (default 0)")
    p.add_argument("--data-path", help=task.data_help)
    for option in task.options:  # the task's own data options (its column names, ...)
        p.add_argument(option.flag, dest=option.dest, type=_option_type(option),
                       choices=option.choices, help=option.help)
    p.add_argument("--tracking-uri",
                   help=f"MLflow store: sqlite:///file.db (default {DEFAULT_TRACKING}), or a "
                        "tracking server http(s)://host:port (docs/cluster.md); with "
                        "--resume, the sweep's own store unless given")
    p.add_argument("--tracking-outage-limit", type=_duration_arg, default=600,
                   metavar="DURATION",
                   help="how long the sweep goes on while MLflow does not answer, keeping "
                        "what it logs to send when MLflow is back; past it the sweep stops "
                        "as interrupted, for --resume (default 10m; docs/mlflow.md)")
    p.add_argument("--optuna-storage", metavar="URL",
                   help="random, tpe, nsga2: the Optuna study's database, any SQLAlchemy URL "
                        "(postgresql://user@host:5432/optuna; default: optuna.db beside a "
                        "sqlite:/// MLflow store, else in --storage-path); with --resume, "
                        "the sweep's own unless given")
    p.add_argument("--experiment-name", default="rnn-sweeps", help="MLflow experiment")
    p.add_argument("--max-failures", type=int, default=0,
                   help="retry a failing trial this many times from its last checkpoint")
    p.add_argument("--resume", nargs="?", const="latest", metavar="DIR",
                   help="continue an interrupted sweep: its Ray folder (a path or a URI), or "
                        "the newest unfinished one under --storage-path")
    p.add_argument("--report-dir",
                   help="where the report goes (default: ./reports/<study>-<parent run id "
                        "prefix>); it is also attached to the parent run in MLflow")
    p.add_argument("--no-png", action="store_true",
                   help="write the report without PNG copies of its figures, and start no "
                        "browser for them (the page's figures are interactive either way)")
    p.add_argument("--keep-checkpoints", action="store_true",
                   help="keep Ray's epoch checkpoints after the sweep (default: removed once "
                        "it ends; each trial's best state stays in MLflow)")
    p.add_argument("--verbose", action="store_true",
                   help="also print Ray Tune's own output (per-trial config, status tables)")
    return p


def _option_type(option) -> Callable[[str], object]:
    """A task option's parser, its ValueError as argparse's one-sentence error."""
    def parse(text: str):
        try:
            return option.type(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(f"{text!r}: {exc}") from None

    return parse


def _check_budget(spec: SweepSpec) -> None:
    """The checks that need the preset's values (its epochs) or the saved sweep's."""
    _check_search(spec)
    if spec.scheduler == "fifo" and spec.grace_period != 1:
        raise ConfigError("--grace-period only applies to --scheduler asha or sha")
    if spec.grace_period > spec.max_epochs:
        raise ConfigError(f"--grace-period {spec.grace_period} exceeds --max-epochs "
                          f"{spec.max_epochs}")


def _check_search(spec: SweepSpec) -> None:
    """The space, the search and its budget agree (one sentence naming what does not)."""
    search, space = spec.search, spec.param_space
    if search == "coefficient":
        if spec.scheduler != "fifo":
            raise ConfigError(f"--method coefficient needs --scheduler fifo: --scheduler "
                              f"{spec.scheduler} stops candidates early, and the coefficients "
                              "are chosen on trials that all ran to the end")
        return
    if is_union(space):
        if search != "grid":
            raise ConfigError(f"--search {search}: this study runs a given set of "
                              "configurations (a union of grids); use --search grid")
        return
    if search == "grid":
        if dists := has_distributions(space):
            raise ConfigError(f"--search grid cannot enumerate the distributions of "
                              f"{', '.join(dists)}; use --search random, tpe or nsga2")
        return
    for key, v in space.items():
        if isinstance(v, Conditional):
            values = space.get(v.on)
            values = values.values if isinstance(values, Choice) else values
            if not isinstance(values, list | tuple) or set(values) - set(v.cases):
                raise ConfigError(f"{key} depends on {v.on}, which must be a list or Choice "
                                  f"whose every value has a case in {sorted(v.cases)}")
    if spec.optuna_storage is None:  # the study's SQLite file needs a folder on this machine
        from rnn_core.tuning import local_folder

        local_folder(spec.tracking_uri, spec.storage_path)
    points = n_points(space)
    if points <= 1:
        raise ConfigError(f"--search {search} needs a space with more than one "
                          "configuration, and this one has a single point; use --search grid")
    if spec.num_samples > points:
        raise ConfigError(f"--num-samples {spec.num_samples} exceeds the {int(points)} "
                          f"configurations of the space, so --search {search} would try some "
                          "twice; use --search grid")
    if search == "nsga2" and spec.scheduler != "fifo":
        raise ConfigError(f"--search nsga2 needs --scheduler fifo: --scheduler "
                          f"{spec.scheduler} ranks trials on one objective and stops most "
                          "before NSGA-II sees both of theirs")
    if spec.scheduler == "sha":
        raise ConfigError(f"--search {search} runs with --scheduler asha or fifo: sha fixes "
                          "its brackets from every trial up front")


def _local_cuda() -> bool:
    """Whether torch here can use a CUDA device (imports torch: only asked when GPUs are)."""
    import torch

    return torch.cuda.is_available()


def _check(args: argparse.Namespace, task, space: ModuleType) -> None:
    if args.resume is not None and args.time_budget is not None:
        # Ray restores the first run's stoppers over the ones a resumed run is given
        raise ConfigError("--time-budget cannot be given with --resume: Ray Tune keeps the "
                          "interrupted run's stopping rules; stop a resumed sweep with Ctrl-C")
    if args.num_samples == 0 and args.resume is None:
        search = args.search or getattr(space, "SEARCH", "grid")
        if args.time_budget is None:
            raise ConfigError("--num-samples 0 draws new trials until --time-budget is spent; "
                              "give --time-budget (or a number of trials)")
        if search in ("grid", "coefficient"):
            raise ConfigError(f"--num-samples 0 (new trials until --time-budget) needs a "
                              f"sampled search, and --search {search} has a fixed set of "
                              "trials; use --search random or tpe")
    if args.data_path is not None and not Path(args.data_path).exists():
        raise DataError(f"--data-path {args.data_path} does not exist; expected {task.data_help}")
    if args.gpus_per_trial > 1 and args.gpus_per_trial != int(args.gpus_per_trial):
        raise ConfigError(f"--gpus-per-trial {args.gpus_per_trial}: above 1 it must be whole")
    if args.gpus_per_trial > 0 and args.address is None and not _local_cuda():
        # trials on this machine would train on the CPU (a CPU build of torch) or never start
        # (no GPU for Ray to hand out), and either would only show in the workers' logs
        raise ConfigError(f"--gpus-per-trial {args.gpus_per_trial:g}: torch on this machine "
                          "sees no CUDA device (a CPU build of torch, or no GPU driver); "
                          "install a CUDA build of torch (docs/gpus.md) or leave "
                          "--gpus-per-trial at 0")
    if args.scheduler == "fifo" and args.grace_period is not None:
        raise ConfigError("--grace-period only applies to --scheduler asha or sha")
    rf = args.reduction_factor
    if rf is not None and (rf != int(rf) or rf < 2):  # rungs at grace x factor^k epochs
        raise ConfigError(f"--reduction-factor {rf:g}: expected a whole number of 2 or more "
                          "(at 1 or below the rungs never reach the last epoch, a fraction "
                          "puts two rungs on one epoch)")
    if args.max_failures < 0:
        raise ConfigError(f"--max-failures {args.max_failures} must be 0 or more")
    from rnn_core.tuning import is_uri

    if (args.resume not in (None, "latest") and not is_uri(args.resume)
            and not Path(args.resume).is_dir()):
        raise ConfigError(f"--resume {args.resume} is not a folder; expected a sweep's Ray "
                          "results folder, or --resume alone for the newest unfinished sweep")
    for flag, key in (("--optimizer", "optimizer"), ("--lr", "lr")):
        if getattr(args, key) is not None and key in as_lists(space.GRID):
            raise ConfigError(f"{flag} fixes the recipe's {key}, which this study searches; "
                              "narrow its space with the study's own options instead")
    if not args.experiment_name.strip():
        raise ConfigError("--experiment-name must not be empty")


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
    _check(args, task, space)
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
    _check_budget(spec)
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
        from reports import _pngs

        _pngs.warm()  # the report's browser starts while the models are logged
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
        if "reports._pngs" in sys.modules:  # the report's browser, a process of its own
            from reports import _pngs

            _pngs.stop()
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

