"""Study S3's remaining studies: the union of one-axis grids (depth/width/embedding), the
direction study (a sweep's pick, uni- against bidirectional), the compound coefficients, and
(slow) each one's smoke sweep end to end."""

from __future__ import annotations

import pandas as pd
import pytest

from reports.bidirectional import paired_differences
from reports.effects import axis_effects, centre
from reports.findings import stuck_sentence, stuck_trials
from rnn_core.tasks import SENTIMENT
from search_spaces import depth_width_embedding as dwe
from search_spaces.coefficients import CompoundCoefficients, recurrent_flops, round_size
from search_spaces.distributions import from_json, to_json
from search_spaces.grids import one_axis_at_a_time, replace_axis, union_axes, union_points
from sweeps._common import main_guard
from tests._sweeps import printed_report, run_study, shared_sweep, sweep_runs


def test_one_axis_at_a_time_runs_the_centre_once_and_each_axis_around_it():
    points = union_points(dwe.GRID)
    assert len(points) == 4 + 6 + 6 - 2
    assert points.count(dwe.CENTER) == 1
    for p in points:  # every configuration differs from the centre on one axis at most
        assert sum(p[k] != v for k, v in dwe.CENTER.items()) <= 1
    assert union_axes(dwe.GRID)["hidden_size"] == [100, 32, 64, 128, 256, 512]
    narrowed = replace_axis(dwe.GRID, "num_layers", [1, 3])
    assert len(union_points(narrowed)) == 2 + 6 + 6 - 2
    assert from_json(to_json(dwe.GRID)) == dwe.GRID  # saved with the sweep for --resume
    with pytest.raises(ValueError, match="leaves out its centre value 100"):
        one_axis_at_a_time(dwe.CENTER, {"hidden_size": [32, 64]})


def test_compound_coefficients_keep_the_flops_constraint_and_round_half_up():
    c = CompoundCoefficients({"num_layers": 1, "hidden_size": 100, "embedding_dim": 32})
    assert recurrent_flops(1, 100, 32) == 2 * 4 * 100 * 132
    assert recurrent_flops(2, 100, 32, gates=3) == 2 * 3 * 100 * 132 + 2 * 3 * 100 * 200
    assert round_size(1.5) == 2 and round_size(2.25) == 2 and round_size(0.2) == 1
    cands = c.candidates()
    assert cands and all(2 / 1.3 <= p["flops_ratio"] <= 2 * 1.3 for p in cands)
    assert len({(p["num_layers"], p["hidden_size"], p["embedding_dim"]) for p in cands}) == len(
        cands)
    assert c.stage1()[0] == {"num_layers": 1, "hidden_size": 100, "embedding_dim": 32, "phi": 0,
                             "alpha": 1.0, "beta": 1.0, "gamma": 1.0, "flops_ratio": 1.0}
    path = c.path(2.0, 1.2, 1.0)  # depth 1 * 2^phi, hidden 100 * 1.2^phi
    assert [(p["phi"], p["num_layers"], p["hidden_size"]) for p in path] == [(2, 4, 144),
                                                                            (3, 8, 173)]
    assert c.n_trials == len(c.stage1()) + 2
    assert from_json(to_json(c)) == c


def test_the_coefficient_search_waits_for_stage_one_then_scales_the_best():
    from ray.tune.search import Searcher

    from rnn_core.tuning._points import CoefficientSearch

    space = CompoundCoefficients({"num_layers": 1, "hidden_size": 16, "embedding_dim": 8},
                                 alphas=(1.0, 2.0), betas=(1.0, 1.4), gammas=(1.0, 3.0))
    search = CoefficientSearch(space, "best_val_acc", "max")
    first = [search.suggest(f"t{i}") for i in range(len(space.stage1()))]
    assert first == space.stage1()
    assert search.suggest("next") is None  # stage 1 still running
    scores = {0: 0.6, 1: 0.55, 2: 0.7, 3: None}  # t2 (beta 1.4) best; t3 failed
    for i, v in scores.items():
        search.on_trial_complete(f"t{i}", None if v is None else {"best_val_acc": v},
                                 error=v is None)
    second = [search.suggest("a"), search.suggest("b")]
    assert [(p["phi"], p["beta"], p["hidden_size"]) for p in second] == [(2, 1.4, 31),
                                                                        (3, 1.4, 44)]
    assert search.suggest("c") == Searcher.FINISHED


