"""ASHA by promotion at scale without a cluster: the real ``PromotionASHA`` driven by a
simulated Ray controller (``bench.sim.controller``: random epoch times independent of
quality, failures with and without retries, failures while a trial pauses, 2 to 64 slots,
27 and 200 trials), its rules checked from what each trial did and from the scheduler's own
log, over many seeds. The figures per slot count and the call times: ``bench/asha_sim.py``;
free slots filled by speculative promotions, on curves whose ranks change: ``bench/asha_slots.py``.
"""

from __future__ import annotations

import json

import pytest
from ray.tune.experiment import Trial
from ray.tune.schedulers import TrialScheduler

from bench.sim import METRIC, SimConfig, check_log, sha_budget, simulate
from rnn_core.tuning import PromotionASHA


def _make(state_dir=None):
    def make(cfg: SimConfig) -> PromotionASHA:
        state = state_dir / "asha.json" if state_dir is not None else None
        return PromotionASHA(
            cfg.n_trials,
            cfg.grace,
            cfg.max_t,
            cfg.rf,
            metric=METRIC,
            mode="max",
            state_file=state,
            max_running=cfg.max_running,
        )

    return make


def test_sha_budget():
    assert sha_budget(27, 1, 3, 5) == 27 + 9 * 2 + 3 * 2
    assert sha_budget(6, 1, 2, 4) == 6 + 3 + 2 * 2


@pytest.mark.parametrize(
    ("n", "slots", "seeds"), [(27, 2, 8), (27, 8, 8), (27, 64, 8), (200, 8, 1), (200, 64, 1)]
)
def test_every_rule_holds_and_the_budget_is_synchronous_halvings(n, slots, seeds):
    """Each promotion the best trial waiting at its rung, within the cap; none twice; no trial
    lost, left paused or past a rung unpromoted; the trial-epochs those of synchronous
    halving; the best trial trains to the last epoch."""
    for seed in range(seeds):
        res = simulate(_make(), SimConfig(n_trials=n, slots=slots), seed)
        assert res.violations == [], seed
        assert res.epochs == res.sha_epochs, seed
        assert res.best_reached_last, seed
        assert res.peak_running == min(slots, n)


@pytest.mark.parametrize("slots", [2, 4, 8, 16, 27, 64])
def test_the_best_trial_reaches_the_last_epoch_at_every_slot_count(slots):
    """With epoch times independent of quality, early promotions never go to the fastest
    trials instead of the best (at 27+ slots every trial runs at once)."""
    reached = [
        simulate(_make(), SimConfig(n_trials=27, slots=slots), seed).best_reached_last
        for seed in range(12)
    ]
    assert sum(reached) / len(reached) >= 0.99


@pytest.mark.parametrize("max_failures", [0, 1, 4])
def test_failures_retries_and_failures_while_pausing_break_no_rule(max_failures):
    """A retried trial is not ended (its rung waits for it); one that fails while pausing at
    a rung stays there until promoted; a final failure neither hangs a rung nor over-spends."""
    cfg = SimConfig(n_trials=27, slots=8, fail_p=0.05, save_fail_p=0.3, max_failures=max_failures)
    clean = 0
    for seed in range(10):
        res = simulate(_make(), cfg, seed)
        assert res.violations == [], (seed, res.violations)
        assert res.epochs <= res.sha_epochs
        if res.permanent_failures == 0:
            clean += 1
            assert res.epochs == res.sha_epochs, seed
    assert max_failures == 0 or clean  # some sweeps recovered from every failure


def test_ties_go_to_the_earlier_arrival():
    """Objectives on a coarse grid: equal ones are promoted in arrival order at the rung, never
    in set order (which would change with PYTHONHASHSEED)."""
    for seed in range(10):
        res = simulate(_make(), SimConfig(n_trials=27, slots=8, ties=True), seed)
        assert res.violations == [], seed


@pytest.mark.parametrize("max_running", [1, 3])
def test_a_cap_on_running_trials_below_the_trial_count_does_not_leave_all_paused(max_running):
    """Ray's max_concurrent_trials counts paused trials as live: capped there, every trial can
    end up paused at a rung that waits for trials never started. The scheduler's cap holds
    new trials instead and counts only those training."""
    for seed in range(4):
        res = simulate(_make(), SimConfig(n_trials=27, slots=8, max_running=max_running), seed)
        assert res.violations == [], seed
        assert res.peak_running == max_running
        assert res.epochs == res.sha_epochs


