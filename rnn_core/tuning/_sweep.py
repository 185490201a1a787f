"""A sweep from start to end: MLflow parent run, Ray Tune trials, and resuming after a crash."""

from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rnn_core.errors import ConfigError, SweepInterrupted
from rnn_core.statuses import FINISHED, INTERRUPTED, RUNNING, STOPPED_BY_BUDGET
from rnn_core.tasks import get_task, task_keys
from rnn_core.tuning._outbox import OUTBOX_FILE, PARENT, Outbox
from rnn_core.tuning._sqlite import checkpoint
from rnn_core.tuning._storage import Place, check_reachable, open_storage, place
from rnn_core.tuning._stores import check_resumed_stores, public_url
from rnn_core.tuning._tracking import TrialRuns, check_tracking, log_params
from search_spaces.distributions import from_json, to_json
from search_spaces.grids import count_given, point_keys
from search_spaces.grids import given_points as _given_points

log = logging.getLogger(__name__)
# Our state lives beside Ray's experiment folder, not in it: Ray copies its own staging copy of
# that folder over it on restore, which would bring back stale files.
SIDECAR = ".rnn_sweeps"
STATE_FILE = "sweep.json"  # parent run, store, status, the sweep's options
ASHA_FILE = "asha_rungs.json"


def _sidecar(folder: Place) -> Place:
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
    side = _sidecar(where)
    if not (side / STATE_FILE).exists():
        raise ConfigError(f"--resume {folder}: not a sweep folder (no {STATE_FILE} in it)")
    rungs = side / ASHA_FILE
    if rungs.exists() and isinstance(json.loads(rungs.read_text()), list):
        raise ConfigError(f"--resume {folder}: this sweep ran with Ray's ASHAScheduler (its "
                          "rungs are saved as a list of brackets), whose rungs ASHA by "
                          "promotion cannot take over; start it again")
    return json.loads((side / STATE_FILE).read_text())


def _write_state(folder: Place, meta: dict) -> None:
    (_sidecar(folder) / STATE_FILE).write_text(json.dumps(meta, indent=1))


