"""ASHA by promotion (``PromotionASHA``): Ray Tune's hooks and the scheduler's bookkeeping,
saved after every change (``_asha_state``). The rule that promotes (``_asha_rules``), who
gets a free slot (``_asha_slots``) and what becomes of trials Ray's restored state lacks
(``_asha_restore``) are mixed in from modules of their own."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

from ray.tune.experiment import Trial
from ray.tune.schedulers import FIFOScheduler, TrialScheduler

from rnn_core.tuning._asha_restore import RestoredTrials
from rnn_core.tuning._asha_rules import RungRules, rung_epochs
from rnn_core.tuning._asha_slots import SLOTS_EVERY_S, FreeSlots
from rnn_core.tuning._asha_state import RungState
from rnn_core.tuning._compat_ray import set_trial_status
from rnn_core.tuning._restored_ends import EndsRecorded
from rnn_core.tuning._storage import Place, place

__all__ = ["PromotionASHA", "rung_epochs"]


class PromotionASHA(RungRules, FreeSlots, RestoredTrials, EndsRecorded, FIFOScheduler):
    """Asynchronous successive halving by promotion (Li et al. 2020, "A System for Massively
    Parallel Hyperparameter Tuning", Algorithm 2), with each rung's promotions capped.

    A trial that reaches a rung (``rung_epochs``; not the last) pauses there; its slot goes to
    the best paused trial that may be promoted, highest rung first, else to a new trial (the
    paper's ``get_job``). Rung ``m``, with ``a`` trials arrived and ``c`` that still can
    (running below it, promoted from the rung below and on their way, or promotions the rung
    below can still give), will end with ``B = ceil((a + c) / rf)`` promotions, the number
    synchronous halving gives it. It promotes, always the best trial waiting there:

    - up to ``floor(a / rf)``: the paper's rule (promote what is in the rung's top ``1/rf``),
      capped; Li et al. promote anything in the current top ``a / rf``, so a rung lets more
      through when early promotions are overtaken; the cap keeps the compute at that of
      synchronous halving (27 trials, grace 1, rf 3, 5 epochs: 27 + 9 x 2 + 3 x 2 = 51
      trial-epochs) without its barrier;
    - up to ``B - c`` (an early promotion): the arrived trials ranked in the top ``B - c``
      stay in the rung's final top ``B`` whatever the other ``c`` score, so promoting one now
      gives the promotion the rung's end would give anyway. This fills the slots that would
      otherwise wait for a rung's last trials (a grid's largest configs come last), never by
      arrival order: the best trial of a rung is never left out of its promotions.

    Once no trial can arrive any more (``c = 0``) the best ``B`` have gone on and the rest
    stop. Ray's ``ASHAScheduler`` decides at report time against the results recorded so far
    instead, which lets early arrivals through: on the search benchmark it spent 47-53 % of
    the grid's compute, this 38 %. Equal objectives go to the earlier arrival at the rung.

    Free slots go to speculative promotions, and ``max_running`` caps the trials training
    at once (``_asha_slots.FreeSlots``).

    Failures (Ray 2.60, ``TuneController._try_recover``): a trial Ray will retry is ERROR when
    ``on_trial_error`` is called, then set PENDING and added again (``on_trial_add``); it has
    not ended, so its rungs still wait for it, and one that failed while pausing at a rung is
    put back to PAUSED there, before Ray can start it past the rung. A final failure arrives
    while the trial is still RUNNING or PENDING.

    ``n_trials`` is the number of trials the sweep adds (grid x samples): it tells when a rung
    is complete. ``None`` is an open stream (a sampled search under a time budget, Li et al.'s
    own setting): no rung ever completes, so a rung promotes up to ``floor(a / rf)`` only
    (the early term needs the final count), no trial stops at a rung (one waits until it is
    promoted or the sweep ends), and no slot is speculated on: a free slot with no promotion
    due takes a new trial (``takes_new_trial``).

    Rungs, promotions, waiting trials and a log of every decision are saved to ``state_file``
    after every change (a snapshot and a journal of the changes since, ``_asha_state``) and
    reloaded on ``--resume`` (Ray does not persist scheduler state:
    ray-project/ray#30838); a trial restored while waiting stays paused, and one the saved
    state names that Ray's does not is forgotten.
    """

    def __init__(self, n_trials: int | None, grace_period: int, max_t: int,
                 reduction_factor: float = 3,
                 state_file: str | Path | Place | None = None, metric: str | None = None,
                 mode: str | None = None, time_attr: str = "training_iteration",
                 max_running: int | None = None, slots: int | None = None,
                 slots_source=None) -> None:
        super().__init__()
        self.n_trials, self.rf, self.time_attr = n_trials, reduction_factor, time_attr
        self.max_running, self.slots, self.max_t = max_running, slots, int(max_t)
        # what the cluster trains at once as it stands (a node lost or joined): asked again
        # every ``slots_every_s`` seconds (``FreeSlots._follow_cluster``); None: ``slots``
        # for good
        self.slots_source, self.slots_every_s = slots_source, SLOTS_EVERY_S
        self._slots_next = 0.0
        self.milestones = rung_epochs(grace_period, reduction_factor, max_t)[:-1]
        self.ended: set[str] = set()  # trials that terminated (finished, stopped, failed)
        self.to_stop: set[str] = set()  # restored as unfinished, though stopped before
        self.trials: dict[str, Trial] = {}
        # PAUSED trials this scheduler hands out when a slot frees, in the order they came:
        # new ones held under the cap, and ones Ray restored PAUSED that did not pause here
        self.queued: dict[str, Trial] = {}
        self._live: dict[str, Trial] = {}  # may be RUNNING or PENDING (``_live_counts``)
        self._ended_before: dict[int, int] = dict.fromkeys(self.milestones, 0)
        # a local file or one on the sweep's storage (``_storage``): read back on --resume
        self.state_file = place(state_file) if state_file else None
        # rungs, promotions, waiting and speculative trials, the decision log: changed through
        # ``_state`` (saved and reloaded there), read through these names; a speculative
        # promotion (``FreeSlots``) is in ``spec`` (-> the rung it left
        # unconfirmed), ``held`` (paused at its next rung -> its signed objective there) or
        # ``yielded`` (paused between rungs for a certain trial's slot)
        self._state = state = RungState(self.milestones, self.state_file)
        self.rungs, self.promoted, self.waiting = state.rungs, state.promoted, state.waiting
        self.stopped, self.log, self.spec = state.stopped, state.log, state.spec
        self.held, self.yielded, self.resume = state.held, state.yielded, state.resume
        self._at, self._spec_at = state.at, state.spec_at
        # per rung past the first: trials promoted from the rung below that have not arrived
        # and not ended (``_counts``), kept as they change rather than counted every time
        self._on_way: dict[int, set[str]] = {
            m: {t for t in self.promoted[below] if t not in self.rungs[m]}
            for below, m in zip(self.milestones, self.milestones[1:], strict=False)}
        # found once per change of the state or the ended trials: (version, what was found)
        self._counted: tuple[tuple, list] = ((), [])  # ``_counts``
        self._left_out: tuple[tuple, list] = ((), [])  # ``_unspeculated``
        # the objective and its direction, under names of this class's own: Ray's schedulers
        # keep theirs in private attributes, which its ``metric`` property reads
        self._objective, self._direction = metric, mode
        self._sign = 1.0 if mode != "min" else -1.0
        # the trials the saved state names, checked against Ray's once it has restored them
        # called at the first result or choice, once Ray has added the trials it restored
        # on --resume, with their ids (``_asks.AskWhenFree``: the searcher's asks Ray's
        # saved state lost); on a fresh sweep they find every trial there
        self.restored_hooks: list = []
        self._restore_pending = True
        self._unchecked = ({*self.waiting, *self.stopped, *self.spec, *self.yielded,
                            *self.resume, *(t for m in self.milestones for t in self.rungs[m]),
                            *(t for m in self.milestones for t in self.promoted[m])}
                           if state.loaded else set())

    @property
    def metric(self) -> str | None:
        """The objective (Ray checks that trials report it)."""
        return self._objective

    @property
    def supports_buffered_results(self) -> bool:
        return False  # a trial must not train past a rung unseen

    def set_search_properties(self, metric: str | None, mode: str | None, **spec) -> bool:
        if (self._objective and metric) or (self._direction and mode):
            return False
        self._objective, self._direction = metric or self._objective, mode or self._direction
        self._sign = -1.0 if self._direction == "min" else 1.0
        return True

    # -- bookkeeping

    def _save(self) -> None:
        self._state.save()

    def _record(self, m: int, tid: str, value: float) -> None:
        self._state.record(m, tid, value)
        if m in self._on_way:
            self._on_way[m].discard(tid)

    def _promoted(self, m: int, tid: str) -> None:
        self._state.promote(m, tid)
        nxt = self._next(m)
        if nxt in self._on_way and tid not in self.rungs[nxt] and tid not in self.ended:
            self._on_way[nxt].add(tid)

    def _wait(self, tid: str, m: int) -> None:
        self._state.wait(tid, m)

    def _unwait(self, tid: str) -> None:
        self._state.unwait(tid)

    def _speculating(self, tid: str, m: int) -> None:
        self._state.speculate(tid, m)

    def _unspec(self, tid: str) -> None:
        self._state.unspec(tid)

    def _parked(self, tid: str) -> bool:
        """Paused by this scheduler: waiting at a rung, held, yielded or to be resumed."""
        return (tid in self.waiting or tid in self.held or tid in self.yielded
                or tid in self.resume)

    def _promote(self, m: int, tid: str) -> None:
        self._unwait(tid)
        self._promoted(m, tid)
        early = len(self.promoted[m]) > len(self.rungs[m]) // self.rf
        self._state.note("early" if early else "promote", m, tid)

    def _end(self, trial: Trial) -> None:
        self._end_id(trial.trial_id)

    def _end_id(self, tid: str) -> None:
        if (m := self.waiting.get(tid, self.spec.get(tid))) is not None:
            self._state.note("end", m, tid)  # failed for good, or removed, off its course
        self._unwait(tid)
        self._unspec(tid)
        self._state.set_resume(tid, False)
        if tid not in self.ended:
            self.ended.add(tid)
            for on_way in self._on_way.values():
                on_way.discard(tid)
            for m in self.milestones:
                self._ended_before[m] += tid not in self.rungs[m]
        # the sweep's last trial: the state file alone holds the whole state again
        last = self.n_trials is not None and len(self.ended) >= self.n_trials
        self._state.save(whole=last)

    # -- Ray's hooks

    def on_trial_add(self, tune_controller, trial: Trial) -> None:
        if not self._objective or not self._direction:
            raise ValueError("PromotionASHA needs the metric and mode (tune.TuneConfig)")
        tid = trial.trial_id
        if tid in self.trials:  # Ray re-adds a trial it requeues after a failure
            if self._parked(tid):  # failed while pausing: it stays paused
                set_trial_status(tune_controller, trial, Trial.PAUSED)
            else:
                self._live[tid] = trial
            return
        # a first add: Ray files the trial under its status after this call, so statuses
        # are set directly
        self.trials[tid] = trial
        if trial.status in (Trial.TERMINATED, Trial.ERROR):
            self._end(trial)
        elif tid in self.stopped:  # Ray's saved state predates the stop
            trial.set_status(Trial.PAUSED)
            self.to_stop.add(tid)
        elif self._hold_if_closed(trial):  # or predates its end
            pass
        elif self._parked(tid):
            trial.set_status(Trial.PAUSED)  # restored while paused here: stays there
        elif trial.status == Trial.PAUSED:
            self.queued[tid] = trial  # restored PAUSED, not paused here: handed out as new
        elif (self.max_running is not None and trial.status == Trial.PENDING
              and self._training() >= self.max_running):
            trial.set_status(Trial.PAUSED)  # held until a slot under the cap frees
            self.queued[tid] = trial
        if trial.status in (Trial.RUNNING, Trial.PENDING):
            self._live[tid] = trial

    def on_trial_result(self, tune_controller, trial: Trial, result: dict) -> str:
        m, tid = result.get(self.time_attr), trial.trial_id
        self._check_restored(tune_controller)
        self._confirm()
        if tid in self.spec:
            decision = self._speculative_result(tune_controller, tid, m, result)
            self._save()
            return decision
        if m not in self.rungs or tid in self.promoted[m]:
            return TrialScheduler.CONTINUE  # between rungs, or past this one already
        if tid not in self.rungs[m]:
            value = float(result.get(self._objective, math.nan))
            self._record(m, tid, -math.inf if math.isnan(value) else self._sign * value)
            self._state.note("arrive", m, tid)
        self._wait(tid, m)
        self._confirm()
        if self._candidate() == (m, tid):
            self._promote(m, tid)
            decision = TrialScheduler.CONTINUE
        elif self._drops_out(m, tid):
            self._state.stop(tid)
            self._state.note("stop", m, tid)
            self._unwait(tid)  # Ray's stop_trial then calls on_trial_complete: ended
            decision = TrialScheduler.STOP
        else:  # its slot goes to the best promotable trial, else a new one
            decision = TrialScheduler.PAUSE
        self._save()
        return decision

    def on_trial_complete(self, tune_controller, trial: Trial, result: dict) -> None:
        self._end(trial)

    def on_trial_error(self, tune_controller, trial: Trial) -> None:
        if trial.status == Trial.ERROR:
            return  # Ray retries it (see the class docstring): it has not ended
        self._end(trial)

    def on_trial_remove(self, tune_controller, trial: Trial) -> None:
        self._end(trial)

    def choose_trial_to_run(self, tune_controller) -> Trial | None:
        self._check_restored(tune_controller)
        self._follow_cluster()
        self._confirm()
        if not self._end_one_closed(tune_controller):
            self._stop_one(tune_controller)
        running, pending, new_pending = self._live_counts()
        live = running + pending
        if self.max_running is not None and live >= self.max_running:
            return None
        for tid in sorted(self.resume):  # confirmed while paused off a rung
            if self.trials[tid].status == Trial.PAUSED:
                self._state.set_resume(tid, False)
                self._save()
                return self._hand_out(self.trials[tid])
        if (cand := self._candidate()) is not None:
            m, tid = cand
            if self.trials[tid].status == Trial.PAUSED:  # not while Ray still saves it
                self._promote(m, tid)
                self._save()
                return self._hand_out(self.trials[tid])
        # a new trial held under max_running, or one restored PAUSED though not paused
        # here; Ray starts PENDING trials itself
        if (fresh := self._first_queued()) is not None:
            del self.queued[fresh.trial_id]
            return self._hand_out(fresh)
        if self._may_speculate(live, new_pending):
            return self._speculate()
        return None

    def _stop_one(self, tune_controller) -> None:
        """One stop a call: Ray's stop_trial runs the trial's callbacks (its MLflow run and
        checkpoint) inside this call, and Ray's event loop waits on it."""
        for tid in itertools.chain(sorted(self.to_stop), self._dropouts(),
                                   self._unspeculated()):
            if self.trials[tid].status == Trial.PAUSED:
                self._state.stop(tid)
                self.to_stop.discard(tid)
                if tid in self.spec:
                    self._state.note("unspeculate", self.spec[tid], tid)
                    self._unspec(tid)
                else:
                    self._state.note("stop", self.waiting.get(tid), tid)
                    self._unwait(tid)
                tune_controller.stop_trial(self.trials[tid])  # calls on_trial_remove: ended
                return

    def debug_string(self) -> str:
        rungs = ", ".join(f"epoch {m}: {len(self.promoted[m])} of {len(self.rungs[m])} on"
                          for m in self.milestones)
        spec = f", {len(self.spec)} speculative" if self.spec else ""
        return f"PromotionASHA ({rungs}; {len(self.waiting)} waiting{spec})"

