"""The spoken-words report: the validation pick (ties on accuracy broken by validation loss),
the accuracy table on each test split with its clip counts, and the pick's confusion matrix
on human speech, from runs as MLflow returns them."""

from __future__ import annotations

import pandas as pd

from reports.frames import model_picks, trials_frame, validation_pick
from reports.speech import (
    accuracy_table,
    confusion_frame,
    recall_frame,
    speech_frame,
    write_speech_report,
)
from rnn_core.tasks import AUDIO


def _runs() -> pd.DataFrame:
    """Three digit trials; two tie at 1.0 on validation, the larger one with the lower loss."""
    rows = []
    for name, cell, bi, val, loss, params, human in (
            ("gru-L3-H32-bi", "gru", "True", 1.0, 0.05, 50_000, 0.9),
            ("rnn_tanh-L3-H32", "rnn_tanh", "False", 1.0, 0.20, 7_000, 0.6),
            ("lstm-L3-H32", "lstm", "False", 0.9, 0.01, 26_000, 0.8)):
        row = {"run_id": f"id-{name}", "run_name": name, "param.cell": cell,
               "param.backend": "scratch", "param.bidirectional": bi, "param.dataset": "digits",
               "best_val_acc": val, "best_val_loss": loss, "test_acc": val - 0.05,
               "test_n": 540.0, "test_human_acc": human, "test_human_n": 20.0,
               "test_human_aug_acc": human - 0.1, "test_human_aug_n": 100.0,
               "n_params": params, "epoch_seconds": 2.0, "epochs_run": 4,
               "status": "finished"}
        rows.append(row)
    runs = pd.DataFrame(rows)
    # the pick's confusion on the 20 human clips: "two" once heard as "three", "zero" once
    # as "nine"; the rest right
    confusion = {"zero__zero": 1, "zero__nine": 1, "one__one": 2, "two__two": 1,
                 "two__three": 1, "three__three": 2, "nine__nine": 2,
                 **{f"{d}__{d}": 2 for d in ("four", "five", "six", "seven", "eight")}}
    for key, n in confusion.items():
        runs.loc[0, f"test_human_confusion_{key}"] = float(n)
    for d in ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"):
        runs.loc[0, f"test_human_recall_{d}"] = confusion[f"{d}__{d}"] / 2
        runs.loc[0, f"test_human_support_{d}"] = 2.0
    return runs


def test_a_tie_on_validation_accuracy_goes_to_the_lower_validation_loss():
    runs = _runs()
    assert validation_pick(speech_frame(runs), AUDIO)["run_name"] == "gru-L3-H32-bi"
    trials = trials_frame(runs, AUDIO)
    assert validation_pick(trials, AUDIO)["run_name"] == "gru-L3-H32-bi"
    # the registered model is the same trial, though the smaller tied one dominates it on
    # the Pareto front
    assert model_picks(trials, AUDIO)[0] == "id-gru-L3-H32-bi"
    assert "id-rnn_tanh-L3-H32" in model_picks(trials, AUDIO)
    # without a loss (tasks that do not log one) the tie goes to fewer parameters
    assert validation_pick(trials.drop(columns="best_val_loss"), AUDIO)["run_name"] == \
        "rnn_tanh-L3-H32"
    assert speech_frame(runs)["run_name"].tolist() == [
        "gru-L3-H32-bi", "rnn_tanh-L3-H32", "lstm-L3-H32"]


def test_confusion_matrix_of_the_pick_on_human_speech(tmp_path):
    runs = _runs()
    confusion = confusion_frame(runs, "gru-L3-H32-bi")
    digits = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
    assert confusion.columns.tolist() == ["true \\ predicted", *digits]
    counts = confusion.set_index("true \\ predicted")
    assert counts.index.tolist() == digits and int(counts.to_numpy().sum()) == 20
    assert counts.loc["two", "three"] == 1 and counts.loc["zero", "nine"] == 1
    assert counts.loc["one", "one"] == 2 and counts.loc["three", "two"] == 0
    assert confusion_frame(runs, "lstm-L3-H32").empty  # logged none

    summary = write_speech_report(runs, tmp_path, pngs=False)
    table = accuracy_table(speech_frame(runs))
    assert "human aug test uni (n=100)" in table.columns
    # 18 of 20 human clips: counted, with the interval that says how little 20 clips can
    # pin down
    assert "human test 18 of 20 right (95 % CI 0.70-0.97)" in summary
    assert "human aug test 80 of 100 right (95 % CI 0.71-0.87)" in summary
    assert "test acc 0.9500 (95 % CI 0.9282-0.9654, n = 540)" in summary
    gru = table.set_index("cell").loc["gru"]
    assert gru["human test bi (n=20)"] == "18/20" and gru["human test bi 95 % CI"] == "0.70-0.97"
    assert gru["human aug test bi (n=100)"] == "80/100"
    assert "| 18/20 | 0.70-0.97 |" in summary
    recall = recall_frame(runs, "gru-L3-H32-bi").set_index("class")["human test"]
    assert recall["zero"] == "1/2" and recall["one"] == "2/2"  # of each digit's 2 clips
    assert "validation acc 1.0000 (loss 0.0500)" in summary
    assert "Confusion matrix of the validation pick (gru-L3-H32-bi) on the human test " \
           "(20 clips)" in summary
    saved = pd.read_csv(tmp_path / "confusion_human.csv")
    assert saved.columns.tolist() == confusion.columns.tolist()
    html = (tmp_path / "report.html").read_text()
    assert 'id="confusion_human"' in html and "<tr class='pick'><td>gru</td>" in html


def test_accuracy_chart_names_each_split_with_its_clip_count():
    """20 human clips and 540 synthetic ones are not read alike: the legend says which is
    which; the bars carry no text over their heights."""
    from reports.speech import plot_accuracy

    fig = plot_accuracy(speech_frame(_runs()))
    names = {t.name for t in fig.data}
    assert {"test uni (n=540)", "test bi (n=540)", "human test uni (n=20)",
            "human test bi (n=20)", "human aug test bi (n=100)"} <= names
    assert all(t.textposition == "none" for t in fig.data)