def run_sweep(spec: SweepSpec, data: Any, resume: str | Path | Place | None = None,
              data_info: dict | None = None) -> SweepOutcome:
    """Run a sweep, or continue the interrupted one in folder ``resume``.

    ``data`` is the task's prepared data (shipped to every trial); ``data_info`` what the
    parent run logs about it (``Task.prepare``).

    Finished trials are not re-run, unfinished ones continue from their last epoch checkpoint,
    ASHA's rungs and promotions are reloaded, and MLflow keeps the same parent and child runs.
    """
    t0 = time.perf_counter()
    task = get_task(spec.task)
    axes = _axes(spec)  # refuses a bad spec before any work
    root = open_storage(spec.storage_path if resume is None else resume, spec.address,
                        spec.shared_storage, "--storage-path" if resume is None else "--resume")
    from ray import tune

    from rnn_core.tuning._compat_ray import give_restored_tuner
    from rnn_core.tuning._progress import (
        InterruptWatch,
        ProgressCallback,
        budget_epochs,
        quiet_ray_logs,
        sigterm_as_sigint,
        stop_noise_filters,
    )
    from rnn_core.tuning._ray import connect, preload_modules
    from rnn_core.tuning._scheduling import trial_callbacks, trial_fn
    from rnn_core.tuning._search import make_searcher, optuna_storage_url

    if resume is not None:
        folder = root
        if not tune.Tuner.can_restore(folder.uri):
            raise ConfigError(f"--resume {resume}: not a resumable sweep folder (no Ray "
                              "experiment state in it)")
        meta = sweep_meta(folder)
        # the stores this driver was given (the saved ones unless told otherwise)
        client, exp_id = check_resumed_stores(meta, spec.tracking_uri, spec.optuna_storage)
        meta["tracking_uri"] = spec.tracking_uri
        if spec.optuna_storage and "optuna_study" in meta:
            meta["optuna_storage"] = public_url(spec.optuna_storage)
        parent_id = meta["parent_run_id"]
        meta["resumed"] = int(meta.get("resumed", 0)) + 1
    else:
        client, exp_id = check_tracking(spec.tracking_uri, spec.experiment_name)
        parent = client.create_run(
            exp_id, run_name=f"{spec.study}-{time.strftime('%Y%m%d-%H%M%S')}",
            tags={"study": spec.study, "sweep": "parent", **task_keys(task),
                  "objective": task.objective, "mode": task.mode})
        parent_id = parent.info.run_id
        log_params(client, parent_id, {**spec.params(), **(data_info or {})})
        folder = root / f"{spec.study}-{parent_id[:8]}"
        meta = {"parent_run_id": parent_id, "experiment_id": exp_id, "study": spec.study,
                "tracking_uri": spec.tracking_uri, "experiment_name": spec.experiment_name,
                "max_epochs": spec.max_epochs, "sweep_params": spec.params()}
        if spec.search not in ("grid", "coefficient"):  # an Optuna study
            meta["optuna_storage"] = public_url(spec.optuna_storage or optuna_storage_url(
                spec.tracking_uri, spec.storage_path))
            meta["optuna_study"] = folder.name
            log_params(client, parent_id,
                       {k: meta[k] for k in ("optuna_storage", "optuna_study")})
    outbox = Outbox(client, exp_id, parent_id, _sidecar(folder) / OUTBOX_FILE,
                    spec.tracking_outage_s, root=folder)
    # with its password: the study's URL as given (the saved one has none)
    optuna_url = spec.optuna_storage or meta.get("optuna_storage")
    meta["status"] = RUNNING
    _write_state(folder, meta)
    outbox.tag(PARENT, ray_experiment_path=folder.uri)

    base = {**spec.base_config, **task_keys(task), "max_epochs": spec.max_epochs,
            "threads": max(1, int(spec.cpus_per_trial)), "gpus": spec.gpus_per_trial,
            **({"samples": spec.num_samples}
               if spec.search == "grid" and spec.num_samples > 1 else {})}
    # built before Ray starts: a fresh one on --resume too, whose state Ray then restores
    seed = spec.seed
    if _given_points(spec.param_space):
        from rnn_core.tuning._points import points_searcher

        searcher = points_searcher(spec.param_space, task.best_metric, task.mode,
                                   spec.num_samples, seed)
    else:
        searcher = make_searcher(spec.search, spec.param_space, task.best_metric, task.mode,
                                 spec.num_samples, seed, optuna_url,
                                 meta.get("optuna_study", folder.name),
                                 rungs=spec.scheduler in ("asha", "sha"))
    runs = TrialRuns(outbox, base, meta["max_epochs"], task,
                     trial_tags=_optuna_tags(searcher), name_extra=_name_extra(spec, task))
    if resume is not None:
        runs.adopt()  # the child runs it made, one a trial
        outbox.send_kept()  # what it could not write to them
        runs.adopt()  # their epochs, those just sent included
        outbox.end(PARENT, "RUNNING")
        outbox.tag(PARENT, resumed=str(meta["resumed"]))
    budget = budget_epochs(spec.scheduler, spec.n_trials, spec.grace_period, spec.max_epochs,
                           spec.reduction_factor)
    watch = InterruptWatch()
    callbacks = [*trial_callbacks(runs), ProgressCallback(runs, budget, spec.n_trials), watch]
    stop_noise_filters()
    if not spec.verbose:
        quiet_ray_logs()
    try:
        connect(spec.address, preload_modules(task), spec.local_cpus)
        # after connect: the scheduler fills free slots, which it counts from the cluster
        slots = _slots(spec)
        scheduler = _scheduler(spec, folder, slots)
        search_alg = _asked_as_slots_free(searcher, scheduler, slots)
        trainable = tune.with_resources(tune.with_parameters(trial_fn, data=data),
                                        {"cpu": spec.cpus_per_trial, "gpu": spec.gpus_per_trial})
        if resume is not None:
            tuner = tune.Tuner.restore(folder.uri, trainable, resume_unfinished=True,
                                       resume_errored=False)
            # Ray pickled the first driver's scheduler and callbacks into tuner.pkl: replace
            # them with live ones (the callback's MLflow state, ASHA's reloaded rungs); the
            # searcher too, where there is one: Ray restores its saved state into it
            give_restored_tuner(tuner, callbacks, spec.verbose,
                                scheduler=scheduler if spec.scheduler == "asha" else None,
                                search_alg=search_alg)
        else:
            tuner = tune.Tuner(
                trainable,
                param_space={**base, **_param_space(spec, axes)},
                tune_config=tune.TuneConfig(
                    # one quantity everywhere: the scheduler compares trials at a rung, the
                    # searcher learns, and the report picks by the best validation figure
                    # a trial has reached (the state its checkpoint keeps and is tested)
                    metric=task.best_metric, mode=task.mode, scheduler=scheduler,
                    search_alg=search_alg,
                    # a grid's repeats are its seed axis (_axes); a sampled search's budget
                    num_samples=(spec.n_trials if _given_points(spec.param_space)
                                 else 1 if spec.search == "grid" else _samples(spec)),
                    reuse_actors=True,
                    # ASHA caps the trials training itself: Ray's cap counts paused trials
                    max_concurrent_trials=(spec.max_concurrent_trials
                                           if spec.scheduler == "fifo" else None),
                    time_budget_s=spec.time_budget_s),
                run_config=tune.RunConfig(
                    name=folder.name, storage_path=folder.parent.uri, callbacks=callbacks,
                    failure_config=tune.FailureConfig(max_failures=spec.max_failures),
                    # two, not one: Ray deletes the previous checkpoint when it registers a
                    # new one and saves its experiment state after that, so a driver killed in
                    # between leaves a state that names the previous one; resuming needs it
                    checkpoint_config=tune.CheckpointConfig(num_to_keep=2),
                    verbose=spec.verbose),
            )
        if spec.time_budget_s is not None:
            outbox.tag(PARENT, time_budget_s=f"{spec.time_budget_s:g}")
        fit_start = time.perf_counter()
        with sigterm_as_sigint():
            grid = tuner.fit()
    except BaseException as exc:
        outbox.tag(PARENT, error=f"{type(exc).__name__}: {exc}"[:5000])
        outbox.end(PARENT, "KILLED" if isinstance(exc, KeyboardInterrupt) else "FAILED")
        for tid in runs.live - set(runs.status):
            runs.interrupt(tid)
        meta["status"] = INTERRUPTED
        _write_state(folder, meta)
        outbox.close(drain_s=outbox.wait_s)
        checkpoint()
        raise
    # after a stop signal, every trial this driver has not seen end is unfinished: Ray marks
    # the ones it stopped TERMINATED in memory, but its saved state has them running
    unfinished = watch.trial_ids - set(runs.status) if watch.interrupted else set()
    # the trials Ray stopped when the budget ran out ended without a scheduler's decision
    spent = (spec.time_budget_s is not None and not watch.interrupted
             and time.perf_counter() - fit_start >= spec.time_budget_s)
    ended_before = set(runs.status)
    _settle(runs, grid, skip=unfinished, status=STOPPED_BY_BUDGET if spent else None)
    if spent:
        cut = sorted(set(runs.status) - ended_before)
        outbox.tag(PARENT, time_budget_spent=str(len(cut)))
        if "optuna_study" in meta:
            from rnn_core.tuning._search import close_running_trials

            close_running_trials(optuna_url, meta["optuna_study"])
        log.info("time budget of %.0f s spent: %d trials stopped where they were",
                 spec.time_budget_s, len(cut))
    if unfinished:
        # Ray caught the signal and saved its state: the trials it left are neither stopped
        # by a scheduler nor finished, and the sweep is not complete (no report, --resume)
        for tid in unfinished:
            runs.interrupt(tid)
        outbox.tag(PARENT, interrupted=str(len(unfinished)))
        outbox.end(PARENT, "KILLED")
        meta["status"] = INTERRUPTED
        _write_state(folder, meta)
        ended, outage = len(runs.status), outbox.expired
        outbox.close(drain_s=outbox.wait_s)
        checkpoint()
        why = f" because {outbox.outage()}" if outage else ""
        raise SweepInterrupted(
            f"sweep interrupted after {time.perf_counter() - t0:.0f} s with {ended}"
            f"{f' of {spec.n_trials}' if spec.n_trials else ''} trials ended{why}; its state "
            f"is saved in {folder}: continue it "
            "with --resume" + (" once MLflow answers again" if outage else ""))
    counts: dict[str, int] = {}
    for s in runs.status.values():
        counts[s] = counts.get(s, 0) + 1
    outbox.tag(PARENT, trial_counts=json.dumps(counts))
    outbox.end(PARENT, "FINISHED")
    if not outbox.drain():  # every trial ended, and MLflow has been away past the limit
        meta["status"] = INTERRUPTED
        _write_state(folder, meta)
        outbox.close(drain_s=outbox.wait_s)
        checkpoint()
        raise SweepInterrupted(
            f"every trial ended, but {outbox.outage()}: continue the sweep with --resume "
            f"{folder} once MLflow answers again, which sends them and writes the report")
    outbox.close()
    checkpoint()  # the SQLite stores' files whole again (``_sqlite``)
    meta["status"] = FINISHED
    _write_state(folder, meta)
    if not spec.keep_checkpoints:
        freed = _remove_checkpoints(folder)
        log.info("removed Ray's epoch checkpoints (%.0f MB); each trial's best state is in "
                 "MLflow", freed / 2**20)
    study = ((meta["optuna_study"], meta["optuna_storage"]) if "optuna_study" in meta
             else None)
    return SweepOutcome(parent_id, exp_id, meta["tracking_uri"], counts,
                        time.perf_counter() - t0, folder.uri, study,
                        sum(runs.last_epoch.values()))


