"""An Optuna sampler wrapper that never proposes a configuration the study already holds, for
a space of categorical parameters only (a grid's lists searched by random, TPE or NSGA-II).

Optuna's samplers draw each configuration afresh, so on a small space they repeat one
(on a 4-point space, NSGA-II spent 2 of 4 trials on one configuration). ``UntriedSampler``
asks its sampler for a proposal; when that configuration is already in the study (asked,
running, finished, stopped or failed), it asks again a few times (random draws and NSGA-II's
mutations differ from one call to the next), and then takes the untried configuration that
agrees with the proposal on the most parameters, ties broken at random: the sampler's
preference is kept as far as an untried configuration allows. The sampler's own state hooks
(NSGA-II's generations) pass through.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
from optuna.distributions import BaseDistribution, CategoricalDistribution
from optuna.samplers import BaseSampler
from optuna.study import Study
from optuna.trial import FrozenTrial

from rnn_core.tuning._wrapped import WrappedSampler

__all__ = ["UntriedSampler", "finite_categorical"]

# how many times the wrapped sampler may propose before the nearest untried configuration
# is taken instead: enough for random and evolutionary draws to find a new one on their own
_RETRIES = 3


def finite_categorical(space: dict[str, BaseDistribution]) -> bool:
    """Whether every parameter of an Optuna space is categorical (the space is a finite set)."""
    return bool(space) and all(isinstance(d, CategoricalDistribution) for d in space.values())


class UntriedSampler(WrappedSampler):
    """``sampler`` over the categorical ``space``, with no configuration proposed twice while
    untried ones remain.

    Args:
        sampler: the Optuna sampler whose proposals are kept where they are new.
        space: the categorical distributions of every sampled parameter.
        seed: seeds the tie-break among equally near untried configurations.
    """

    def __init__(self, sampler: BaseSampler, space: dict[str, CategoricalDistribution],
                 seed: int | None = None) -> None:
        super().__init__(sampler)
        self.space = {k: d for k, d in space.items() if not d.single()}
        self._rng = np.random.RandomState(seed)
        self.redirected = 0  # proposals replaced by an untried configuration

    def infer_relative_search_space(self, study: Study, trial: FrozenTrial
                                    ) -> dict[str, BaseDistribution]:
        return dict(self.space)

    def sample_relative(self, study: Study, trial: FrozenTrial,
                        search_space: dict[str, BaseDistribution]) -> dict[str, Any]:
        if not search_space:
            return {}
        names = sorted(self.space)
        key = lambda params: tuple(repr(params.get(n)) for n in names)  # noqa: E731
        tried = {key(t.params) for t in study.get_trials(deepcopy=False)
                 if t.number != trial.number and t.params}
        proposal = {}
        for _ in range(_RETRIES):
            proposal = self._propose(study, trial)
            if key(proposal) not in tried:
                return proposal
        untried = [dict(zip(names, values, strict=True)) for values in itertools.product(
            *(self.space[n].choices for n in names))]
        untried = [p for p in untried if key(p) not in tried]
        if not untried:
            return proposal  # every configuration tried: nothing new to give
        agree = np.array([sum(p[n] == proposal[n] for n in names) for p in untried])
        nearest = np.flatnonzero(agree == agree.max())
        self.redirected += 1
        return untried[int(self._rng.choice(nearest))]

    def _propose(self, study: Study, trial: FrozenTrial) -> dict[str, Any]:
        """One proposal of the wrapped sampler: its relative draw, the rest independently."""
        own = self.sampler.infer_relative_search_space(study, trial)
        proposal = {k: v for k, v in self.sampler.sample_relative(study, trial, own).items()
                    if k in self.space}
        for name, dist in self.space.items():
            if name not in proposal:
                proposal[name] = self.sampler.sample_independent(study, trial, name, dist)
        return proposal

    def reseed_rng(self) -> None:
        super().reseed_rng()
        self._rng.seed()
