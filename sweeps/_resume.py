"""A study's sweep (``tuning.SweepSpec``): from the command line for a new sweep, from the
saved sweep on ``--resume``.

A resumed sweep must be the sweep that was started: its grid, search, preset, data, budget
and scheduler decide how many trials exist and where the rungs are, and Ray restores each trial
with the config it started with. So ``--resume`` takes them all from the saved sweep, and an
option given beside it that says otherwise is refused rather than silently ignored.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from rnn_core.errors import ConfigError
from rnn_core.precision import resolve_precision
from search_spaces.distributions import Choice
from search_spaces.grids import given_points, is_union, replace_axis, union_axes

if TYPE_CHECKING:  # imported where used: bad options are refused before rnn_core.tuning loads
    from rnn_core.tuning import SweepSpec

SEARCHES = ("grid", "random", "tpe", "nsga2")

# options a sweep is defined by: (command-line flag, args attribute, default)
DEFINING = (("--preset", "preset", "full"), ("--max-epochs", "max_epochs", None),
            ("--grace-period", "grace_period", 1), ("--reduction-factor", "reduction_factor", 3),
            ("--num-samples", "num_samples", 1), ("--seed", "seed", 0),
            ("--train-subset", "train_subset", None), ("--optimizer", "optimizer", None),
            ("--lr", "lr", None), ("--data-path", "data_path", None),
            ("--precision", "precision", None), ("--search", "search", "grid"),
            ("--test-every-epoch", "test_every_epoch", None))


def from_args(args: argparse.Namespace, space: ModuleType, axes: Sequence, task,
              **fields: Any) -> SweepSpec:
    """A new sweep: the preset, then the command line over it; ``fields`` give the rest of the
    spec (the study, how this driver runs it)."""
    from rnn_core.tuning import SweepSpec

    preset_name = "smoke" if args.smoke_test else (args.preset or "full")
    preset = dict(space.PRESETS[preset_name])
    grid = _preset_grid(space.GRID, preset.pop("grid", None))
    for axis in axes:
        if getattr(args, axis.dest, None):
            values = getattr(args, axis.dest)
            grid = (replace_axis(grid, axis.key, values) if is_union(grid)
                    else {**grid, axis.key: values})
    max_epochs = args.max_epochs or preset.pop("max_epochs")
    preset.pop("max_epochs", None)
    search = args.search or getattr(space, "SEARCH", "grid")
    samples = preset.pop("samples", None)  # a sampled search's default budget
    if args.train_subset:
        preset[task.subset[0]] = args.train_subset
    recipe = dict(space.RECIPE)
    if args.optimizer:
        recipe["optimizer"] = args.optimizer
    if args.lr:
        recipe["lr"] = args.lr
    if getattr(args, "test_every_epoch", None):
        recipe["test_every_epoch"] = True
    for option in task.options:
        if getattr(args, option.dest, None) is not None:
            recipe[option.key] = getattr(args, option.dest)
    if search in ("grid", "coefficient"):
        num_samples = args.num_samples or samples or 1  # a grid's seeds
    else:
        # 0: an open stream, new trials until the time budget (checked by _checks.check_args)
        num_samples = (0 if args.num_samples == 0
                       else args.num_samples or samples or _quarter(grid))
        if num_samples is None:
            raise ConfigError(f"--search {search}: the space has continuous distributions and "
                              "the preset gives no budget; give --num-samples (the number of "
                              "trials)")
    base = {**recipe, **preset}  # the recipe and the preset's data settings
    data_options = task.data_options(as_lists(grid), base)
    # decided on the driver from its hardware (the trials' machine on a laptop or GPU box;
    # give --precision explicitly for a cluster of other machines)
    base["precision"] = resolve_precision(args.precision or "auto",
                                          "cuda" if args.gpus_per_trial > 0 else "cpu")
    return SweepSpec(
        task=task.name, preset=preset_name, param_space=grid,
        base_config={**base, "seed": args.seed if args.seed is not None else 0},
        max_epochs=max_epochs, scheduler=args.scheduler or _default_scheduler(search, space),
        grace_period=args.grace_period or 1, reduction_factor=args.reduction_factor or 3,
        num_samples=num_samples, search=search, data_path=args.data_path,
        data_options=data_options, **fields)


def as_lists(space) -> dict:
    """The space with choices as lists: what a task's ``data_options`` reads (a union's keys
    with every value they take; nothing of the compound coefficients, which set sizes only)."""
    if given_points(space):
        return union_axes(space) if is_union(space) else {}
    return {k: list(v.values) if isinstance(v, Choice) else v for k, v in space.items()}


def _preset_grid(grid, override):
    """The study's space with the preset's: a grid's axes replaced one by one, any other space
    (a union of grids, the compound coefficients) replaced whole."""
    if override is None:
        return grid
    if isinstance(grid, dict) and isinstance(override, dict):
        return {**grid, **override}
    return override


def _default_scheduler(search: str, space: ModuleType) -> str:
    """TPE with ASHA (a BOHB-like pairing); NSGA-II with FIFO, because ASHA's rungs rank trials
    on one objective and NSGA-II needs both of every trial it is told; else the study's."""
    return {"tpe": "asha", "nsga2": "fifo"}.get(search, getattr(space, "SCHEDULER", "asha"))