def test_the_saved_state_replays_and_reloads(tmp_path):
    """The state file, written after every change, holds a log that replays without a broken
    rule, and a scheduler built from it (``--resume``) holds the same rungs."""
    cfg = SimConfig(n_trials=27, slots=8, fail_p=0.05, save_fail_p=0.3, max_failures=1)
    res = simulate(_make(tmp_path), cfg, seed=3)
    assert res.violations == []
    state = json.loads((tmp_path / "asha.json").read_text())
    assert check_log(state, cfg.rf, exact=res.permanent_failures == 0) == []
    assert not list(tmp_path.glob("*.tmp"))  # written beside it, then renamed over it
    again = _make(tmp_path)(cfg)
    assert again.rungs == {int(m): r for m, r in state["rungs"].items()}
    assert again.promoted == {int(m): set(p) for m, p in state["promoted"].items()}
    assert not again.waiting


def test_the_state_reloads_mid_sweep_from_snapshot_and_journal(tmp_path):
    """Mid-sweep the state file is a snapshot and the journal beside it holds the changes
    since (``_asha_state``): a scheduler built from both holds the same state, a last
    journal line cut off by a kill is dropped, and lines the snapshot holds are skipped. The
    saves append (the snapshot is behind), and the journal stays within its bound (the
    snapshot is rewritten once it is as long as the snapshot, not at every change)."""
    from bench.sim import SimController

    cfg = SimConfig(n_trials=200, slots=16)
    sched = _make(tmp_path)(cfg)
    sim = SimController(sched, cfg, seed=1)
    while len(sched.log) < 500:
        assert sim._step()
    state, journal = sched._state, tmp_path / "asha.jsonl"
    snapshot = json.loads((tmp_path / "asha.json").read_text())["operations"]
    assert 0 < state.changes - snapshot == len(journal.read_text().splitlines())
    assert state.changes - snapshot <= max(1024, snapshot)

    def same(a: PromotionASHA, b: PromotionASHA) -> None:
        assert (a.rungs, a.promoted, a.waiting, a.stopped, a.log) == (
            b.rungs, b.promoted, b.waiting, b.stopped, b.log)
        assert a._state.ranked == b._state.ranked and a._state.changes == b._state.changes

    same(_make(tmp_path)(cfg), sched)
    first = journal.read_text().splitlines()[0]
    with journal.open("a") as f:
        f.write(first + "\n" + '[999999, "log", "stop"')  # already held; cut off
    same(_make(tmp_path)(cfg), sched)
    res = sim.run()
    assert res.violations == []
    assert json.loads((tmp_path / "asha.json").read_text())["operations"] == state.changes


# -- free slots: speculative promotions (``PromotionASHA(slots=...)``)


def _make_slots(state_dir=None, speculate: bool = True):
    def make(cfg: SimConfig) -> PromotionASHA:
        state = state_dir / "asha.json" if state_dir is not None else None
        return PromotionASHA(cfg.n_trials, cfg.grace, cfg.max_t, cfg.rf, metric=METRIC,
                             mode="max", state_file=state, max_running=cfg.max_running,
                             slots=cfg.slots if speculate else None)

    return make


@pytest.mark.parametrize("curves", ["flat", "synthetic"])
@pytest.mark.parametrize(("n", "slots", "seeds"), [(27, 8, 6), (200, 64, 2)])
def test_speculation_fills_slots_and_keeps_the_certain_promotions(n, slots, seeds, curves):
    """Free slots go to speculative promotions: no rule broken (a speculative trial is never
    counted at a rung it was not confirmed for, every one left out is stopped), busier slots
    than the same sweeps without speculation, and on flat curves the same certain promotions
    at the first rung (later rungs' arrival order can change: a confirmed trial arrives there
    sooner, and the ``floor(a / rf)`` part of the rule depends on that order; 27 x 8: every
    rung) and the best trial trained to the last epoch."""
    ratios = []
    for seed in range(seeds):
        cfg = SimConfig(n_trials=n, slots=slots, curves=curves, rho=0.5)
        plain = simulate(_make_slots(speculate=False), cfg, seed)
        spec = simulate(_make_slots(), cfg, seed)
        assert plain.violations == [] and spec.violations == [], (seed, spec.violations[:3])
        assert spec.speculated > 0, seed
        ratios.append(spec.utilisation / plain.utilisation)
        first = min(plain.promoted)
        if curves == "flat":
            assert spec.promoted[first] == plain.promoted[first], seed
            if n == 27:
                assert spec.promoted == plain.promoted, seed
            assert spec.best_reached_last, seed
    if n == 27:
        assert min(ratios) >= 1 and sum(ratios) / len(ratios) > 1, ratios


