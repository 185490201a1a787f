"""An open stream in simulated time: a sampled search under a time budget (Li et al.'s own
setting for ASHA), driving ``PromotionASHA(n_trials=None)`` or any scheduler that says when a
new trial would start.

Trials are added whenever the scheduler takes one (``takes_new_trial``, as
``rnn_core.tuning._asks.AskWhenFree`` asks the searcher), up to ``SimConfig.stream_cap``; at
``SimConfig.time_budget`` (simulated seconds) every trial stops where it is and the sweep
ends. The first ``n_trials`` trials are the fixed count's of the same seed (``stream_curves``),
so a stream and a fixed-count sweep compare on the same trials plus the stream's extra ones.
"""

from __future__ import annotations

import dataclasses
import random

from ray.tune.experiment import Trial

from bench.sim.controller import SimConfig, SimController, SimResult
from bench.sim.curves import Curves
from bench.sim.rules import Referee

__all__ = ["StreamController", "stream_curves"]

# the extra trials' draws: a seed of their own, apart from the fixed count's
_EXTRA_SEED = 1_000_003


def stream_cap(cfg: SimConfig) -> int:
    return cfg.stream_cap or 20 * cfg.n_trials


def stream_curves(cfg: SimConfig, seed: int) -> Curves:
    """The fixed count's trials of ``seed`` (the same draws as ``SimController``'s), then
    trials drawn alike from a seed of their own, up to the stream's cap (replay: the table's
    configurations again, in another order, beyond its size with noise)."""
    def draw(n: int, rng: random.Random) -> Curves:
        return Curves(cfg.curves, n, cfg.max_t, rng, rho=cfg.rho, ties=cfg.ties)

    base = draw(cfg.n_trials, random.Random(seed))
    extra = draw(stream_cap(cfg) - cfg.n_trials, random.Random(seed + _EXTRA_SEED))
    return Curves.given(base.values + extra.values, base.times + extra.times)


class StreamController(SimController):
    """``SimController`` with trials added as slots free and a time budget."""

    def __init__(self, scheduler, cfg: SimConfig, seed: int, curves: Curves) -> None:
        if cfg.time_budget is None or cfg.time_budget <= 0:
            raise ValueError(f"time_budget {cfg.time_budget}: expected simulated seconds > 0")
        super().__init__(scheduler, cfg, seed, curves)
        self.ref = Referee(self.rungs, cfg.rf, None, max_t=cfg.max_t)
        self.budget, self.cap = float(cfg.time_budget), len(curves.values)
        self.closed = False

    def _add_trials(self) -> None:
        while (not self.closed and len(self.trials) < self.cap
               and self.sched.takes_new_trial()):
            self._add_trial()

    def _step(self) -> bool:
        changes = self.changes
        chosen = self._schedule()
        if self.events and self.events[0][0] <= self.budget:
            self._next_event()
            return True
        if not self.events and (chosen is not None or self.changes != changes):
            return True
        self._close()
        return False

    def _close(self) -> None:
        """The budget is spent (or nothing is left to do before it): every trial stops."""
        self._advance(self.budget)
        self.closed = True
        for trial in list(self.trials):
            if trial.status not in (Trial.TERMINATED, Trial.ERROR):
                self.stop_trial(trial)
        self.events.clear()

    def run(self, max_steps: int = 1_000_000) -> SimResult:
        self._loop(max_steps)
        # what the result counts over (the best trial, the trials left): the trials added
        self.cfg = dataclasses.replace(self.cfg, n_trials=len(self.trials))
        return self._result()