def _param_space(spec: SweepSpec, axes: dict[str, list]) -> dict[str, Any]:
    """What Ray Tune enumerates: the grid's axes (a repeated grid's seed axis included); under
    a sampled search only the fixed values, the searcher holding the rest (Ray refuses
    unresolved values beside a searcher that has its own space)."""
    from rnn_core.tuning._search import grid_param_space, optuna_space

    if _given_points(spec.param_space):  # the searcher gives every configuration
        from rnn_core.tuning._points import union_param_space

        return ({} if spec.search == "coefficient" else union_param_space(
            spec.param_space, spec.num_samples, spec.seed))
    if spec.search == "grid":
        return grid_param_space({**spec.param_space, **axes})
    return optuna_space(spec.param_space)[2]


def _name_extra(spec: SweepSpec, task) -> tuple[str, ...]:
    """Keys a search varies that the task's run names leave out: every list or distribution
    of a sampled search, and a grid's axes of two or more values (two trials of a grid would
    otherwise share a run name)."""
    if _given_points(spec.param_space):
        return ()
    from search_spaces.distributions import Distribution

    named = {k for k, _ in task.name_keys} | {"variant", "bidirectional", "embedding"}
    if spec.search == "grid":
        return tuple(k for k, v in spec.param_space.items()
                     if k not in named and isinstance(v, list) and len(v) > 1)
    return tuple(k for k, v in spec.param_space.items()
                 if k not in named and isinstance(v, list | Distribution))


