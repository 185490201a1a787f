"""A simulated Ray Tune controller that drives a trial scheduler at scales no laptop runs.

It calls the scheduler's hooks in the order Ray Tune 2.60's ``TuneController`` does
(``ray/tune/execution/tune_controller.py``), on real ``Trial`` objects, in simulated time:

- trials are added while fewer than ``max_pending`` are PENDING, each with ``on_trial_add``;
- every step first asks ``choose_trial_to_run`` (a PAUSED trial it returns turns PENDING and
  queues for a slot), then starts PENDING trials in the order they asked for a slot;
- a result goes to ``on_trial_result``; CONTINUE trains on (or, after the last epoch, ends the
  trial with ``on_trial_complete``); STOP is ``stop_trial``; PAUSE keeps the trial RUNNING while
  its checkpoint saves, then PAUSED, and frees the slot;
- a failure with retries left (``_try_recover``) sets ERROR, calls ``on_trial_error``, sets
  PENDING, moves the trial to the end of the list and calls ``on_trial_add`` again; it resumes
  from its last checkpoint; without retries left, ``on_trial_error`` is called while the
  trial is still RUNNING, then it is ERROR.

What trials report and how long their epochs take: ``bench.sim.curves`` (``SimConfig.curves``:
``flat``, ``synthetic`` with a rank correlation ``rho``, or ``replay`` of recorded curves).
A trial resumed after it reported its last epoch (held there by the scheduler) ends at once.

Beside it, a referee (``bench.sim.rules.Referee``) records every rung arrival, promotion and
stop from the trials' own point of view (not the scheduler's bookkeeping) and lists what
breaks asynchronous successive halving's rules: ``SimResult.violations``. It reads the
scheduler's log (``speculate``, ``confirm``, ``unspeculate``) where the scheduler keeps one,
to tell a speculative promotion from a certain one; ``SimConfig.check_rules=False`` for a
scheduler that follows other rules (Ray's ``ASHAScheduler``).
"""

from __future__ import annotations

import gc
import heapq
import math
import random
import time

from ray.tune.experiment import Trial
from ray.tune.schedulers import TrialScheduler

from bench.sim.config import METRIC, SimConfig, SimResult, draw_curves
from bench.sim.curves import Curves
from bench.sim.rules import Referee, sha_budget
from rnn_core.tuning import rung_epochs

__all__ = ["METRIC", "SimConfig", "SimController", "SimResult", "draw_curves", "simulate"]


