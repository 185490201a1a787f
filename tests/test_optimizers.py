"""The optimizer study: its space, what its command line refuses, the ranking its report
gives, and (slow) its smoke sweep end to end."""

from __future__ import annotations

import optuna
import pandas as pd
import pytest

from reports.findings import spread_sentence
from reports.frames import spread_by
from rnn_core.tasks import LANGUAGE_MODEL, SENTIMENT
from search_spaces import optimizers as space
from sweeps import optimizers
from sweeps._common import main_guard
from tests._sweeps import printed_report, run_study, sweep_runs


def test_each_optimizer_has_its_own_learning_rate_range():
    assert space.GRID["optimizer"] == ["sgd", "adagrad", "rmsprop", "adam"]
    assert set(space.GRID["lr"].cases) == set(space.GRID["optimizer"])
    assert space.LR_RANGES["sgd"].low > space.LR_RANGES["adam"].high / 10


@pytest.mark.parametrize("argv, fragment", [
    (["--search", "grid"], "--search grid cannot enumerate the distributions of lr"),
    (["--optimizer", "sgd"], "--optimizer fixes the recipe's optimizer, which this study "
                             "searches"),
    (["--lr", "0.1"], "--lr fixes the recipe's lr"),
    (["--optimizers", "lbfgs"], "expected a comma-separated list of sgd, adagrad"),
    (["--cells", "mgu"], "expected a comma-separated list of lstm, gru"),
])
def test_bad_options_are_refused_before_any_work(argv, fragment, tmp_path, capsys):
    import ray

    try:
        code = main_guard(lambda: optimizers.main(
            ["--smoke-test", "--tracking-uri", f"sqlite:///{tmp_path}/m.db", "--storage-path",
             str(tmp_path / "ray"), *argv]))
    except SystemExit as exc:  # argparse
        code = exc.code
    assert code == 2 and not ray.is_initialized()
    assert fragment in capsys.readouterr().err.strip().splitlines()[-1]
    assert not (tmp_path / "m.db").exists() and not (tmp_path / "ray").exists()


def test_the_ranking_gives_each_optimizer_its_mean_and_spread():
    trials = pd.DataFrame({"optimizer": ["sgd", "sgd", "adam", "adam", "adam", "rmsprop"],
                           "best_val_acc": [0.50, 0.52, 0.80, 0.84, 0.88, None]})
    spread = spread_by(trials, "optimizer", "best_val_acc", "max")
    assert list(spread["optimizer"]) == ["adam", "sgd"]  # rmsprop reported nothing
    assert list(spread["trials"]) == [3, 2]
    assert spread["mean"].round(4).tolist() == [0.84, 0.51]
    assert spread["sd"].round(4).tolist() == [0.04, 0.0141]
    said = spread_sentence(spread, "optimizer", SENTIMENT)
    assert "adam 0.8400 ± 0.0400 (3 trials); sgd 0.5100 ± 0.0141 (2 trials)" in said
    ppl = pd.DataFrame({"optimizer": ["sgd", "adam"], "best_val_ppl": [120.0, 150.0]})
    assert spread_by(ppl, "optimizer", "best_val_ppl", "min")["optimizer"].tolist() == [
        "sgd", "adam"]  # lower perplexity first
    assert spread_sentence(spread.head(1), "optimizer", LANGUAGE_MODEL) is None


@pytest.mark.slow
def test_smoke_sweep_draws_each_optimizer_in_its_range_and_ranks_them(tmp_path):
    uri = f"sqlite:///{tmp_path}/m.db"
    done = run_study("optimizers", "--smoke-test", "--num-samples", "6", "--tracking-uri", uri,
                     "--storage-path", str(tmp_path / "ray"), cwd=tmp_path,
                     own="the one optimizers sweep")
    assert done.returncode == 0, done.stderr[-3000:]
    client, parent, children = sweep_runs(uri)
    assert parent.data.params["search"] == "random" and len(children) == 6
    for child in children:
        p = child.data.params
        rng = space.LR_RANGES[p["optimizer"]]
        assert rng.low <= float(p["lr"]) <= rng.high, p
        assert child.info.run_name.startswith(f"{p['cell']}-L1-H16-E16-{p['optimizer']}-lr")
        assert client.list_artifacts(child.info.run_id, "checkpoint")
    url = f"sqlite:///{tmp_path}/optuna.db"
    study = optuna.load_study(study_name=parent.data.params["optuna_study"], storage=url)
    assert len(study.trials) == 6 and all(t.state.name == "COMPLETE" for t in study.trials)
    assert client.list_artifacts(parent.info.run_id, "report")
    page = printed_report(done.stdout).read_text()
    assert "By optimizer" in page
    # run with --no-png (tests/_sweeps.py): the page and its figures, no PNG and no browser
    assert "--no-png" in done.args
    assert not list(printed_report(done.stdout).parent.glob("*.png"))
    assert "Figures as PNG" not in page and "not exported as PNG" not in page + done.stdout
    assert "kaleido" not in done.stderr
