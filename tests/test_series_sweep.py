"""A time-series search end to end on a user's own `.ts` files (Japanese Vowels' TRAIN and TEST
as aeon's wheel ships them, copied out: 12 channels, series of 7-29 frames): a real Ray
instance, a real SQLite MLflow store; its child runs, report and registered model, which
predicts speakers from raw series; and a bad set name refused before any work. Reading a set
by its name is tested in tests/test_series.py."""

from __future__ import annotations

import zipfile

import pytest

from rnn_core.data.cache import pip_download
from rnn_core.data.series_sets import AEON_WHEEL, aeon_tables
from tests._sweeps import run_study, sweep_runs


@pytest.fixture(scope="module")
def series_smoke(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("series")
    wheel = pip_download(AEON_WHEEL, "aeon-1.6.0-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        for split in ("TRAIN", "TEST"):
            member = f"aeon/datasets/data/JapaneseVowels/JapaneseVowels_{split}.ts"
            (tmp / f"JapaneseVowels_{split}.ts").write_bytes(zf.read(member))
    uri = f"sqlite:///{tmp}/m.db"
    proc = run_study("search", "--task", "sequence_classification", "--data-path",
                     str(tmp / "JapaneseVowels_TRAIN.ts"), "--smoke-test", "--tracking-uri", uri,
                     "--storage-path", str(tmp / "ray"), "--report-dir", str(tmp / "report"),
                     "--precision", "fp32", cwd=tmp,
                     own="the one sweep of the time-series tasks (it replaced the speech "
                         "study's Japanese Vowels sweep)")
    assert proc.returncode == 0, proc.stderr[-3000:]
    return tmp, uri, proc, *sweep_runs(uri)


@pytest.mark.slow
def test_smoke_sweep_logs_trials_and_the_report(series_smoke):
    tmp, uri, proc, client, parent, children = series_smoke
    assert parent.data.tags["task"] == "sequence_classification"
    assert parent.data.tags["objective"] == "val_acc"
    assert parent.data.params["num_classes"] == "9" and parent.data.params["num_features"] == "12"
    assert parent.data.params["data_source"] == str((tmp / "JapaneseVowels_TRAIN.ts").resolve())
    assert len(children) == 3
    finished = [c for c in children if c.data.tags["trial_status"] == "finished"]
    assert finished, [c.data.tags["trial_status"] for c in children]
    for child in children:
        m = child.data.metrics
        assert 0 <= m["val_acc"] <= 1 and 0 <= m["val_f1"] <= 1
    for child in finished:
        m = child.data.metrics
        assert m["test_n"] == 370 and 0 <= m["test_acc"] <= 1 and 0 <= m["test_f1"] <= 1
        recalls = [k for k in m if k.startswith("test_recall_") and not k.endswith("_ci_low")
                   and not k.endswith("_ci_high")]
        assert len(recalls) == 9 and all(f"{k}_ci_low" in m for k in recalls)
        hist = client.get_metric_history(child.info.run_id, "val_acc")
        assert [h.step for h in hist] == [1, 2]
    report = {a.path for a in client.list_artifacts(parent.info.run_id, "report")}
    assert {"report/report.html", "report/study_table.csv", "report/trials.csv"} <= report
    table = (tmp / "report" / "study_table.md").read_text()
    assert table.splitlines()[0].startswith("| cell | bidirectional | num_layers | hidden_size |")
    assert "test_acc" in table.splitlines()[0]
    assert "The validation pick is" in proc.stdout


@pytest.mark.slow
def test_registered_model_predicts_speakers_from_raw_series(series_smoke, monkeypatch):
    import mlflow.pyfunc
    import pandas as pd

    tmp, uri, proc, client, parent, children = series_smoke
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    model = mlflow.pyfunc.load_model(
        "models:/search_sequence_classification-smoke@champion")
    _, test = aeon_tables("JapaneseVowels", "classification")
    raw = [s.tolist() for s in test.series[:3]]  # frames of 12 LPC cepstra, as published
    out = model.predict(pd.DataFrame({"series": [*raw, [1.0, 2.0], None]}))
    assert list(out.columns) == ["label", "probability", "frames", "note"]
    assert set(out["label"][:3]) <= {str(c) for c in range(1, 10)}
    assert (out["probability"][:3] > 0).all() and out["frames"][:3].tolist() == \
        [len(s) for s in raw]
    assert out["note"][3].startswith("row 3: expected a list of frames of 12 numbers each")
    assert out["note"][4] == "row 4: the series is empty (missing)"
    assert "models:/search_sequence_classification-smoke@champion" in proc.stdout


def test_unknown_set_refused_before_any_work(tmp_path):
    proc = run_study("search", "--task", "sequence_classification", "--dataset", "Nope",
                     "--smoke-test", "--tracking-uri", f"sqlite:///{tmp_path}/m.db",
                     "--storage-path", str(tmp_path / "ray"), cwd=tmp_path, timeout=120,
                     own="a refusal before any work")
    assert proc.returncode == 2, proc.stderr[-2000:]
    last = proc.stderr.strip().splitlines()[-1]
    assert "--dataset Nope: no such bundled classification set; valid: ACSF1" in last
    assert not (tmp_path / "ray").exists()