class _GcClock:
    """CPU time the cyclic garbage collector spends while installed (``gc.callbacks``)."""

    def __init__(self) -> None:
        self.ms, self._t = 0.0, 0.0

    def __call__(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._t = time.thread_time()
        else:
            self.ms += (time.thread_time() - self._t) * 1e3


class SimController:
    """The part of Ray's ``TuneController`` a scheduler sees, in simulated time."""

    def __init__(self, scheduler: TrialScheduler, cfg: SimConfig, seed: int,
                 curves: Curves | None = None) -> None:
        self.sched, self.cfg, self.rng = scheduler, cfg, random.Random(seed)
        self.rungs = rung_epochs(cfg.grace, cfg.rf, cfg.max_t)[:-1]
        self.ref = Referee(self.rungs, cfg.rf, cfg.n_trials, max_t=cfg.max_t)
        self.curves = curves if curves is not None else self._curves()
        # an epoch's mean time per trial (a checkpoint save takes ``save_share`` of it)
        self.speed = dict(enumerate(self.curves.speed))
        self.logged = 0  # scheduler log entries the referee has read
        self.faults: list[str] = []  # the controller's own findings: a hang, trials left
        self.busy = self.idle_waiting = 0.0
        self.finished_at: dict[str, float] = {}  # when a trial reported epoch max_t
        self.trials: list[Trial] = []
        self.idx: dict[str, int] = {}
        self.epoch: dict[str, int] = {}  # last reported (= checkpointed) epoch
        self.failures: dict[str, int] = {}
        self.running: set[str] = set()  # holding a slot (also while a pause saves)
        self.queue: list[Trial] = []  # PENDING trials, in the order they asked for a slot
        self.gen: dict[str, int] = {}  # bumps when a trial's scheduled events go stale
        self.events: list[tuple[float, int, str, str, int]] = []
        self.now, self.seq, self.permanent = 0.0, 0, 0
        self.peak = 0
        self.slots, self.slot_time = cfg.slots, 0.0  # the cluster's slots now; their time
        self.started_at: dict[str, float] = {}
        self.spec_waiting_peak = 0
        for when, slots in cfg.slot_changes:
            self.seq += 1
            heapq.heappush(self.events, (when, self.seq, "slots", "", slots))
        if cfg.slot_changes and cfg.follow_slots and hasattr(scheduler, "slots_source"):
            scheduler.slots_source = lambda: self.slots  # as ``ClusterSlots`` counts Ray's
            scheduler.slots_every_s = 0.0  # simulated time: every call
        self.changes = 0  # status changes: a step that makes none, with no event left, ends
        self.calls: dict[str, list[float]] = {}
        self.walls: dict[str, list[float]] = {}
        self.gc, self.gc_pause = _GcClock(), 0.0
        self.by_id: dict[str, Trial] = {}

    # -- what the scheduler may call (Ray's TrialRunnerWrapper whitelist)

    def get_trials(self) -> list[Trial]:
        return self.trials

    def _set_trial_status(self, trial: Trial, status: str) -> None:
        self.changes += 1
        if trial.status == Trial.PENDING and status != Trial.PENDING:
            self.queue = [t for t in self.queue if t is not trial]
        if status == Trial.PENDING and trial.status != Trial.PENDING:
            self.queue.append(trial)
        trial.set_status(status)

    def stop_trial(self, trial: Trial) -> None:
        if trial.status in (Trial.ERROR, Trial.TERMINATED):
            return
        self._feed()
        if trial.status in (Trial.PENDING, Trial.PAUSED):
            self._call("on_trial_remove", self, trial)
        else:
            self._call("on_trial_complete", self, trial, {})
        self.ref.leave(trial.trial_id, stopped=True)
        self._release(trial, Trial.TERMINATED)

    # -- the simulation

    def _curves(self) -> Curves:
        return draw_curves(self.cfg, self.rng)

    def _feed(self) -> None:
        """The scheduler's new log entries, to the referee (a scheduler without a log: none)."""
        log = getattr(self.sched, "log", None)
        if not isinstance(log, list) or not self.cfg.check_rules:
            return
        for event, m, tid in log[self.logged:]:
            self.ref.event(event, m, tid)
        self.logged = len(log)

    def _advance(self, when: float) -> None:
        """Slot-time up to ``when``: busy, and idle while a trial waits paused mid-sweep."""
        dt = when - self.now
        if dt <= 0:
            return
        self.busy += len(self.running) * dt
        self.slot_time += self.slots * dt
        idle = self.slots - len(self.running)
        if idle > 0 and any(t.status == Trial.PAUSED and self.epoch[t.trial_id] > 0
                            for t in self.trials):
            self.idle_waiting += idle * dt
        self.now = when

    def _call(self, hook: str, *args):
        t0, w0, g0 = time.thread_time(), time.perf_counter(), self.gc.ms
        out = getattr(self.sched, hook)(*args)
        self._feed()
        gc_ms = self.gc.ms - g0
        self.gc_pause = max(self.gc_pause, gc_ms)
        self.calls.setdefault(hook, []).append((time.thread_time() - t0) * 1e3 - gc_ms)
        self.walls.setdefault(hook, []).append((time.perf_counter() - w0) * 1e3)
        return out

    def _release(self, trial: Trial, status: str) -> None:
        tid = trial.trial_id
        self.running.discard(tid)
        self.gen[tid] += 1
        self._set_trial_status(trial, status)

    def _at(self, delay: float, kind: str, tid: str) -> None:
        self.seq += 1
        heapq.heappush(self.events, (self.now + delay, self.seq, kind, tid, self.gen[tid]))

    def _epoch_time(self, tid: str) -> float:
        return self.curves.epoch_time(self.idx[tid], self.epoch[tid] + 1)

    def _add_trials(self) -> None:
        while (
            len(self.trials) < self.cfg.n_trials
            and sum(t.status == Trial.PENDING for t in self.trials) < self.cfg.max_pending
        ):
            self._add_trial()

    def _add_trial(self) -> None:
        i = len(self.trials)
        trial = Trial("__sim", config={"i": i}, trial_id=f"sim_{i:05d}", stub=True)
        tid = trial.trial_id
        self.trials.append(trial)
        self.by_id[tid], self.idx[tid] = trial, i
        self.epoch[tid], self.failures[tid], self.gen[tid] = 0, 0, 0
        self._call("on_trial_add", self, trial)
        if trial.status == Trial.PENDING:  # Ray files a trial by its status after the call
            self.queue.append(trial)

    def _start_queued(self) -> None:
        while self.queue and len(self.running) < self.slots:
            self.changes += 1
            trial = self.queue.pop(0)
            trial.set_status(Trial.RUNNING)
            self.running.add(trial.trial_id)
            self.peak = max(self.peak, len(self.running))
            self.started_at[trial.trial_id] = self.now
            if self.epoch[trial.trial_id] >= self.cfg.max_t:  # held after its last epoch
                self._at(0.0, "done", trial.trial_id)
            else:
                self._at(self._epoch_time(trial.trial_id), "epoch", trial.trial_id)

    def _step(self) -> bool:
        changes = self.changes
        chosen = self._schedule()
        if not self.events:
            return chosen is not None or self.changes != changes
        self._next_event()
        return True

    def _schedule(self) -> Trial | None:
        """Ray's loop before it waits for an event: add trials, ask the scheduler for one to
        run, start the PENDING ones; the trial the scheduler chose (or None)."""
        self._add_trials()
        chosen = self._call("choose_trial_to_run", self)
        if chosen is not None:
            tid = chosen.trial_id
            if chosen.status in (Trial.TERMINATED, Trial.ERROR):
                self.faults.append(f"{tid} chosen to run after it ended")
            elif chosen.status == Trial.PAUSED:
                for m in self.rungs:
                    if tid in self.ref.waiting[m]:
                        self.ref.promote(m, tid)
                self._set_trial_status(chosen, Trial.PENDING)
        self._start_queued()
        spec = getattr(self.sched, "spec", {})
        self.spec_waiting_peak = max(self.spec_waiting_peak,
                                     sum(t.trial_id in spec for t in self.queue))
        return chosen

    def _next_event(self) -> None:
        when, _, kind, tid, gen = heapq.heappop(self.events)
        self._advance(when)
        if kind == "slots":
            self._resize(gen)
        elif gen == self.gen[tid]:
            handler = {"epoch": self._on_epoch, "saved": self._on_saved, "done": self._on_done}
            handler[kind](self.by_id[tid])

    def _resize(self, slots: int) -> None:
        """The cluster has ``slots`` from now on; one that shrank lost the trials started
        last beyond it (their node died under them)."""
        self.changes += 1
        self.slots = slots
        for tid in sorted(self.running, key=self.started_at.get)[slots:]:
            self._fail(self.by_id[tid])

    def _on_done(self, trial: Trial) -> None:
        self._call("on_trial_complete", self, trial, {})
        self._release(trial, Trial.TERMINATED)

    def _fail(self, trial: Trial) -> None:
        tid = trial.trial_id
        self.failures[tid] += 1
        if self.failures[tid] <= self.cfg.max_failures:  # Ray's _try_recover
            self.running.discard(tid)
            self.gen[tid] += 1
            trial.set_status(Trial.ERROR)
            self._call("on_trial_error", self, trial)
            self._set_trial_status(trial, Trial.PENDING)
            self.trials.remove(trial)  # requeued: to the end of the list, and added again
            self.trials.append(trial)
            self._call("on_trial_add", self, trial)
        else:
            self.permanent += 1
            self._call("on_trial_error", self, trial)
            self.ref.leave(tid, stopped=False)
            self._release(trial, Trial.ERROR)

    def _on_epoch(self, trial: Trial) -> None:
        tid = trial.trial_id
        if self.rng.random() < self.cfg.fail_p:
            return self._fail(trial)
        e = self.epoch[tid] = self.epoch[tid] + 1
        self.ref.passed(tid, e)
        value = self.curves.value(self.idx[tid], e)
        if e == self.cfg.max_t:
            self.finished_at[tid] = self.now
        if e in self.ref.arrived:
            self.ref.arrive(e, tid, value)
        result = {"training_iteration": e, METRIC: value, "trial_id": tid}
        decision = self._call("on_trial_result", self, trial, result)
        if decision == TrialScheduler.STOP:
            self.stop_trial(trial)
        elif decision == TrialScheduler.PAUSE:
            self._at(self.cfg.save_share * self.speed[self.idx[tid]], "saved", tid)
        else:
            if e in self.ref.arrived:
                self.ref.promote(e, tid)
            if e >= self.cfg.max_t:
                self._call("on_trial_complete", self, trial, result)
                self._release(trial, Trial.TERMINATED)
            elif self.cfg.unasked_pause_p and self.rng.random() < self.cfg.unasked_pause_p:
                self._at(self.cfg.save_share * self.speed[self.idx[tid]], "saved", tid)
            else:
                self._at(self._epoch_time(tid), "epoch", tid)

    def _on_saved(self, trial: Trial) -> None:
        if self.rng.random() < self.cfg.save_fail_p:
            return self._fail(trial)
        self._release(trial, Trial.PAUSED)

    def run(self, max_steps: int = 200_000) -> SimResult:
        self._loop(max_steps)
        return self._result()

    def _loop(self, max_steps: int) -> None:
        gc.callbacks.append(self.gc)
        try:
            for _ in range(max_steps):
                if not self._step():
                    break
            else:
                self.faults.append("the sweep did not end (a hang)")
        finally:
            gc.callbacks.remove(self.gc)

    def _result(self) -> SimResult:
        left = [t.trial_id for t in self.trials if t.status not in (Trial.TERMINATED, Trial.ERROR)]
        if len(self.trials) < self.cfg.n_trials or left:
            self.faults.append(
                f"{len(left)} trials never ended, e.g. {left[:3]} "
                f"({len(self.trials)} of {self.cfg.n_trials} added)"
            )
        if self.cfg.check_rules:
            self.ref.finish(exact=self.permanent == 0)
        final = {i: self.curves.final(i) for i in range(self.cfg.n_trials)}
        best = self.by_id[f"sim_{max(final, key=final.get):05d}"]
        cfg = self.cfg
        slot_time = self.slot_time
        done = [t for t in self.finished_at if self.by_id[t].status != Trial.ERROR]
        pick = max(done, key=lambda t: final[self.idx[t]], default=None)
        log = getattr(self.sched, "log", None) or []
        return SimResult(
            best_reached_last=(
                None if best.status == Trial.ERROR else self.epoch[best.trial_id] == cfg.max_t
            ),
            epochs=sum(self.epoch.values()),
            sha_epochs=sha_budget(cfg.n_trials, cfg.grace, cfg.rf, cfg.max_t),
            permanent_failures=self.permanent,
            peak_running=self.peak,
            spec_waiting_peak=self.spec_waiting_peak,
            call_ms=self.calls,
            wall_ms=self.walls,
            gc_pause_ms=self.gc_pause,
            violations=[*(self.ref.violations if cfg.check_rules else []), *self.faults],
            makespan=self.now,
            utilisation=self.busy / slot_time if slot_time else 0.0,
            idle_waiting=self.idle_waiting / slot_time if slot_time else 0.0,
            anytime=self.finished_at[pick] if pick else math.nan,
            regret=max(final.values()) - final[self.idx[pick]] if pick else math.nan,
            speculated=sum(1 for e in log if e[0] == "speculate"),
            confirmed=sum(1 for e in log if e[0] == "confirm"),
            promoted={m: set(p) for m, p in getattr(self.sched, "promoted", {}).items()},
            pick_value=final[self.idx[pick]] if pick else math.nan,
            trials=len(self.trials),
            reached_last=len(done),
        )


def simulate(make_scheduler, cfg: SimConfig, seed: int, curves: Curves | None = None
             ) -> SimResult:
    """One simulated sweep: ``make_scheduler(cfg)`` builds the scheduler under test (its
    metric is ``score``, mode ``max``); ``curves``: given trials' (``Curves.given``), else
    drawn from ``cfg`` and ``seed``. With ``cfg.time_budget``: an open stream
    (``bench.sim.stream``)."""
    if cfg.time_budget is not None:
        from bench.sim.stream import StreamController, stream_curves

        curves = curves if curves is not None else stream_curves(cfg, seed)
        return StreamController(make_scheduler(cfg), cfg, seed, curves).run()
    return SimController(make_scheduler(cfg), cfg, seed, curves).run()
