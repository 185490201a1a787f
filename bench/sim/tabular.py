"""Searches replayed on a recorded table: the tabular benchmark method (NAS-Bench-101,
HPOBench), with this platform's own searcher and scheduler.

A table holds, for every configuration of a grid, what a real sweep measured after each epoch
(validation objective, test objective of that epoch's model, epoch seconds, parameters). A
replay runs a search over the same grid as a sweep would, in simulated time: the controller
of ``bench.sim.controller`` (Ray Tune's hook order, real ``Trial`` objects) drives the real
scheduler (``PromotionASHA`` or Ray's FIFO) and the real searcher (``make_searcher``: Ray's
``OptunaSearch`` over an Optuna study, the same samplers and settings as a sweep), and each
epoch's result is read from the table instead of trained. A trial's epoch takes the seconds
it took in the recording, so large models finish later, as they do.

What a replay measures: the compute spent (trial-epochs), and after every reported epoch the
validation pick so far (best validation objective; ties: fewer parameters) with the test
objective of its best-on-validation epoch, which is what the sweep's report would quote.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ray.tune.experiment import Trial
from ray.tune.schedulers import FIFOScheduler, TrialScheduler

from bench.sim.controller import SimConfig, SimController
from bench.sim.table import Table
from rnn_core.tuning import PromotionASHA

__all__ = ["Replay", "replay"]

OBJECTIVE, SIZE = "best_val_acc", "n_params"


@dataclass
class Replay:
    """One replayed search."""

    trials: list[tuple] = field(default_factory=list)  # configurations, in start order
    epochs: dict[tuple, int] = field(default_factory=dict)  # epochs each trained
    seconds: float = 0.0  # recorded seconds of the epochs trained, summed
    # after each reported epoch: (trial-epochs so far, the pick's config, its best validation
    # objective, its test objective)
    curve: list[tuple[int, tuple, float, float]] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)  # ASHA's rules broken (none expected)
    # per sampled trial: how many trials Optuna had been told the end of when it was asked
    told: list[int] = field(default_factory=list)
    # per sampled trial: those and the trials that had reported an epoch, which TPE models
    # under a scheduler with rungs (``rnn_core.tuning._rungs.RungSampler``)
    observed: list[int] = field(default_factory=list)

    @property
    def compute(self) -> int:
        return sum(self.epochs.values())

    def pick_at(self, budget: float) -> tuple[tuple, float, float] | None:
        """The pick once no more than ``budget`` trial-epochs were spent: (config, val, test)."""
        seen = [c for c in self.curve if c[0] <= budget]
        return seen[-1][1:] if seen else None


class _TableController(SimController):
    """``SimController`` with trials from a searcher (or the grid's order), results from a
    table, and the searcher told of results and ends as Ray's controller tells it."""

    def __init__(self, scheduler, cfg: SimConfig, table: Table, searcher, grid: list[tuple],
                 check_rules: bool) -> None:
        super().__init__(scheduler, cfg, seed=0)
        self.table, self.searcher, self.grid = table, searcher, grid
        self.check_rules = check_rules
        self.config: dict[str, tuple] = {}
        self.last: dict[str, dict] = {}
        self.out = Replay()
        self.best: tuple | None = None  # (value, -n_params, config) of the pick so far

    def _add_trials(self) -> None:
        while (len(self.trials) < self.cfg.n_trials
               and sum(t.status == Trial.PENDING for t in self.trials) < self.cfg.max_pending):
            i = len(self.trials)
            tid = f"sim_{i:05d}"
            if self.searcher is not None:
                self.out.told.append(self.searcher.finished_trials())
                self.out.observed.append(self.searcher.observed_trials())
                params = self.searcher.suggest(tid)
                key = tuple(params[k] for k in self.table.keys)
            else:
                key = self.grid[i]
            trial = Trial("__sim", config=dict(zip(self.table.keys, key, strict=True)),
                          trial_id=tid, stub=True)
            self.trials.append(trial)
            self.by_id[tid], self.idx[tid], self.config[tid] = trial, i, key
            self.epoch[tid], self.failures[tid], self.gen[tid] = 0, 0, 0
            self.out.trials.append(key)
            self._call("on_trial_add", self, trial)
            if trial.status == Trial.PENDING:
                self.queue.append(trial)

    def _epoch_time(self, tid: str) -> float:
        return self.table.seconds[self.config[tid]][self.epoch[tid]]

    def stop_trial(self, trial: Trial) -> None:
        if trial.status in (Trial.ERROR, Trial.TERMINATED):
            return
        tid = trial.trial_id
        if self.searcher is not None:  # Ray: a paused trial ends with no result (PRUNED)
            running = trial.status == Trial.RUNNING
            self.searcher.on_trial_complete(tid, result=self.last[tid] if running else None)
        if trial.status in (Trial.PENDING, Trial.PAUSED):
            self._call("on_trial_remove", self, trial)
        else:
            self._call("on_trial_complete", self, trial, {})
        if self.check_rules:
            self.ref.leave(tid, stopped=True)
        self._release(trial, Trial.TERMINATED)

    def _on_epoch(self, trial: Trial) -> None:
        tid, key = trial.trial_id, self.config[trial.trial_id]
        e = self.epoch[tid] = self.epoch[tid] + 1
        self.out.epochs[key] = e
        self.out.seconds += self.table.seconds[key][e - 1]
        value = max(self.table.val[key][:e])
        result = {"training_iteration": e, OBJECTIVE: value, SIZE: self.table.n_params[key],
                  "trial_id": tid}
        self.last[tid] = result
        self._note_pick(key, value)
        if self.check_rules:
            self.ref.passed(tid, e)
            if e in self.ref.arrived:
                self.ref.arrive(e, tid, value)
        decision = self._call("on_trial_result", self, trial, result)
        if decision != TrialScheduler.STOP and self.searcher is not None:
            self.searcher.on_trial_result(tid, result)
        if decision == TrialScheduler.STOP:
            self.stop_trial(trial)
        elif decision == TrialScheduler.PAUSE:
            self._at(0.0, "saved", tid)
        else:
            if self.check_rules and e in self.ref.arrived:
                self.ref.promote(e, tid)
            if e >= self.cfg.max_t:
                self._call("on_trial_complete", self, trial, result)
                if self.searcher is not None:
                    self.searcher.on_trial_complete(tid, result=result)
                self._release(trial, Trial.TERMINATED)
            else:
                self._at(self._epoch_time(tid), "epoch", tid)

    def _on_saved(self, trial: Trial) -> None:
        self._release(trial, Trial.PAUSED)

    def _note_pick(self, key: tuple, value: float) -> None:
        """The validation pick after this result (ties: fewer parameters, then first seen)."""
        mine = (value, -self.table.n_params[key])
        if self.best is None or mine > self.best[:2]:
            self.best = (*mine, key)
        pick = self.best[2]
        upto = self.out.epochs[pick]
        test = self.table.test[pick][self.table.best_epoch(pick, upto) - 1]
        self.out.curve.append((self.out.compute, pick, self.best[0], test))

    def run(self, max_steps: int = 100_000) -> Replay:
        for _ in range(max_steps):
            if not self._step():
                break
        if self.check_rules:
            self.ref.finish(exact=True)
            self.out.violations = [*self.ref.violations, *self.faults]
        return self.out


def replay(table: Table, search: str, n_trials: int, seed: int, scheduler: str = "asha",
           slots: int = 2, grace: int = 1, rf: int = 3) -> Replay:
    """Replay one search on ``table``: ``search`` grid (the grid's own order; ``n_trials``
    ignored), random, tpe or nsga2, under ``scheduler`` asha or fifo, ``slots`` trials at a
    time, as a sweep of the table's epochs would run it."""
    from rnn_core.tuning import make_searcher

    max_t = table.max_epochs
    grid = sorted(table.val, key=table.order.get)
    n = len(grid) if search == "grid" else n_trials
    sched = (PromotionASHA(n, grace, max_t, rf, metric=OBJECTIVE, mode="max")
             if scheduler == "asha" else FIFOScheduler())
    cfg = SimConfig(n_trials=n, slots=slots, max_t=max_t, grace=grace, rf=rf,
                    # Ray asks a searcher for one trial at a time, and adds a grid's up to 16
                    max_pending=16 if search == "grid" else 1)
    # the study in memory: a replay keeps nothing
    searcher = None if search == "grid" else make_searcher(
        search, table.space(), OBJECTIVE, "max", n, seed, "sqlite:///:memory:", f"replay-{seed}",
        rungs=scheduler == "asha", max_step=max_t)
    return _TableController(sched, cfg, table, searcher, grid,
                            check_rules=scheduler == "asha").run()

