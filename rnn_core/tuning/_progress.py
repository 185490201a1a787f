"""The sweep's console: one line per trial event under its MLflow run name, and progress.

Ray Tune's own output (a config box per trial, status tables keyed by Ray's trial ids) is off
unless ``--verbose``: the names a person sees here are the ones MLflow and the report use.
Lines are plain (no cursor movement) so a log file reads the same as the terminal.
"""

from __future__ import annotations

import contextlib
import math
import signal
import sys
import time
from typing import TextIO

from ray import tune
from ray.tune.experiment import Trial

from rnn_core.tuning._tracking import TrialRuns, trial_name


def budget_epochs(scheduler: str, n_trials: int | None, grace_period: int, max_epochs: int,
                  reduction_factor: float) -> int:
    """Trial-epochs the sweep trains at most: every trial to the end under FIFO; under
    ASHA/SHA, ``ceil(n / rf)`` of a rung's trials go on to the next (27 trials, grace 1,
    rf 3, 5 epochs: 27 x 1 + 9 x 2 + 3 x 2 = 51). 0 for an open stream (``n_trials``
    None): the time budget bounds it."""
    from rnn_core.tuning._asha import rung_epochs

    if n_trials is None:
        return 0
    if scheduler == "fifo":
        return n_trials * max_epochs
    total, n, before = 0, n_trials, 0
    for rung in rung_epochs(grace_period, reduction_factor, max_epochs):
        total += n * (rung - before)
        n, before = math.ceil(n / reduction_factor), rung
    return total


def _clock(seconds: float) -> str:
    s = int(seconds)
    if s >= 3600:
        return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"
    return f"{s // 60}:{s % 60:02d}"


def first_line(error: str) -> str:
    """The line that names the exception (``_error_text`` puts it first)."""
    lines = [ln.strip() for ln in error.strip().splitlines() if ln.strip()]
    return lines[0][:200] if lines else "error"


class ProgressCallback(tune.Callback):
    """Prints trial events and a progress line with the time left, estimated from the
    trial-epochs this driver has seen finish so far (all slots together).

    It follows the trials it has seen start (at most the slots' worth) and those it has seen
    pause, not every trial of the sweep: Ray calls it at every step of its loop, and a scan
    of a 1,000-trial sweep there grew with the square of the trial count.
    """

    def __init__(self, runs: TrialRuns, budget: int, n_trials: int | None,
                 out: TextIO | None = None) -> None:
        self.runs, self.budget, self.n_trials = runs, budget, n_trials
        self.out = out
        self.t0 = time.monotonic()
        self.done_before = runs.epochs_logged  # adopted on --resume
        self.started: set[str] = set()  # trials seen to start
        self.running: dict[str, Trial] = {}  # seen to start, not seen to pause or end since
        self.paused: set[str] = set()  # seen paused, not seen to start or end since
        self.ever_paused: set[str] = set()
        self.best: dict[str, float] = {}
        self._looked = False  # the trials Ray restored paused, counted at the first step

    def _name(self, trial: Trial) -> str:
        return trial_name({**self.runs.base, **trial.config}, self.runs.name_extra)

    def _say(self, text: str) -> None:
        print(f"[{_clock(time.monotonic() - self.t0):>7}] {text}", file=self.out or sys.stdout,
              flush=True)

    def _progress(self, trials: list[Trial]) -> None:
        count = {Trial.RUNNING: sum(t.status == Trial.RUNNING for t in self.running.values()),
                 Trial.PAUSED: len(self.paused)}
        ended = len(self.runs.status)  # MLflow's callback closes the run before this one runs
        # each epoch once: one a trial trained again after a restart is logged once, and a
        # lost trial's adopted epochs went with its deleted run, trained again by a new trial
        done = self.runs.epochs_logged
        share = done / self.budget if self.budget else 1.0
        new = done - (self.done_before - self.runs.lost_epochs)
        elapsed = time.monotonic() - self.t0
        if self.n_trials is None:  # an open stream: the time budget ends it
            self._say(f"progress: {done} trial-epochs, {count[Trial.RUNNING]} running, "
                      f"{count[Trial.PAUSED]} paused, {ended} trials ended; new trials until "
                      "the time budget is spent")
            return
        if ended >= self.n_trials:
            left = "done"
        elif new > 0:
            # the budget is an upper bound under ASHA (a failure or an empty rung ends early)
            left = f"about {_clock(elapsed / new * max(0, self.budget - done))} left"
        else:
            left = "time left known after the first epoch"
        self._say(f"progress: {done}/{self.budget} trial-epochs ({share:.0%}), "
                  f"{count[Trial.RUNNING]} running, {count[Trial.PAUSED]} paused, "
                  f"{ended}/{self.n_trials} trials ended; {left}")

    def on_trial_start(self, iteration, trials, trial, **info):
        tid = trial.trial_id
        if tid in self.ever_paused:
            epoch = self.runs.last_epoch.get(tid, 0)
            self._say(f"{self._name(trial)}: promoted, continues after epoch {epoch}")
        elif tid not in self.started:
            resumed = self.runs.last_epoch.get(tid, 0)
            self._say(f"{self._name(trial)}: "
                      + (f"resumed after epoch {resumed}" if resumed else "started"))
        self.started.add(tid)
        self.running[tid] = trial
        self.paused.discard(tid)

    def on_trial_result(self, iteration, trials, trial, result, **info):
        objective, sign = self.runs.task.objective, 1 if self.runs.task.mode == "max" else -1
        epoch = int(result.get("epoch", result.get("training_iteration", 0)))
        value = result.get(objective)
        text = f"{self._name(trial)}: epoch {epoch}/{self.runs.max_epochs}"
        if isinstance(value, (int, float)):
            # the trial's own best (kept in its checkpoint) where it reports one: a trial
            # resumed in a new driver has a best from before, which this printer never saw
            best = result.get(self.runs.task.best_metric, self.best.get(trial.trial_id))
            if best is None or sign * value > sign * best:
                best = value
            self.best[trial.trial_id] = best = float(best)
            text += f", {objective} {value:.4f} (best {best:.4f})"
        self._say(text)
        self._progress(trials)

    def on_step_end(self, iteration, trials, **info):
        if not self._looked:  # once: trials Ray restored paused (--resume)
            self._looked = True
            self.paused.update(t.trial_id for t in trials if t.status == Trial.PAUSED
                               and t.trial_id not in self.running)
        for tid, t in list(self.running.items()):
            if t.status == Trial.PAUSED:
                del self.running[tid]
                self.paused.add(tid)
                self.ever_paused.add(tid)
                epoch = self.runs.last_epoch.get(tid, 0)
                self._say(f"{self._name(t)}: paused at epoch {epoch}, waiting for its rung")
            elif t.status in (Trial.TERMINATED, Trial.ERROR):
                del self.running[tid]

    def _ended(self, tid: str) -> None:
        self.running.pop(tid, None)
        self.paused.discard(tid)

    def on_trial_recover(self, iteration, trials, trial, **info):
        from rnn_core.tuning._scheduling import _error_text

        self._say(f"{self._name(trial)}: failed, retrying from its last checkpoint: "
                  f"{first_line(_error_text(trial))}")

    def on_trial_complete(self, iteration, trials, trial, **info):
        epoch = self.runs.last_epoch.get(trial.trial_id, 0)
        if epoch < self.runs.max_epochs:
            what = f"stopped by the scheduler after epoch {epoch}"
        else:
            what = "finished"
        best = self.best.get(trial.trial_id)
        if best is not None:
            what += f", best {self.runs.task.objective} {best:.4f}"
        self._ended(trial.trial_id)
        self._say(f"{self._name(trial)}: {what}")
        self._progress(trials)

    def on_trial_error(self, iteration, trials, trial, **info):
        from rnn_core.tuning._scheduling import _error_text

        self._ended(trial.trial_id)
        self._say(f"{self._name(trial)}: failed: {first_line(_error_text(trial))}")
        self._progress(trials)


