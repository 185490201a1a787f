"""Free slots that follow the cluster: a node lost or joined mid-sweep changes how many trials
train at once, and ASHA by promotion counts its slots again (``slots_source``; in a sweep,
``ClusterSlots`` reads Ray's ``cluster_resources`` every few seconds). Simulated
(``bench.sim``: the real scheduler, a cluster that shrinks or grows at a set time, the trials
of a lost node failing and retried) with the count followed and, to show what it changes,
kept as it started."""

from __future__ import annotations

import statistics

import pytest

from bench.asha_slots import make
from bench.sim import SimConfig, simulate
from rnn_core.tuning._sweep_setup import slots_of


def _sweeps(n: int, slots: int, change: tuple[float, int], follow: bool, curves: str):
    cfg = SimConfig(n_trials=n, slots=slots, slot_changes=(change,), follow_slots=follow,
                    max_failures=2, curves=curves)
    return [simulate(make("speculate"), cfg, seed) for seed in range(6)]


def test_slots_are_a_trials_share_of_the_clusters_cpus_and_gpus_under_the_cap():
    assert slots_of({"CPU": 64.0}, 1, 0, None) == 64
    assert slots_of({"CPU": 64.0, "GPU": 4.0}, 2, 0.25, None) == 16
    assert slots_of({"CPU": 64.0, "GPU": 4.0}, 2, 1, None) == 4
    assert slots_of({"CPU": 64.0}, 1, 0, 8) == 8
    assert slots_of({"CPU": 1.0}, 2, 0, None) == 1  # never 0: a trial still waits for room


@pytest.mark.parametrize("curves", ["flat", "synthetic"])
@pytest.mark.parametrize(("n", "slots", "change"), [(27, 8, (3.0, 4)), (200, 64, (4.0, 32))])
def test_after_a_node_is_lost_no_speculative_trial_waits_for_its_room(n, slots, change, curves):
    followed = _sweeps(n, slots, change, True, curves)
    assert all(r.violations == [] for r in followed)
    assert [r.spec_waiting_peak for r in followed] == [0] * len(followed)
    kept = _sweeps(n, slots, change, False, curves)  # the count the sweep started with
    assert all(r.violations == [] for r in kept)
    assert any(r.spec_waiting_peak > 0 for r in kept)


@pytest.mark.parametrize("curves", ["flat", "synthetic"])
def test_a_node_that_joins_gets_speculative_promotions(curves):
    followed = _sweeps(27, 4, (2.0, 8), True, curves)
    kept = _sweeps(27, 4, (2.0, 8), False, curves)
    assert all(r.violations == [] for r in followed + kept)
    util = [statistics.mean(r.utilisation for r in runs) for runs in (followed, kept)]
    assert util[0] > util[1]
    assert sum(r.speculated for r in followed) > sum(r.speculated for r in kept)
