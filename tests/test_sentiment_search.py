"""The model-based IMDB search: its space, run names with pretrained inputs, the best-so-far
curve its report draws, and (slow) its smoke sweep end to end."""

from __future__ import annotations

import math

import optuna
import pandas as pd
import pytest

from reports.frames import trials_frame
from reports.progress import best_so_far, best_so_far_sentence, plot_best_so_far
from rnn_core.tasks import SENTIMENT
from rnn_core.tuning._tracking import trial_name
from search_spaces import sentiment_search as space
from search_spaces.distributions import Conditional, IntRange, n_points
from tests._sweeps import printed_report, run_study, sweep_runs


def test_the_space_searches_every_axis_the_study_names_at_once():
    grid = space.GRID
    for key in ("optimizer", "lr", "dropout", "num_layers", "hidden_size", "embedding_dim",
                "bidirectional", "embedding"):
        assert not isinstance(grid[key], (int, float, str)), key  # searched, not fixed
    assert grid["embedding"] == ["learned", "glove50"]
    assert grid["bidirectional"] == [False, True]
    # GloVe 6B 50d fixes the width; a learned embedding draws its own
    emb = grid["embedding_dim"]
    assert isinstance(emb, Conditional) and emb.on == "embedding"
    assert emb.cases["glove50"].values == (50,)
    assert isinstance(emb.cases["learned"], IntRange) and emb.cases["learned"].log
    assert set(grid["lr"].cases) == set(grid["optimizer"])
    assert space.RECIPE["freeze_embedding"] is False  # initialised by GloVe, then trained
    assert math.isinf(n_points(grid))
    assert (space.SEARCH, space.SCHEDULER) == ("tpe", "asha")


def test_pretrained_inputs_are_named_in_place_of_their_width():
    cfg = {"task": "sentiment", "cell": "gru", "num_layers": 2, "hidden_size": 79,
           "embedding_dim": 50, "embedding": "glove50", "freeze_embedding": False,
           "bidirectional": True, "optimizer": "adam", "lr": 0.00312}
    assert trial_name(cfg, ("optimizer", "lr")) == "gru-L2-H79-glove50-tuned-bi-adam-lr0.00312"
    learned = {**cfg, "embedding": "learned", "embedding_dim": 50, "bidirectional": False}
    assert trial_name(learned) == "gru-L2-H79-E50"
    frozen = {**cfg, "freeze_embedding": "True"}  # MLflow params come back as strings
    assert trial_name(frozen).startswith("gru-L2-H79-glove50-frozen-bi")


def _sweep():
    """Four trials of a sweep started at t = 1000 s: b ends first, then c (stopped early),
    a (the best on validation, last to end) and d (failed)."""
    runs = pd.DataFrame({
        "run_id": ["a", "b", "c", "d"], "run_name": ["A", "B", "C", "D"],
        "status": ["finished", "finished", "stopped_early", "failed"],
        "start_time": [1000.0, 1000.0, 1900.0, 2000.0],
        "seconds": [7200.0, 1800.0, 1800.0, 60.0],
        "best_val_acc": [0.91, 0.88, 0.89, math.nan], "test_acc": [0.905, 0.887, math.nan,
                                                                   math.nan],
        "n_params": [100, 50, 80, 10]})
    # one row per epoch: when it was logged and what it took
    history = pd.DataFrame({
        "run_id": ["a", "a", "b", "b", "c"], "run_name": ["A", "A", "B", "B", "C"],
        "epoch": [1, 2, 1, 2, 1], "val_acc": [0.85, 0.91, 0.86, 0.88, 0.89],
        "time": [3000.0, 8000.0, 2000.0, 2790.0, 3600.0],
        "epoch_seconds": [2000.0, 2000.0, 900.0, 900.0, 1700.0]})
    return runs, history


def test_best_so_far_follows_the_validation_pick_as_trials_end():
    runs, history = _sweep()
    curve = best_so_far(trials_frame(runs, SENTIMENT), runs, history, 1000.0, SENTIMENT)
    assert curve["pick"].tolist() == ["B", "C", "A"]  # the failed trial never counts
    assert curve["trials_ended"].tolist() == [1, 2, 3]
    assert curve["hours"].round(4).tolist() == [0.5, 0.75, 2.0]
    assert curve["trial_epochs"].tolist() == [2, 4, 5]
    assert curve["epoch_hours"].round(4).tolist() == [0.5, 1.5278, 2.0833]
    assert curve["new"].tolist() == [True, True, True]
    # the stopped trial's test was never measured: the pick then has none
    assert curve["test_acc"].isna().tolist() == [False, True, False]
    reference = {"metric": "test_acc", "value": 0.8933}
    said = best_so_far_sentence(curve, SENTIMENT, reference)
    assert said.startswith("Best so far: the final pick A was the pick from 2.00 h of 2.00 h, "
                           "after 5 of 5 trial-epochs (3 of 3 trials ended)")
    assert "first stood at 2.00 h (A, 0.9050)" in said
    assert "passed" in best_so_far_sentence(curve, SENTIMENT, {**reference, "value": 0.95})
    fig = plot_best_so_far(curve, SENTIMENT, reference)
    assert [t.name for t in fig.data] == ["pick's best_val_acc", "pick's test_acc"]


def test_best_so_far_is_empty_without_the_times_it_needs():
    runs, history = _sweep()
    trials = trials_frame(runs, SENTIMENT)
    assert best_so_far(trials, runs, history.drop(columns="time"), 1000.0, SENTIMENT).empty
    assert best_so_far(trials, runs, history, 0.0, SENTIMENT).empty
    assert best_so_far_sentence(pd.DataFrame(), SENTIMENT) is None


@pytest.mark.slow
def test_smoke_search_draws_glove_and_learned_inputs_and_reports_its_progress(tmp_path):
    uri = f"sqlite:///{tmp_path}/m.db"
    done = run_study("sentiment_search", "--smoke-test", "--num-samples", "8", "--tracking-uri",
                     uri, "--storage-path", str(tmp_path / "ray"), cwd=tmp_path,
                     own="the one sentiment-search sweep")
    assert done.returncode == 0, done.stderr[-3000:]
    client, parent, children = sweep_runs(uri)
    assert parent.data.params["search"] == "tpe" and parent.data.params["scheduler"] == "asha"
    assert len(children) == 8
    for child in children:
        p = child.data.params
        glove = p["embedding"] == "glove50"
        assert (p["embedding_dim"] == "50") if glove else (8 <= int(p["embedding_dim"]) <= 32)
        assert ("glove50-tuned" in child.info.run_name) == glove, child.info.run_name
        assert 0.0 <= float(p["dropout"]) <= 0.6 and p["freeze_embedding"] == "False"
        assert child.data.tags["optuna_trial"].isdigit()
    study = optuna.load_study(study_name=parent.data.params["optuna_study"],
                              storage=f"sqlite:///{tmp_path}/optuna.db")
    assert len(study.trials) == 8
    page = printed_report(done.stdout)
    assert "Best so far: the final pick" in page.read_text()
    curve = pd.read_csv(page.parent / "best_so_far.csv")
    assert curve["trials_ended"].tolist() == list(range(1, len(curve) + 1))
    assert curve["trial_epochs"].is_monotonic_increasing and curve["trial_epochs"].iloc[-1] > 0