class _DropLocalRestoreWarnings:
    """Ray's CSV/JSON loggers try to copy a resumed trial's files from its storage; with local
    storage that is the same folder and a missing copy is harmless, but Ray warns once per
    promotion, burying the progress lines."""

    def filter(self, record) -> bool:
        return not str(record.msg).startswith("Remote file not found")


class _DropNeverStartedTrials:
    """When a sweep stops early (Ctrl-C, a time budget), Ray builds its result grid from every
    trial it knows and warns, one line per trial, that trials which never started have no
    result file: not an error, and it buries the line that says how to resume. The warning
    keeps any other failure to read a trial's results."""

    def filter(self, record) -> bool:
        msg = str(record.msg)
        if not msg.startswith("Failed to fetch metrics"):
            return True
        kept = [ln for ln in msg.splitlines()[1:]
                if ln.strip() and "FileNotFoundError" not in ln]
        if not kept:
            return False
        record.msg = f"Failed to fetch metrics for {len(kept)} trial(s):\n" + "\n".join(kept)
        record.args = ()
        return True


def stop_noise_filters() -> None:
    """Filters that hold whatever the verbosity: they drop only lines that report no fault."""
    import logging

    logging.getLogger("ray.tune.analysis.experiment_analysis").addFilter(
        _DropNeverStartedTrials())


def quiet_ray_logs() -> None:
    """Leave only Ray's messages that say something to a person watching the sweep."""
    import logging
    import os

    logging.getLogger("ray.tune.logger.logger").addFilter(_DropLocalRestoreWarnings())
    # Trials whose epochs take a second or two (the spoken-words study) save checkpoints faster
    # than Ray's 5 s threshold, and Ray then warns at every save that saving its state "may
    # become a bottleneck" (dozens of three-line warnings a sweep); the state is small and
    # local here, and 0 is Ray's documented value to switch that warning off.
    os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")


class InterruptWatch(tune.Callback):
    """Notes a stop signal. Ray Tune catches SIGINT itself, saves its state and returns as if
    the sweep had ended (the trials it stops read TERMINATED), so the driver learns of the
    interruption here: at setup, Ray's handler is in place and this one wraps it.

    ``trial_ids``: every trial of the experiment when it ended, those that never started
    included (Ray's ``ResultGrid`` names a trial only through the results it reported).
    """

    def __init__(self) -> None:
        self.interrupted = False
        self.trial_ids: set[str] = set()

    def on_experiment_end(self, trials, **info):
        self.trial_ids = {t.trial_id for t in trials}

    def setup(self, **info):
        import signal

        ray_handler = signal.getsignal(signal.SIGINT)
        if not callable(ray_handler):
            return

        def noted(signum, frame):
            self.interrupted = True
            ray_handler(signum, frame)

        try:
            signal.signal(signal.SIGINT, noted)
        except ValueError:  # not the main thread: no signal reaches this driver's handlers
            pass


@contextlib.contextmanager
def sigterm_as_sigint():
    """SIGTERM (a scheduler's or ``kill``'s stop) ends the sweep as Ctrl-C does: Ray Tune
    catches SIGINT, saves its state and returns; SIGTERM would end the driver on the spot."""
    def forward(signum, frame):
        handler = signal.getsignal(signal.SIGINT)
        if callable(handler):
            handler(signal.SIGINT, frame)
        else:
            raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, forward)
    except ValueError:  # not the main thread: leave signals to the caller
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
