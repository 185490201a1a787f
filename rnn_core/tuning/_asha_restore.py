"""What ASHA by promotion does on ``--resume`` with the trials its saved state names and Ray's
restored state lacks (a driver killed before Ray saved them): ``RestoredTrials`` is mixed into
``_asha.PromotionASHA``, whose state it changes through the scheduler's own bookkeeping."""

from __future__ import annotations

__all__ = ["RestoredTrials"]


class RestoredTrials:
    """Once Ray has added the trials it restored (the first result or choice), the trials the
    saved state names that Ray does not are forgotten, or kept as ended where a hook
    (``restored_hooks``, ``_asks.AskWhenFree``) accounts for them."""

    def _check_restored(self, tune_controller) -> None:
        """The first call after Ray restored its trials: the hooks told which trials there
        are and which of the lost ones had been stopped at a rung; the lost ones forgotten
        here, but for those stopped that a hook has accounted for (they stay, ended)."""
        if not self._restore_pending:
            return
        self._restore_pending = False
        restored = set(self.trials)
        lost = self._unchecked - restored
        stopped = {t for t in lost if t in self.stopped}
        kept: set[str] = set()
        for hook in self.restored_hooks:
            kept |= hook(tune_controller, restored, stopped) or set()
        self._forget_lost(lost, kept & stopped)

    def _forget_lost(self, lost: set[str], kept: set[str]) -> None:
        """Forget the trials the saved state names and Ray's restored state does not
        (``lost``): with a searcher's random trial ids, a trial started after Ray last saved
        its state, before the driver was killed, is unknown to the resumed sweep, and its
        configuration goes to a new trial (``_search.StudySearch``), which comes through the
        rungs itself. A lost trial that had been stopped at a rung, whose end its searcher
        recorded, is ``kept``: its results stay in the rungs and it has ended, so that no
        new trial takes its place (``_asks.AskWhenFree``). Called once Ray has added every
        trial it restored (the first result or choice)."""
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
