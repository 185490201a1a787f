"""Search spaces with distributions, their Ray Tune and Optuna forms, the checks of a search
against its space, and the Optuna searcher's hand-over of trials across a driver restart."""

from __future__ import annotations

import argparse
import json

import optuna
import pytest

from rnn_core.errors import ConfigError
from rnn_core.tuning import SweepSpec
from rnn_core.tuning._search import (
    grid_param_space,
    make_searcher,
    optuna_space,
    optuna_storage_url,
)
from search_spaces.distributions import (
    Choice,
    Conditional,
    IntRange,
    LogUniform,
    Uniform,
    from_json,
    has_distributions,
    n_points,
    to_json,
)
from sweeps._checks import check_search
from sweeps._resume import from_saved

SPACE = {"cell": ["lstm", "gru"], "optimizer": Choice(["sgd", "adam"]),
         "dropout": Uniform(0.0, 0.5), "lr": LogUniform(1e-4, 1e-1),
         "hidden_size": IntRange(16, 64, log=True), "num_layers": IntRange(1, 3),
         "batch_size": 64}
# a learning-rate range per optimizer
LR = Conditional("optimizer", {"sgd": LogUniform(1e-2, 1.0), "adam": LogUniform(1e-4, 1e-2)})


@pytest.mark.parametrize("make, fragment", [
    (lambda: Choice([]), "at least one value"),
    (lambda: Choice([[1, 2]]), "bool, int, float or str"),
    (lambda: Uniform(1.0, 1.0), "low < high"),
    (lambda: Uniform(0.0, float("inf")), "finite"),
    (lambda: LogUniform(0.0, 1.0), "low > 0"),
    (lambda: IntRange(1, 2.5), "must be integers"),
    (lambda: IntRange(0, 8, log=True), "low >= 1"),
    (lambda: Conditional("optimizer", {"sgd": 0.1}), "a distribution per case"),
])
def test_a_distribution_refuses_bad_bounds(make, fragment):
    with pytest.raises(ValueError, match=fragment):
        make()


def test_a_space_survives_json_as_the_saved_sweep_keeps_it():
    space = {**SPACE, "lr": LR, "flag": Choice([True, False])}
    saved = json.loads(json.dumps(to_json(space)))
    assert from_json(saved) == space
    assert to_json({"layers": [1, 2], "cell": "lstm"}) == {"layers": [1, 2], "cell": "lstm"}


def test_points_count_lists_choices_and_integer_ranges():
    assert n_points({"a": [1, 2, 3], "b": Choice(["x", "y"]), "c": IntRange(1, 4), "d": 7}) == 24
    assert n_points(SPACE) == float("inf")
    assert has_distributions(SPACE) == ["optimizer", "dropout", "lr", "hidden_size",
                                        "num_layers"]


def test_grid_space_is_lists_as_grid_axes_and_scalars_fixed():
    assert grid_param_space({"num_layers": [1, 2], "cell": "lstm"}) == {
        "num_layers": {"grid_search": [1, 2]}, "cell": "lstm"}


def test_random_search_draws_inside_each_distribution_and_each_case(tmp_path):
    space = {**SPACE, "lr": LR}
    searcher = make_searcher("random", space, "best_val_acc", "max", 40, 0,
                             f"sqlite:///{tmp_path}/optuna.db", "random-1")
    draws = [searcher.suggest(f"t{i}") for i in range(40)]
    assert {d["cell"] for d in draws} == {"lstm", "gru"}
    assert {d["optimizer"] for d in draws} == {"sgd", "adam"}
    assert all(0.0 <= d["dropout"] <= 0.5 for d in draws)
    assert all(16 <= d["hidden_size"] <= 64 for d in draws)
    assert {d["num_layers"] for d in draws} == {1, 2, 3}  # both ends included
    for d in draws:  # each optimizer's own range, drawn under a name of its own
        low, high = (1e-2, 1.0) if d["optimizer"] == "sgd" else (1e-4, 1e-2)
        assert low <= d["lr"] <= high and d[f"lr_{d['optimizer']}"] == d["lr"]
    assert "batch_size" not in draws[0]  # fixed values stay in Ray's param_space
    again = make_searcher("random", space, "best_val_acc", "max", 40, 0,
                          f"sqlite:///{tmp_path}/optuna.db", "random-2")
    assert [again.suggest(f"t{i}") for i in range(5)] == draws[:5]  # seeded


def test_optuna_space_takes_the_sampled_keys_and_leaves_the_fixed():
    sampled, conditional, fixed = optuna_space({**SPACE, "momentum": LR})
    d = optuna.distributions
    assert fixed == {"batch_size": 64}
    assert conditional == {"momentum": ("optimizer", {
        "sgd": d.FloatDistribution(1e-2, 1.0, log=True),
        "adam": d.FloatDistribution(1e-4, 1e-2, log=True)})}
    assert sampled == {
        "cell": d.CategoricalDistribution(["lstm", "gru"]),
        "optimizer": d.CategoricalDistribution(["sgd", "adam"]),
        "dropout": d.FloatDistribution(0.0, 0.5),
        "lr": d.FloatDistribution(1e-4, 1e-1, log=True),
        "hidden_size": d.IntDistribution(16, 64, log=True),
        "num_layers": d.IntDistribution(1, 3)}


