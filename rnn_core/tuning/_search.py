"""Search algorithms: the grid, random sampling, and Optuna's TPE and NSGA-II behind Ray Tune.

A study's space is plain data (``search_spaces.distributions``); this module turns it into
what each search takes: Ray Tune's ``grid_search`` axes (grid), Ray Tune domains (random), or
Optuna distributions handed to Ray's ``OptunaSearch`` (tpe, nsga2). Under a sampled search a
list is a choice among its values.

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
from ray.tune.search.optuna import OptunaSearch

from search_spaces.distributions import Choice, Distribution, IntRange, LogUniform, Uniform

log = logging.getLogger(__name__)

OPTUNA_FILE = "optuna.db"
# NSGA-II's second objective: fewer parameters for the same validation objective
SIZE_METRIC, SIZE_MODE = "n_params", "min"


def optuna_storage_url(tracking_uri: str, storage_path: str | Path) -> str:
    """``sqlite:///<folder of the MLflow SQLite file>/optuna.db``, or beside Ray's results
    when MLflow is not a local SQLite file."""
    if tracking_uri.startswith("sqlite:///"):
        folder = Path(tracking_uri[len("sqlite:///"):]).resolve().parent
    else:
        folder = Path(storage_path).resolve()
    return f"sqlite:///{folder / OPTUNA_FILE}"


def ray_param_space(space: dict[str, Any], search: str) -> dict[str, Any]:
    """Ray Tune's ``param_space`` for the grid (lists are ``grid_search`` axes) or random
    search (lists and distributions are Ray Tune domains); scalars stay fixed."""
    out = {}
    for k, v in space.items():
        if search == "grid":
            out[k] = tune.grid_search(v) if isinstance(v, list) else v
        elif isinstance(v, list):
            out[k] = tune.choice(v)
        elif isinstance(v, Choice):
            out[k] = tune.choice(list(v.values))
        elif isinstance(v, Uniform):
            out[k] = tune.uniform(v.low, v.high)
        elif isinstance(v, LogUniform):
            out[k] = tune.loguniform(v.low, v.high)
        elif isinstance(v, IntRange):  # Ray's upper bound is exclusive
            out[k] = (tune.lograndint if v.log else tune.randint)(v.low, v.high + 1)
        else:
            out[k] = v
    return out


def optuna_space(space: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(Optuna distributions of the sampled keys, the fixed values)."""
    from optuna.distributions import (
        CategoricalDistribution,
        FloatDistribution,
        IntDistribution,
    )

    sampled, fixed = {}, {}
    for k, v in space.items():
        if isinstance(v, list):
            sampled[k] = CategoricalDistribution(v)
        elif isinstance(v, Choice):
            sampled[k] = CategoricalDistribution(list(v.values))
        elif isinstance(v, Uniform):
            sampled[k] = FloatDistribution(v.low, v.high)
        elif isinstance(v, LogUniform):
            sampled[k] = FloatDistribution(v.low, v.high, log=True)
        elif isinstance(v, IntRange):
            sampled[k] = IntDistribution(v.low, v.high, log=v.log)
        elif isinstance(v, Distribution):
            raise TypeError(f"no Optuna distribution for {v!r}")
        else:
            fixed[k] = v
    return sampled, fixed


def make_searcher(search: str, space: dict[str, Any], objective: str, mode: str,
                  num_samples: int, seed: int, storage_url: str | None, study_name: str):
    """The Ray Tune search algorithm for a sampled search (None for the grid)."""
    if search == "grid":
        return None
    if search == "random":
        from ray.tune.search import BasicVariantGenerator

        return BasicVariantGenerator(random_state=seed)
    import optuna

    sampled, _ = optuna_space(space)
    if search == "tpe":
        # a third of the budget drawn at random before TPE models the results (Optuna's
        # default of 10 would leave a small budget all random)
        sampler = optuna.samplers.TPESampler(seed=seed,
                                             n_startup_trials=max(2, min(10, num_samples // 3)))
        metric, mode_ = objective, mode
    else:
        # a generation is a quarter of the budget, 4 to 50 trials (Optuna's default is 50)
        sampler = optuna.samplers.NSGAIISampler(
            seed=seed, population_size=max(4, min(50, num_samples // 4)))
        metric, mode_ = [objective, SIZE_METRIC], [mode, SIZE_MODE]
    storage = optuna.storages.RDBStorage(storage_url)
    searcher = StudySearch(sampled, metric=metric, mode=mode_, sampler=sampler,
                           study_name=study_name, storage=storage)
    with warnings.catch_warnings():  # experimental in Optuna; the names show in its tools
        warnings.simplefilter("ignore")
        searcher._ot_study.set_metric_names(metric if isinstance(metric, list) else [metric])
    return searcher


class StudySearch(OptunaSearch):
    """Ray's ``OptunaSearch`` that hands an Optuna trial asked but never given to Ray
    (the driver stopped between Optuna's ``ask``, which the SQLite file records at once,
    and Ray's next save of its state) to the next Ray trial on ``--resume``, rather than
    asking Optuna anew: no configuration is asked twice and none is left running."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._orphans: list[int] = []

    def restore(self, checkpoint_path: str) -> None:
        super().restore(checkpoint_path)
        from optuna.trial import TrialState

        known = {t._trial_id for t in self._ot_trials.values()}
        self._orphans = [t._trial_id for t in self._ot_study.get_trials(
            deepcopy=False, states=(TrialState.RUNNING,)) if t._trial_id not in known]
        if self._orphans:
            log.info("Optuna study %s: %d trial(s) asked before the interruption and not "
                     "started are given to the next trials", self._study_name,
                     len(self._orphans))

    def suggest(self, trial_id: str) -> dict | None:
        if trial_id not in self._ot_trials and getattr(self, "_orphans", None):
            from optuna.trial import Trial

            self._ot_trials[trial_id] = Trial(self._ot_study, self._orphans.pop(0))
        return super().suggest(trial_id)

    def trial_number(self, trial_id: str) -> int | None:
        """The Optuna trial number of a Ray trial (None: not one of this study's)."""
        trial = self._ot_trials.get(trial_id)
        return None if trial is None else trial.number


