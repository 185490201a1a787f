"""The lower bound on a sweep's makespan under its settled promotions (``bench.sim.bound``):
exact where a schedule can only be the one it assumes, and never above what the real
``PromotionASHA`` does on the simulated controller, with or without speculation."""

from __future__ import annotations

import math

import pytest
from ray.tune.schedulers import FIFOScheduler

from bench.asha_slots import make
from bench.sim import SimConfig, simulate
from bench.sim.bound import start_times, sweep_bound


def test_start_times_fill_the_first_free_slot_in_order():
    assert start_times([3.0, 1.0, 1.0, 2.0, 1.0], 2) == [0.0, 0.0, 1.0, 2.0, 3.0]
    assert start_times([1.0, 1.0], 8) == [0.0, 0.0]


@pytest.mark.parametrize(("n", "slots"), [(27, 2), (27, 8), (200, 64)])
def test_one_epoch_trials_run_first_in_first_out_take_exactly_the_bound(n, slots):
    """With one epoch a trial there are no rungs, every trial trains to the end, and a FIFO
    scheduler's sweep is the schedule the bound assumes: they agree to rounding. (Every trial
    is added at once: Ray's cap of 16 PENDING trials would start 64 slots' first trials
    later than the bound allows.)"""
    for seed in range(3):
        cfg = SimConfig(n_trials=n, slots=slots, max_t=1, curves="synthetic",
                        check_rules=False, max_pending=n)
        res = simulate(lambda c: FIFOScheduler(), cfg, seed)
        bound = sweep_bound(cfg, seed, res)
        assert bound.makespan == pytest.approx(res.makespan, rel=1e-12)
        assert bound.chain == pytest.approx(res.makespan, rel=1e-12)
        assert bound.work <= bound.chain


@pytest.mark.parametrize("curves", ["flat", "synthetic", "replay"])
@pytest.mark.parametrize(("n", "slots"), [(27, 2), (27, 8), (81, 8), (200, 64)])
def test_no_sweep_beats_the_bound_of_its_settled_promotions(n, slots, curves):
    """Today's rule and speculation keep the same settled promotions (on these seeds); the
    bound of those promotions is below both sweeps' makespans and the pick's finish."""
    max_t = 4 if curves == "replay" else 5
    for seed in range(3):
        cfg = SimConfig(n_trials=n, slots=slots, curves=curves, max_t=max_t)
        today = simulate(make("today"), cfg, seed)
        bound = sweep_bound(cfg, seed, today)
        assert 0 < bound.makespan <= today.makespan, seed
        assert bound.anytime <= today.anytime, seed
        spec = simulate(make("speculate"), cfg, seed)
        if spec.promoted == today.promoted:
            assert bound.makespan <= spec.makespan, seed
            assert bound.anytime <= spec.anytime, seed
        assert not math.isnan(bound.anytime)