def _optuna_tags(searcher):
    """``trial_id -> {"optuna_trial": number}`` for the MLflow child runs of an Optuna search."""
    number = getattr(searcher, "trial_number", None)
    if number is None:
        return None

    def tags(trial_id: str) -> dict[str, str]:
        n = number(trial_id)
        return {} if n is None else {"optuna_trial": str(n)}

    return tags


def _axes(spec: SweepSpec) -> dict[str, list]:
    """The grid's axes; ``num_samples`` repeats become a ``seed`` axis (base seed, +1, ...),
    so each repeat trains with its own seed and run name, not as an identical copy.

    Raises ConfigError for a spec no sweep can run, before any work.
    """
    from rnn_core.tuning._asha import rung_epochs

    given = _given_points(spec.param_space)
    axes = {} if given else {k: v for k, v in spec.param_space.items() if isinstance(v, list)}
    if given and spec.num_samples > 1 and "seed" in point_keys(spec.param_space):
        raise ConfigError("num_samples repeats the configurations with seeds of their own; "
                          "they already set a seed: use one or the other")
    if spec.search == "grid" and spec.num_samples > 1 and not given:
        if "seed" in axes:
            raise ConfigError("num_samples repeats the grid with seeds of its own; the grid "
                              "already has a seed axis: use one or the other")
        seed = int(spec.param_space.get("seed", spec.seed))
        axes["seed"] = [seed + k for k in range(spec.num_samples)]
    if spec.scheduler in ("asha", "sha"):
        try:
            rung_epochs(spec.grace_period, spec.reduction_factor, spec.max_epochs)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
    n = spec.n_trials
    if spec.num_samples == 0:  # an open stream
        if spec.search == "grid" or given:
            raise ConfigError("num_samples 0 (trials until the time budget) needs a sampled "
                              "search (random, tpe); a grid's trials are fixed")
        if spec.time_budget_s is None:
            raise ConfigError("num_samples 0 adds trials until the time budget is spent; "
                              "set time_budget_s (or a number of trials)")
        if spec.scheduler == "sha":
            raise ConfigError("num_samples 0 (trials until the time budget) runs with asha "
                              "or fifo: sha fixes its brackets from every trial up front")
        return axes
    if spec.scheduler == "sha" and (spec.max_concurrent_trials or n) < n:
        raise ConfigError(f"max_concurrent_trials {spec.max_concurrent_trials} with "
                          f"synchronous halving: every one of the {n} trials must reach a rung "
                          "before any goes on; use asha")
    return axes


