"""Searches replayed on the recorded table (``bench/data/search_table.csv``): the grid as the
grid runs, ASHA's rules kept, each sampled search's trials distinct, and the pick after each
epoch the one a sweep's report would name."""

from __future__ import annotations

import optuna
import pytest

from bench.search import TABLE, load_table, search_figures
from bench.sim import replay

optuna.logging.set_verbosity(optuna.logging.WARNING)


@pytest.fixture(scope="module")
def table():
    return load_table(TABLE)


def _pick(table, epochs: dict) -> tuple:
    """The validation pick among configs trained ``epochs[c]`` epochs each, read straight from
    the table (ties: fewer parameters)."""
    return max(epochs, key=lambda c: (max(table.val[c][:epochs[c]]), -table.n_params[c]))


def test_the_table_is_the_whole_grid(table):
    assert len(table.val) == 27 and table.max_epochs >= 3
    space = table.space()
    assert space["num_layers"] == [1, 2, 3]
    assert [len(v) for v in space.values()] == [3, 3, 3]
    assert sorted(table.order.values()) == list(range(27))


def test_the_full_grid_trains_everything_and_picks_on_validation(table):
    run = replay(table, "grid", 0, 0, "fifo")
    assert run.compute == 27 * table.max_epochs and len(run.trials) == 27
    pick, val, test = run.curve[-1][1:]
    assert pick == _pick(table, run.epochs) and val == max(table.val[pick])
    assert test == table.test[pick][table.best_epoch(pick, table.max_epochs) - 1]


def test_the_grid_under_asha_keeps_its_rules_and_spends_less(table):
    run = replay(table, "grid", 0, 0, "asha")
    assert run.violations == []
    assert run.compute < 27 * table.max_epochs
    assert run.trials == sorted(table.val, key=table.order.get)  # the grid's own order
    assert run.curve[-1][1] == _pick(table, run.epochs)


@pytest.mark.parametrize("search, scheduler", [("tpe", "asha"), ("random", "asha"),
                                               ("nsga2", "fifo")])
def test_a_sampled_search_tries_distinct_configs_and_its_curve_follows_the_pick(
        table, search, scheduler):
    run = replay(table, search, 9, 1, scheduler)
    assert len(run.trials) == 9 and len(set(run.trials)) == 9
    assert run.compute == sum(run.epochs.values())
    if scheduler == "fifo":
        assert set(run.epochs.values()) == {table.max_epochs}
    else:
        assert run.violations == []
    computes = [c[0] for c in run.curve]
    assert computes == sorted(computes) and computes[-1] == run.compute
    assert run.curve[-1][1] == _pick(table, run.epochs)
    assert run.pick_at(run.compute) == run.curve[-1][1:]


def test_a_seed_gives_the_same_replay(table):
    a, b = (replay(table, "tpe", 8, 2, "asha") for _ in range(2))
    assert a.trials == b.trials and a.curve == b.curve


@pytest.mark.slow
def test_the_bench_figures_stay_within_their_compute(table):
    figs = {f["name"]: f for f in search_figures(table, seeds=(0,))}
    assert set(figs) == {"search_tpe_asha", "search_random_asha", "search_tpe_fifo",
                         "search_nsga2_front", "search_random_front"}
    for name in ("search_tpe_asha", "search_random_asha", "search_tpe_fifo"):
        assert figs[name]["compute_share"] <= 0.25
    assert 0 < figs["search_nsga2_front"]["value"] <= 1


def test_tpe_under_asha_models_the_trials_at_rungs_and_leaves_random_search(table):
    """Under ASHA hardly a trial has ended when the next is asked; TPE models the trials
    waiting at a rung too (``_rungs.RungSampler``), so it leaves its start-up and random
    search."""
    tpe, rnd = replay(table, "tpe", 15, 0, "asha"), replay(table, "random", 15, 0, "asha")
    startup = 15 // 3
    assert max(tpe.told) < startup <= max(tpe.observed)
    assert all(o >= t for o, t in zip(tpe.observed, tpe.told, strict=True))
    first = next(i for i, o in enumerate(tpe.observed) if o >= startup)
    assert tpe.trials[:first] == rnd.trials[:first]  # the same random start-up
    assert tpe.trials != rnd.trials and len(set(tpe.trials)) == 15
    assert tpe.violations == []  # what ASHA does is unchanged
