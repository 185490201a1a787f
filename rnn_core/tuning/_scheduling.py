"""Ray Tune: the trial function, ASHA by promotion (survives a driver restart), synchronous
successive halving, the MLflow callback."""

from __future__ import annotations

import json
import logging
import math
import os
from pathlib import Path
from typing import Any

from ray import tune
from ray.tune.experiment import Trial
from ray.tune.schedulers import FIFOScheduler, HyperBandScheduler, TrialScheduler

from rnn_core.tuning._compat_ray import (
    add_to_bracket,
    hyperband_objective_set,
    one_bracket,
    set_trial_status,
)
from rnn_core.tuning._storage import Place, place
from rnn_core.tuning._tracking import TrialRuns

log = logging.getLogger(__name__)


def trial_fn(config: dict, data: Any) -> None:
    """One Ray trial (``_trial.run_trial``). The import happens here, in the trial's worker,
    so the driver, which only passes this function to Ray, never loads torch (1.5 s); local
    workers have ``_trial`` preloaded by Ray when they start (``_ray.connect``)."""
    from rnn_core.tuning._trial import run_trial

    run_trial(config, data)


class PromotionASHA(FIFOScheduler):
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

    Free slots (``slots``, the trials the cluster trains at once; None: never). Once every
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
    its slot, and goes on speculatively or once confirmed.

    Failures (Ray 2.60, ``TuneController._try_recover``): a trial Ray will retry is ERROR when
    ``on_trial_error`` is called, then set PENDING and added again (``on_trial_add``); it has
    not ended, so its rungs still wait for it, and one that failed while pausing at a rung is
    put back to PAUSED there, before Ray can start it past the rung. A final failure arrives
    while the trial is still RUNNING or PENDING.

    ``n_trials`` is the number of trials the sweep adds (grid x samples): it tells when a rung
    is complete. ``max_running`` caps the trials training at once: Ray's own
    ``max_concurrent_trials`` counts paused trials as live, which with pausing at rungs can
    leave every trial paused; here new trials are held PAUSED when added and handed out
    under the cap. Rungs, promotions, waiting trials and a log of every decision are saved to
    ``state_file`` after every change (written beside it, then renamed over it, so a driver
    killed mid-write leaves the previous state) and reloaded on ``--resume`` (Ray does not
    persist scheduler state: ray-project/ray#30838); a trial restored while waiting stays
    paused, and one the saved state names that Ray's does not is forgotten.
    """

    def __init__(self, n_trials: int, grace_period: int, max_t: int, reduction_factor: float = 3,
                 state_file: str | Path | Place | None = None, metric: str | None = None,
                 mode: str | None = None, time_attr: str = "training_iteration",
                 max_running: int | None = None, slots: int | None = None) -> None:
        super().__init__()
        self.n_trials, self.rf, self.time_attr = n_trials, reduction_factor, time_attr
        self.max_running, self.slots, self.max_t = max_running, slots, int(max_t)
        self.milestones = rung_epochs(grace_period, reduction_factor, max_t)[:-1]
        # per rung: trial id -> signed objective (higher is better), in arrival order
        self.rungs: dict[int, dict[str, float]] = {m: {} for m in self.milestones}
        self.promoted: dict[int, set[str]] = {m: set() for m in self.milestones}
        self.waiting: dict[str, int] = {}  # trial id -> the rung it is paused at
        self.ended: set[str] = set()  # trials that terminated (finished, stopped, failed)
        self.stopped: set[str] = set()  # trials this scheduler stopped at a rung
        self.to_stop: set[str] = set()  # restored as unfinished, though stopped before
        # speculative promotions (see the class docstring): trial id -> the rung it left
        # unconfirmed; of those, the ones held paused at their next rung (-> signed objective
        # there), and the ones paused between rungs for a certain trial's slot
        self.spec: dict[str, int] = {}
        self.held: dict[str, float] = {}
        self.yielded: set[str] = set()
        self.resume: set[str] = set()  # confirmed while paused off a rung: to hand out
        # [event, rung, trial id]: arrive, promote, early, stop, end (left while waiting),
        # speculate, confirm, unspeculate, forget (lost with a killed driver: _forget_lost)
        self.log: list[list] = []
        self.trials: dict[str, Trial] = {}
        self._order: dict[int, dict[str, int]] = {m: {} for m in self.milestones}
        self._at: dict[int, set[str]] = {m: set() for m in self.milestones}  # waiting, by rung
        self._spec_at: dict[int, set[str]] = {m: set() for m in self.milestones}
        self._ended_before: dict[int, int] = dict.fromkeys(self.milestones, 0)
        # a local file or one on the sweep's storage (``_storage``): read back on --resume
        self.state_file = place(state_file) if state_file else None
        # the objective and its direction, under names of this class's own: Ray's schedulers
        # keep theirs in private attributes, which its ``metric`` property reads
        self._objective, self._direction = metric, mode
        self._sign = 1.0 if mode != "min" else -1.0
        if self.state_file and self.state_file.exists():
            saved = json.loads(self.state_file.read_text())
            for m in self.milestones:
                for tid, value in saved["rungs"].get(str(m), {}).items():
                    self._record(m, tid, value)
                self.promoted[m].update(saved["promoted"].get(str(m), []))
            for tid, m in saved["waiting"].items():
                self._wait(tid, int(m))
            self.stopped = set(saved["stopped"])
            self.log = saved["log"]
            for tid, m in saved.get("speculative", {}).items():
                self._speculating(tid, int(m))
            self.held = saved.get("held", {})
            self.yielded = set(saved.get("yielded", []))
            self.resume = set(saved.get("resume", []))
        # the trials the saved state names, checked against Ray's once it has restored them
        self._unchecked = ({*self.waiting, *self.stopped, *self.spec, *self.yielded,
                            *self.resume, *(t for m in self.milestones for t in self.rungs[m]),
                            *(t for m in self.milestones for t in self.promoted[m])}
                           if self.state_file and self.state_file.exists() else set())

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
        if self.state_file is None:
            return
        state = {"rungs": {str(m): r for m, r in self.rungs.items()},
                 "promoted": {str(m): sorted(p) for m, p in self.promoted.items()},
                 "waiting": self.waiting, "stopped": sorted(self.stopped), "log": self.log,
                 "speculative": self.spec, "held": self.held, "yielded": sorted(self.yielded),
                 "resume": sorted(self.resume)}
        self.state_file.write_text(json.dumps(state))

    def _record(self, m: int, tid: str, value: float) -> None:
        self.rungs[m][tid] = value
        self._order[m][tid] = max(self._order[m].values(), default=-1) + 1

    def _forget_lost(self) -> None:
        """Forget the trials the saved state names and Ray's restored state does not: with
        a searcher's random trial ids, a trial started after Ray last saved its state, before
        the driver was killed, is unknown to the resumed sweep, and its configuration goes to
        a new trial (``_search.StudySearch``), which comes through the rungs itself. Called
        once Ray has added every trial it restored (the first result or choice)."""
        lost, self._unchecked = self._unchecked - self.trials.keys(), set()
        for tid in sorted(lost):
            for m in self.milestones:
                self.rungs[m].pop(tid, None)
                self._order[m].pop(tid, None)
                self.promoted[m].discard(tid)
            self._unwait(tid)
            self._unspec(tid)
            for kept in (self.stopped, self.resume, self.to_stop):
                kept.discard(tid)
            self.log.append(["forget", None, tid])
        if lost:
            self._save()

    def _wait(self, tid: str, m: int) -> None:
        self.waiting[tid] = m
        self._at[m].add(tid)

    def _unwait(self, tid: str) -> None:
        if (m := self.waiting.pop(tid, None)) is not None:
            self._at[m].discard(tid)

    def _speculating(self, tid: str, m: int) -> None:
        self.spec[tid] = m
        self._spec_at[m].add(tid)

    def _unspec(self, tid: str) -> None:
        if (m := self.spec.pop(tid, None)) is not None:
            self._spec_at[m].discard(tid)
        self.held.pop(tid, None)
        self.yielded.discard(tid)

    def _parked(self, tid: str) -> bool:
        """Paused by this scheduler: waiting at a rung, held, yielded or to be resumed."""
        return (tid in self.waiting or tid in self.held or tid in self.yielded
                or tid in self.resume)

    def _pool(self, m: int) -> set[str]:
        """Rung ``m``'s candidates for promotion: waiting there, or gone on speculatively."""
        return self._at[m] | self._spec_at[m]

    def _next(self, m: int) -> int:
        i = self.milestones.index(m)
        return self.milestones[i + 1] if i + 1 < len(self.milestones) else self.max_t

    def _out(self, m: int, tid: str) -> bool:
        """No promotion left at rung ``m`` can go to ``tid``: as many trials of the rung's pool
        rank above it as promotions are left (exact unless a trial fails for good)."""
        left = math.ceil(self._could(self.milestones.index(m)) / self.rf) - len(self.promoted[m])
        key = self._rank_key(m)
        return sum(1 for t in self._pool(m) if key(t) < key(tid)) >= left

    def _rank_key(self, m: int):
        """Better objective first; equal ones by arrival at the rung (never set order)."""
        return lambda t: (-self.rungs[m][t], self._order[m][t])

    def _could(self, i: int) -> int:
        """Trials that have reached rung ``milestones[i]`` or still can (exact unless a trial
        fails for good on the way)."""
        m = self.milestones[i]
        if i == 0:
            return self.n_trials - self._ended_before[m]
        below = self.milestones[i - 1]
        on_way = sum(1 for t in self.promoted[below]
                     if t not in self.rungs[m] and t not in self.ended)
        still = max(0, math.ceil(self._could(i - 1) / self.rf) - len(self.promoted[below]))
        return len(self.rungs[m]) + on_way + still

    def _quotas(self) -> list[int]:
        """How many promotions each rung may have given by now (see the class docstring)."""
        out = []
        for i, m in enumerate(self.milestones):
            arrived, could = len(self.rungs[m]), self._could(i)
            final = math.ceil(could / self.rf)
            out.append(min(final, max(int(arrived // self.rf), final - (could - arrived))))
        return out

    def _candidate(self) -> tuple[int, str] | None:
        """Li et al.'s get_job: the best promotable trial, highest rung first."""
        quotas = self._quotas()
        for i in reversed(range(len(self.milestones))):
            m = self.milestones[i]
            if len(self.promoted[m]) < quotas[i] and (pool := self._pool(m)):
                return m, min(pool, key=self._rank_key(m))
        return None

    def _confirm(self) -> None:
        """Certain promotions that fall on trials gone on speculatively: confirmed. One held
        at its next rung arrives there now; one paused off a rung is handed out next."""
        while self.spec and (cand := self._candidate()) is not None and cand[1] in self.spec:
            m, tid = cand
            value, yielded = self.held.get(tid), tid in self.yielded
            self._unspec(tid)
            self.promoted[m].add(tid)
            self.log.append(["confirm", m, tid])
            nxt = self._next(m)
            if value is not None and nxt in self.rungs:
                self._record(nxt, tid, value)
                self.log.append(["arrive", nxt, tid])
                self._wait(tid, nxt)
            elif value is not None or yielded:  # held at the last epoch: resumed to end
                self.resume.add(tid)
            self._save()

    def _capacity(self) -> float:
        caps = [c for c in (self.slots, self.max_running) if c is not None]
        return min(caps) if caps else math.inf

    def _starved(self, tune_controller) -> bool:
        """A certain trial waits for a slot that every trial training holds."""
        trials = tune_controller.get_trials()
        waiting = self.resume or self._candidate() is not None or any(
            t.status == Trial.PENDING and t.trial_id not in self.spec for t in trials)
        return bool(waiting) and sum(
            t.status == Trial.RUNNING for t in trials) >= self._capacity()

    def _may_speculate(self, trials: list[Trial], live: int) -> bool:
        """A slot is free and nothing certain can take it: every trial added, none new
        PENDING (certain promotions were handed out before this is asked)."""
        return (self.slots is not None and live < self._capacity()
                and len(self.trials) >= self.n_trials
                and not any(t.status == Trial.PENDING and t.trial_id not in self.spec
                            for t in trials))

    def _speculate(self) -> Trial | None:
        """ASHA's own rule for a free slot: the best trial waiting (or paused speculatively)
        at the highest rung where it can still win a promotion."""
        for m in reversed(self.milestones):
            pool = self._at[m] | {t for t in self._spec_at[m] if t in self.yielded}
            if not pool:
                continue
            tid = min(pool, key=self._rank_key(m))
            if self._out(m, tid):
                continue
            if self.trials[tid].status != Trial.PAUSED:  # Ray still saves it: next call
                return None
            if tid in self.yielded:
                self.yielded.discard(tid)
            else:
                self._unwait(tid)
                self._speculating(tid, m)
                self.log.append(["speculate", m, tid])
            self._save()
            return self.trials[tid]
        return None

    def _promote(self, m: int, tid: str) -> None:
        self._unwait(tid)
        self.promoted[m].add(tid)
        early = len(self.promoted[m]) > len(self.rungs[m]) // self.rf
        self.log.append(["early" if early else "promote", m, tid])

    def _dropouts(self) -> list[str]:
        """Trials waiting at a rung no trial can reach any more, below its last promotions:
        they stop."""
        out = []
        for i, m in enumerate(self.milestones):
            could = self._could(i)
            if could == len(self.rungs[m]) and self._at[m]:
                keep = max(0, math.ceil(could / self.rf) - len(self.promoted[m]))
                ranked = sorted(self._pool(m), key=self._rank_key(m))
                out += [t for t in ranked[keep:] if t in self._at[m]]
        return out

    def _unspeculated(self) -> list[str]:
        """Speculative trials paused (held or yielded) that no promotion can reach: they
        stop; running ones stop at their next report."""
        return [t for t in sorted(self.held.keys() | self.yielded) if self._out(self.spec[t], t)]

    def _end(self, trial: Trial) -> None:
        tid = trial.trial_id
        if (m := self.waiting.get(tid, self.spec.get(tid))) is not None:
            self.log.append(["end", m, tid])  # failed for good, or removed, off its course
        self._unwait(tid)
        self._unspec(tid)
        self.resume.discard(tid)
        if tid not in self.ended:
            self.ended.add(tid)
            for m in self.milestones:
                self._ended_before[m] += tid not in self.rungs[m]
        self._save()

    # -- Ray's hooks

    def on_trial_add(self, tune_controller, trial: Trial) -> None:
        if not self._objective or not self._direction:
            raise ValueError("PromotionASHA needs the metric and mode (tune.TuneConfig)")
        tid = trial.trial_id
        if tid in self.trials:  # Ray re-adds a trial it requeues after a failure
            if self._parked(tid):  # failed while pausing: it stays paused
                set_trial_status(tune_controller, trial, Trial.PAUSED)
            return
        # a first add: Ray files the trial under its status after this call, so statuses
        # are set directly
        self.trials[tid] = trial
        if trial.status in (Trial.TERMINATED, Trial.ERROR):
            self._end(trial)
        elif tid in self.stopped:  # Ray's saved state predates the stop
            trial.set_status(Trial.PAUSED)
            self.to_stop.add(tid)
        elif self._parked(tid):
            trial.set_status(Trial.PAUSED)  # restored while paused here: stays there
        elif self.max_running is not None and trial.status == Trial.PENDING:
            trial.set_status(Trial.PAUSED)  # held until a slot under the cap frees

    def on_trial_result(self, tune_controller, trial: Trial, result: dict) -> str:
        m, tid = result.get(self.time_attr), trial.trial_id
        self._forget_lost()
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
            self.log.append(["arrive", m, tid])
        self._wait(tid, m)
        self._confirm()
        if self._candidate() == (m, tid):
            self._promote(m, tid)
            decision = TrialScheduler.CONTINUE
        elif tid in self._dropouts():
            self.stopped.add(tid)
            self.log.append(["stop", m, tid])
            self._unwait(tid)  # Ray's stop_trial then calls on_trial_complete: ended
            decision = TrialScheduler.STOP
        else:  # its slot goes to the best promotable trial, else a new one
            decision = TrialScheduler.PAUSE
        self._save()
        return decision

    def _speculative_result(self, tune_controller, tid: str, epoch: int, result: dict) -> str:
        """A report of a trial gone on speculatively, not confirmed: it stops once no
        promotion can reach it, is held at its next rung, or pauses for a certain trial."""
        m = self.spec[tid]
        if self._out(m, tid):
            self._unspec(tid)
            self.stopped.add(tid)
            self.log.append(["unspeculate", m, tid])
            return TrialScheduler.STOP
        if epoch >= self._next(m):
            value = float(result.get(self._objective, math.nan))
            self.held[tid] = -math.inf if math.isnan(value) else self._sign * value
            return TrialScheduler.PAUSE
        if self._starved(tune_controller):
            self.yielded.add(tid)
            return TrialScheduler.PAUSE
        return TrialScheduler.CONTINUE

    def on_trial_complete(self, tune_controller, trial: Trial, result: dict) -> None:
        self._end(trial)

    def on_trial_error(self, tune_controller, trial: Trial) -> None:
        if trial.status == Trial.ERROR:
            return  # Ray retries it (see the class docstring): it has not ended
        self._end(trial)

    def on_trial_remove(self, tune_controller, trial: Trial) -> None:
        self._end(trial)

    def choose_trial_to_run(self, tune_controller) -> Trial | None:
        self._forget_lost()
        self._confirm()
        self._stop_one(tune_controller)
        trials = tune_controller.get_trials()
        live = sum(t.status in (Trial.RUNNING, Trial.PENDING) for t in trials)
        if self.max_running is not None and live >= self.max_running:
            return None
        for tid in sorted(self.resume):  # confirmed while paused off a rung
            if self.trials[tid].status == Trial.PAUSED:
                self.resume.discard(tid)
                self._save()
                return self.trials[tid]
        if (cand := self._candidate()) is not None:
            m, tid = cand
            if self.trials[tid].status == Trial.PAUSED:  # not while Ray still saves it
                self._promote(m, tid)
                self._save()
                return self.trials[tid]
        # a trial restored PAUSED though not paused here, or a new one held under
        # max_running; Ray starts PENDING trials itself
        fresh = next((t for t in trials if t.status == Trial.PAUSED
                      and not self._parked(t.trial_id) and t.trial_id not in self.spec
                      and t.trial_id not in self.stopped and t.trial_id not in self.ended),
                     None)
        if fresh is None and self._may_speculate(trials, live):
            return self._speculate()
        return fresh

    def _stop_one(self, tune_controller) -> None:
        """One stop a call: Ray's stop_trial runs the trial's callbacks (its MLflow run and
        checkpoint) inside this call, and Ray's event loop waits on it."""
        for tid in [*sorted(self.to_stop), *self._dropouts(), *self._unspeculated()]:
            if self.trials[tid].status == Trial.PAUSED:
                self.stopped.add(tid)
                self.to_stop.discard(tid)
                if tid in self.spec:
                    self.log.append(["unspeculate", self.spec[tid], tid])
                    self._unspec(tid)
                else:
                    self.log.append(["stop", self.waiting.get(tid), tid])
                    self._unwait(tid)
                tune_controller.stop_trial(self.trials[tid])  # calls on_trial_remove: ended
                return

    def debug_string(self) -> str:
        rungs = ", ".join(f"epoch {m}: {len(self.promoted[m])} of {len(self.rungs[m])} on"
                          for m in self.milestones)
        spec = f", {len(self.spec)} speculative" if self.spec else ""
        return f"PromotionASHA ({rungs}; {len(self.waiting)} waiting{spec})"


def rung_epochs(grace_period: int, reduction_factor: float, max_t: int) -> list[int]:
    """Where trials are compared: ``grace * rf**k`` below ``max_t``, then ``max_t`` itself.

    ``reduction_factor`` must be a whole number of 2 or more: at 1 or below the rungs never
    reach ``max_t``, and a fraction rounds two rungs onto the same epoch (1.5: 1, 1, 2, 3).
    """
    if reduction_factor != int(reduction_factor) or reduction_factor < 2:
        raise ValueError(f"reduction factor {reduction_factor}: expected a whole number of "
                         "2 or more")
    rungs, r = [], int(grace_period)
    while r < max_t:
        rungs.append(r)
        r *= int(reduction_factor)
    return [*rungs, int(max_t)]


class SuccessiveHalving(HyperBandScheduler):
    """Synchronous successive halving (Jamieson & Talwalkar 2016; one bracket of Hyperband).

    Every trial trains to the first rung; a trial that gets there pauses (its slot goes to the
    next trial) until all trials have reported at that rung; then the best ``ceil(n / rf)``
    continue to the next rung and the rest stop. Unlike ASHA, no trial is promoted on the
    strength of a few early comparisons, and at most ``ceil(n / rf**k)`` trials train past rung
    ``k``: with 27 trials, grace 1, rf 3 and 5 epochs, 27 x 1 + 9 x 2 + 3 x 2 = 51 trial-epochs.
    Paused trials resume from their last epoch checkpoint (``trial_fn``).

    ``n_trials`` must be the number of trials the sweep adds (grid size x samples): the
    bracket's halving counts are fixed from it up front, as in Ray's Hyperband.
    """

    def __init__(self, n_trials: int, grace_period: int, max_t: int,
                 reduction_factor: float = 3, **kwargs) -> None:
        super().__init__(time_attr="training_iteration", max_t=max_t,
                         reduction_factor=reduction_factor, **kwargs)
        halvings = len(rung_epochs(grace_period, reduction_factor, max_t)) - 1
        self._bracket = one_bracket(self, n_trials, grace_period, max_t, reduction_factor,
                                    halvings)

    def on_trial_add(self, tune_controller, trial) -> None:
        if not hyperband_objective_set(self):
            raise ValueError("SuccessiveHalving needs the metric and mode (tune.TuneConfig)")
        add_to_bracket(self, self._bracket, trial)


def _error_text(trial) -> str:
    err = trial.error_file and Path(trial.error_file)
    text = err.read_text() if err and err.exists() else "trial failed"
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    # the exception line last: "TrainingDiverged: training loss became nan at epoch 1"
    return (lines[-1][:500] + "\n\n" + text.strip()[-4000:]) if lines else text


class MlflowTrialsCallback(tune.Callback):
    """Feeds Ray Tune's trial events to ``TrialRuns`` (runs on the driver); stops the sweep
    as Ctrl-C does once MLflow has been unreachable past the outage limit (``_outbox``), and
    fails it on a write MLflow refused."""

    def __init__(self, runs: TrialRuns) -> None:
        self.runs = runs
        self.stopping = False

    def on_step_begin(self, iteration, trials, **info):
        outbox = self.runs.outbox
        if outbox.error is not None:
            raise outbox.error
        if outbox.expired and not self.stopping:
            self.stopping = True
            log.warning("stopping the sweep: %s", outbox.outage())
            import signal

            # Ray Tune's own handler (wrapped by ``_progress.InterruptWatch``): it stops the
            # trials where they are and saves its state, so --resume continues the sweep
            handler = signal.getsignal(signal.SIGINT)
            if callable(handler):
                handler(signal.SIGINT, None)

    def on_trial_start(self, iteration, trials, trial, **info):
        self.runs.start(trial.trial_id, trial.config)

    def on_trial_result(self, iteration, trials, trial, result, **info):
        self.runs.result(trial.trial_id, trial.config, result)

    def on_trial_recover(self, iteration, trials, trial, **info):
        self.runs.recover(trial.trial_id, trial.config, _error_text(trial))

    def on_trial_complete(self, iteration, trials, trial, **info):
        self.runs.complete(trial.trial_id, trial.config, trial.checkpoint)

    def on_trial_error(self, iteration, trials, trial, **info):
        self.runs.complete(trial.trial_id, trial.config, trial.checkpoint,
                           error=_error_text(trial))


def trial_callbacks(runs: TrialRuns) -> list[tune.Callback]:
    """MLflow, and Ray's own per-trial ``progress.csv`` / ``result.json``.

    Ray would add a TensorBoard logger too, whose tensorboardX import loads torch into the
    driver before the first trial starts (1.4 s); trials are tracked in MLflow instead.
    """
    from ray.tune.logger import CSVLoggerCallback, JsonLoggerCallback

    os.environ["TUNE_DISABLE_AUTO_CALLBACK_LOGGERS"] = "1"  # we pass the loggers we keep
    return [MlflowTrialsCallback(runs), CSVLoggerCallback(), JsonLoggerCallback()]
