from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from reports.build import write_report
from reports.findings import findings, seed_sentence, seed_spread, validation_pick
from reports.frames import (
    model_picks,
    pareto_frame,
    study_table,
    sweep_accounting,
    to_markdown,
    trials_frame,
)
from reports.page import fmt
from reports.plots import plot_heatmap
from rnn_core.tasks import LANGUAGE_MODEL, SENTIMENT


def _runs() -> pd.DataFrame:
    rows = [  # name, layers, hidden, emb, params, best_val, test, status
        ("a", 1, 100, 32, 1_000, 0.80, 0.79, "finished"),
        ("b", 2, 100, 32, 2_000, 0.85, 0.84, "finished"),
        ("c", 2, 200, 32, 3_000, 0.83, np.nan, "stopped_early"),  # dominated by b
        ("d", 3, 300, 128, 9_000, 0.86, 0.85, "finished"),
        ("e", 3, 100, 64, 2_000, 0.85, np.nan, "stopped_early"),  # ties b: not strictly better
        ("f", 1, 300, 64, np.nan, np.nan, np.nan, "failed"),
    ]
    return pd.DataFrame([{
        "run_id": f"id-{n}", "run_name": n, "param.num_layers": str(layer),
        "param.hidden_size": str(h), "param.embedding_dim": str(e), "param.cell": "lstm",
        "n_params": p, "best_val_acc": v, "test_acc": t, "status": s, "epochs_run": 1,
        "error": "boom" if s == "failed" else ""} for n, layer, h, e, p, v, t, s in rows])


def test_pareto_front_keeps_only_undominated_trials():
    front = pareto_frame(trials_frame(_runs(), SENTIMENT), y=SENTIMENT.best_metric, mode="max")
    assert sorted(front.loc[front["on_front"], "run_name"]) == ["a", "b", "d"]
    assert not front.loc[front["run_name"] == "f", "on_front"].item()  # no metrics: never


def test_model_picks_put_the_validation_pick_first_then_the_rest_of_the_front():
    assert model_picks(trials_frame(_runs(), SENTIMENT), SENTIMENT) == ["id-d", "id-a", "id-b"]
    failed = _runs().assign(status="failed")
    assert model_picks(trials_frame(failed, SENTIMENT), SENTIMENT) == []


def test_trials_frame_types_params():
    df = trials_frame(_runs(), SENTIMENT)
    assert df["num_layers"].dtype.name == "Int64"
    assert set(df["status"]) == {"finished", "stopped_early", "failed"}


def test_study_table_matches_reference_columns():
    table = study_table(trials_frame(_runs(), SENTIMENT), SENTIMENT)
    assert list(table.columns[:5]) == ["num_layers", "hidden_size", "embedding_dim",
                                       "test_num_params", "test_acc"]
    assert table.iloc[0]["test_acc"] == 0.85
    md = to_markdown(table)
    assert md.splitlines()[0].startswith("| num_layers | hidden_size")
    assert "9,000" in md


def test_write_report_files(tmp_path):
    history = pd.DataFrame({"run_id": ["id-a", "id-a", "id-c"], "run_name": ["a", "a", "c"],
                            "epoch": [1, 2, 1], "val_acc": [0.7, 0.8, 0.83]})
    summary = write_report(_runs(), history, tmp_path, task=SENTIMENT, title="unit", pngs=False,
                           reference={"metric": "test_acc", "value": 0.88, "source": "S3"})
    for name in ("report.html", "study_table.csv", "study_table.md", "trials.csv"):
        assert (tmp_path / name).stat().st_size > 0
    html = (tmp_path / "report.html").read_text()
    for part in ('id="pareto"', 'id="curves"', 'id="heatmap"', 'id="findings"',
                 "Failed trials", "<td class=num>9,000</td>", "<tr class='pick'><td>d</td>"):
        assert part in html, part
    assert "a 1,000 -> 0.8000; b 2,000 -> 0.8500; d 9,000 -> 0.8600" in summary
    # no test count logged (runs from before intervals): the figure says it has none
    assert "The validation pick is d (9,000 parameters): best validation acc 0.8600, " \
        "test acc 0.8500 (no interval: n not logged)." in summary
    assert "test acc 0.8800; the validation pick here: 0.8500 (no interval: n not logged) " \
        "(-3.0 points)." in summary
    assert "failed trials: f" in summary


