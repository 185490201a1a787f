"""Ray Tune: the trial function, ASHA by promotion (survives a driver restart), synchronous
successive halving, the MLflow callback."""

from __future__ import annotations

import json
import logging
import math
import os
from pathlib import Path
from typing import TYPE_CHECKING

from ray import tune
from ray.tune.experiment import Trial
from ray.tune.schedulers import FIFOScheduler, HyperBandScheduler, TrialScheduler
from ray.tune.schedulers.hyperband import _Bracket

from rnn_core.tuning._tracking import TrialRuns

if TYPE_CHECKING:
    from rnn_core.data.text import EncodedCorpus

log = logging.getLogger(__name__)


def trial_fn(config: dict, data: EncodedCorpus) -> None:
    """One Ray trial (``_trial.run_trial``). The import happens here, in the trial's worker,
    so the driver, which only passes this function to Ray, never loads torch (1.5 s); local
    workers have ``_trial`` preloaded by Ray when they start (``_ray.connect``)."""
    from rnn_core.tuning._trial import run_trial

    run_trial(config, data)


class PromotionASHA(FIFOScheduler):
    """Asynchronous successive halving by promotion (Li et al. 2020, "A System for Massively
    Parallel Hyperparameter Tuning", Algorithm 2), with each rung's promotions capped.

    A trial that reaches a rung (``rung_epochs``; not the last) pauses there; its slot goes to
    the best paused trial that may be promoted, else to a new trial. From a rung where ``n``
    trials have reported, at most ``floor(n / rf)`` go on, the best of those waiting there
    when a slot frees; once no more trials can arrive at a rung, the best ``ceil(n / rf)``
    have gone on and the rest stop. Li et al. promote anything in the rung's current top
    ``n / rf``, so a rung lets more through when early promotions are overtaken; the cap keeps
    the compute at that of synchronous halving (27 trials, grace 1, rf 3, 5 epochs:
    27 + 9 x 2 + 3 x 2 = 51 trial-epochs) without its barrier. Ray's ``ASHAScheduler`` decides
    at report time against the results recorded so far instead, which lets early arrivals
    through: on the search benchmark it spent 47-53 % of the grid's compute, this 38 %.

    With no new trial left, a slot would stay empty until the last trials reach a rung (the
    largest configs come last in a grid, so this tail can be long); then the rung gives now a
    promotion it would give at its end (``_bound``), and the last arrival no longer competes
    for it. The budget is the same.

    ``n_trials`` is the number of trials the sweep adds (grid x samples): it tells when a rung
    is complete. Rungs, promotions, waiting trials and a log of every decision are saved to
    ``state_file`` after every change and reloaded on ``--resume`` (Ray does not persist
    scheduler state: ray-project/ray#30838); a trial restored while waiting stays paused.
    """

    _supports_buffered_results = False  # a trial must not train past a rung unseen

    def __init__(self, n_trials: int, grace_period: int, max_t: int, reduction_factor: float = 3,
                 state_file: str | Path | None = None, metric: str | None = None,
                 mode: str | None = None, time_attr: str = "training_iteration") -> None:
        super().__init__()
        self.n_trials, self.rf, self.time_attr = n_trials, reduction_factor, time_attr
        self.milestones = rung_epochs(grace_period, reduction_factor, max_t)[:-1]
        self.rungs: dict[int, dict[str, float]] = {m: {} for m in self.milestones}
        self.promoted: dict[int, set[str]] = {m: set() for m in self.milestones}
        self.waiting: dict[str, int] = {}  # trial id -> the rung it is paused at
        self.ended: set[str] = set()  # trials that terminated (finished, stopped, failed)
        self.stopped: set[str] = set()  # trials this scheduler stopped at a rung
        self.to_stop: set[str] = set()  # restored as unfinished, though stopped before
        self.log: list[list] = []  # [event, rung, trial id]: arrive, promote, idle, stop
        self.starting: set[str] = set()  # promoted by choose_trial_to_run, not yet running
        self.slots = 0  # the most trials seen running at once
        self.trials: dict[str, Trial] = {}
        self.state_file = Path(state_file) if state_file else None
        self._metric, self._mode, self._sign = metric, mode, 1.0 if mode != "min" else -1.0
        if self.state_file and self.state_file.exists():
            saved = json.loads(self.state_file.read_text())
            for m in self.milestones:
                self.rungs[m].update(saved["rungs"].get(str(m), {}))
                self.promoted[m].update(saved["promoted"].get(str(m), []))
            self.waiting = {t: int(m) for t, m in saved["waiting"].items()}
            self.stopped = set(saved["stopped"])
            self.log = saved["log"]

    def set_search_properties(self, metric: str | None, mode: str | None, **spec) -> bool:
        if (self._metric and metric) or (self._mode and mode):
            return False
        self._metric, self._mode = metric or self._metric, mode or self._mode
        self._sign = -1.0 if self._mode == "min" else 1.0
        return True

    # -- bookkeeping

    def _save(self) -> None:
        if self.state_file is None:
            return
        state = {"rungs": {str(m): r for m, r in self.rungs.items()},
                 "promoted": {str(m): sorted(p) for m, p in self.promoted.items()},
                 "waiting": self.waiting, "stopped": sorted(self.stopped), "log": self.log}
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(state))
        os.replace(tmp, self.state_file)

    def _ended_before(self, m: int) -> int:
        return sum(1 for t in self.ended if t not in self.rungs[m])

    def _complete(self, m: int) -> bool:
        """No trial can still arrive at rung ``m``: each has reported there or ended before."""
        return len(self.rungs[m]) + self._ended_before(m) >= self.n_trials

    def _quota(self, m: int) -> int:
        n = len(self.rungs[m])
        return math.ceil(n / self.rf) if self._complete(m) else int(n // self.rf)

    def _ranked_waiting(self, m: int) -> list[str]:
        return sorted((t for t, at in self.waiting.items() if at == m),
                      key=lambda t: self.rungs[m][t], reverse=True)

    def _paused(self, tid: str) -> bool:
        """Paused for good: a trial told to pause stays RUNNING while Ray saves it."""
        return self.trials[tid].status == Trial.PAUSED

    def _bound(self, i: int) -> int:
        """The most promotions rung ``milestones[i]`` can end with: 1/rf of the trials that
        have reached it or still can (exact unless a trial fails on the way)."""
        m = self.milestones[i]
        if i == 0:
            could = self.n_trials - self._ended_before(m)
        else:
            below = self.milestones[i - 1]
            on_way = sum(1 for t in self.promoted[below]
                         if t not in self.rungs[m] and t not in self.ended)
            could = (len(self.rungs[m]) + on_way
                     + max(0, self._bound(i - 1) - len(self.promoted[below])))
        return math.ceil(could / self.rf)

    def _candidate(self, idle: bool = False) -> tuple[int, str] | None:
        """Li et al.'s get_job: the best promotable trial, highest rung first. ``idle``: a
        slot would stay empty, so a rung may give now a promotion it can only give at its end
        (``_bound``): the last arrival there then no longer competes for it."""
        for i in reversed(range(len(self.milestones))):
            m = self.milestones[i]
            quota = self._bound(i) if idle else self._quota(m)
            if len(self.promoted[m]) < quota and (ranked := self._ranked_waiting(m)):
                return m, ranked[0]
        return None

    def _promote(self, m: int, tid: str, why: str = "promote") -> None:
        del self.waiting[tid]
        self.promoted[m].add(tid)
        self.log.append([why, m, tid])

    def _dropouts(self) -> list[str]:
        """Trials waiting at a complete rung below its last free promotions: they stop."""
        out = []
        for m in self.milestones:
            if self._complete(m):
                out += self._ranked_waiting(m)[max(0, self._quota(m) - len(self.promoted[m])):]
        return out

    # -- Ray's hooks

    def on_trial_add(self, tune_controller, trial: Trial) -> None:
        if not self._metric or not self._mode:
            raise ValueError("PromotionASHA needs the metric and mode (tune.TuneConfig)")
        self.trials[trial.trial_id] = trial
        if trial.status in (Trial.TERMINATED, Trial.ERROR):
            self.ended.add(trial.trial_id)
        elif trial.trial_id in self.stopped:  # Ray's saved state predates the stop
            trial.set_status(Trial.PAUSED)
            self.to_stop.add(trial.trial_id)
        elif trial.trial_id in self.waiting:
            trial.set_status(Trial.PAUSED)  # restored while waiting at a rung: stays there

    def on_trial_result(self, tune_controller, trial: Trial, result: dict) -> str:
        m, tid = result.get(self.time_attr), trial.trial_id
        if m not in self.rungs or tid in self.promoted[m]:
            return TrialScheduler.CONTINUE  # between rungs, or past this one already
        value = float(result.get(self._metric, math.nan))
        self.rungs[m].setdefault(tid, -math.inf if math.isnan(value) else self._sign * value)
        self.waiting[tid] = m
        self.log.append(["arrive", m, tid])
        if self._candidate() == (m, tid):
            self._promote(m, tid)
            decision = TrialScheduler.CONTINUE
        elif tid in self._dropouts():
            self.stopped.add(tid)
            self.log.append(["stop", m, tid])
            del self.waiting[tid]  # Ray's stop_trial then calls on_trial_complete: ended
            decision = TrialScheduler.STOP
        else:  # its slot goes to the best promotable trial, else a new one
            decision = TrialScheduler.PAUSE
        self._save()
        return decision

    def _end(self, trial: Trial) -> None:
        self.ended.add(trial.trial_id)
        self.waiting.pop(trial.trial_id, None)
        self.starting.discard(trial.trial_id)
        self._save()

    def on_trial_complete(self, tune_controller, trial: Trial, result: dict) -> None:
        self._end(trial)

    def on_trial_error(self, tune_controller, trial: Trial) -> None:
        self._end(trial)

    def on_trial_remove(self, tune_controller, trial: Trial) -> None:
        self._end(trial)

    def choose_trial_to_run(self, tune_controller) -> Trial | None:
        for tid in [*self.to_stop, *self._dropouts()]:
            if self._paused(tid):
                self.stopped.add(tid)
                self.to_stop.discard(tid)
                self.log.append(["stop", self.waiting.get(tid), tid])
                tune_controller.stop_trial(self.trials[tid])  # calls on_trial_remove: ended
        trials = tune_controller.get_trials()
        running = sum(t.status == Trial.RUNNING for t in trials)
        self.slots = max(self.slots, running)
        self.starting = {t for t in self.starting if self.trials[t].status != Trial.RUNNING}
        if (cand := self._candidate()) is not None and self._paused(cand[1]):
            return self._start(*cand)
        free = [t for t in trials if t.trial_id not in self.waiting
                and t.trial_id not in self.stopped]
        # promoted while Ray was still saving it, then paused; else a new (or restored) trial
        if trial := next((t for status in (Trial.PAUSED, Trial.PENDING) for t in free
                          if t.status == status), None):
            return trial
        if (len(self.trials) == self.n_trials and running + len(self.starting) < self.slots
                and (cand := self._candidate(idle=True)) is not None and self._paused(cand[1])):
            return self._start(*cand, why="idle")
        return None

    def _start(self, m: int, tid: str, why: str = "promote") -> Trial:
        self._promote(m, tid, why)
        self.starting.add(tid)
        self._save()
        return self.trials[tid]

    def debug_string(self) -> str:
        rungs = ", ".join(f"epoch {m}: {len(self.promoted[m])} of {len(self.rungs[m])} on"
                          for m in self.milestones)
        return f"PromotionASHA ({rungs}; {len(self.waiting)} waiting)"


def rung_epochs(grace_period: int, reduction_factor: float, max_t: int) -> list[int]:
    """Where trials are compared: ``grace * rf**k`` below ``max_t``, then ``max_t`` itself."""
    rungs, r = [], float(grace_period)
    while r < max_t:
        rungs.append(int(r))
        r *= reduction_factor
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
        self._bracket = _Bracket(time_attr="training_iteration", max_trials=n_trials,
                                 init_t_attr=grace_period, max_t_attr=max_t,
                                 eta=reduction_factor, s=halvings)
        self._hyperbands = [[self._bracket]]

    def on_trial_add(self, tune_controller, trial) -> None:
        if not self._metric or not self._metric_op:
            raise ValueError("SuccessiveHalving needs the metric and mode (tune.TuneConfig)")
        self._bracket.add_trial(trial)
        self._trial_info[trial] = self._bracket, 0


def _error_text(trial) -> str:
    err = trial.error_file and Path(trial.error_file)
    text = err.read_text() if err and err.exists() else "trial failed"
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    # the exception line last: "TrainingDiverged: training loss became nan at epoch 1"
    return (lines[-1][:500] + "\n\n" + text.strip()[-4000:]) if lines else text


def _checkpoint_dir(trial) -> str | None:
    ckpt = trial.checkpoint
    return ckpt.path if ckpt is not None and Path(ckpt.path).is_dir() else None


class MlflowTrialsCallback(tune.Callback):
    """Feeds Ray Tune's trial events to ``TrialRuns`` (runs on the driver)."""

    def __init__(self, runs: TrialRuns) -> None:
        self.runs = runs

    def on_trial_start(self, iteration, trials, trial, **info):
        self.runs.start(trial.trial_id, trial.config)

    def on_trial_result(self, iteration, trials, trial, result, **info):
        self.runs.result(trial.trial_id, trial.config, result)

    def on_trial_recover(self, iteration, trials, trial, **info):
        self.runs.recover(trial.trial_id, trial.config, _error_text(trial))

    def on_trial_complete(self, iteration, trials, trial, **info):
        self.runs.complete(trial.trial_id, trial.config, _checkpoint_dir(trial))

    def on_trial_error(self, iteration, trials, trial, **info):
        self.runs.complete(trial.trial_id, trial.config, _checkpoint_dir(trial),
                           error=_error_text(trial))


def trial_callbacks(runs: TrialRuns) -> list[tune.Callback]:
    """MLflow, and Ray's own per-trial ``progress.csv`` / ``result.json``.

    Ray would add a TensorBoard logger too, whose tensorboardX import loads torch into the
    driver before the first trial starts (1.4 s); trials are tracked in MLflow instead.
    """
    from ray.tune.logger import CSVLoggerCallback, JsonLoggerCallback

    os.environ["TUNE_DISABLE_AUTO_CALLBACK_LOGGERS"] = "1"  # we pass the loggers we keep
    return [MlflowTrialsCallback(runs), CSVLoggerCallback(), JsonLoggerCallback()]
