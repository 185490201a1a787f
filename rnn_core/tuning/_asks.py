"""When Ray Tune asks the searcher for a trial under ASHA by promotion: as a slot frees; and,
under any scheduler, what a resumed sweep asks again of the trials Ray's saved state lost.

Ray asks a searcher for new trials while fewer than its pending limit are PENDING (one, for a
searcher on its own). Trials that ASHA holds PAUSED do not count there, so a sweep whose new
trials were held under a cap had every trial asked at once, before any ended: TPE never left
its random start-up. Ray's own ``ConcurrencyLimiter`` (``max_concurrent_trials``) counts a
trial as live from its ask to its end, paused at a rung included, and with trials that pause
at rungs that can leave every live trial waiting for a rung that only new trials can fill.

``AskWhenFree`` asks the searcher only when the scheduler would start a new trial now
(``PromotionASHA.takes_new_trial``: fewer trials training than slots and cap, paused ones not
counted, and no certain promotion waiting for the slot). It is a ``ConcurrencyLimiter``, so
that Ray lets as many new trials be pending at once as there are slots (one, otherwise): when
a rung lets several trials stop at once, their slots are refilled in one step of Ray's loop.
"""

from __future__ import annotations

import copy

from ray.tune.schedulers import FIFOScheduler
from ray.tune.search import ConcurrencyLimiter, Searcher, SearchGenerator

from rnn_core.tuning._restored_ends import EndsRecorded

__all__ = ["AskWhenFree", "RestoredFIFO", "SettledGenerator", "settle_lost_asks"]


def settle_lost_asks(searcher: Searcher, generator, restored: set[str],
                     stopped: set[str]) -> set[str]:
    """On --resume, once Ray has added the trials it restored: the asks Ray's saved state
    lost go to new trials. Ray saves its trial list, its trial counter and the searcher's
    state as separate files (on object storage, uploaded in the background), so a driver
    killed mid-save can leave the counter or the searcher ahead of the trial list; and a
    trial started and ended between two of Ray's saves is in none of them.

    The counter is set to the trials there are: those Ray restored, and the lost ones ASHA
    had stopped at a rung (``stopped``) when the study holds exactly as many ended trials
    that no restored trial owns (their ends were recorded, so they count). Those are
    returned: the scheduler keeps them, ended; no new trial takes their place. Otherwise
    every lost trial's configuration goes to a new trial (``StudySearch``). A concurrency
    limit in ``searcher``'s chain of wrappers stops counting the lost trials as live: they
    never end, and would hold their slots for good."""
    kept: set[str] = set()
    inner = searcher
    while True:
        if isinstance(inner, ConcurrencyLimiter):
            inner.live_trials &= restored
        if not isinstance(getattr(inner, "searcher", None), Searcher):
            break
        inner = inner.searcher
    if hasattr(inner, "forget_unrestored"):
        inner.forget_unrestored(restored)
        if stopped and inner.ended_unrestored(restored) == len(stopped):
            kept = set(stopped)
    if generator is None:  # a test's loop
        return set()
    state = generator.get_state()
    target = len(restored) + len(kept)
    if kept or state.get("counter", 0) > target:
        state["counter"] = target
        generator.set_state(state)
    return kept


class AskWhenFree(ConcurrencyLimiter):
    """``searcher``, asked for a trial only when ``scheduler.takes_new_trial()``.

    Every other call goes to ``searcher`` unchanged (results, ends, saving and restoring its
    state); the scheduler is live state of this driver and is not saved with the searcher.
    """

    def __init__(self, searcher: Searcher, scheduler, slots: int) -> None:
        super().__init__(searcher, max_concurrent=max(1, int(slots)))
        self._scheduler = scheduler
        scheduler.restored_hooks.append(self._restored)

    def _restored(self, generator, restored: set[str], stopped: set[str]) -> set[str]:
        return settle_lost_asks(self, generator, restored, stopped)

    def suggest(self, trial_id: str) -> dict | None:
        if not self._scheduler.takes_new_trial():
            return None  # not now: Ray asks again at its next step
        return self.searcher.suggest(trial_id)

    def on_trial_complete(self, trial_id: str, result: dict | None = None,
                          error: bool = False) -> None:
        self.searcher.on_trial_complete(trial_id, result=result, error=error)

    def get_state(self) -> dict:
        return copy.deepcopy({k: v for k, v in vars(self).items()
                              if k not in ("searcher", "_scheduler")})

    def set_state(self, state: dict) -> None:
        vars(self).update({k: v for k, v in state.items() if k != "_scheduler"})


class SettledGenerator(SearchGenerator):
    """Ray's ``SearchGenerator`` over ``searcher`` that, before it answers whether the search
    has finished, lets ``scheduler`` settle the trials Ray's saved state lost
    (``PromotionASHA.settle_restored`` or ``RestoredFIFO.settle_restored``, once, as soon
    as Ray has added the trials it restored). Ray asks that before its first step: a resumed
    sweep whose restored trials had all ended, with a saved trial counter that still counted
    a lost one, would end there, before any result or choice, and the lost trial's Optuna
    trial would stay RUNNING."""

    def __init__(self, searcher: Searcher, scheduler) -> None:
        super().__init__(searcher)
        self._scheduler = scheduler

    def is_finished(self) -> bool:
        self._scheduler.settle_restored(self)
        return super().is_finished()


class RestoredFIFO(EndsRecorded, FIFOScheduler):
    """Ray's FIFO scheduler that, on --resume (``resumed``), settles the asks Ray's saved
    state lost as ASHA by promotion does: it notes the trials Ray adds, and once the first is
    in, ``settle_restored`` (called by ``SettledGenerator``) hands them to
    ``settle_lost_asks``. Without it a FIFO sweep under TPE resumed from a stale trial list
    ended with the lost trial's Optuna trial and MLflow run left RUNNING, one configuration
    short. A restored trial whose run had ended is ended without training
    (``EndsRecorded``)."""

    def __init__(self, resumed: bool) -> None:
        super().__init__()
        self._pending = resumed
        self.trials: set[str] = set()

    def on_trial_add(self, tune_controller, trial) -> None:
        self.trials.add(trial.trial_id)
        self._hold_if_closed(trial)
        super().on_trial_add(tune_controller, trial)

    def choose_trial_to_run(self, tune_controller):
        if self._end_one_closed(tune_controller):
            return None  # FIFO would hand out a paused trial: the held ones are ended first
        return super().choose_trial_to_run(tune_controller)

    def settle_restored(self, generator) -> None:
        if self._pending and self.trials:
            self._pending = False
            settle_lost_asks(generator.searcher, generator, set(self.trials), set())
