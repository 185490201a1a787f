"""TPE learns from trials at ASHA's rungs: ``RungSampler`` shows its sampler each RUNNING trial
that has reported an epoch as PRUNED there, leaving the stored study as it is, so TPE leaves its
random start-up on those trials and proposes differently from random search."""

from __future__ import annotations

import inspect
import statistics

import optuna
import pytest
from optuna.distributions import CategoricalDistribution
from optuna.trial import TrialState

from rnn_core.tuning._rungs import RungSampler, rung_observations, rung_view
from rnn_core.tuning._search import make_sampler
from rnn_core.tuning._untried import UntriedSampler

optuna.logging.set_verbosity(optuna.logging.WARNING)

SPACE = {"x": CategoricalDistribution(list(range(10))),
         "y": CategoricalDistribution(list(range(10)))}


def _value(params: dict) -> float:
    """A synthetic objective over ``SPACE``, best at (7, 2)."""
    return -(abs(params["x"] - 7) + abs(params["y"] - 2))


def test_a_running_trial_with_epochs_is_shown_pruned_and_the_study_is_untouched(tmp_path):
    url = f"sqlite:///{tmp_path}/optuna.db"
    study = optuna.create_study(study_name="s", storage=url, direction="maximize")
    at_rung = study.ask(SPACE)  # reported two epochs, waits at its rung
    at_rung.report(0.6, 1)
    at_rung.report(0.7, 2)
    fresh = study.ask(SPACE)  # asked, no epoch yet: stays a constant-liar placeholder
    done = study.ask(SPACE)
    study.tell(done, 0.5)
    stopped = study.ask(SPACE)
    stopped.report(0.4, 1)
    study.tell(stopped, state=TrialState.PRUNED)

    view = rung_view(study)
    shown = {t.number: t for t in view.get_trials(deepcopy=False)}
    assert shown[at_rung.number].state == TrialState.PRUNED
    assert shown[at_rung.number].value == 0.7  # as Study.tell leaves a pruned trial
    assert shown[at_rung.number].intermediate_values == {1: 0.6, 2: 0.7}
    assert shown[at_rung.number].params == at_rung.params
    assert shown[fresh.number].state == TrialState.RUNNING
    assert shown[done.number].state == TrialState.COMPLETE
    assert shown[stopped.number].state == TrialState.PRUNED
    # what TPE reads (its start-up count and its model): Optuna's private Study._get_trials
    # with these arguments; a change there must fail here, not leave TPE random again
    assert {"deepcopy", "states", "use_cache"} <= set(
        inspect.signature(optuna.Study._get_trials).parameters)
    modelled = view._get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED),
                                use_cache=True)
    assert [t.number for t in modelled] == [at_rung.number, done.number, stopped.number]
    assert rung_observations(study) == 3

    stored = optuna.load_study(study_name="s", storage=url).trials
    assert [t.state for t in stored] == [TrialState.RUNNING, TrialState.RUNNING,
                                         TrialState.COMPLETE, TrialState.PRUNED]
    assert [t.state for t in study.get_trials(deepcopy=False)] == [t.state for t in stored]
    study.tell(at_rung, 0.8)  # the trial ends later: COMPLETE, with its final value
    ended = optuna.load_study(study_name="s", storage=url).trials[at_rung.number]
    assert ended.state == TrialState.COMPLETE and ended.value == 0.8
    assert rung_view(study).trials[at_rung.number].state == TrialState.COMPLETE


def _asks(sampler, budget: int = 20) -> list[float]:
    """The objective of each of ``budget`` trials asked of ``sampler``, each reporting its
    value at epoch 1 and left waiting there (RUNNING), as trials wait at ASHA's first rung."""
    study = optuna.create_study(direction="maximize", sampler=sampler)
    values = []
    for _ in range(budget):
        trial = study.ask(SPACE)
        trial.report(_value(trial.params), 1)
        values.append(_value(trial.params))
    return values


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_tpe_models_the_trials_at_a_rung_and_leaves_random_search(seed):
    tpe = make_sampler("tpe", 20, seed, SPACE, rungs=True)  # start-up: 6 trials
    assert isinstance(tpe, UntriedSampler) and isinstance(tpe.sampler, RungSampler)
    bare = make_sampler("tpe", 20, seed, SPACE, rungs=True)
    bare.sampler = bare.sampler.sampler  # the same TPE without RungSampler
    random = _asks(make_sampler("random", 20, seed, SPACE))
    with_rungs, without = _asks(tpe), _asks(bare)
    # without the view TPE never leaves its start-up: it draws what random search draws
    assert without == random
    assert with_rungs[:6] == random[:6]  # the same random start-up
    assert with_rungs != random
    # and what it draws after the start-up is nearer the optimum than random's
    assert statistics.mean(with_rungs[6:]) > statistics.mean(random[6:]) + 1
