"""The sweep's Optuna searcher: Ray's ``OptunaSearch`` over the sweep's study (``_search``
builds it), with what a resumed or stopped sweep needs of the study: no configuration asked
twice or left RUNNING, and trials a scheduler stopped recorded as pruned."""

from __future__ import annotations

import logging

from ray.tune.result import TRAINING_ITERATION
from ray.tune.search.optuna import OptunaSearch

from rnn_core.tuning._compat_ray import optuna_search_study, optuna_search_trials

__all__ = ["StudySearch", "close_running_trials"]

log = logging.getLogger(__name__)


class StudySearch(OptunaSearch):
    """Ray's ``OptunaSearch`` that hands an Optuna trial asked but never given to Ray
    (the driver stopped between Optuna's ``ask``, which the SQLite file records at once,
    and Ray's next save of its state) to the next Ray trial on ``--resume``, rather than
    asking Optuna anew: no configuration is asked twice and none is left running."""

    def __init__(self, *args, max_step: int | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._orphans: list[int] = []
        self._max_step = max_step  # the epochs a trial trains to (``on_trial_complete``)
        self._ended_before: set[str] = set()  # Ray trials whose Optuna trial had ended

    def restore(self, checkpoint_path: str) -> None:
        super().restore(checkpoint_path)
        from optuna.trial import TrialState

        from rnn_core.tuning._compat_optuna import trial_id

        study = optuna_search_study(self)
        trials = optuna_search_trials(self)
        running = [trial_id(t) for t in study.get_trials(deepcopy=False,
                                                          states=(TrialState.RUNNING,))]
        # Ray saves the searcher every 10 s or more, so a trial that ended after its last
        # save, before the driver was killed, is in the saved state with its Optuna trial
        # ended (the study is written at once); Ray's saved trial list, as old, restores it
        # unfinished, and Optuna refuses a result for an ended trial: the study keeps its end
        still = set(running)
        self._ended_before = {rid for rid, t in trials.items() if trial_id(t) not in still}
        known = {trial_id(t) for t in trials.values()}
        self._orphans = [tid for tid in running if tid not in known]
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
        """Ray hands the searcher no result that the scheduler answers with a stop, then ends
        the trial with that result: its epoch is reported here first, so the study holds
        every epoch the trial trained. One stopped short of ``max_step`` then ends PRUNED at
        that epoch, as one stopped while it waited at its rung does (Ray's ``OptunaSearch``
        would record it COMPLETE at an early epoch's value: TPE would rank it among the
        trials that trained to the end, and the report's Optuna figures would show it as
        completed); one stopped on its last epoch's result (a speculative trial no promotion
        could reach) is COMPLETE at that epoch. One objective only (Optuna's trials of
        several report no steps)."""
        if trial_id in self._ended_before:
            return  # its end is in the study already (``restore``)
        step = (result or {}).get(TRAINING_ITERATION)
        trial = optuna_search_trials(self).get(trial_id)
        if (result and not error and trial is not None and isinstance(step, int)
                and not isinstance(self.metric, list)
                and step not in optuna_search_study(self).get_trials(
                    deepcopy=False)[trial.number].intermediate_values):
            super().on_trial_result(trial_id, result)
            if self._max_step is not None and step < self._max_step:
                result = None  # no value: Optuna prunes it at its last reported step
        super().on_trial_complete(trial_id, result=result, error=error)

    def on_trial_result(self, trial_id: str, result: dict) -> None:
        if trial_id not in self._ended_before:  # its end is in the study already (``restore``)
            super().on_trial_result(trial_id, result)

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
