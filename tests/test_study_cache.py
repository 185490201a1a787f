"""The sweep's Optuna study read from memory (``_study_cache.StudyCache``): what a sampler
reads through it is what the SQLite file holds, and reading it costs no query."""

from __future__ import annotations

import pickle

import optuna
from optuna.trial import TrialState
from sqlalchemy import event

from rnn_core.tuning._study_cache import StudyCache


def _view(trials):
    return [(t.number, t.state, t.params, t.distributions, t.values, t.intermediate_values,
             t.user_attrs, t.system_attrs) for t in trials]


def test_the_cache_holds_what_the_file_holds_and_reads_without_queries(tmp_path):
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    url = f"sqlite:///{tmp_path}/o.db"
    cache = StudyCache(url)
    study = optuna.create_study(storage=cache, study_name="s", direction="maximize",
                                sampler=optuna.samplers.TPESampler(seed=0, n_startup_trials=3))
    study.enqueue_trial({"x": 0.5, "c": 2})  # WAITING, then RUNNING when asked
    for i in range(9):
        t = study.ask()
        x, c = t.suggest_float("x", 0, 1), t.suggest_categorical("c", [1, 2, 3])
        t.report(x, 1)
        t.set_user_attr("i", i)
        if i % 3 == 0:
            study.tell(t, state=TrialState.PRUNED)
        elif i % 3 == 1:
            study.tell(t, x * c)
        elif i == 8:
            study.tell(t, state=TrialState.FAIL)
        # the rest stay RUNNING, as trials waiting at a rung do
    stored = optuna.load_study(study_name="s", storage=url).get_trials()
    assert _view(study.get_trials()) == _view(stored)
    assert study.trials[0].params == {"x": 0.5, "c": 2}

    queries = []
    event.listen(cache.engine, "before_cursor_execute",
                 lambda *args: queries.append(args[2]))
    study.get_trials(deepcopy=False)
    study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    study.sampler.sample_independent(study, study.trials[-1], "x",
                                     optuna.distributions.FloatDistribution(0, 1))
    assert queries == []  # Optuna's own cache reads every unfinished trial back each time

    again = pickle.loads(pickle.dumps(cache))  # Ray saves the searcher with its study
    assert _view(again.get_all_trials(again.get_study_id_from_name("s"))) == _view(stored)
