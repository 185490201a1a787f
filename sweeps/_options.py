"""A study script's options: their parsers (one sentence naming a bad value, before any work
starts) and the parser every study builds from its search space and its task."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import ModuleType

from sweeps._resume import SEARCHES

__all__ = ["DEFAULT_TRACKING", "OPTIMIZERS", "SCALING_AXES", "SCHEDULERS", "Axis",
           "build_parser"]

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
