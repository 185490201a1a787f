"""A sampled search over a space of lists never asks Optuna's sampler for a configuration the
study holds already: each sampler's proposals are kept where new, else redirected to the
nearest untried configuration."""

from __future__ import annotations

import optuna
import pytest

from rnn_core.tuning._search import make_sampler, make_searcher, optuna_space
from rnn_core.tuning._untried import UntriedSampler
from search_spaces.compound_scaling import GRID
from search_spaces.distributions import LogUniform

optuna.logging.set_verbosity(optuna.logging.WARNING)


def _ask_all(search: str, tmp_path, budget: int = 27, seed: int = 0) -> list[tuple]:
    """Ask a searcher over the 27-point compound grid ``budget`` times, telling each trial a
    value as it comes (the grid's size in layers: bigger is better here)."""
    searcher = make_searcher(search, GRID, "best_val_acc", "max", budget, seed,
                             f"sqlite:///{tmp_path}/optuna.db", f"{search}-{seed}")
    configs = []
    for i in range(budget):
        cfg = searcher.suggest(f"t{i}")
        configs.append((cfg["num_layers"], cfg["hidden_size"], cfg["embedding_dim"]))
        value = cfg["num_layers"] / 3 + cfg["hidden_size"] / 1000
        result = {"best_val_acc": value, "n_params": cfg["hidden_size"] * cfg["num_layers"]}
        searcher.on_trial_complete(f"t{i}", result)
    return configs


@pytest.mark.parametrize("search", ["random", "tpe", "nsga2"])
def test_a_budget_of_the_whole_grid_tries_every_configuration_once(search, tmp_path):
    configs = _ask_all(search, tmp_path)
    assert len(set(configs)) == 27, sorted(configs)


@pytest.mark.parametrize("search", ["random", "tpe", "nsga2"])
def test_the_samplers_alone_repeat_configurations_on_that_grid(search):
    """What the wrapper is for: the same samplers, unwrapped, repeat on the same budget."""
    sampled, _, _ = optuna_space(GRID)
    sampler = make_sampler(search, 27, 0, sampled)
    assert isinstance(sampler, UntriedSampler)
    directions = ["maximize", "minimize"] if search == "nsga2" else ["maximize"]
    study = optuna.create_study(sampler=sampler.sampler, directions=directions)
    seen = []
    for _ in range(27):
        trial = study.ask(sampled)
        p = trial.params
        seen.append((p["num_layers"], p["hidden_size"], p["embedding_dim"]))
        value = p["num_layers"] / 3 + p["hidden_size"] / 1000
        study.tell(trial, [value, p["hidden_size"]] if search == "nsga2" else value)
    assert len(set(seen)) < 27


@pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")
def test_a_tried_proposal_goes_to_the_nearest_untried_configuration():
    space = {"a": optuna.distributions.CategoricalDistribution([1, 2, 3]),
             "b": optuna.distributions.CategoricalDistribution(["x", "y"])}
    # a real sampler that proposes (1, "x") every time
    fixed = optuna.samplers.PartialFixedSampler({"a": 1, "b": "x"},
                                                optuna.samplers.RandomSampler(seed=0))
    sampler = UntriedSampler(fixed, space, seed=0)
    study = optuna.create_study(sampler=sampler)
    first = study.ask(space)
    assert first.params == {"a": 1, "b": "x"}  # new: kept
    study.tell(first, 0.5)
    study.enqueue_trial({"a": 1, "b": "y"})
    study.tell(study.ask(space), 0.4)
    # (1, x) and (1, y) are tried; of the rest, (2, x) and (3, x) keep the proposal's b
    picks = []
    for _ in range(2):
        trial = study.ask(space)
        picks.append((trial.params["a"], trial.params["b"]))
        study.tell(trial, 0.3)
    assert sorted(picks) == [(2, "x"), (3, "x")]
    assert sampler.redirected == 2


def test_a_space_with_a_continuous_parameter_keeps_the_sampler_as_it_is():
    sampled, _, _ = optuna_space({"num_layers": [1, 2], "lr": LogUniform(1e-4, 1e-2)})
    assert isinstance(make_sampler("tpe", 8, 0, sampled), optuna.samplers.TPESampler)
