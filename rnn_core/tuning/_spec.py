"""What a sweep is and where its state lives: ``SweepSpec``, ``SweepOutcome``, and the
sidecar folder beside Ray's experiment folder with the sweep's state file."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rnn_core.errors import ConfigError
from rnn_core.statuses import FINISHED
from rnn_core.tuning._storage import Place, check_reachable, place
from search_spaces.distributions import from_json, to_json
from search_spaces.grids import count_given
from search_spaces.grids import given_points as _given_points

# Our state lives beside Ray's experiment folder, not in it: Ray copies its own staging copy of
# that folder over it on restore, which would bring back stale files.
SIDECAR = ".rnn_sweeps"
STATE_FILE = "sweep.json"  # parent run, store, status, the sweep's options
ASHA_FILE = "asha_rungs.json"


def sidecar(folder: Place) -> Place:
    return folder.parent / SIDECAR / folder.name


@dataclass
class SweepSpec:
    """Everything a sweep needs; built by a ``sweeps/`` script from its arguments, or on
    ``--resume`` from what the sweep saved (``params``, ``from_params``).

    The fields up to ``source`` define the sweep; the rest say how a driver runs it (a resumed
    sweep takes them from its own command line).
    """

    study: str
    task: str  # rnn_core.tasks name: the objective, its direction, the metrics MLflow keeps
    # lists are grid axes (choices when sampled), scalars fixed; or a list of such grids (their
    # union), or the compound coefficients (``_points``)
    param_space: Any
    base_config: dict[str, Any]  # every trial's config under the space's values, its seed too
    max_epochs: int
    scheduler: str = "asha"  # asha | sha (synchronous successive halving) | fifo
    grace_period: int = 1
    reduction_factor: float = 3
    num_samples: int = 1
    search: str = "grid"  # grid | random | tpe | nsga2 (``_search``) | coefficient
    preset: str | None = None  # the study's preset (data size, epochs) it was built from
    data_path: str | None = None  # the task's data (None: its default dataset)
    data_options: dict[str, Any] = field(default_factory=dict)  # the task's ``prepare`` options
    # more params for the parent run, where a study's configuration came from (``source_*``)
    source: dict[str, Any] = field(default_factory=dict)
    cpus_per_trial: float = 1
    gpus_per_trial: float = 0
    max_failures: int = 0
    address: str | None = None
    storage_path: str = "ray_results"
    tracking_uri: str = "sqlite:///mlruns.db"
    experiment_name: str = "rnn-sweeps"
    # a local storage_path is a mount every node of the cluster sees (``_storage``)
    shared_storage: bool = False
    max_concurrent_trials: int | None = None  # trials training at once (paused ones not counted)
    local_cpus: int | None = None  # a local Ray instance's logical CPUs (None: the machine's)
    verbose: int = 0  # Ray Tune's own console output (0: only this package's progress lines)
    keep_checkpoints: bool = False  # keep Ray's epoch checkpoints after the sweep ends
    # sampled: the study's database, any SQLAlchemy URL (default: a SQLite file, ``_search``)
    optuna_storage: str | None = None
    # how long MLflow may stay unreachable while the sweep goes on (``_outbox``); past it the
    # sweep stops as interrupted, its waiting writes kept for --resume
    tracking_outage_s: float = 600
    # this driver's wall-clock budget: when it is spent, no trial starts or goes on (Ray's
    # time_budget_s); the trials it stops are ``stopped_by_budget``; None: no limit
    time_budget_s: float | None = None

    @property
    def n_trials(self) -> int | None:
        """The trials the sweep adds; None for an open stream (a sampled search with
        ``num_samples`` 0: new trials until ``time_budget_s`` is spent)."""
        if _given_points(self.param_space):
            return count_given(self.param_space, self.num_samples)
        if self.search != "grid":
            return self.num_samples or None  # the budget of a sampled search
        return self.num_samples * math.prod(
            len(v) for v in self.param_space.values() if isinstance(v, list))

    @property
    def seed(self) -> int:
        return int(self.base_config.get("seed", 0))

    def params(self) -> dict[str, Any]:
        """What defines the sweep, as its parent run's params and its sidecar's
        ``sweep_params`` keep it: the keys reports and ``--resume`` read (``from_params``)."""
        params = {"task": self.task, "preset": self.preset, "n_trials": self.n_trials,
                  "max_epochs": self.max_epochs, "scheduler": self.scheduler,
                  "grace_period": self.grace_period, "reduction_factor": self.reduction_factor,
                  "num_samples": self.num_samples, "grid": to_json(self.param_space),
                  "search": self.search, "seed": self.seed, "data_path": self.data_path,
                  "data_options": self.data_options,
                  "base": {k: v for k, v in self.base_config.items() if k != "seed"},
                  **self.source}
        if self.preset is None:  # a spec built in code: no preset to name in the report
            del params["preset"]
        return params

    @classmethod
    def from_params(cls, params: dict[str, Any], **fields: Any) -> SweepSpec:
        """The sweep ``params`` saved, older layouts included (a key they lack has the value
        sweeps had before it was saved); ``fields`` give the rest: the study, the task, and how
        this driver runs it."""
        return cls(
            param_space=from_json(params["grid"]),
            base_config={**params.get("base", {}), "seed": int(params.get("seed", 0))},
            max_epochs=int(params["max_epochs"]), scheduler=params.get("scheduler", "asha"),
            grace_period=int(params.get("grace_period", 1)),
            reduction_factor=float(params.get("reduction_factor", 3)),
            num_samples=int(params.get("num_samples", 1)), search=params.get("search", "grid"),
            preset=params.get("preset", "full"), data_path=params.get("data_path"),
            data_options=_saved_data_options(params),
            source={k: v for k, v in params.items() if k not in _LAYOUT}, **fields)


# the keys of ``SweepSpec.params`` (and the older layouts' embedding options), not ``source``
_LAYOUT = frozenset(("task", "preset", "n_trials", "max_epochs", "scheduler", "grace_period",
                     "reduction_factor", "num_samples", "grid", "search", "seed", "data_path",
                     "data_options", "base", "embeddings", "embedding_train_subset"))


def _saved_data_options(params: dict) -> dict:
    """The data options a sweep was started with (sweeps saved before tasks existed kept
    their embedding options at the top level)."""
    if "data_options" in params:
        return dict(params["data_options"])
    names = list(params.get("embeddings", []))
    return {"embeddings": names,
            "embedding_train_subset": params.get("embedding_train_subset")} if names else {}


@dataclass
class SweepOutcome:
    parent_run_id: str
    experiment_id: str
    tracking_uri: str
    trials: dict[str, int]  # trial status -> count
    seconds: float
    path: str  # the Ray experiment folder, a path or a URI (what --resume takes)
    optuna_study: tuple[str, str] | None = None  # sampled: (study name, storage URL)
    epochs: int = 0  # trial-epochs the trials reported, failed ones included


def find_resumable(storage_path: str | Path | Place, study: str) -> str:
    """The newest unfinished sweep of ``study`` under ``storage_path`` (a folder or a URI):
    its folder's path or URI."""
    root = place(storage_path, "--storage-path")
    found = []
    for side in (root / SIDECAR).folders():
        if not side.name.startswith(f"{study}-") or not (side / STATE_FILE).exists():
            continue
        meta = json.loads((side / STATE_FILE).read_text())
        if meta.get("status") != FINISHED and (root / side.name).is_dir():
            found.append(((side / STATE_FILE).mtime(), (root / side.name).uri))
    if not found:
        raise ConfigError(f"--resume: no unfinished {study} sweep under {root}")
    return max(found)[1]


def sweep_meta(folder: str | Path | Place) -> dict:
    """What a sweep folder (a path or a URI) records about its sweep (parent run, store, the
    sweep's options)."""
    where = place(folder, "--resume")
    check_reachable(where, "--resume")
    side = sidecar(where)
    if not (side / STATE_FILE).exists():
        raise ConfigError(f"--resume {folder}: not a sweep folder (no {STATE_FILE} in it)")
    rungs = side / ASHA_FILE
    if rungs.exists() and isinstance(json.loads(rungs.read_text()), list):
        raise ConfigError(f"--resume {folder}: this sweep ran with Ray's ASHAScheduler (its "
                          "rungs are saved as a list of brackets), whose rungs ASHA by "
                          "promotion cannot take over; start it again")
    return json.loads((side / STATE_FILE).read_text())


def write_state(folder: Place, meta: dict) -> None:
    (sidecar(folder) / STATE_FILE).write_text(json.dumps(meta, indent=1))
