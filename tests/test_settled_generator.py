"""A resumed TPE sweep under ASHA by promotion whose restored trials had all ended, and whose
saved trial counter still counts a trial Ray's saved trial list lost (its Optuna trial
RUNNING): Ray asks its search generator whether the search has finished before its first
step, so the lost trial is settled there (``_asks.SettledGenerator``), its Optuna trial goes
to a new trial, and the sweep does not end at once with that Optuna trial left RUNNING.

Driven by hand with the real scheduler, the sweep's TPE searcher in its SQLite study and
Ray's own ``SearchGenerator`` state, in the order Ray's controller takes on ``--resume``
(the searcher's state restored, the restored trials added, then ``is_finished``).
``tests/test_stale_trial_list.py`` kills and resumes real sweeps for the same."""

from __future__ import annotations

from optuna.trial import TrialState
from ray.tune.experiment import Trial
from ray.tune.search import SearchGenerator

from rnn_core.tuning import PromotionASHA
from rnn_core.tuning._asks import AskWhenFree, SettledGenerator
from rnn_core.tuning._compat_ray import optuna_search_study
from rnn_core.tuning._search import make_searcher
from search_spaces.distributions import Uniform

N, SLOTS = 2, 2


def _driver(tmp_path, generator=SettledGenerator):
    """A driver's searcher, scheduler and search generator over one study (epochs: one, so
    no rung holds a trial back)."""
    searcher = make_searcher("tpe", {"x": Uniform(0.0, 1.0)}, "val_acc", "max", N, 0,
                             f"sqlite:///{tmp_path}/optuna.db", "settle", rungs=True)
    scheduler = PromotionASHA(N, 1, 1, 3, metric="val_acc", mode="max", slots=SLOTS)
    asks = AskWhenFree(searcher, scheduler, SLOTS)
    search = (SettledGenerator(asks, scheduler) if generator is SettledGenerator
              else SearchGenerator(asks))
    return searcher, scheduler, search


def _killed_with_a_lost_trial(tmp_path):
    """The first driver: t0 asked, trained and ended; t1 asked and training when the driver
    was killed. What Ray saved: the searcher's state and the counter (2 of 2 asked), and a
    trial list that holds t0 only. Returns t0's config and the saved generator state."""
    searcher, scheduler, search = _driver(tmp_path)
    configs = {}
    for tid in ("t0", "t1"):
        configs[tid] = search.searcher.suggest(tid)
        trial = Trial("__sim", config=configs[tid], trial_id=tid, stub=True)
        scheduler.on_trial_add(None, trial)
        trial.set_status(Trial.RUNNING)
    result = {"training_iteration": 1, "val_acc": configs["t0"]["x"]}
    search.searcher.on_trial_result("t0", result)
    search.searcher.on_trial_complete("t0", result)
    searcher.save(str(tmp_path / "searcher.pkl"))
    state = search.get_state()
    state.update(counter=2, total_samples=N, finished=False)
    return configs["t0"], state


def _resumed(tmp_path, t0_config, state, generator):
    """The resumed driver in Ray's order: searcher and generator state restored, then the
    restored trial (t0, ended) added."""
    searcher, scheduler, search = _driver(tmp_path, generator)
    searcher.restore(str(tmp_path / "searcher.pkl"))
    search.set_state(state)
    t0 = Trial("__sim", config=t0_config, trial_id="t0", stub=True)
    t0.set_status(Trial.TERMINATED)
    scheduler.on_trial_add(None, t0)
    return searcher, search


def test_a_lost_trial_is_settled_before_ray_asks_whether_the_search_finished(tmp_path):
    t0_config, state = _killed_with_a_lost_trial(tmp_path)
    searcher, search = _resumed(tmp_path, t0_config, state, SettledGenerator)
    assert not search.is_finished()
    assert search.get_state()["counter"] == 1  # t0: the one trial Ray restored
    assert search.searcher.suggest("t2") is not None
    assert searcher.trial_number("t2") == 1  # t1's Optuna trial, not a new ask
    assert [t.number for t in optuna_search_study(searcher).get_trials()] == [0, 1]


def test_rays_own_generator_ends_the_search_with_the_lost_trial_running(tmp_path):
    """What the resumed sweep did before: the saved counter says every trial was asked, so
    Ray ends the sweep before a first step, and t1's Optuna trial stays RUNNING."""
    t0_config, state = _killed_with_a_lost_trial(tmp_path)
    searcher, search = _resumed(tmp_path, t0_config, state, SearchGenerator)
    assert search.is_finished()
    study = optuna_search_study(searcher)
    assert [t.state for t in study.get_trials()] == [TrialState.COMPLETE, TrialState.RUNNING]
