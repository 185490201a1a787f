"""An Optuna sampler wrapper that lets TPE learn from trials waiting at ASHA's rungs, as BOHB
learns from every budget a configuration reached.

Optuna's TPE models COMPLETE and PRUNED trials (RUNNING ones enter only as constant-liar
placeholders with no value), and counts them against its random start-up. Under ASHA
(``PromotionASHA``) a trial waits paused at its rung, RUNNING in the study, until the rung's
promotions are settled, so few trials have ended when the next ones are asked and TPE stays in
its start-up. ``RungSampler`` hands its sampler a view of the study in which every RUNNING
trial that has reported an intermediate value (Ray's ``OptunaSearch`` reports the objective
after every epoch) is PRUNED at its last step. TPE ranks pruned trials by their last step,
then by the value there, so a trial that reached a higher rung ranks above one at a lower
rung, which is ASHA's own view; these trials count against the start-up as TPE counts pruned
ones. The stored study is not changed: a trial that later completes is COMPLETE, and Ray and
ASHA see what they saw.
"""

from __future__ import annotations

import copy
import math
from typing import Any

from optuna.distributions import BaseDistribution
from optuna.study import Study
from optuna.trial import FrozenTrial, TrialState

from rnn_core.tuning._compat_optuna import trials_view
from rnn_core.tuning._wrapped import WrappedSampler

__all__ = ["RungSampler", "rung_view"]


def _as_pruned(trial: FrozenTrial) -> FrozenTrial:
    """A copy of a RUNNING ``trial`` with intermediate values, as ``Study.tell`` would leave
    it pruned now: state PRUNED, its value the last intermediate value where finite."""
    shown = copy.copy(trial)  # shares the params and attrs, which the sampler only reads
    shown.state = TrialState.PRUNED
    shown.datetime_complete = trial.datetime_start
    last = trial.intermediate_values[trial.last_step]
    shown.value = last if math.isfinite(last) else None
    return shown


def _at_rung_as_pruned(trial: FrozenTrial) -> FrozenTrial:
    """A RUNNING trial with intermediate values shown pruned; any other trial as it is."""
    if trial.state == TrialState.RUNNING and trial.intermediate_values:
        return _as_pruned(trial)
    return trial


def rung_view(study: Study, shown: dict | None = None) -> Study:
    """``study`` as ``RungSampler`` shows it to its sampler: the same study (storage, id,
    sampler, trial cache; no storage call to build it) with its RUNNING trials that have
    intermediate values shown PRUNED. Optuna's samplers read trials through a private method,
    which ``_compat_optuna.trials_view`` overrides; ``tests/test_rungs.py`` and
    ``tests/test_compat.py`` fail if Optuna stops reading trials that way.

    ``shown``: trial number -> (trial, as shown), kept between views: a trial read again
    unchanged (the same object, as the sweep's storage hands out until the trial changes) is
    not copied again. A sampler reads every trial several times per new trial."""
    if shown is None:
        return trials_view(study, _at_rung_as_pruned)

    def show(trial: FrozenTrial) -> FrozenTrial:
        seen = shown.get(trial.number)
        if seen is not None and seen[0] is trial:
            return seen[1]
        out = _at_rung_as_pruned(trial)
        shown[trial.number] = (trial, out)
        return out

    return trials_view(study, show)


def rung_observations(study: Study) -> int:
    """Trials TPE models under ``RungSampler``: the ended (COMPLETE, PRUNED) and the RUNNING
    with an intermediate value."""
    return len(rung_view(study).get_trials(deepcopy=False,
                                           states=(TrialState.COMPLETE, TrialState.PRUNED)))


class RungSampler(WrappedSampler):
    """``sampler``, sampling from the study with its trials at a rung shown pruned there.

    The trial hooks (``before_trial``, ``after_trial``) get the study as it is: they record
    and act on the real trials.
    """

    def __init__(self, sampler) -> None:
        super().__init__(sampler)
        self._shown: dict[int, tuple[FrozenTrial, FrozenTrial]] = {}  # ``rung_view``

    def __getstate__(self) -> dict:
        return {**vars(self), "_shown": {}}  # Ray saves the searcher with its sampler

    def _view(self, study: Study) -> Study:
        return rung_view(study, self._shown)

    def infer_relative_search_space(self, study: Study, trial: FrozenTrial
                                    ) -> dict[str, BaseDistribution]:
        return self.sampler.infer_relative_search_space(self._view(study), trial)

    def sample_relative(self, study: Study, trial: FrozenTrial,
                        search_space: dict[str, BaseDistribution]) -> dict[str, Any]:
        return self.sampler.sample_relative(self._view(study), trial, search_space)

    def sample_independent(self, study: Study, trial: FrozenTrial, param_name: str,
                           param_distribution: BaseDistribution) -> Any:
        return self.sampler.sample_independent(self._view(study), trial, param_name,
                                               param_distribution)