def test_the_study_file_lies_beside_the_mlflow_store(tmp_path):
    assert optuna_storage_url(f"sqlite:///{tmp_path}/m.db", "ray") == \
        f"sqlite:///{tmp_path}/optuna.db"
    assert optuna_storage_url("http://host:5000", tmp_path / "ray") == \
        f"sqlite:///{tmp_path}/ray/optuna.db"


def _opts(search: str, grid: dict, num_samples: int = 2, scheduler: str = "asha"):
    return SweepSpec(study="x", task="sentiment", preset="smoke", param_space=grid, max_epochs=2,
                     scheduler=scheduler, grace_period=1, reduction_factor=3,
                     num_samples=num_samples, base_config={"seed": 0}, search=search)


@pytest.mark.parametrize("opts, fragment", [
    (_opts("grid", SPACE), "--search grid cannot enumerate the distributions of optimizer, "
                           "dropout, lr, hidden_size, num_layers"),
    (_opts("tpe", {"num_layers": [2], "cell": "lstm"}), "has a single point"),
    (_opts("random", {"num_layers": [1, 2]}, num_samples=3), "exceeds the 2 configurations"),
    (_opts("nsga2", SPACE, scheduler="asha"), "--search nsga2 needs --scheduler fifo"),
    (_opts("tpe", SPACE, scheduler="sha"), "sha fixes its brackets"),
    (_opts("tpe", {**SPACE, "lr": Conditional("optimizer", {"sgd": LogUniform(0.1, 1.0)})}),
     "lr depends on optimizer, which must be a list or Choice whose every value has a case"),
    (_opts("grid", {"optimizer": ["sgd", "adam"], "lr": LR}),
     "--search grid cannot enumerate the distributions of lr"),
])
def test_a_search_that_does_not_fit_its_space_is_refused(opts, fragment):
    with pytest.raises(ConfigError, match=fragment):
        check_search(opts)


def test_fitting_searches_pass():
    check_search(_opts("grid", {"num_layers": [1, 2]}))
    check_search(_opts("tpe", SPACE, num_samples=50))
    check_search(_opts("nsga2", {"num_layers": [1, 2, 3]}, num_samples=3, scheduler="fifo"))


def test_resume_keeps_the_search_and_its_distributions():
    saved = {"grid": to_json(SPACE), "max_epochs": 2, "search": "tpe", "num_samples": 8,
             "scheduler": "asha", "preset": "smoke"}
    args = argparse.Namespace(smoke_test=False, scheduler=None, search=None, num_samples=None,
                              train_subset=None)
    spec = from_saved(saved, args, (), "ray/x", study="x", task="sentiment")
    assert (spec.search, spec.num_samples, spec.n_trials, spec.param_space) == \
        ("tpe", 8, 8, SPACE)
    args.search = "grid"
    with pytest.raises(ConfigError, match="--search grid contradicts the saved sweep's search "
                                          "tpe"):
        from_saved(saved, args, (), "ray/x", study="x", task="sentiment")


def test_a_saved_spec_comes_back_as_it_was_saved():
    """What a sweep saves (its parent run's params, its sidecar's ``sweep_params``) gives the
    same spec back on --resume, the parent run's extra params included."""
    spec = SweepSpec(study="x", task="sentiment", preset="quick", param_space=SPACE,
                     base_config={"cell": "lstm", "precision": "fp32", "seed": 3}, max_epochs=4,
                     scheduler="fifo", num_samples=6, search="nsga2", data_path="/d",
                     data_options={"embeddings": ["glove50"]}, source={"source_run": "abc"})
    saved = json.loads(json.dumps(spec.params()))
    assert saved["base"] == {"cell": "lstm", "precision": "fp32"} and saved["seed"] == 3
    assert (saved["n_trials"], saved["source_run"]) == (6, "abc")
    back = SweepSpec.from_params(saved, study="x", task="sentiment")
    assert back == spec


def test_a_sweep_saved_before_tasks_existed_keeps_its_embeddings():
    saved = {"grid": {"num_layers": [1, 2]}, "max_epochs": 2, "embeddings": ["glove50"],
             "embedding_train_subset": 500}
    spec = SweepSpec.from_params(saved, study="x", task="sentiment")
    assert spec.data_options == {"embeddings": ["glove50"], "embedding_train_subset": 500}
    assert (spec.preset, spec.scheduler, spec.seed, spec.source) == ("full", "asha", 0, {})


