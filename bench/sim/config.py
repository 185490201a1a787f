"""What a simulated sweep is given (``SimConfig``) and what it measures (``SimResult``), and
the trials' curves a sweep draws first from its seed (``draw_curves``): shared by the
simulated controller (``bench.sim.controller``), the open stream (``bench.sim.stream``) and
the bound on a sweep's makespan (``bench.sim.bound``)."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

from bench.sim.curves import Curves

__all__ = ["METRIC", "SimConfig", "SimResult", "draw_curves"]

METRIC = "score"


@dataclass
class SimConfig:
    n_trials: int = 27
    slots: int = 8
    max_t: int = 5
    grace: int = 1
    rf: float = 3
    fail_p: float = 0.0  # per epoch: the trial raises before reporting
    save_fail_p: float = 0.0  # while a paused trial's checkpoint saves
    max_failures: int = 0  # Ray's FailureConfig: retries from the last checkpoint
    ties: bool = False  # objective values on a coarse grid, so that trials tie
    max_pending: int = 16  # Ray's cap on trials added but not started (grid search: 16)
    max_running: int | None = None  # the scheduler's cap on trials training at once
    curves: str = "flat"  # flat | synthetic | replay (``bench.sim.curves``)
    rho: float = 0.5  # synthetic: correlation of epoch 1's value with the final one
    check_rules: bool = True  # the referee (PromotionASHA's rules)
    save_share: float = 0.02  # a paused trial's checkpoint save, a share of its epoch time
    # per epoch told to go on: Ray pauses the trial anyway, as it does on --resume with a
    # decision it had cached for a trial that was saving when the sweep was interrupted
    unasked_pause_p: float = 0.0
    # an open stream (``bench.sim.stream``): simulated seconds after which every trial stops
    # where it is; trials are added whenever the scheduler takes one (``takes_new_trial``),
    # the first ``n_trials`` the fixed count's, up to ``stream_cap`` (0: 20 x ``n_trials``)
    time_budget: float | None = None
    stream_cap: int = 0
    # the cluster changing under the sweep: (simulated time, slots from then on); a node lost
    # takes its trials with it (they fail, and are retried where ``max_failures`` allows).
    # ``follow_slots``: the scheduler counts the slots again (``slots_source``), as a sweep
    # does; False: it keeps the count it started with
    slot_changes: tuple[tuple[float, int], ...] = ()
    follow_slots: bool = True


@dataclass
class SimResult:
    best_reached_last: bool | None  # the trial best at max_t trained to max_t (None: it failed
    # for good)
    epochs: int  # trial-epochs to the furthest epoch of each trial (retried work not counted)
    sha_epochs: int  # what synchronous successive halving spends on the same trials
    permanent_failures: int
    peak_running: int  # the most trials holding a slot at once
    # per scheduler hook, each call's CPU time less the garbage collector's (what the
    # scheduler costs) and wall time (on a shared machine, also waits for a core)
    call_ms: dict[str, list[float]] = field(default_factory=dict)
    wall_ms: dict[str, list[float]] = field(default_factory=dict)
    # the longest pause of Python's cyclic garbage collector inside a scheduler call: it
    # stops whatever code triggers it, whoever made the garbage (Ray's driver included)
    gc_pause_ms: float = 0.0
    violations: list[str] = field(default_factory=list)
    makespan: float = 0.0  # simulated time to the end of the sweep
    utilisation: float = 0.0  # busy slot-time / (slots x makespan)
    # slot-time idle while at least one trial waits PAUSED after an epoch (at a rung, held or
    # yielded), a fraction of slots x makespan
    idle_waiting: float = 0.0
    # when the eventual pick (the best final value among trials that trained to max_t)
    # reported its last epoch; the true best final value minus the pick's
    anytime: float = math.nan
    regret: float = math.nan
    speculated: int = 0  # speculative promotions (the scheduler's log)
    confirmed: int = 0
    promoted: dict[int, set[str]] = field(default_factory=dict)  # certain promotions by rung
    pick_value: float = math.nan  # the pick's final value
    trials: int = 0  # trials added
    reached_last: int = 0  # trials that trained to max_t
    # the most speculative trials PENDING at once: handed a slot the cluster does not have
    spec_waiting_peak: int = 0


def draw_curves(cfg: SimConfig, rng: random.Random) -> Curves:
    """The trials' curves a sweep on ``cfg`` draws first from its seed's ``rng``."""
    return Curves(cfg.curves, cfg.n_trials, cfg.max_t, rng, rho=cfg.rho, ties=cfg.ties)
