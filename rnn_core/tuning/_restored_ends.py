"""Trials a resumed sweep's stale trial list restores unfinished though they had ended.

Ray saves its trial list every 10 s or more, so a trial that ended after its last save, before
the driver was killed, comes back from ``Tuner.restore`` as unfinished, and Ray would train it
again from its last saved checkpoint. Its MLflow run, closed when it ended, says otherwise:
``EndsRecorded``, mixed into the schedulers, pauses such a trial when Ray adds it (so Ray
starts no worker for it) and stops it at the scheduler's next choice, without training; its
run, its Optuna trial (``StudySearch``) and its checkpoint stay as they were when it ended.
"""

from __future__ import annotations

from ray.tune.experiment import Trial

__all__ = ["EndsRecorded"]


class EndsRecorded:
    """``closed``: the trials whose MLflow runs had ended when the sweep resumed (set by the
    driver before Ray restores its trials)."""

    closed: frozenset[str] = frozenset()

    def _hold_if_closed(self, trial: Trial) -> bool:
        """On Ray's first add of ``trial``: paused to be ended, where its run had ended."""
        if trial.trial_id not in self.closed or trial.status not in (Trial.PENDING,
                                                                     Trial.RUNNING):
            return False
        trial.set_status(Trial.PAUSED)  # Ray files the trial under its status after the add
        vars(self).setdefault("_to_end", {})[trial.trial_id] = trial
        return True

    def _end_one_closed(self, tune_controller) -> bool:
        """Stop one held trial (Ray's ``stop_trial`` runs its callbacks inside this call, and
        Ray's loop waits on it); whether one was."""
        to_end = vars(self).get("_to_end", {})
        while to_end:
            trial = to_end.pop(min(to_end))
            if trial.status == Trial.PAUSED:
                tune_controller.stop_trial(trial)
                return True
        return False
