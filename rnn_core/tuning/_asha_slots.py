"""Who gets a slot of ASHA by promotion: the cap on running trials, new trials held under it
and asked of the searcher only when one would start, and free slots given to speculative
promotions.

``FreeSlots`` is mixed into ``_asha.PromotionASHA``, whose state it reads and changes through
the scheduler's own bookkeeping.
"""

from __future__ import annotations

import logging
import math
import time

from ray.tune.experiment import Trial
from ray.tune.schedulers import TrialScheduler

__all__ = ["SLOTS_EVERY_S", "FreeSlots"]

log = logging.getLogger(__name__)

SLOTS_EVERY_S = 5.0  # how often the cluster's slots are counted again (a few ms each)


class FreeSlots:
    """Free slots (``slots``, the trials the cluster trains at once; None: never). Once every
    trial has been added, none is PENDING and no promotion is certain, a slot would idle until
    a rung's last trials arrive. It goes instead to the trial most likely to end in its
    rung's final top, ASHA's own rule: the best waiting at the highest rung that still has a
    promotion it can win, as a *speculative* promotion (logged ``speculate``). Speculation
    never changes the certain promotions: speculative trials count in no quota and stay in
    their rung's pool, and when the certain rule picks one it is confirmed (``confirm``,
    counted as that promotion). One that reaches its next rung (or the last epoch)
    unconfirmed is held there, paused, its arrival not recorded until it is confirmed; one
    that cannot be promoted any more (as many trials ranked above it in its rung's pool as
    promotions left) stops at its next report, or at once if held (``unspeculate``). A
    speculative trial that reports while a certain trial waits for a slot pauses to give it
    its slot, and goes on speculatively or once confirmed. An open stream (``n_trials``
    None) never speculates: a free slot takes a new trial (``takes_new_trial``).

    The slots follow the cluster (``slots_source``, counted again every ``slots_every_s``):
    after a node is lost no speculative trial waits for its room, and a node that joins gets
    speculative promotions too.

    ``max_running`` caps the trials training at once: Ray's own ``max_concurrent_trials``
    counts paused trials as live, which with pausing at rungs can leave every trial paused;
    here a new trial added when the cap is reached is held PAUSED and handed out when a slot
    under it frees. A searcher is asked for a new trial only when one would start
    (``takes_new_trial``, ``_asks.AskWhenFree``), so that a model-based searcher learns from
    the trials that ended before it.
    """

    def _confirm(self) -> None:
        """Certain promotions that fall on trials gone on speculatively: confirmed. One held
        at its next rung arrives there now; one paused off a rung is handed out next."""
        while self.spec and (cand := self._candidate()) is not None and cand[1] in self.spec:
            m, tid = cand
            value, yielded = self.held.get(tid), tid in self.yielded
            self._unspec(tid)
            self._promoted(m, tid)
            self._state.note("confirm", m, tid)
            nxt = self._next(m)
            if value is not None and nxt in self.rungs:
                self._record(nxt, tid, value)
                self._state.note("arrive", nxt, tid)
                self._wait(tid, nxt)
            elif value is not None or yielded:  # held at the last epoch: resumed to end
                self._state.set_resume(tid, True)
            self._save()

    def _follow_cluster(self) -> None:
        """The slots as the cluster stands now, at most every ``slots_every_s`` seconds; a
        count that fails (the cluster's store busy or away) keeps the last one."""
        if self.slots is None or self.slots_source is None:
            return
        now = time.monotonic()
        if now < self._slots_next:
            return
        self._slots_next = now + self.slots_every_s
        try:
            slots = max(1, int(self.slots_source()))
        except Exception as exc:  # any failure: the count stays as it was
            log.warning("could not count the cluster's slots (%s); still %d", exc, self.slots)
            return
        if slots != self.slots:
            log.info("the cluster now trains %d trials at once (was %d)", slots, self.slots)
            self.slots = slots

    def _capacity(self) -> float:
        caps = [c for c in (self.slots, self.max_running) if c is not None]
        return min(caps) if caps else math.inf

    def _starved(self) -> bool:
        """A certain trial waits for a slot that every trial training holds."""
        running, _, new_pending = self._live_counts()
        waiting = self.resume or self._candidate() is not None or new_pending
        return bool(waiting) and running >= self._capacity()

    def _live_counts(self) -> tuple[int, int, bool]:
        """Trials RUNNING, PENDING, and whether a new (not speculative) one is PENDING.

        Only the trials that can be training are looked at (``_live``: added or handed out
        since they last paused; Ray pauses a trial only on this scheduler's word, and hands
        a paused one back only through it or by adding it again), not all of the sweep's:
        Ray asks at every step of its loop."""
        running = pending = 0
        new_pending, gone = False, []
        for tid, t in self._live.items():
            if t.status == Trial.RUNNING:
                running += 1
            elif t.status == Trial.PENDING:
                pending += 1
                new_pending = new_pending or tid not in self.spec
            else:  # paused (at a rung, held, yielded) or ended
                gone.append(tid)
        for tid in gone:
            trial = self._live.pop(tid)
            if (trial.status == Trial.PAUSED and not self._parked(tid)
                    and tid not in self.ended and tid not in self.stopped):
                self._unasked_pause(tid)
        return running, pending, new_pending

    def _unasked_pause(self, tid: str) -> None:
        """A trial Ray paused that this scheduler told to go on: Ray restores the decisions
        it had cached for trials still saving when the sweep was interrupted
        (``TuneController._cached_trial_decisions``) and applies them on ``--resume``,
        though the saved rungs have since promoted the trial. It had a slot: it gets it back
        first (``resume``), else it would wait paused for a hand-out that never comes."""
        self._state.set_resume(tid, True)
        self._state.note("repause", None, tid)
        self._save()

    def _training(self) -> int:
        """Trials training or about to (RUNNING, PENDING): what the cap counts."""
        running, pending, _ = self._live_counts()
        return running + pending

    def _hand_out(self, trial: Trial) -> Trial:
        """A trial returned to Ray to run (Ray makes it PENDING)."""
        self._live[trial.trial_id] = trial
        return trial

    def takes_new_trial(self) -> bool:
        """Whether a new trial added now would start: a slot is free under the slots and the
        cap (trials paused at a rung do not count), and no certain promotion, confirmed
        speculative trial or held new trial waits to take it (the paper's get_job: a new
        trial only when no promotion is possible)."""
        if self._training() >= self._capacity():
            return False
        return not (self.resume or self._first_queued() is not None
                    or self._candidate() is not None)

    def _first_queued(self) -> Trial | None:
        """The first trial held to be handed out as new (the queue's stale entries, ended or
        paused here since, are dropped on the way)."""
        found, stale = None, []
        for tid, trial in self.queued.items():
            if tid in self.ended or tid in self.stopped or self._parked(tid) or tid in self.spec:
                stale.append(tid)
            elif trial.status == Trial.PAUSED:
                found = trial
                break
        for tid in stale:
            del self.queued[tid]
        return found

    def _may_speculate(self, live: int, new_pending: bool) -> bool:
        """A slot is free and nothing certain can take it: every trial added, none new
        PENDING (certain promotions were handed out before this is asked)."""
        return (self.slots is not None and self.n_trials is not None
                and live < self._capacity() and len(self.trials) >= self.n_trials
                and not new_pending)

    def _speculate(self) -> Trial | None:
        """ASHA's own rule for a free slot: the best trial waiting (or paused speculatively)
        at the highest rung where it can still win a promotion."""
        for m in reversed(self.milestones):
            tid = next((t for _, _, t in self._state.ranked[m]
                        if t in self._at[m] or t in self.yielded), None)
            if tid is None:
                continue
            if self._out(m, tid):
                continue
            if self.trials[tid].status != Trial.PAUSED:  # Ray still saves it: next call
                return None
            if tid in self.yielded:
                self._state.set_yielded(tid, False)
            else:
                self._unwait(tid)
                self._speculating(tid, m)
                self._state.note("speculate", m, tid)
            self._save()
            return self._hand_out(self.trials[tid])
        return None

    def _unspeculated(self) -> list[str]:
        """Speculative trials paused (held or yielded) that no promotion can reach: they
        stop; running ones stop at their next report. Found once per change (Ray asks for a
        trial to run at every step of its loop)."""
        version = (self._state.changes, len(self.ended))
        if self._left_out[0] != version:
            self._left_out = (version, [t for t in sorted(self.held.keys() | self.yielded)
                                        if self._out(self.spec[t], t)])
        return self._left_out[1]

    def _speculative_result(self, tune_controller, tid: str, epoch: int, result: dict) -> str:
        """A report of a trial gone on speculatively, not confirmed: it stops once no
        promotion can reach it, is held at its next rung, or pauses for a certain trial."""
        m = self.spec[tid]
        if self._out(m, tid):
            self._unspec(tid)
            self._state.stop(tid)
            self._state.note("unspeculate", m, tid)
            return TrialScheduler.STOP
        if epoch >= self._next(m):
            value = float(result.get(self._objective, math.nan))
            self._state.hold(tid, -math.inf if math.isnan(value) else self._sign * value)
            return TrialScheduler.PAUSE
        if self._starved():
            self._state.set_yielded(tid, True)
            return TrialScheduler.PAUSE
        return TrialScheduler.CONTINUE

