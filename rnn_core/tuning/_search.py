"""Search algorithms: the grid, random sampling, and Optuna's TPE and NSGA-II behind Ray Tune.

A study's space is plain data (``search_spaces.distributions``); this module turns it into
what each search takes: Ray Tune's ``grid_search`` axes (grid), or Optuna distributions handed
to Ray's ``OptunaSearch`` with Optuna's random, TPE or NSGA-II sampler (random, tpe, nsga2).
Under a sampled search a list is a choice among its values. Random search goes through Optuna
too, so every sampled search is seeded, continues on ``--resume`` the same way, draws
conditional distributions, and leaves a study Optuna's tools compare.

The Optuna study of a sweep lives in an SQLite file beside the MLflow store (``optuna.db``;
beside Ray's results when MLflow is a server), named after the sweep's Ray folder, so
``optuna.load_study`` and optuna-dashboard open it and ``--resume`` continues it.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Any

from ray import tune
from ray.tune.result import TRAINING_ITERATION
from ray.tune.search.optuna import OptunaSearch

from rnn_core.tuning._compat_ray import optuna_search_study, optuna_search_trials
from rnn_core.tuning._sqlite import write_ahead
from rnn_core.tuning._study_cache import StudyCache
from search_spaces.distributions import (
    Choice,
    Conditional,
    Distribution,
    IntRange,
    LogUniform,
    Uniform,
)

log = logging.getLogger(__name__)

OPTUNA_FILE = "optuna.db"
# NSGA-II's second objective: fewer parameters for the same validation objective
SIZE_METRIC, SIZE_MODE = "n_params", "min"


def optuna_storage_url(tracking_uri: str, storage_path: str | Path) -> str:
    """``sqlite:///<folder of the MLflow SQLite file>/optuna.db``, or beside Ray's results
    when MLflow is not a local SQLite file (``_storage.local_folder``)."""
    from rnn_core.tuning._storage import local_folder

    return f"sqlite:///{local_folder(tracking_uri, storage_path) / OPTUNA_FILE}"


def grid_param_space(space: dict[str, Any]) -> dict[str, Any]:
    """Ray Tune's ``param_space`` for the grid: lists are ``grid_search`` axes, scalars fixed."""
    return {k: tune.grid_search(v) if isinstance(v, list) else v for k, v in space.items()}


def _optuna_distribution(v):
    from optuna.distributions import (
        CategoricalDistribution,
        FloatDistribution,
        IntDistribution,
    )

    if isinstance(v, list):
        return CategoricalDistribution(v)
    if isinstance(v, Choice):
        return CategoricalDistribution(list(v.values))
    if isinstance(v, Uniform):
        return FloatDistribution(v.low, v.high)
    if isinstance(v, LogUniform):
        return FloatDistribution(v.low, v.high, log=True)
    if isinstance(v, IntRange):
        return IntDistribution(v.low, v.high, log=v.log)
    raise TypeError(f"no Optuna distribution for {v!r}")