def test_speculative_trials_are_saved_and_reloaded(tmp_path):
    """The state file holds the speculative, held and yielded trials; a scheduler built from
    it (``--resume``) holds them too, and the finished sweep's log replays clean."""
    from bench.sim import SimController

    cfg = SimConfig(n_trials=27, slots=8)
    sched = _make_slots(tmp_path)(cfg)
    sim = SimController(sched, cfg, seed=0)
    for _ in range(10_000):
        if sched.held and len(sched.spec) > len(sched.held):
            break
        assert sim._step()
    assert sched.held, "no speculative trial held at its next rung"
    again = _make_slots(tmp_path)(cfg)
    assert again.spec == sched.spec and again.held == sched.held
    assert again.yielded == sched.yielded and again.resume == sched.resume
    assert again._spec_at == sched._spec_at and again.waiting == sched.waiting
    res = sim.run()
    assert res.violations == []
    state = json.loads((tmp_path / "asha.json").read_text())
    assert check_log(state, cfg.rf) == []
    assert state["speculative"] == {} and state["held"] == {}


class _Controller:
    """Just what PromotionASHA asks of Ray's controller."""

    def __init__(self, trials):
        self.trials, self.stopped = trials, []

    def get_trials(self):
        return self.trials

    def stop_trial(self, trial):
        self.stopped.append(trial.trial_id)
        trial.set_status(Trial.TERMINATED)


def _result(epoch: int, value: float) -> dict:
    return {"training_iteration": epoch, METRIC: value}


def test_a_speculative_trial_outside_the_final_top_is_stopped():
    """3 trials, rf 3, rung at epoch 1 (one promotion), 3 slots. ``a`` arrives first and its
    slot goes to it speculatively; ``b`` arrives better, so no promotion is left for ``a``: it
    stops at its next report; or, held at the last epoch, in the next scheduler call."""
    for held in (False, True):
        sched = PromotionASHA(3, 1, 3 if held else 4, 3, metric=METRIC, mode="max", slots=3)
        a, b, c = (Trial("__sim", trial_id=t, stub=True) for t in "abc")
        ctl = _Controller([a, b, c])
        for t in (a, b, c):
            sched.on_trial_add(ctl, t)
            t.set_status(Trial.RUNNING)
        assert sched.on_trial_result(ctl, a, _result(1, 0.5)) == TrialScheduler.PAUSE
        a.set_status(Trial.PAUSED)
        assert sched.choose_trial_to_run(ctl) is a  # a free slot, nothing certain
        a.set_status(Trial.RUNNING)
        assert sched.log[-1] == ["speculate", 1, "a"]
        if held:  # a reaches the last epoch unconfirmed: held there
            assert sched.on_trial_result(ctl, a, _result(2, 0.6)) == TrialScheduler.CONTINUE
            assert sched.on_trial_result(ctl, a, _result(3, 0.7)) == TrialScheduler.PAUSE
            a.set_status(Trial.PAUSED)
        assert sched.on_trial_result(ctl, b, _result(1, 0.9)) == TrialScheduler.PAUSE
        b.set_status(Trial.PAUSED)
        handed = []  # what the scheduler hands out, which Ray then starts
        if held:
            handed.append(sched.choose_trial_to_run(ctl))  # a's slot may go to b, speculatively
            assert ctl.stopped == ["a"]
        else:
            assert sched.on_trial_result(ctl, a, _result(2, 0.6)) == TrialScheduler.STOP
            sched.on_trial_complete(ctl, a, {})
        assert ["unspeculate", 1, "a"] in sched.log
        for t in handed:
            if t is not None:
                t.set_status(Trial.RUNNING)
        # c arrives last, worse: it stops, and the rung's one promotion goes to b
        assert sched.on_trial_result(ctl, c, _result(1, 0.1)) == TrialScheduler.STOP
        handed.append(sched.choose_trial_to_run(ctl))
        assert [t for t in handed if t is not None] == [b]  # once, confirmed if speculative
        assert sched.promoted[1] == {"b"} and not sched.spec


