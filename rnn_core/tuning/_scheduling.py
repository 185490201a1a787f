"""Ray Tune: the trial function, ASHA that survives a driver restart, synchronous successive
halving, the MLflow callback."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING

from ray import tune
from ray.tune.schedulers import ASHAScheduler, HyperBandScheduler
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


class PersistentASHA(ASHAScheduler):
    """ASHA whose rung results are saved to a JSON file after every decision and reloaded on
    restart (Ray does not persist scheduler state: ray-project/ray#30838)."""

    def __init__(self, state_file: str | Path, **kwargs) -> None:
        super().__init__(**kwargs)
        self.state_file = Path(state_file)
        if self.state_file.exists():
            saved = json.loads(self.state_file.read_text())
            for bracket, rungs in zip(self._brackets, saved, strict=False):
                for milestone, recorded in bracket._rungs:
                    recorded.update(rungs.get(str(milestone), {}))

    def rungs(self) -> list[dict[str, dict[str, float]]]:
        return [{str(m): dict(rec) for m, rec in b._rungs} for b in self._brackets]

    def _save(self) -> None:
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.rungs()))
        os.replace(tmp, self.state_file)

    def on_trial_result(self, tune_controller, trial, result):
        decision = super().on_trial_result(tune_controller, trial, result)
        self._save()
        return decision

    def on_trial_complete(self, tune_controller, trial, result):
        super().on_trial_complete(tune_controller, trial, result)
        self._save()


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