def test_resume_keeps_test_every_epoch_as_saved():
    saved = {"grid": {"num_layers": [1, 2]}, "max_epochs": 2, "base": {}}
    args = argparse.Namespace(smoke_test=False, scheduler=None, search=None, num_samples=None,
                              train_subset=None, test_every_epoch=True)
    with pytest.raises(ConfigError, match="--test-every-epoch True contradicts the saved "
                                          "sweep's test-every-epoch False"):
        from_saved(saved, args, (), "ray/x", study="x", task="sentiment")
    saved["base"]["test_every_epoch"] = True
    spec = from_saved(saved, args, (), "ray/x", study="x", task="sentiment")
    assert spec.base_config["test_every_epoch"] is True


def test_a_trial_asked_after_the_last_save_goes_to_the_next_trial_on_resume(tmp_path):
    """Optuna writes an ``ask`` to its SQLite file at once, Ray saves the searcher now and
    then: a trial asked in between is handed to the resumed sweep's next trial, not lost
    (left running in the study) and not replaced by a new ask."""
    url = f"sqlite:///{tmp_path}/optuna.db"
    space = {"num_layers": IntRange(1, 4), "lr": LogUniform(1e-4, 1e-1)}

    def searcher():
        return make_searcher("tpe", space, "best_val_acc", "max", 6, 0, url, "sweep-1")

    first = searcher()
    a, b = first.suggest("ray-a"), first.suggest("ray-b")
    first.on_trial_complete("ray-a", {"best_val_acc": 0.6})
    first.save(str(tmp_path / "searcher.pkl"))
    asked_late = first.suggest("ray-c")  # the driver stops before Ray saves again

    resumed = searcher()
    resumed.restore(str(tmp_path / "searcher.pkl"))
    assert resumed.suggest("ray-d") == asked_late
    assert resumed.trial_number("ray-d") == 2 and resumed.trial_number("ray-b") == 1
    resumed.on_trial_complete("ray-b", {"best_val_acc": 0.7})
    resumed.on_trial_complete("ray-d", {"best_val_acc": 0.8})
    resumed.suggest("ray-e")

    study = optuna.load_study(study_name="sweep-1", storage=url)
    trials = study.get_trials(deepcopy=False)
    assert [t.number for t in trials] == [0, 1, 2, 3]
    assert [t.params for t in trials[:3]] == [a, b, asked_late]
    assert [t.state.name for t in trials] == ["COMPLETE", "COMPLETE", "COMPLETE", "RUNNING"]
    assert [t.value for t in trials[:3]] == [0.6, 0.7, 0.8]
    assert study.metric_names == ["best_val_acc"]


def test_a_trial_stopped_short_on_a_result_ends_pruned_at_that_epoch(tmp_path):
    """Ray hands the searcher no result that the scheduler answers with a stop, then ends the
    trial with it: such a trial ends PRUNED at that epoch, as one stopped while it waited at
    its rung (no result) does, and only a trial that trained to the last epoch is COMPLETE
    (what TPE ranks, and what the report's Optuna figures show as completed)."""
    url = f"sqlite:///{tmp_path}/optuna.db"
    searcher = make_searcher("tpe", {"lr": LogUniform(1e-4, 1e-1)}, "best_val_acc", "max",
                             5, 0, url, "stops", rungs=True, max_step=3)
    for tid in ("stopped", "waited", "trained", "failed", "stopped_last"):
        searcher.suggest(tid)
    searcher.on_trial_complete("stopped", {"training_iteration": 1, "best_val_acc": 0.4})
    searcher.on_trial_result("waited", {"training_iteration": 1, "best_val_acc": 0.5})
    searcher.on_trial_complete("waited")  # stopped while paused at its rung: no result
    for epoch, acc in ((1, 0.5), (2, 0.6), (3, 0.7)):
        searcher.on_trial_result("trained", {"training_iteration": epoch, "best_val_acc": acc})
    searcher.on_trial_complete("trained", {"training_iteration": 3, "best_val_acc": 0.7})
    searcher.on_trial_complete("failed", error=True)
    # stopped on its last epoch's result (a speculative trial no promotion could reach)
    for epoch, acc in ((1, 0.3), (2, 0.35)):
        searcher.on_trial_result("stopped_last", {"training_iteration": epoch,
                                                  "best_val_acc": acc})
    searcher.on_trial_complete("stopped_last", {"training_iteration": 3, "best_val_acc": 0.45})

    trials = optuna.load_study(study_name="stops", storage=url).get_trials(deepcopy=False)
    assert [t.state.name for t in trials] == ["PRUNED", "PRUNED", "COMPLETE", "FAIL", "COMPLETE"]
    assert [t.value for t in trials] == [0.4, 0.5, 0.7, None, 0.45]
    assert trials[0].intermediate_values == {1: 0.4}
    assert [t.last_step for t in trials] == [1, 1, 3, None, 3]
