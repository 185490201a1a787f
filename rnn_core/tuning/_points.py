"""Sweeps over a given set of configurations rather than one Cartesian grid.

- A union of grids (``search_spaces.grids``): Ray Tune's own variant generator runs each of
  its configurations once, given as ``points_to_evaluate`` (times the seeds of
  ``num_samples``); Ray saves and restores which are left, so ``--resume`` works as for a grid.
- The compound coefficients (``search_spaces.coefficients``): ``CoefficientSearch`` gives
  stage 1 (the base and the candidates at phi = 1), waits for every one of them to end, picks
  the coefficients of the best on the validation objective, then gives their phi = 2, 3, ...
  configurations (stage 2). Its state is saved with Ray's, so the two stages resume.
"""

from __future__ import annotations

import logging
import pickle
from typing import Any

from ray.tune.search import BasicVariantGenerator, Searcher

from search_spaces.coefficients import CompoundCoefficients
from search_spaces.grids import union_axes, union_points

log = logging.getLogger(__name__)


def seeded_points(space: list, num_samples: int, seed: int) -> list[dict]:
    """The union's configurations, each repeated with seeds ``seed .. seed + num_samples - 1``
    when ``num_samples`` > 1 (as a grid's repeats are)."""
    points = union_points(space)
    if num_samples == 1:
        return points
    return [{**p, "seed": seed + k} for k in range(num_samples) for p in points]


def union_param_space(space: list, num_samples: int, seed: int) -> dict[str, Any]:
    """What Ray enumerates beside the given points: every key they set, as the choice of its
    values (Ray checks a given point against it; the points override it)."""
    from ray import tune

    axes = {k: v if isinstance(v, list) else [v] for k, v in union_axes(space).items()}
    if num_samples > 1:
        axes["seed"] = [seed + k for k in range(num_samples)]
    return {k: tune.choice(v) for k, v in axes.items()}


def points_searcher(space: Any, objective: str, mode: str, num_samples: int, seed: int):
    """The Ray Tune search algorithm of a given-points sweep."""
    if isinstance(space, CompoundCoefficients):
        return CoefficientSearch(space, objective, mode)
    return BasicVariantGenerator(points_to_evaluate=seeded_points(space, num_samples, seed))


class CoefficientSearch(Searcher):
    """Stage 1, then the best coefficients' path (module docstring)."""

    def __init__(self, space: CompoundCoefficients, metric: str, mode: str) -> None:
        super().__init__(metric=metric, mode=mode)
        self.space = space
        self.queue: list[dict] = space.stage1()
        self.given: dict[str, dict] = {}  # Ray trial id -> the configuration it got
        self.values: dict[str, float | None] = {}  # ended trials: their objective (None: none)
        self.stage = 1
        self.chosen: dict | None = None  # the coefficients stage 2 scales

    def suggest(self, trial_id: str) -> dict | str | None:
        if trial_id in self.given:  # asked again for a trial it already configured
            return dict(self.given[trial_id])
        if not self.queue and self.stage == 1:
            if len(self.values) < len(self.given):
                return None  # stage 1 still running: ask again later
            self._choose()
        if not self.queue:
            return Searcher.FINISHED
        point = self.queue.pop(0)
        self.given[trial_id] = point
        return dict(point)

    def _choose(self) -> None:
        self.stage = 2
        sign = 1 if self.mode == "max" else -1
        ranked = [(sign * v, -i, self.given[t]) for i, (t, v) in enumerate(self.values.items())
                  if v is not None and self.given[t]["phi"] == 1]
        if not ranked:
            log.warning("no candidate at phi = 1 reported %s: no coefficient path", self.metric)
            return
        best = max(ranked, key=lambda r: (r[0], r[1]))[2]
        self.chosen = {k: best[k] for k in ("alpha", "beta", "gamma")}
        self.queue = self.space.path(**self.chosen)
        log.info("compound coefficients chosen at phi = 1: alpha %g, beta %g, gamma %g",
                 *self.chosen.values())

    def on_trial_complete(self, trial_id: str, result: dict | None = None,
                          error: bool = False) -> None:
        value = None if error or not result else result.get(self.metric)
        self.values[trial_id] = None if value is None else float(value)

    def save(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "wb") as f:
            pickle.dump({k: getattr(self, k) for k in
                         ("queue", "given", "values", "stage", "chosen")}, f)

    def restore(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "rb") as f:
            self.__dict__.update(pickle.load(f))
