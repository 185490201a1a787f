"""The Optuna sampler wrappers' common part: every sampler call passed to the wrapped one.

``UntriedSampler`` (no configuration twice) and ``RungSampler`` (TPE learns at ASHA's rungs)
each change how a proposal is made and nothing else; the trial hooks (NSGA-II's generations)
and reseeding must reach the wrapped sampler unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from optuna.distributions import BaseDistribution
from optuna.samplers import BaseSampler
from optuna.study import Study
from optuna.trial import FrozenTrial, TrialState

__all__ = ["WrappedSampler"]


class WrappedSampler(BaseSampler):
    """``sampler`` with every call passed through; subclasses override what they change."""

    def __init__(self, sampler: BaseSampler) -> None:
        self.sampler = sampler

    def __str__(self) -> str:
        return f"{type(self).__name__}({self.sampler})"

    def infer_relative_search_space(self, study: Study, trial: FrozenTrial
                                    ) -> dict[str, BaseDistribution]:
        return self.sampler.infer_relative_search_space(study, trial)

    def sample_relative(self, study: Study, trial: FrozenTrial,
                        search_space: dict[str, BaseDistribution]) -> dict[str, Any]:
        return self.sampler.sample_relative(study, trial, search_space)

    def sample_independent(self, study: Study, trial: FrozenTrial, param_name: str,
                           param_distribution: BaseDistribution) -> Any:
        return self.sampler.sample_independent(study, trial, param_name, param_distribution)

    def before_trial(self, study: Study, trial: FrozenTrial) -> None:
        self.sampler.before_trial(study, trial)

    def after_trial(self, study: Study, trial: FrozenTrial, state: TrialState,
                    values: Sequence[float] | None) -> None:
        self.sampler.after_trial(study, trial, state, values)

    def reseed_rng(self) -> None:
        self.sampler.reseed_rng()
