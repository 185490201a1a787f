"""The spoken-words study (S5) end to end on the built spoken digits (the default): a real Ray
instance, a real SQLite MLflow store, the real data; and its --dataset refusals before any work.
(Japanese Vowels is swept end to end as a time-series task: tests/test_series_sweep.py.)"""

from __future__ import annotations

import re

import pandas as pd
import pytest

from tests._sweeps import run_study, sweep_runs
from tests.test_speech_data import _need_tools

DIGITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


@pytest.fixture(scope="module")
def digits_smoke(tmp_path_factory):
    """The default dataset; the digits are built into the data cache on first use."""
    _need_tools()
    tmp = tmp_path_factory.mktemp("digits")
    uri = f"sqlite:///{tmp}/m.db"
    proc = run_study("speech_commands", "--smoke-test", "--tracking-uri", uri,
                     "--storage-path", str(tmp / "ray"), "--report-dir", str(tmp / "report"),
                     timeout=1800, cwd=tmp, own="the one sweep of this dataset")
    assert proc.returncode == 0, proc.stderr[-3000:]
    return tmp, uri, proc, *sweep_runs(uri)


@pytest.mark.slow
def test_digits_smoke_sweep_reports_synthetic_and_human_test_splits(digits_smoke):
    tmp, uri, proc, client, parent, children = digits_smoke
    assert parent.data.params["num_classes"] == "10"
    assert parent.data.params["data_source"].startswith("digits:")
    assert sorted(c.data.params["cell"] for c in children) == \
        ["gru", "lstm", "mgu", "rnn_relu", "rnn_tanh"]
    for child in children:
        assert child.data.tags["trial_status"] == "finished"
        assert child.data.params["dataset"] == "digits"
        m = child.data.metrics
        assert m["test_n"] > 0 and m["test_human_n"] == 20 and m["test_human_aug_n"] == 100
        assert {f"test_human_recall_{d}" for d in DIGITS} <= set(m)
        # each class's recall with its interval over that class's clips (2 per digit)
        assert {f"test_human_recall_{d}_ci_low" for d in DIGITS} <= set(m)
        assert all(m[f"test_human_support_{d}"] == 2 for d in DIGITS)
        confusion = [v for k, v in m.items() if k.startswith("test_human_confusion_")]
        assert sum(confusion) == 20 and m["best_val_loss"] > 0
    report = {a.path for a in client.list_artifacts(parent.info.run_id, "report")}
    assert {"report/report.html", "report/accuracy_table.csv", "report/confusion_human.csv",
            "report/confusion_human_aug.csv"} <= report
    table = (tmp / "report" / "accuracy_table.md").read_text().splitlines()[0]
    assert table.startswith("| cell | test uni (n=") and "| human test uni (n=20) |" in table
    assert "| human aug test uni (n=100) |" in table
    assert "Confusion matrix of the validation pick" in proc.stdout
    recall = pd.read_csv(tmp / "report" / "pick_recall.csv")
    assert "human test 95 % CI" in recall.columns and len(recall) == 10
    # the pick against the runner-up on the same test clips, and the human split's interval
    assert "Paired test comparison with the runner-up on validation: " in proc.stdout
    assert re.search(r"human test \d+ of 20 right \(95 % CI ", proc.stdout)
    # one-second epochs save faster than Ray's warning threshold: its repeated "may become a
    # bottleneck" warning is switched off outside --verbose
    assert "snapshotting has been triggered" not in proc.stderr


@pytest.mark.parametrize("value, fragment", [
    ("/no/such/folder", "/no/such/folder is neither digits, three_words, japanese_vowels"),
    ("{tmp}/clip.wav", "clip.wav is a file"),
    ("{tmp}", "has no word folders; expected Speech Commands v0.02's layout"),
])
def test_bad_dataset_refused_before_any_work(value, fragment, tmp_path):
    (tmp_path / "clip.wav").write_bytes(b"")
    proc = run_study("speech_commands", "--smoke-test", "--dataset",
                     value.format(tmp=tmp_path), "--tracking-uri",
                     f"sqlite:///{tmp_path}/m.db", "--storage-path", str(tmp_path / "ray"),
                     timeout=120, cwd=tmp_path, own="the one sweep of this dataset")
    assert proc.returncode == 2
    last = proc.stderr.strip().splitlines()[-1]
    assert "error:" in last and fragment in last, proc.stderr
    assert not (tmp_path / "ray").exists() and not (tmp_path / "m.db").exists()
