"""What ASHA by promotion does on ``--resume`` with the trials its saved state names and Ray's
restored state lacks (a driver killed before Ray saved them): ``RestoredTrials`` is mixed into
``_asha.PromotionASHA``, whose state it changes through the scheduler's own bookkeeping."""

from __future__ import annotations

__all__ = ["RestoredTrials"]


class RestoredTrials:
    """Once Ray has added the trials it restored (``settle_restored``), the trials the saved
    state names that Ray does not are forgotten, or kept as ended where a hook
    (``restored_hooks``, ``_asks.AskWhenFree``) accounts for them."""

    def _check_restored(self, tune_controller) -> None:
        """The first result or choice after Ray restored its trials: ``settle_restored``
        with the controller's search algorithm (None: a test's loop without one)."""
        self.settle_restored(getattr(tune_controller, "search_alg", None))

    def settle_restored(self, generator) -> None:
        """Once, after Ray added the trials it restored: the hooks are told which trials
        there are and which of the lost ones had been stopped at a rung, and may reset the
        search ``generator``'s trial counter; the lost ones are forgotten here, but for those
        stopped that a hook has accounted for (they stay, ended). Called by the first result
        or choice, and earlier by ``_asks.SettledGenerator`` when Ray first asks whether the
        search has finished: a resumed sweep whose restored trials had all ended, and whose
        saved counter counted a lost one, would otherwise end at once, the lost trial's
        Optuna trial left RUNNING. Nothing is settled before Ray has added a trial (Ray
        restores one at least; a fresh sweep has nothing to settle)."""
        if not self._restore_pending or not self.trials:
            return
        self._restore_pending = False
        restored = set(self.trials)
        lost = self._unchecked - restored
        stopped = {t for t in lost if t in self.stopped}
        kept: set[str] = set()
        for hook in self.restored_hooks:
            kept |= hook(generator, restored, stopped) or set()
        self._forget_lost(lost, kept & stopped)

    def _forget_lost(self, lost: set[str], kept: set[str]) -> None:
        """Forget the trials the saved state names and Ray's restored state does not
        (``lost``): with a searcher's random trial ids, a trial started after Ray last saved
        its state, before the driver was killed, is unknown to the resumed sweep, and its
        configuration goes to a new trial (``_study_search.StudySearch``), which comes through the
        rungs itself. A lost trial that had been stopped at a rung, whose end its searcher
        recorded, is ``kept``: its results stay in the rungs and it has ended, so that no
        new trial takes its place (``_asks.AskWhenFree``). Called once Ray has added every
        trial it restored (``settle_restored``)."""
        self._unchecked = set()
        for tid in sorted(kept):
            self._end_id(tid)
        for tid in sorted(lost - kept):
            self._state.forget(tid)  # logged ``forget``
            self.to_stop.discard(tid)
            for on_way in self._on_way.values():
                on_way.discard(tid)
        if lost:
            self._save()