def test_every_test_figure_carries_its_interval_and_n(tmp_path):
    runs = _runs().assign(test_n=2000)  # Wilson from the count where no bounds were logged
    runs.loc[runs["run_name"] == "d", ["test_acc_ci_low", "test_acc_ci_high"]] = [0.834, 0.865]
    history = pd.DataFrame({"run_id": ["id-d"], "run_name": ["d"], "epoch": [1],
                            "val_acc": [0.86]})
    summary = write_report(runs, history, tmp_path, task=SENTIMENT, title="unit",
                           pngs=False, reference={"metric": "test_acc", "value": 0.88,
                                                  "source": "S3"})
    assert "test acc 0.8500 (95 % CI 0.8340-0.8650, n = 2,000)." in summary
    assert "(-3.0 points; the reference lies outside its 95 % interval)" in summary
    table = pd.read_csv(tmp_path / "study_table.csv")
    row = table[table["test_acc"] == 0.79].iloc[0]  # a: 1,580 of 2,000 (scipy 0.7716-0.8073)
    assert row["test_95ci"] == "0.7716-0.8073" and row["test_n"] == 2000
    assert table[table["test_acc"].isna()]["test_95ci"].isna().all()


def test_a_failed_trial_is_never_the_pick_whatever_it_reported():
    runs = _runs()
    runs.loc[runs["run_name"] == "f", ["best_val_acc", "n_params"]] = [0.99, 500]
    trials = trials_frame(runs, SENTIMENT)
    assert validation_pick(trials, SENTIMENT)["run_name"] == "d"
    assert model_picks(trials, SENTIMENT)[0] == "id-d"


def test_group_picks_show_the_validation_pick_of_each_group_not_its_best_test():
    from reports.frames import group_picks

    # two cells, three trials each; in each cell the best on test is not best on validation
    rows = [("lstm", "l1", 0.80, 0.90), ("lstm", "l2", 0.85, 0.70), ("lstm", "l3", 0.70, 0.95),
            ("gru", "g1", 0.82, 0.99), ("gru", "g2", 0.84, 0.60), ("gru", "g3", 0.83, 0.98)]
    trials = pd.DataFrame([{"cell": c, "run_name": n, "best_val_acc": v, "test_acc": t,
                            "n_params": 10, "status": "finished"} for c, n, v, t in rows])
    picks = group_picks(trials, SENTIMENT, "cell").set_index("cell")
    assert picks.loc["lstm", "run_name"] == "l2" and picks.loc["lstm", "test_acc"] == 0.70
    assert picks.loc["gru", "run_name"] == "g2" and picks.loc["gru", "test_acc"] == 0.60


def test_the_winner_is_picked_on_validation_never_on_test():
    runs = _runs()
    runs.loc[runs["run_name"] == "a", "test_acc"] = 0.99  # best on test, worst on validation
    trials = trials_frame(runs, SENTIMENT)
    assert validation_pick(trials, SENTIMENT)["run_name"] == "d"
    said = findings(trials, pareto_frame(trials, y=SENTIMENT.best_metric, mode="max"), SENTIMENT)
    assert any(s.startswith("The validation pick is d ") for s in said)
    assert not any("0.9900" in s for s in said)
    # lower is better for perplexity; ties go to the smaller model
    lm = pd.DataFrame({"run_name": ["x", "y", "z"], "n_params": [3, 2, 1],
                       "best_val_ppl": [120.0, 110.0, 110.0], "test_ppl": [90.0, 100.0, 101.0],
                       "status": "finished", "epochs_run": 6})
    assert validation_pick(lm, LANGUAGE_MODEL)["run_name"] == "z"