@pytest.mark.parametrize("max_failures", [0, 1])
def test_speculation_with_failures_and_a_cap_breaks_no_rule(max_failures):
    """A speculative trial that fails is retried where it was (held, paused or running on),
    or ends for good without hanging its rung; under a cap on running trials the cap, not
    the slots, bounds speculation."""
    for seed in range(6):
        cfg = SimConfig(n_trials=27, slots=8, fail_p=0.05, save_fail_p=0.3,
                        max_failures=max_failures, curves="synthetic")
        res = simulate(_make_slots(), cfg, seed)
        assert res.violations == [], (seed, res.violations[:3])
        capped = simulate(_make_slots(), SimConfig(n_trials=27, slots=8, max_running=3), seed)
        assert capped.violations == [] and capped.peak_running == 3, seed


def test_a_trial_ray_lost_with_a_killed_driver_is_forgotten(tmp_path):
    """A searcher's trial ids are random: a trial started after Ray last saved its state, then
    killed with the driver, is unknown to the resumed sweep, and its configuration comes back
    as a new trial. The saved rungs drop it instead of waiting for it to be handed out."""
    state = tmp_path / "asha.json"

    def driver(names: str) -> tuple[PromotionASHA, list[Trial], _Controller]:
        """A scheduler on the saved state, with Ray's trials ``names`` added and running."""
        sched = PromotionASHA(2, 1, 3, 3, metric=METRIC, mode="max", state_file=state)
        trials = [Trial("__sim", trial_id=t, stub=True) for t in names.split()]
        ctl = _Controller(trials)
        for t in trials:
            sched.on_trial_add(ctl, t)
            t.set_status(Trial.RUNNING)
        return sched, trials, ctl

    first, (a, lost), ctl = driver("a lost")
    assert first.on_trial_result(ctl, lost, _result(1, 0.9)) == TrialScheduler.PAUSE
    assert first.waiting == {"lost": 1}
    # resumed: Ray restored a (paused at no rung) and a new trial for lost's configuration
    again, (a, new), ctl = driver("a new")
    assert again.on_trial_result(ctl, new, _result(1, 0.8)) == TrialScheduler.PAUSE
    assert again.rungs[1] == {"new": 0.8} and again.waiting == {"new": 1}
    assert ["forget", None, "lost"] in again.log
    new.set_status(Trial.PAUSED)
    # the rung's one promotion is between the two trials Ray has
    assert again.on_trial_result(ctl, a, _result(1, 0.1)) == TrialScheduler.STOP
    assert again.choose_trial_to_run(ctl) is new
    # what a third driver would read back (the state file and the journal of changes since)
    from rnn_core.tuning._asha_state import RungState
    from rnn_core.tuning._storage import place

    third = RungState(again.milestones, place(state))
    assert third.rungs[1] == {"new": 0.8, "a": 0.1}
    assert check_log(third.snapshot(), 3) == []  # the forgotten trial out of its rung


@pytest.mark.parametrize("slots", [None, 8])
def test_a_trial_ray_pauses_unasked_gets_its_slot_back(slots):
    """On --resume Ray applies the decisions it had cached for trials still saving at the
    interrupt, so a trial the saved rungs have promoted since can be paused against the
    scheduler's word. It is handed out again (``repause``), ahead of anything else: no
    trial left paused with nothing running, no rule broken."""
    make = _make_slots() if slots else _make()
    for seed in range(6):
        cfg = SimConfig(n_trials=27, slots=8, unasked_pause_p=0.15)
        res = simulate(make, cfg, seed)
        assert res.violations == [], (seed, res.violations[:3])
        assert res.best_reached_last, seed