def _samples(spec: SweepSpec) -> int:
    """Ray's ``num_samples`` for a sampled search: its budget; for an open stream as many as
    the space has configurations (a searcher proposes none twice), endless (-1) where it has
    a continuous one: the time budget ends it."""
    if spec.num_samples:
        return spec.num_samples
    from search_spaces.distributions import n_points

    points = n_points(spec.param_space)
    return -1 if math.isinf(points) else int(points)


def _scheduler(spec: SweepSpec, folder: Place, slots: int):
    from ray.tune.schedulers import FIFOScheduler

    from rnn_core.tuning._asha import PromotionASHA
    from rnn_core.tuning._scheduling import SuccessiveHalving

    n = spec.n_trials
    if spec.scheduler == "asha":
        return PromotionASHA(n, spec.grace_period, spec.max_epochs, spec.reduction_factor,
                             state_file=_sidecar(folder) / ASHA_FILE,
                             max_running=spec.max_concurrent_trials, slots=slots)
    if spec.scheduler == "sha":
        return SuccessiveHalving(n, spec.grace_period, spec.max_epochs, spec.reduction_factor)
    return FIFOScheduler()


def _asked_as_slots_free(searcher, scheduler, slots: int):
    """Under ASHA by promotion, a searcher is asked for a trial only when one would start
    (``_asks.AskWhenFree``); a grid's trials (Ray's variant generator) are all known up
    front, and under FIFO or SHA Ray's own limit holds."""
    from ray.tune.search import Searcher

    from rnn_core.tuning._asha import PromotionASHA
    from rnn_core.tuning._asks import AskWhenFree

    if isinstance(searcher, Searcher) and isinstance(scheduler, PromotionASHA):
        return AskWhenFree(searcher, scheduler, slots)
    return searcher


def _slots(spec: SweepSpec) -> int:
    """Trials the cluster trains at once, as it stands when the sweep starts (Ray connected):
    its CPUs over a trial's CPUs, its GPUs over a trial's GPUs where trials take them, under
    ``max_concurrent_trials``. ASHA gives a slot this leaves free to a speculative promotion;
    a cluster that grows later gets no more of them."""
    import ray

    have = ray.cluster_resources()
    counts = []
    if spec.cpus_per_trial > 0:
        counts.append(int(have.get("CPU", 0) // spec.cpus_per_trial))
    if spec.gpus_per_trial > 0:
        counts.append(int(have.get("GPU", 0) // spec.gpus_per_trial))
    if spec.max_concurrent_trials:
        counts.append(spec.max_concurrent_trials)
    return max(1, min(counts, default=1))


def _remove_checkpoints(folder: Place) -> int:
    """Delete the epoch checkpoints of a finished sweep (what only ``--resume`` needs: two per
    trial, ~2x the model with the optimizer state); returns the bytes freed."""
    freed = 0
    for trial in folder.folders():
        for ckpt in trial.folders():
            if ckpt.name.startswith("checkpoint_"):
                freed += ckpt.size()
                ckpt.remove()
    return freed


def _settle(runs: TrialRuns, grid, skip: set[str] = frozenset(),
            status: str | None = None) -> None:
    """Close child runs whose trial ended while no driver was listening (before a crash, or
    stopped by Ray when the time budget ran out: ``status``)."""
    for result in grid:
        tid = (result.metrics or {}).get("trial_id")
        if tid is None or tid in runs.status or tid in skip:
            continue
        if status is not None and tid not in runs.runs:
            continue  # stopped before it started: no work to record
        cfg = result.config or {}
        if result.metrics:
            runs.result(tid, cfg, result.metrics)
        runs.complete(tid, cfg, result.checkpoint,
                      error=str(result.error) if result.error else None, status=status)
