"""A sweep from start to end: MLflow parent run, Ray Tune trials, and resuming after a crash."""

from __future__ import annotations

import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

from rnn_core.errors import ConfigError, SweepInterrupted
from rnn_core.statuses import FINISHED, INTERRUPTED, RUNNING, STOPPED_BY_BUDGET
from rnn_core.tasks import get_task, task_keys
from rnn_core.tuning._outbox import OUTBOX_FILE, PARENT, Outbox
from rnn_core.tuning._spec import SweepOutcome, SweepSpec, sidecar, sweep_meta, write_state
from rnn_core.tuning._sqlite import checkpoint
from rnn_core.tuning._storage import Place, open_storage
from rnn_core.tuning._stores import check_resumed_stores, public_url
from rnn_core.tuning._sweep_setup import (
    _asked_as_slots_free,
    _axes,
    _name_extra,
    _optuna_tags,
    _param_space,
    _samples,
    _scheduler,
    _slots,
)
from rnn_core.tuning._tracking import TrialRuns, check_tracking, log_params
from search_spaces.grids import given_points as _given_points

log = logging.getLogger(__name__)


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
    from rnn_core.tuning._state_copies import COPIES, StateCopies, mend

    if resume is not None:
        folder = root
        for line in mend(folder, sidecar(folder) / COPIES, "--resume"):
            print(f"resume: {line}", file=sys.stderr, flush=True)
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
    outbox = Outbox(client, exp_id, parent_id, sidecar(folder) / OUTBOX_FILE,
                    spec.tracking_outage_s, root=folder)
    # with its password: the study's URL as given (the saved one has none)
    optuna_url = spec.optuna_storage or meta.get("optuna_storage")
    meta["status"] = RUNNING
    write_state(folder, meta)
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
                                 rungs=spec.scheduler in ("asha", "sha"),
                                 max_step=meta["max_epochs"])
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
    callbacks = [*trial_callbacks(runs), ProgressCallback(runs, budget, spec.n_trials), watch,
                 *([StateCopies(folder, sidecar(folder) / COPIES)] if folder.local else [])]
    stop_noise_filters()
    if not spec.verbose:
        quiet_ray_logs()
    try:
        connect(spec.address, preload_modules(task), spec.local_cpus)
        # after connect: the scheduler fills free slots, which it counts from the cluster
        slots = _slots(spec)
        scheduler = _scheduler(spec, folder, slots, resumed=resume is not None,
                               closed=frozenset(runs.status))
        search_alg = _asked_as_slots_free(searcher, scheduler, slots,
                                          spec.max_concurrent_trials)
        trainable = tune.with_resources(tune.with_parameters(trial_fn, data=data),
                                        {"cpu": spec.cpus_per_trial, "gpu": spec.gpus_per_trial})
        if resume is not None:
            tuner = tune.Tuner.restore(folder.uri, trainable, resume_unfinished=True,
                                       resume_errored=False)
            # Ray pickled the first driver's scheduler and callbacks into tuner.pkl: replace
            # them with live ones (the callback's MLflow state, ASHA's reloaded rungs, FIFO's
            # count of the trials Ray restored); the searcher too, where there is one: Ray
            # restores its saved state into it
            give_restored_tuner(tuner, callbacks, spec.verbose,
                                scheduler=scheduler if spec.scheduler != "sha" else None,
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
                    # ASHA caps the trials training itself: Ray's cap counts paused trials;
                    # a searcher's generator has FIFO's cap already (_asked_as_slots_free)
                    max_concurrent_trials=(spec.max_concurrent_trials
                                           if spec.scheduler == "fifo"
                                           and search_alg is searcher else None),
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
        write_state(folder, meta)
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
            from rnn_core.tuning._study_search import close_running_trials

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
        write_state(folder, meta)
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
        write_state(folder, meta)
        outbox.close(drain_s=outbox.wait_s)
        checkpoint()
        raise SweepInterrupted(
            f"every trial ended, but {outbox.outage()}: continue the sweep with --resume "
            f"{folder} once MLflow answers again, which sends them and writes the report")
    outbox.close()
    checkpoint()  # the SQLite stores' files whole again (``_sqlite``)
    meta["status"] = FINISHED
    write_state(folder, meta)
    if not spec.keep_checkpoints:
        freed = _remove_checkpoints(folder)
        log.info("removed Ray's epoch checkpoints (%.0f MB); each trial's best state is in "
                 "MLflow", freed / 2**20)
    study = ((meta["optuna_study"], meta["optuna_storage"]) if "optuna_study" in meta
             else None)
    return SweepOutcome(parent_id, exp_id, meta["tracking_uri"], counts,
                        time.perf_counter() - t0, folder.uri, study,
                        sum(runs.last_epoch.values()))


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
