"""A sweep's spec turned into a grid and a scheduler, and refused whole when no sweep can run
it: before Ray or MLflow do any work."""

from __future__ import annotations

import pytest

from rnn_core.errors import ConfigError
from rnn_core.tuning import SweepSpec, run_sweep, trial_name
from rnn_core.tuning._sweep_setup import _axes

GRID = {"num_layers": [1, 2], "hidden_size": [16], "cell": "lstm"}


def _spec(tmp_path, **kw) -> SweepSpec:
    kw = {"param_space": dict(GRID), **kw}
    return SweepSpec(
        study="spec",
        task="sentiment",
        base_config={"seed": 7},
        max_epochs=5,
        storage_path=str(tmp_path / "ray"),
        tracking_uri=f"sqlite:///{tmp_path}/m.db",
        **kw,
    )


def test_repeats_of_the_grid_are_a_seed_axis(tmp_path):
    """num_samples 3: three seeds from the sweep's own, not three identical copies."""
    assert _axes(_spec(tmp_path, num_samples=3)) == {
        "num_layers": [1, 2],
        "hidden_size": [16],
        "seed": [7, 8, 9],
    }
    assert "seed" not in _axes(_spec(tmp_path))


def test_repeats_have_distinct_run_names():
    cfg = {
        "task": "sentiment",
        "cell": "lstm",
        "num_layers": 2,
        "hidden_size": 100,
        "embedding_dim": 32,
        "seed": 8,
    }
    assert trial_name(cfg) == "lstm-L2-H100-E32"  # one sample: the name as before
    names = {trial_name({**cfg, "samples": "3", "seed": s}) for s in ("7", "8", "9")}
    assert names == {"lstm-L2-H100-E32-s7", "lstm-L2-H100-E32-s8", "lstm-L2-H100-E32-s9"}
    variant = {
        "variant": "gru/native",
        "embedding": "learned",
        "embedding_dim": 64,
        "samples": 2,
        "seed": 1,
    }
    assert trial_name(variant) == "gru-native-uni-learned64-s1"


@pytest.mark.parametrize(
    ("kw", "fragment"),
    [
        ({"reduction_factor": 1}, "reduction factor 1: expected a whole number of 2 or more"),
        ({"reduction_factor": 0.5}, "reduction factor 0.5: expected a whole number"),
        ({"reduction_factor": 1.5, "scheduler": "sha"}, "reduction factor 1.5: expected"),
        ({"scheduler": "sha", "max_concurrent_trials": 1}, "synchronous halving: every one of"),
        ({"num_samples": 2, "param_space": {**GRID, "seed": [1, 2]}}, "already has a seed axis"),
        ({"num_samples": 0, "time_budget_s": 60}, "num_samples 0 .* needs a sampled search"),
        ({"num_samples": 0, "search": "random"}, "until the time budget is spent; set time_bud"),
        ({"num_samples": 0, "search": "random", "time_budget_s": 60, "scheduler": "sha"},
         "runs with asha or fifo"),
    ],
)
def test_a_spec_no_sweep_can_run_is_refused_before_any_work(tmp_path, kw, fragment):
    with pytest.raises(ConfigError, match=fragment):
        run_sweep(_spec(tmp_path, **kw), data=None)
    assert not (tmp_path / "m.db").exists() and not (tmp_path / "ray").exists()


def test_fifo_ignores_the_reduction_factor(tmp_path):
    assert _axes(_spec(tmp_path, scheduler="fifo", reduction_factor=1)) == {
        "num_layers": [1, 2],
        "hidden_size": [16],
    }