def test_heatmap_spans_layers_by_hidden_per_embedding():
    fig = plot_heatmap(trials_frame(_runs(), SENTIMENT), "best_val_acc")
    assert [t.type for t in fig.data] == ["heatmap"] * 3  # embedding 32, 64, 128
    z32 = fig.data[0].z  # layers 1..3 x hidden 100, 200, 300 at embedding 32
    assert z32[0][0] == 0.80 and z32[1][0] == 0.85 and z32[1][1] == 0.83
    assert np.isnan(z32[2][2])
    assert plot_heatmap(trials_frame(_runs(), SENTIMENT).drop(columns=["hidden_size"]),
                        "best_val_acc") is None


def test_fmt_separates_thousands_and_blanks_missing():
    assert [fmt(v) for v in (1350474, 0.88061, float("nan"), None, True, 252.04)] == \
        ["1,350,474", "0.8806", "", "", "yes", "252.0400"]


def test_sweep_accounting_replays_trials_on_free_slots():
    # a: 10+10 s, b: 5 s + 2 s test, c: 4 s, d (no history: failed before an epoch): 0 s
    runs = pd.DataFrame({"run_id": ["a", "b", "c", "d"], "start_time": [1.0, 2.0, 3.0, 4.0],
                         "test_seconds": [np.nan, 2.0, np.nan, np.nan]})
    history = pd.DataFrame({"run_id": ["a", "a", "b", "c"], "epoch": [1, 2, 1, 1],
                            "epoch_seconds": [10.0, 10.0, 5.0, 4.0]})
    acc = sweep_accounting(runs, history, slots=2)
    assert acc["compute_s"] == 31.0 and acc["test_s"] == 2.0 and acc["trials"] == 4
    # slot 1: a (20); slot 2: b (7) then c (11) then d (11): makespan 20
    assert acc["loop_makespan_s"] == 20.0
    # one slot runs everything back to back; start order, not row order, decides on 2 slots
    assert sweep_accounting(runs, history, slots=1)["loop_makespan_s"] == 31.0
    late_a = runs.assign(start_time=[9.0, 1.0, 2.0, 3.0])
    assert sweep_accounting(late_a, history, slots=2)["loop_makespan_s"] == 24.0
    # longest first: a (20) | b (7), c (11), d: 20 in any start order
    assert sweep_accounting(late_a, history, slots=2)["loop_longest_first_s"] == 20.0


def test_a_grid_repeated_over_seeds_reports_each_configs_spread(tmp_path):
    runs = _runs()
    repeats = []
    for seed, shift in ((0, 0.0), (1, -0.02), (2, 0.01)):
        r = runs.copy()
        r["run_name"] = r["run_name"] + f"-s{seed}"
        r["run_id"] = r["run_id"] + f"-{seed}"
        r["best_val_acc"] = r["best_val_acc"] + shift
        repeats.append(r)
    trials = trials_frame(pd.concat(repeats, ignore_index=True), SENTIMENT)
    spread = seed_spread(trials, SENTIMENT)
    d = spread[spread["config"] == "d"].iloc[0]
    assert d["trials"] == 3 and d["mean"] == pytest.approx(0.8567, abs=1e-4)
    assert d["sd"] == pytest.approx(np.std([0.86, 0.84, 0.87], ddof=1))
    assert spread["config"].iloc[0] == "d"  # the best mean first
    said = seed_sentence(spread, SENTIMENT)
    assert said.startswith("Over seeds, mean best validation acc ± its standard deviation: "
                           "d 0.8567 ± 0.0153 (3 seeds)")
    assert seed_spread(trials_frame(_runs(), SENTIMENT), SENTIMENT).empty  # no repeats, no table
    write_report(pd.concat(repeats, ignore_index=True), pd.DataFrame(
        columns=["run_id", "run_name", "epoch", "val_acc"]), tmp_path, task=SENTIMENT,
        pngs=False)
    assert "Spread over seeds" in (tmp_path / "report.html").read_text()