def optuna_space(space: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """(Optuna distributions of the sampled keys, the conditional keys as ``{key: {case:
    distribution}}`` with the key they depend on, the fixed values)."""
    sampled, conditional, fixed = {}, {}, {}
    for k, v in space.items():
        if isinstance(v, Conditional):
            conditional[k] = (v.on, {c: _optuna_distribution(d) for c, d in v.cases.items()})
        elif isinstance(v, (list, Distribution)):
            sampled[k] = _optuna_distribution(v)
        else:
            fixed[k] = v
    return sampled, conditional, fixed


def _suggest(trial, name: str, dist):
    from optuna.distributions import CategoricalDistribution, FloatDistribution

    if isinstance(dist, CategoricalDistribution):
        return trial.suggest_categorical(name, dist.choices)
    if isinstance(dist, FloatDistribution):
        return trial.suggest_float(name, dist.low, dist.high, log=dist.log)
    return trial.suggest_int(name, dist.low, dist.high, log=dist.log)


class DrawConditional:
    """Optuna define-by-run space for a space with conditional keys (a class, not a closure,
    because Ray pickles the searcher with it). A conditional key is drawn under the name
    ``<key>_<case>`` (``lr_sgd``), so each case's range is a parameter of its own for the
    sampler, and the trial's config gets it under ``<key>`` as well."""

    def __init__(self, sampled: dict, conditional: dict) -> None:
        self.sampled, self.conditional = sampled, conditional

    def __call__(self, trial) -> dict:
        values = {k: _suggest(trial, k, d) for k, d in self.sampled.items()}
        out = {}
        for k, (on, cases) in self.conditional.items():
            if values.get(on) not in cases:
                raise ValueError(f"conditional {k!r} has no case for {on}={values.get(on)!r}")
            out[k] = _suggest(trial, f"{k}_{values[on]}", cases[values[on]])
        return out


def make_sampler(search: str, num_samples: int, seed: int, sampled: dict | None = None,
                 conditional: dict | None = None, rungs: bool = False):
    """Optuna's sampler for ``search`` (random, tpe, nsga2) with this platform's settings; over
    a space of categorical parameters only (``sampled``, no ``conditional`` keys), wrapped so
    that no configuration is proposed twice (``_untried.UntriedSampler``). ``rungs``: the
    scheduler keeps trials waiting at rungs (ASHA, SHA), and TPE learns from them there
    (``_rungs.RungSampler``)."""
    import optuna

    from rnn_core.tuning._rungs import RungSampler
    from rnn_core.tuning._untried import UntriedSampler, finite_categorical

    if search == "random":
        sampler = optuna.samplers.RandomSampler(seed=seed)
    elif search == "tpe":
        # a third of the budget drawn at random before TPE models the results (Optuna's
        # default of 10 would leave a small budget all random)
        # (an open stream, num_samples 0, has no budget to take a third of: Optuna's 10)
        startup = max(2, min(10, num_samples // 3)) if num_samples else 10
        sampler = optuna.samplers.TPESampler(seed=seed, n_startup_trials=startup)
        if rungs:
            # few trials end before the last are asked when they wait at rungs, so TPE also
            # models those that have reported an epoch; with FIFO every trial ends in turn,
            # and a trial one epoch in would count against the start-up as much as one ended
            sampler = RungSampler(sampler)
    elif search == "nsga2":
        # a generation is a quarter of the budget, 4 to 50 trials (Optuna's default is 50)
        sampler = optuna.samplers.NSGAIISampler(
            seed=seed, population_size=max(4, min(50, num_samples // 4)) if num_samples else 50)
    else:
        raise ValueError(f"no Optuna sampler for search {search!r}")
    if sampled and not conditional and finite_categorical(sampled):
        sampler = UntriedSampler(sampler, sampled, seed)
    return sampler


def make_searcher(search: str, space: dict[str, Any], objective: str, mode: str,
                  num_samples: int, seed: int, storage_url: str | None, study_name: str,
                  rungs: bool = False, max_step: int | None = None):
    """The Ray Tune search algorithm for a sampled search (None for the grid); ``rungs``: see
    ``make_sampler``; ``max_step``: the epochs a trial trains to (``StudySearch``)."""
    if search == "grid":
        return None

    sampled, conditional, _ = optuna_space(space)
    sampler = make_sampler(search, num_samples, seed, sampled, conditional, rungs)
    if search == "nsga2":
        metric, mode_ = [objective, SIZE_METRIC], [mode, SIZE_MODE]
    else:
        metric, mode_ = objective, mode
    write_ahead(storage_url)
    storage = StudyCache(storage_url)  # the study file, read from memory (one writer)
    draw = DrawConditional(sampled, conditional) if conditional else sampled
    searcher = StudySearch(draw, metric=metric, mode=mode_, sampler=sampler,
                           study_name=study_name, storage=storage, max_step=max_step)
    with warnings.catch_warnings():  # experimental in Optuna; the names show in its tools
        warnings.simplefilter("ignore")
        optuna_search_study(searcher).set_metric_names(
            metric if isinstance(metric, list) else [metric])
    return searcher


class StudySearch(OptunaSearch):
    """Ray's ``OptunaSearch`` that hands an Optuna trial asked but never given to Ray
    (the driver stopped between Optuna's ``ask``, which the SQLite file records at once,
    and Ray's next save of its state) to the next Ray trial on ``--resume``, rather than
    asking Optuna anew: no configuration is asked twice and none is left running."""

    def __init__(self, *args, max_step: int | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._orphans: list[int] = []
        self._max_step = max_step  # the epochs a trial trains to (``on_trial_complete``)

    def restore(self, checkpoint_path: str) -> None:
        super().restore(checkpoint_path)
        from optuna.trial import TrialState

        from rnn_core.tuning._compat_optuna import trial_id

        study = optuna_search_study(self)
        known = {trial_id(t) for t in optuna_search_trials(self).values()}
        self._orphans = [trial_id(t) for t in study.get_trials(
            deepcopy=False, states=(TrialState.RUNNING,)) if trial_id(t) not in known]
        if self._orphans:
            log.info("Optuna study %s: %d trial(s) asked before the interruption and not "
                     "started are given to the next trials", study.study_name,
                     len(self._orphans))

    def forget_unrestored(self, restored: set[str]) -> int:
        """Ray trial ids this searcher's saved state maps to an Optuna trial still RUNNING
        that Ray's restored state does not have: their Optuna trials go to the next new
        trials, as orphans do. On object storage Ray uploads its experiment state and the
        searcher's state as separate objects, so a driver killed mid-upload can leave the
        searcher's state newer than the trial list; the trial was never going to run again.
        Returns how many."""
        from optuna.trial import TrialState

        from rnn_core.tuning._compat_optuna import trial_id

        trials, study = optuna_search_trials(self), optuna_search_study(self)
        running = {trial_id(t) for t in study.get_trials(deepcopy=False,
                                                          states=(TrialState.RUNNING,))}
        lost = [rid for rid, t in trials.items()
                if rid not in restored and trial_id(t) in running]
        for rid in lost:
            self._orphans.insert(0, trial_id(trials.pop(rid)))
        if lost:
            log.info("Optuna study %s: %d trial(s) the saved searcher knew and Ray's saved "
                     "trials did not are given to the next trials", study.study_name,
                     len(lost))
        return len(lost)

    def ended_unrestored(self, restored: set[str]) -> int:
        """Optuna trials that have ended (complete, pruned or failed) and that no trial of
        ``restored`` (Ray trial ids) owns: trials Ray's saved state lost after they ended."""
        from optuna.trial import TrialState

        from rnn_core.tuning._compat_optuna import trial_id

        owned = {trial_id(t) for rid, t in optuna_search_trials(self).items() if rid in restored}
        return sum(1 for t in optuna_search_study(self).get_trials(
            deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL))
            if trial_id(t) not in owned)

    def on_trial_complete(self, trial_id: str, result: dict | None = None,
                          error: bool = False) -> None:
        """A trial a scheduler stopped short of ``max_step`` on a result ends PRUNED at that
        result's epoch, as one stopped while it waited at its rung does. Ray hands the
        searcher no result that the scheduler answers with a stop, then ends the trial with
        that result, which Ray's ``OptunaSearch`` records as COMPLETE at an early epoch's
        value: TPE would rank it among the trials that trained to the end, and the report's
        Optuna figures would show it as completed. One objective only (Optuna's trials of
        several report no steps)."""
        step = (result or {}).get(TRAINING_ITERATION)
        trial = optuna_search_trials(self).get(trial_id)
        if (result and not error and trial is not None and self._max_step is not None
                and isinstance(step, int) and step < self._max_step
                and not isinstance(self.metric, list)
                and step not in optuna_search_study(self).get_trials(
                    deepcopy=False)[trial.number].intermediate_values):
            super().on_trial_result(trial_id, result)
            result = None  # no value: Optuna prunes it at its last reported step
        super().on_trial_complete(trial_id, result=result, error=error)

    def suggest(self, trial_id: str) -> dict | None:
        trials = optuna_search_trials(self)
        if trial_id not in trials and getattr(self, "_orphans", None):
            from rnn_core.tuning._compat_optuna import running_trial

            trials[trial_id] = running_trial(optuna_search_study(self), self._orphans.pop(0))
        return super().suggest(trial_id)

    def finished_trials(self) -> int:
        """Trials Optuna has been told the end of (COMPLETE or PRUNED): what TPE models."""
        from optuna.trial import TrialState

        return len(optuna_search_study(self).get_trials(
            deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED)))

    def observed_trials(self) -> int:
        """Trials TPE models under ``_rungs.RungSampler``: the ended ones and those that
        have reported an epoch (at a rung, or training)."""
        from rnn_core.tuning._rungs import rung_observations

        return rung_observations(optuna_search_study(self))

    def trial_number(self, trial_id: str) -> int | None:
        """The Optuna trial number of a Ray trial (None: not one of this study's)."""
        trial = optuna_search_trials(self).get(trial_id)
        return None if trial is None else trial.number




def close_running_trials(storage_url: str, study_name: str) -> int:
    """End the Optuna trials a stopped sweep left RUNNING (the time budget ran out): PRUNED at
    their last reported value, FAIL where they reported none (never started). Returns how
    many were closed, so the study file says what the sweep did."""
    import optuna
    from optuna.trial import TrialState

    study = optuna.load_study(study_name=study_name, storage=storage_url)
    closed = 0
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        state = TrialState.PRUNED if t.intermediate_values else TrialState.FAIL
        study.tell(t.number, state=state)
        closed += 1
    return closed
