"""The reports of sampled searches: Optuna's own figures of a real smoke sweep's study (TPE and
NSGA-II), the sentence that replaces a figure Optuna cannot draw, and the page of every sweep's
Pareto front in one experiment."""

from __future__ import annotations

import numpy as np
import optuna
import pandas as pd
import pytest

from reports.frames import hypervolume
from reports.fronts import front_shares, fronts_frame
from reports.optuna_figures import optuna_section
from rnn_core.tasks import SENTIMENT
from tests._sweeps import printed_report, shared_sweep
from tests.browser import check_pngs

optuna.logging.set_verbosity(optuna.logging.WARNING)


@pytest.fixture(scope="module")
def sweeps():
    """The shared TPE and NSGA-II smoke sweeps, in one store and experiment: (their folder,
    uri, {search: (report page, optuna study name)})."""
    shared = shared_sweep("searches")
    out = {}
    for search, done in zip(("tpe", "nsga2"), shared.procs, strict=True):
        name = next(ln.split()[2].rstrip(":") for ln in done.stdout.splitlines()
                    if ln.startswith("Optuna study "))
        out[search] = (printed_report(done.stdout), name)
    return shared.folder, shared.uri, out


@pytest.mark.slow
def test_a_tpe_sweep_report_has_optunas_figures(sweeps):
    tmp, _, out = sweeps
    page, name = out["tpe"]
    html = page.read_text()
    for fig in ("optuna_history", "optuna_importance", "optuna_parallel"):
        assert f'id="{fig}"' in html
    check_pngs([page.parent / f"{fig}.png" for fig in ("optuna_history", "optuna_importance",
                                                       "optuna_parallel")])
    assert 'id="optuna_pareto"' not in html  # one objective: no front of Optuna's
    assert f"Optuna study {name}" in html
    section = optuna_section(name, f"sqlite:///{tmp}/optuna.db", "best_val_acc")
    importance = section.figures["optuna_importance"]
    # fANOVA over what the smoke space varies (its embedding is fixed)
    assert set(importance.data[0].y) == {"num_layers", "hidden_size"}
    assert sum(importance.data[0].x) == pytest.approx(1.0, abs=0.02)
    study = optuna.load_study(study_name=name, storage=f"sqlite:///{tmp}/optuna.db")
    complete = [t for t in study.trials if t.state.name == "COMPLETE"]
    history = section.figures["optuna_history"]
    assert sorted(history.data[0].y) == sorted(t.value for t in complete)


@pytest.mark.slow
def test_an_nsga2_sweep_report_draws_optunas_pareto_front(sweeps):
    tmp, _, out = sweeps
    page, name = out["nsga2"]
    html = page.read_text()
    for fig in ("optuna_history", "optuna_importance", "optuna_parallel", "optuna_pareto"):
        assert f'id="{fig}"' in html
    section = optuna_section(name, f"sqlite:///{tmp}/optuna.db", "best_val_acc")
    pareto = section.figures["optuna_pareto"]
    assert pareto.layout.xaxis.title.text == "best_val_acc"
    assert pareto.layout.yaxis.title.text == "n_params"
    study = optuna.load_study(study_name=name, storage=f"sqlite:///{tmp}/optuna.db")
    drawn = {(x, y) for tr in pareto.data for x, y in zip(tr.x, tr.y, strict=True)}
    assert drawn == {tuple(t.values) for t in study.trials}


@pytest.mark.slow
def test_the_fronts_page_shows_each_sweep_and_their_combined_front(sweeps, tmp_path):
    from reports.__main__ import main

    _, uri, out = sweeps
    assert main(["--tracking-uri", uri, "--experiment-name", "searches", "--fronts",
                 "--out", str(tmp_path)]) == 0
    html = (tmp_path / "report.html").read_text()
    frame = pd.read_csv(tmp_path / "fronts.csv")
    assert frame["sweep"].nunique() == 2 and len(frame) == 8
    for _, name in out.values():  # each sweep has its trials and its front in the figure
        label = f"compound_scaling-{name.split('-')[1]}"
        assert f"{label} (" in html
    assert html.count(" front\"") >= 2 and "combined front" in html
    check_pngs([tmp_path / "fronts.png"])