def _trials(rows):
    df = pd.DataFrame(rows, columns=["run_name", "num_layers", "hidden_size", "embedding_dim",
                                     "best_val_acc", "test_acc", "n_params"])
    return df


def test_axis_effects_hold_the_other_axes_at_the_centre_and_spread_over_seeds():
    trials = _trials([
        ("c-s0", 1, 100, 64, 0.80, 0.79, 10), ("c-s1", 1, 100, 64, 0.84, 0.81, 10),
        ("l2-s0", 2, 100, 64, 0.70, 0.69, 20), ("l2-s1", 2, 100, 64, 0.74, 0.71, 20),
        ("h32-s0", 1, 32, 64, 0.60, 0.61, 5), ("e8-s0", 1, 100, 8, 0.50, 0.52, 2)])
    assert centre(trials) == {"num_layers": 1, "hidden_size": 100, "embedding_dim": 64}
    e = axis_effects(trials, SENTIMENT).set_index(["axis", "value"])
    assert e.loc[("num_layers", 1), "seeds"] == 2
    assert e.loc[("num_layers", 2), "val_mean"] == pytest.approx(0.72)
    assert e.loc[("num_layers", 2), "val_sd"] == pytest.approx(0.0283, abs=1e-4)
    assert e.loc[("hidden_size", 100), "test_mean"] == pytest.approx(0.80)
    assert list(e.loc["embedding_dim"].index) == [8, 64]


def test_paired_differences_are_bi_minus_uni_per_seed():
    runs = pd.DataFrame({
        "run_id": list("abcde"), "run_name": ["u0", "b0", "u1", "b1", "u2"],
        "param.bidirectional": ["False", "True", "False", "True", "False"],
        "param.seed": ["0", "0", "1", "1", "2"], "status": ["finished"] * 5,
        "best_val_acc": [0.80, 0.83, 0.81, 0.80, 0.9], "test_acc": [0.78, 0.82, 0.80, 0.80, 0.9],
        "n_params": [1, 2, 1, 2, 1]})
    pairs = paired_differences(runs, SENTIMENT)
    assert list(pairs["seed"]) == [0, 1]  # seed 2 ran one direction only
    assert pairs["diff_val"].round(4).tolist() == [0.03, -0.01]
    assert pairs["diff_test"].round(4).tolist() == [0.04, 0.0]


def test_trials_stuck_at_chance_are_named_per_optimizer():
    runs = pd.DataFrame({"run_id": ["a", "b", "c"], "train_loss": [0.695, 0.31, 0.6931]})
    trials = pd.DataFrame({"run_id": ["a", "b", "c"], "run_name": ["sgd1", "adam", "sgd2"],
                           "optimizer": ["sgd", "adam", "sgd"]})
    stuck = stuck_trials(runs, trials, SENTIMENT.chance)
    assert list(stuck["run_name"]) == ["sgd1", "sgd2"]
    said = stuck_sentence(stuck, trials, SENTIMENT.chance)
    assert "2 trials stayed at chance" in said and "(sgd 2 of 2)" in said
    assert stuck_sentence(stuck_trials(runs.iloc[1:2], trials, SENTIMENT.chance), trials,
                          SENTIMENT.chance) is None


@pytest.mark.parametrize("study, argv, fragment", [
    ("bidirectional", [], "give the sweep whose best configuration to run"),
    ("bidirectional", ["--from-run", "x", "--from-experiment", "y"], "(one of them)"),
    ("depth_width_embedding", ["--search", "tpe"], "--search tpe: this study runs a given set"),
    ("compound_scaling", ["--method", "coefficient", "--search", "tpe"],
     "--search does not apply to --method coefficient"),
    ("compound_scaling", ["--method", "coefficient", "--scheduler", "asha"],
     "--method coefficient needs --scheduler fifo"),
])
def test_bad_options_are_refused_before_any_sweep(study, argv, fragment, tmp_path, capsys):
    import importlib

    import ray

    module = importlib.import_module(f"sweeps.{study}")
    code = main_guard(lambda: module.main(
        ["--smoke-test", "--tracking-uri", f"sqlite:///{tmp_path}/m.db", "--storage-path",
         str(tmp_path / "ray"), *argv]))
    assert code == 2 and not ray.is_initialized()
    assert fragment in capsys.readouterr().err.strip().splitlines()[-1]
    assert not (tmp_path / "ray").exists()