def test_a_validation_tie_goes_to_the_lower_validation_loss_where_logged():
    runs = _runs()
    runs["best_val_acc"] = 0.86  # every finished trial ties
    runs["best_val_loss"] = [0.5, 0.3, 0.4, 0.2, 0.6, float("nan")][:len(runs)]
    trials = trials_frame(runs, SENTIMENT)
    ok = trials[trials["status"] != "failed"]
    best = ok.sort_values("best_val_loss").iloc[0]
    assert validation_pick(trials, SENTIMENT)["run_name"] == best["run_name"]
    assert model_picks(trials, SENTIMENT)[0] == best["run_id"]


def test_every_study_has_its_report_in_the_one_registry():
    """Each study script's sweep (named as its script) and the coefficient study are listed;
    a sweep of an unlisted study gets the general report."""
    from pathlib import Path

    from reports.build import build_report
    from reports.studies import STUDIES, report_builder

    scripts = {p.stem for p in (Path(__file__).parents[1] / "sweeps").glob("[a-z]*.py")}
    # search.py's studies are search_<task>, any task: the general report
    assert scripts - {"search"} | {"compound_coefficients"} == set(STUDIES)
    assert report_builder("search_text_classification") is build_report
    assert all(callable(report_builder(study)) for study in STUDIES)
    assert report_builder("cell_comparison").__name__ == "build_cell_report"
    assert report_builder(None) is build_report and report_builder("faults") is build_report


def test_a_language_model_report_reads_the_pick_against_the_same_split_trigram(tmp_path):
    from reports.baselines import kn_baseline

    runs = pd.DataFrame([{
        "run_id": f"id-{n}", "run_name": n, "param.cell": c, "param.dropout": "0.0",
        "param.num_layers": "2", "param.hidden_size": "200", "n_params": 3_133_590,
        "best_val_ppl": v, "test_ppl": t, "test_ppl_ci_low": t - 2, "test_ppl_ci_high": t + 2,
        "test_n": 7_000, "train_ppl": v + 40, "status": "finished", "epochs_run": 6,
        "error": ""} for n, c, v, t in (("gru", "gru", 130.2, 117.8),
                                         ("lstm", "lstm", 162.8, 150.1))])
    history = pd.DataFrame({"run_id": ["id-gru"], "run_name": ["gru"], "epoch": [1],
                            "val_ppl": [130.2]})
    # the parent run's params, as MLflow returns them: text
    params = {"kn3_val_ppl": "171.5", "kn3_test_ppl": "157.06", "kn3_test_ppl_ci_low": "153.2",
              "kn3_test_ppl_ci_high": "161.0", "kn3_test_n": "7000",
              "kn3_train_tokens": "835522", "kn3_discount": "0.75"}
    summary = write_report(runs, history, tmp_path, task=LANGUAGE_MODEL, title="unit",
                           pngs=False, baseline=kn_baseline(params))
    assert ("Same-split interpolated Kneser-Ney trigram (D = 0.75, counted on the 835,522 "
            "training tokens the trials train on): test perplexity 157.1 (95 % CI 153.2-161.0, "
            "n = 7,000 sentences), validation 171.5; the validation pick's test perplexity "
            "117.8 is 25 % below it (ratio 0.75; Bengio et al. 2003: 252 / 312 = 0.81)."
            ) in summary
    html = (tmp_path / "report.html").read_text()
    assert ("<tr><td>KN trigram (same split)</td>" + "<td></td>" * 6
            + "<td class=num>157.0600</td><td>153.20-161.00</td>"
            "<td class=num>7,000</td><td class=num>171.5000</td><td></td><td>baseline</td>"
            "</tr>") in html
    assert "<td class=num>3,133,590</td>" in html and "<td class=num>6</td>" in html
    # the CSV keeps the trials only; a sweep without the params gets no sentence
    assert len(pd.read_csv(tmp_path / "study_table.csv")) == 2
    assert kn_baseline({"preset": "quick"}) is None
