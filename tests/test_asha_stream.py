"""ASHA by promotion as an open stream (``PromotionASHA(n_trials=None)``): a sampled search
under a time budget, whose free slots take new trials. Driven by the simulated controller's
stream mode (``bench.sim.stream``) on curves whose ranks change; the figures against
speculative promotions: ``bench/asha_stream.py``."""

from __future__ import annotations

import json

import pytest

from bench.sim import METRIC, Referee, SimConfig, check_log, simulate
from rnn_core.tuning import PromotionASHA


def _make(state_file=None, stream: bool = True):
    def make(cfg: SimConfig) -> PromotionASHA:
        return PromotionASHA(None if stream else cfg.n_trials, cfg.grace, cfg.max_t, cfg.rf,
                             metric=METRIC, mode="max", slots=cfg.slots, state_file=state_file)

    return make


def _cfg(n: int, slots: int, curves: str, budget: float) -> SimConfig:
    return SimConfig(n_trials=n, slots=slots, curves=curves, rho=0.5,
                     max_t=4 if curves == "replay" else 5, time_budget=budget)


@pytest.mark.parametrize("curves", ["flat", "synthetic", "replay"])
@pytest.mark.parametrize(("n", "slots", "seeds"), [(27, 2, 4), (27, 8, 6), (200, 64, 2)])
def test_the_stream_rule_holds_and_no_slot_idles(n, slots, seeds, curves, tmp_path):
    """Every promotion within floor(arrived / rf) and to the best trial waiting at its rung
    (the referee, and the saved log replayed); no trial stopped at a rung and no speculation
    before the budget; every slot busy until the budget, on the fixed count's makespan."""
    for seed in range(seeds):
        fixed = simulate(_make(stream=False), _cfg(n, slots, curves, None), seed)
        state = tmp_path / f"{curves}-{n}-{slots}-{seed}.json"
        res = simulate(_make(state), _cfg(n, slots, curves, fixed.makespan), seed)
        assert res.violations == [], (seed, res.violations[:3])
        assert res.makespan == pytest.approx(fixed.makespan)
        assert res.utilisation > 0.99, seed  # a promoted trial still saving holds one back
        if slots > 2:  # at 2 slots the fixed count idles little: fewer trials can do
            assert res.trials > n  # the free slots took new trials
        # snapshot and journal, read back as on --resume (no last trial rewrites it whole)
        cfg = _cfg(n, slots, curves, fixed.makespan)
        saved = json.loads(json.dumps(_make(state)(cfg)._state.snapshot()))
        assert check_log(saved, 3) == [], seed
        events = {event for event, _, _ in saved["log"]}
        assert not events & {"stop", "speculate", "early"}, seed
        assert saved["waiting"] == {}, seed  # the budget ended every trial


def test_a_trial_waits_at_its_rung_until_promoted_or_the_budget_ends():
    """27 trials on 8 slots with a budget far beyond the fixed count's makespan: the rungs
    keep promoting as arrivals grow, and the trials left at a rung at the end were never
    stopped there (they ended with the budget)."""
    res = simulate(_make(), _cfg(27, 8, "synthetic", 40.0), 0)
    assert res.violations == []
    arrived_first = res.trials  # every trial drawn reports its first epoch or is cut off
    assert arrived_first > 100
    first, second = sorted(res.promoted)
    assert len(res.promoted[first]) >= (arrived_first - 8) // 3 - 1
    assert res.reached_last >= 5


def test_the_referee_catches_a_promotion_beyond_the_stream_rule():
    ref = Referee([1, 3], 3, None, max_t=5)
    for tid, value in (("a", 0.1), ("b", 0.9)):
        ref.arrive(1, tid, value)
    ref.promote(1, "b")  # 1 promotion of 2 arrivals: floor(2 / 3) is 0
    assert any("beyond floor(arrived / rf)" in v for v in ref.violations)
    ref = Referee([1, 3], 3, None, max_t=5)
    for tid, value in (("a", 0.1), ("b", 0.9), ("c", 0.5)):
        ref.arrive(1, tid, value)
    ref.promote(1, "c")  # within floor(3 / 3), but not the best waiting
    assert ref.violations == ["c promoted at rung 1 over a better waiting trial"]


def test_an_open_stream_takes_a_new_trial_only_for_a_free_slot_with_no_promotion_due():
    sched = PromotionASHA(None, 1, 5, 3, metric=METRIC, mode="max", slots=2)
    assert sched.takes_new_trial()
    assert sched._quotas() == [0, 0]
    for i in range(3):
        sched._record(1, f"t{i}", float(i))
        sched._wait(f"t{i}", 1)
    assert sched._quotas() == [1, 0]  # floor(3 / 3): the paper's rule, nothing early
    assert sched._candidate() == (1, "t2")
    assert not sched.takes_new_trial()  # the promotion takes the slot first


def test_a_stream_needs_a_positive_budget():
    with pytest.raises(ValueError, match="time_budget 0"):
        simulate(_make(), _cfg(27, 8, "flat", 0.0), 0)