@pytest.mark.slow
def test_fronts_refuses_other_options(sweeps, capsys):
    from reports.__main__ import main

    _, uri, _ = sweeps
    assert main(["--tracking-uri", uri, "--fronts", "--parent-run-id", "x"]) == 2
    assert "--fronts reads every sweep" in capsys.readouterr().err


def test_too_few_trials_give_a_sentence_not_a_figure(tmp_path):
    url = f"sqlite:///{tmp_path}/optuna.db"
    study = optuna.create_study(study_name="s", storage=url, direction="maximize")
    dist = {"num_layers": optuna.distributions.CategoricalDistribution([1, 2])}
    section = optuna_section("s", url, "best_val_acc")
    assert not section.figures and "has no completed trial" in section.notes[0]
    trial = study.ask(dist)
    study.tell(trial, 0.5)
    section = optuna_section("s", url, "best_val_acc")
    assert set(section.figures) == {"optuna_history"}
    assert "fANOVA needs at least 2 completed trials" in section.notes[0]
    study.enqueue_trial(trial.params)  # the same parameters again: nothing varies
    study.tell(study.ask(dist), 0.6)
    section = optuna_section("s", url, "best_val_acc")
    assert "with the same parameters" in section.notes[0]


def test_trials_that_all_score_the_same_give_a_sentence_not_an_importance(tmp_path):
    """Tiny trials at chance all score 0.5: fANOVA has no variance to explain (it raises)."""
    url = f"sqlite:///{tmp_path}/optuna.db"
    study = optuna.create_study(study_name="s", storage=url, direction="maximize")
    dist = {"num_layers": optuna.distributions.CategoricalDistribution([1, 2])}
    for layers in (1, 2, 1):
        study.enqueue_trial({"num_layers": layers})
        study.tell(study.ask(dist), 0.5)
    section = optuna_section("s", url, "best_val_acc")
    assert "optuna_importance" not in section.figures
    assert {"optuna_history", "optuna_parallel"} <= set(section.figures)
    assert "all 3 completed trials of study s scored the same best_val_acc (0.5)" in \
        section.notes[0]


def test_a_study_file_that_is_gone_is_said_and_not_created(tmp_path):
    section = optuna_section("s", f"sqlite:///{tmp_path}/optuna.db", "best_val_acc")
    assert "is not there" in section.notes[0] and not (tmp_path / "optuna.db").exists()


def test_hypervolume_of_a_front():
    pts = np.array([[1.0, 0.8], [2.0, 0.9], [2.5, 0.7]])  # the last is dominated
    assert hypervolume(pts, (3.0, 0.5)) == pytest.approx(1 * 0.3 + 1 * 0.4)
    assert hypervolume(np.array([[1.0, 2.0], [2.0, 1.0]]), (3.0, 5.0), "min") == \
        pytest.approx(1 * 3 + 1 * 4)
    assert hypervolume(np.array([[4.0, 0.9]]), (3.0, 0.5)) == 0.0  # beyond the reference


def test_fronts_frame_marks_each_sweeps_front_and_the_combined_one():
    def trials(rows):
        return pd.DataFrame([{"run_id": f"{n}", "run_name": n, "status": "finished",
                              "n_params": p, "best_val_acc": v} for n, p, v in rows])

    a = trials([("a1", 100, 0.7), ("a2", 200, 0.8), ("a3", 300, 0.75)])
    b = trials([("b1", 150, 0.72), ("b2", 400, 0.9)])
    frame = fronts_frame({"A": a, "B": b}, SENTIMENT)
    own = set(frame.loc[frame["on_front"], "run_name"])
    assert own == {"a1", "a2", "b1", "b2"}
    assert set(frame.loc[frame["on_combined"], "run_name"]) == {"a1", "b1", "a2", "b2"}
    shares = front_shares(frame, SENTIMENT).set_index("sweep")["hypervolume_share"]
    assert 0 < shares["A"] < 1 and 0 < shares["B"] < 1