def _quarter(grid: dict) -> int | None:
    """A quarter of the space's configurations, at least 2 (None: continuous)."""
    import math

    from search_spaces.distributions import n_points

    points = n_points(grid)
    return None if math.isinf(points) else max(2, math.ceil(points / 4))


def from_saved(saved: dict, args: argparse.Namespace, axes: Sequence, where: str,
               task=None, **fields: Any) -> SweepSpec:
    """The saved sweep (its ``sweep_params``) with ``fields`` for the rest of the spec; refuses
    an option given with ``--resume`` that contradicts it (one sentence naming the option, its
    value and the saved one)."""
    from rnn_core.tuning import SweepSpec

    # the task (or its name): its data options are checked against the saved config
    name = getattr(task, "name", task)
    spec = SweepSpec.from_params(saved, **fields, **({"task": name} if name else {}))
    given = []
    if args.smoke_test:
        given.append(("--smoke-test", "preset", "smoke"))
    given += [(flag, attr, getattr(args, attr)) for flag, attr, _ in DEFINING
              if getattr(args, attr, None) is not None]
    if args.scheduler is not None:
        given.append(("--scheduler", "scheduler", args.scheduler))
    for option in getattr(task, "options", ()):  # the task's data options, saved in the config
        if getattr(args, option.dest, None) is not None:
            ours = spec.base_config.get(option.key, _UNKNOWN)
            if ours is not _UNKNOWN and not _same(getattr(args, option.dest), ours):
                raise _contradiction(where, option.flag, getattr(args, option.dest), ours)
    for flag, attr, value in given:
        ours = _saved_value(spec, attr)
        if attr == "precision" and value == "auto":
            continue  # "decide for me" agrees with whatever was decided
        if attr == "train_subset":
            continue  # checked below against the data settings it became
        if attr == "data_path" and ours:
            value, ours = Path(value).resolve(), Path(ours).resolve()
        if ours is not _UNKNOWN and not _same(value, ours):
            raise _contradiction(where, flag, value, ours)
    if args.train_subset is not None:
        saved_subset = next((v for k, v in spec.base_config.items() if k.startswith("train_")
                             and k.endswith("subset")), _UNKNOWN)
        if saved_subset is not _UNKNOWN and saved_subset != args.train_subset:
            raise _contradiction(where, "--train-subset", args.train_subset, saved_subset)
    grid = spec.param_space
    saved_axes = union_axes(grid) if is_union(grid) else grid if isinstance(grid, dict) else {}
    for axis in axes:
        value = getattr(args, axis.dest, None)
        if value and axis.key in saved_axes and not _same(value, saved_axes[axis.key]):
            raise _contradiction(where, axis.flag, ",".join(map(str, value)),
                                 saved_axes[axis.key])
    return spec


_UNKNOWN = object()


def _saved_value(spec: SweepSpec, attr: str):
    if attr in ("optimizer", "lr", "precision"):
        return spec.base_config.get(attr, _UNKNOWN)
    if attr == "test_every_epoch":
        return bool(spec.base_config.get(attr, False))
    return getattr(spec, attr, _UNKNOWN)


def _same(a, b) -> bool:
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return float(a) == float(b)
    if isinstance(a, list) and isinstance(b, list):
        return [str(x) for x in a] == [str(x) for x in b]
    return str(a) == str(b)


def _contradiction(where: str, flag: str, value, saved) -> ConfigError:
    shown = ",".join(map(str, saved)) if isinstance(saved, list) else saved
    return ConfigError(f"--resume {where}: {flag} {value} contradicts the saved sweep's "
                       f"{flag.lstrip('-')} {shown}; a resumed sweep keeps the options it "
                       "started with (leave the option out, or start a new sweep)")
