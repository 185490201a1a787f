"""Ray Tune: the trial function, synchronous successive halving, the MLflow callback; ASHA by
promotion (survives a driver restart) is ``_asha``'s, named here too."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from ray import tune
from ray.tune.schedulers import HyperBandScheduler

from rnn_core.tuning._asha import PromotionASHA, rung_epochs
from rnn_core.tuning._compat_ray import add_to_bracket, hyperband_objective_set, one_bracket
from rnn_core.tuning._tracking import TrialRuns

__all__ = ["MlflowTrialsCallback", "PromotionASHA", "SuccessiveHalving", "rung_epochs",
           "trial_callbacks", "trial_fn"]

log = logging.getLogger(__name__)


def trial_fn(config: dict, data: Any) -> None:
    """One Ray trial: the training loop (``_trial.run_trial``), or the task's own trial
    function (``_task_trial``, ``Task.trial``). The import happens here, in the trial's worker,
    so the driver, which only passes this function to Ray, never loads torch (1.5 s); local
    workers have the module preloaded by Ray when they start (``_ray.connect``)."""
    from rnn_core.tasks import task_of

    if task_of(config).trial is None:
        from rnn_core.tuning._trial import run_trial

        run_trial(config, data)
    else:
        from rnn_core.tuning._task_trial import run_task_trial

        run_task_trial(config, data)



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
