"""The checks of a study's options against each other, its space and this machine: each bad
combination refused in one sentence before a sweep starts."""

from __future__ import annotations

import argparse
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

from rnn_core.errors import ConfigError, DataError
from search_spaces.distributions import Choice, Conditional, has_distributions, n_points
from search_spaces.grids import is_union
from sweeps._resume import as_lists

if TYPE_CHECKING:
    from rnn_core.tuning import SweepSpec

__all__ = ["check_args", "check_search", "check_spec"]


def check_spec(spec: SweepSpec) -> None:
    """The checks that need the preset's values (its epochs) or the saved sweep's."""
    check_search(spec)
    if spec.scheduler == "fifo" and spec.grace_period != 1:
        raise ConfigError("--grace-period only applies to --scheduler asha or sha")
    if spec.grace_period > spec.max_epochs:
        raise ConfigError(f"--grace-period {spec.grace_period} exceeds --max-epochs "
                          f"{spec.max_epochs}")


def check_search(spec: SweepSpec) -> None:
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


def check_args(args: argparse.Namespace, task, space: ModuleType) -> None:
    """The checks of the command line alone, before the preset or a saved sweep is read."""
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
