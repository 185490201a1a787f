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

import warnings
from pathlib import Path
from typing import Any

from ray import tune

from rnn_core.tuning._compat_ray import optuna_search_study
from rnn_core.tuning._sqlite import write_ahead
from rnn_core.tuning._study_cache import StudyCache
from rnn_core.tuning._study_search import StudySearch
from search_spaces.distributions import (
    Choice,
    Conditional,
    Distribution,
    IntRange,
    LogUniform,
    Uniform,
)

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