def _args(tmp_path):
    return ["--tracking-uri", f"sqlite:///{tmp_path}/m.db", "--storage-path",
            str(tmp_path / "ray")]


@pytest.mark.slow
def test_bidirectional_runs_a_finished_sweeps_pick_both_ways(tmp_path):
    # the finished sweep is the shared smoke sweep, in a copy of its store: this one adds runs
    uri = shared_sweep("compound_smoke").private_store(tmp_path)
    _, grid, _ = sweep_runs(uri)
    done = run_study("bidirectional", "--smoke-test", "--from-run", grid.info.run_id,
                     *_args(tmp_path), cwd=tmp_path, own="a study of its own")
    assert done.returncode == 0, done.stderr[-3000:]
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{tmp_path}/m.db")
    exp = client.get_experiment_by_name("rnn-sweeps")
    parent, = client.search_runs([exp.experiment_id], "tags.study = 'bidirectional'")
    assert parent.data.params["source_run"] == grid.info.run_id
    children = client.search_runs([exp.experiment_id],
                                  f"tags.mlflow.parentRunId = '{parent.info.run_id}'")
    pick = parent.data.params["source_pick"]
    assert sorted(c.info.run_name for c in children) == sorted(
        [f"{pick}-s0", f"{pick}-s1", f"{pick}-bi-s0", f"{pick}-bi-s1"])
    pairs = pd.read_csv(printed_report(done.stdout).parent / "paired.csv")
    assert list(pairs["seed"]) == [0, 1]
    assert "Bidirectional minus unidirectional, test acc" in done.stdout


@pytest.mark.slow
def test_compound_coefficients_smoke_scales_the_best_candidate(tmp_path):
    done = run_study("compound_scaling", "--method", "coefficient", "--smoke-test",
                     *_args(tmp_path), cwd=tmp_path, own="a method of its own")
    assert done.returncode == 0, done.stderr[-3000:]
    _, parent, children = sweep_runs(f"sqlite:///{tmp_path}/m.db")
    assert parent.data.tags["study"] == "compound_coefficients"
    phis = sorted(int(c.data.params["phi"]) for c in children)
    assert phis == [0, 1, 1, 1, 2, 3]
    stage2 = [c.data.params for c in children if int(c.data.params["phi"]) >= 2]
    picked = max((c for c in children if c.data.params["phi"] == "1"),
                 key=lambda c: c.data.metrics["best_val_acc"]).data.params
    for p in stage2:  # the path scales the coefficients of the best candidate at phi = 1
        assert [p[k] for k in ("alpha", "beta", "gamma")] == [
            picked[k] for k in ("alpha", "beta", "gamma")]
    path = pd.read_csv(printed_report(done.stdout).parent / "path.csv")
    assert list(path["phi"]) == [0, 1, 2, 3]
    assert "the path is drawn alone" in done.stdout


@pytest.mark.slow
def test_an_interrupted_union_sweep_resumes_with_each_configuration_once(tmp_path):
    """The study's smoke sweep, interrupted in its second epoch and resumed: each axis run
    around the centre over 2 seeds, every configuration once, and the effects report."""
    from tests._sweeps import interrupt_study

    code, _, err = interrupt_study("depth_width_embedding", "--smoke-test", "--max-epochs", "3",
                                   *_args(tmp_path), cwd=tmp_path, when=": epoch 2/",
                                   own="interrupts and resumes it")
    assert code == 130 and "continue it with --resume" in err, err[-3000:]
    done = run_study("depth_width_embedding", "--resume", *_args(tmp_path), cwd=tmp_path,
                     own="interrupts and resumes it")
    assert done.returncode == 0, done.stderr[-3000:]
    client, parent, children = sweep_runs(f"sqlite:///{tmp_path}/m.db")
    names = [c.info.run_name for c in children]
    assert parent.info.status == "FINISHED" and len(names) == 8 and len(set(names)) == 8
    assert "lstm-L1-H16-E16-s0" in names and "lstm-L2-H16-E16-s1" in names  # 4 configs x 2
    assert all(c.data.tags["trial_status"] == "finished" for c in children)
    effects = pd.read_csv(printed_report(done.stdout).parent / "effects.csv")
    assert sorted(effects["axis"].unique()) == ["embedding_dim", "hidden_size", "num_layers"]
    assert (effects["seeds"] == 2).all() and len(effects) == 6
    assert client.list_artifacts(parent.info.run_id, "report")
