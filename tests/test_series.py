"""Time series of one's own: the .ts, Parquet and NumPy readers, their refusals (one sentence
naming the file and the line or row), the splits, aeon's sets by name, the regression and
classification trainers on tiny sets and the raw-series predictor (no sweep)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from rnn_core.data.series import read_npz, read_parquet, read_series, read_ts
from rnn_core.data.series_sets import (
    SPLIT_FRACTIONS,
    aeon_tables,
    build_set,
    load_series_set,
    resolve_files,
)
from rnn_core.errors import ConfigError, DataError
from rnn_core.tasks import get_task, train
from rnn_core.tasks._series_serve import SeriesPredictor, read_value
from rnn_core.tasks._series_train import regression_metrics

CLASSIFY = get_task("sequence_classification")
REGRESS = get_task("sequence_regression")

UNI = ("# a comment\n@problemName uni\n@univariate true\n@classLabel true a b\n@data\n"
       "1,2,3,4:a\n2,3,4,5:b\n")
MULTI = ("@problemName multi\n@dimensions 2\n@equalLength false\n@classLabel true x y\n@data\n"
         "1,2,3:4,5,6:x\n7,8:9,10:y\n")
TARGET = "@problemName reg\n@targetLabel true\n@data\n1,2,3:0.5\n4,5:1.5e1\n"


def _ts(tmp_path, text, name="f.ts"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_ts_univariate_multivariate_and_varying_length():
    uni = read_ts(UNI, "u.ts")
    assert uni.classes == ["a", "b"] and uni.labels == ["a", "b"] and uni.channels == 1
    assert uni.series[0][:, 0].tolist() == [1, 2, 3, 4]
    multi = read_ts(MULTI, "m.ts")
    assert [s.shape for s in multi.series] == [(3, 2), (2, 2)]
    assert multi.series[0][:, 1].tolist() == [4, 5, 6] and multi.rows == ["line 6", "line 7"]


def test_ts_regression_targets_are_numbers():
    table = read_ts(TARGET, "r.ts", "regression")
    assert table.labels == [0.5, 15.0] and table.classes is None


def test_ts_missing_values_interpolated_on_request():
    text = "@classLabel true a b\n@data\n1,?,3,NaN:a\n1,2:b\n"
    with pytest.raises(DataError, match=r"r\.ts line 3: channel 1 has a missing value at time "
                                        r"step 2; fill it in, or give --missing interpolate"):
        read_ts(text, "r.ts")
    table = read_ts(text, "r.ts", missing="interpolate")
    assert table.series[0][:, 0].tolist() == [1, 2, 3, 3]


@pytest.mark.parametrize("kind, text, fragment", [
    ("classification", "", "holds no @data rows"),
    ("classification", "@classLabel true a\n@data\n1,x:a\n", "line 3: channel 1 holds 'x' at "
     "time step 2, which is not a number"),
    ("classification", "@dimensions 2\n@classLabel true a\n@data\n1,2:3:a\n",
     "line 4: its channels have different lengths ([2, 1])"),
    ("classification", "@dimensions 2\n@classLabel true a\n@data\n1,2:a\n",
     "line 4: expected 2 channels (@dimensions), found 1"),
    ("classification", "@classLabel true a b\n@data\n1:2:a\n1:b\n", "line 4: 1 channels, where "
     "the first series has 2"),
    ("classification", "@classLabel true a\n@data\n1,2:z\n", "line 3: label 'z' is outside "
     "@classLabel a"),
    ("classification", "@classLabel false\n@data\n1,2:a\n", "declares no @classLabel, so its "
     "series have no labels"),
    ("classification", TARGET, "use --task sequence_regression"),
    ("regression", UNI, "use --task sequence_classification"),
    ("regression", "@targetLabel true\n@data\n1,2:high\n", "line 3: the target 'high' is not a "
     "number"),
    ("regression", "@targetLabel true\n@data\n1,2:?\n", "line 3: has no label"),
    ("classification", "@classLabel true a\n@data\n1,inf:a\n", "line 3: holds an infinite"),
    ("classification", "@timestamps true\n@classLabel true a\n@data\n(0,1):a\n",
     "@timestamps true is not read"),
    ("classification", "@classLabel true a\n@data\n1,2\n", "line 3: expected channels "
     "separated by ':'"),
    ("classification", "@classLabel true a\n@data\n:a\n", "line 3: channel 1 is empty"),
])
def test_bad_ts_refused_naming_file_and_line(kind, text, fragment):
    with pytest.raises(DataError) as err:
        read_ts(text, "/data/mine_TRAIN.ts", kind)
    message = str(err.value)
    assert message.startswith("/data/mine_TRAIN.ts") and fragment in message, message
    assert "\n" not in message


def _parquet(tmp_path, rows, name="s.parquet"):
    path = tmp_path / name
    pd.DataFrame(rows).to_parquet(path)
    return path


def test_parquet_one_row_per_series_channels_as_lists(tmp_path):
    path = _parquet(tmp_path, {"label": ["up", "down"], "x": [[1.0, 2.0, 3.0], [3.0, 2.0]],
                               "y": [[0.0, 0.5, 1.0], [1.0, 0.0]]})
    table = read_series(path, "classification")
    assert table.labels == ["up", "down"] and [s.shape for s in table.series] == [(3, 2), (2, 2)]
    assert table.series[1][:, 0].tolist() == [3, 2]
    reg = _parquet(tmp_path, {"value": [1.5, 2], "x": [[1.0], [2.0]]}, "r.parquet")
    assert read_parquet(reg, "regression", label_column="value").labels == [1.5, 2.0]


@pytest.mark.parametrize("rows, kind, fragment", [
    ({"x": [[1.0]], "z": [[2.0]]}, "classification", "has no label column (label, target, "
     "class, y)"),
    ({"label": ["a", "b"], "x": [[1.0, 2.0], [3.0]], "w": [1.0, 2.0]}, "classification",
     "row 0: column 'w' holds '1.0'; expected a list of numbers"),
    ({"label": ["a", "b"], "x": [[1.0, 2.0], None]}, "classification",
     "row 1: column 'x' holds 'None'; expected a list of numbers"),
    ({"label": ["a", "b"], "x": [[1.0, 2.0], [1.0]], "y": [[1.0, 2.0], [1.0, 2.0]]},
     "classification", "row 1: its channels have different lengths ([1, 2])"),
    ({"label": ["a", "b"], "x": [[1.0, 2.0], [1.0, float("nan")]]}, "classification",
     "row 1: channel 1 has a missing value at time step 2"),
    ({"label": ["a", "b"], "x": [["1", "2"], ["1", "two"]]}, "classification",
     "row 1: channel 1 holds 'two' at time step 2, which is not a number"),
    ({"target": ["1.5", "lots"], "x": [[1.0], [2.0]]}, "regression",
     "row 1: the target 'lots' is not a number"),
    ({"label": ["a", None], "x": [[1.0], [2.0]]}, "classification", "row 1: has no label"),
])
def test_bad_parquet_refused_naming_file_and_row(tmp_path, rows, kind, fragment):
    path = _parquet(tmp_path, rows)
    with pytest.raises(DataError) as err:
        read_series(path, kind)
    assert str(err.value).startswith(str(path)) and fragment in str(err.value), str(err.value)


def test_npz_equal_length_univariate_and_object_arrays(tmp_path):
    np.savez(tmp_path / "a.npz", X=np.arange(24.0).reshape(2, 4, 3), y=np.array([0, 1]))
    table = read_npz(tmp_path / "a.npz", "classification")
    assert [s.shape for s in table.series] == [(4, 3), (4, 3)] and table.labels == ["0", "1"]
    np.savez(tmp_path / "u.npz", X=np.ones((3, 5)), y=np.array([0.5, 1.0, 2.0]))
    assert read_npz(tmp_path / "u.npz", "regression").series[0].shape == (5, 1)
    ragged = np.empty(2, dtype=object)
    ragged[0], ragged[1] = np.ones((3, 2)), np.zeros((5, 2))
    np.savez(tmp_path / "o.npz", X=ragged, y=np.array(["a", "b"]))
    assert [s.shape for s in read_npz(tmp_path / "o.npz", "classification").series] == \
        [(3, 2), (5, 2)]


@pytest.mark.parametrize("arrays, kind, fragment", [
    ({"X": np.ones((2, 3))}, "classification", "holds ['X']; expected arrays X (the series) "
     "and y"),
    ({"X": np.ones((2, 3)), "y": np.array([1])}, "classification", "y has shape (1,); "
     "expected one label per series of X (2)"),
    ({"X": np.array([[1.0, np.nan], [1.0, 2.0]]), "y": np.array([0, 1])}, "classification",
     "row 0: channel 1 has a missing value at time step 2"),
    ({"X": np.array([["1", "x"], ["1", "2"]]), "y": np.array([0, 1])}, "classification",
     "row 0: X holds a value that is not a number"),
    ({"X": np.ones((2, 3)), "y": np.array(["1", "n/a"])}, "regression",
     "row 1: the target 'n/a' is not a number"),
])
def test_bad_npz_refused_naming_file_and_row(tmp_path, arrays, kind, fragment):
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    with pytest.raises(DataError) as err:
        read_series(path, kind)
    assert str(err.value).startswith(str(path)) and fragment in str(err.value), str(err.value)


def _many(n_per_class=20, classes=("a", "b", "c")):
    rows = [f"{','.join(str(j + k) for j in range(5 + k % 3))}:{c}"
            for k in range(n_per_class) for c in classes]
    return "@classLabel true " + " ".join(classes) + "\n@data\n" + "\n".join(rows) + "\n"


def test_one_file_is_split_7_1_2_seeded_and_stratified(tmp_path):
    path = _ts(tmp_path, _many())
    data = load_series_set(str(path), None, "classification", seed=0)
    sizes = {k: len(s) for k, s in data.splits.items()}
    assert sizes == {"train": 42, "val": 6, "test": 12}
    assert sum(sizes.values()) == 60 and SPLIT_FRACTIONS == (0.7, 0.1, 0.2)
    for split in data.splits.values():
        assert np.bincount(split.labels).tolist() == [len(split) // 3] * 3
    again = load_series_set(str(path), None, "classification", seed=0)
    other = load_series_set(str(path), None, "classification", seed=1)
    assert np.array_equal(again.splits["val"].frames, data.splits["val"].frames)
    assert not np.array_equal(other.splits["test"].frames, data.splits["test"].frames)


def test_train_test_pair_keeps_test_and_draws_validation_from_train(tmp_path):
    _ts(tmp_path, _many(10), "mine_TRAIN.ts")
    _ts(tmp_path, _many(4), "mine_TEST.ts")
    for given in (tmp_path, tmp_path / "mine_TRAIN.ts"):
        data = load_series_set(str(given), None, "classification", seed=0)
        assert {k: len(s) for k, s in data.splits.items()} == {"train": 24, "val": 6,
                                                               "test": 12}
    assert resolve_files(str(tmp_path / "mine_TRAIN.ts"))[1] == tmp_path / "mine_TEST.ts"
    with pytest.raises(DataError, match="expected one \\*_TRAIN and \\*_TEST pair"):
        resolve_files(str(tmp_path / "nothing_here") if False else str(tmp_path.parent))


def test_single_class_and_unknown_test_class_refused(tmp_path):
    one = read_ts("@classLabel true a b\n@data\n1,2:a\n3,4:a\n", "one.ts")
    with pytest.raises(DataError, match=r"one\.ts holds one class \('a'\) only"):
        build_set(one, None, "classification", 0, "x")
    train = read_series(_parquet(tmp_path, {"label": ["a", "b"] * 5, "x": [[1.0, 2.0]] * 10}),
                        "classification")
    test = read_series(_parquet(tmp_path, {"label": ["z"], "x": [[1.0]]}, "t.parquet"),
                       "classification")
    with pytest.raises(DataError, match="t.parquet has class 'z', which .* does not declare"):
        build_set(train, test, "classification", 0, "x")


def test_aeon_sets_by_name():
    train, test = aeon_tables("JapaneseVowels", "classification")
    assert len(train.series) == 270 and len(test.series) == 370 and train.channels == 12
    with pytest.raises(ConfigError, match="no such bundled classification set; valid: ACSF1, "
                                          "ArrowHead, BasicMotions"):
        aeon_tables("Nope", "classification")
    with pytest.raises(ConfigError, match="Covid3Month is a regression set; use --task "
                                          "sequence_regression"):
        aeon_tables("Covid3Month", "classification")
    with pytest.raises(ConfigError, match="give --data-path .* or --dataset"):
        load_series_set(None, None, "classification", 0)


def test_prepare_standardizes_by_train_and_logs_the_data():
    data, info = REGRESS.prepare(None, 0, REGRESS.data_options({}, {"dataset": "Covid3Month"}))
    assert info["data_source"] == "Covid3Month:aeon==1.6.0" and info["num_features"] == 1
    assert info["sequences"] == {"train": 112, "val": 28, "test": 61}
    train = data.splits["train"]
    np.testing.assert_allclose(train.frames.mean(0), 0, atol=1e-5)
    assert data.target_mean == pytest.approx(train.targets.mean())
    bundle = REGRESS.serving.bundle(data)
    assert bundle["channels"] == 1 and len(bundle["mean"]) == 1 and bundle["kind"] == \
        "regression"
    assert len(REGRESS.serving.examples(data)) == 2
    assert {o.flag for o in CLASSIFY.options} == {"--dataset", "--missing", "--label-column"}


def _regression_file(tmp_path, n=90):
    rng = np.random.default_rng(0)
    lines = []
    for _ in range(n):
        x = rng.normal(size=int(rng.integers(6, 12)))
        lines.append(",".join(f"{v:.4f}" for v in x) + f":{10 + 5 * x.mean():.4f}")
    return _ts(tmp_path, "@targetLabel true\n@data\n" + "\n".join(lines) + "\n", "reg.ts")


def test_regression_trainer_learns_a_tiny_set(tmp_path):
    data, _ = REGRESS.prepare(str(_regression_file(tmp_path)), 0, {})
    config = {"task": "sequence_regression", "cell": "gru", "num_layers": 1, "hidden_size": 16,
              "input_size": 8, "lr": 1e-2, "max_epochs": 25, "batch_size": 16}
    m = train(config, data)
    assert {"val_rmse", "val_mae", "val_r2", "test_rmse", "test_mae", "test_r2",
            "best_val_rmse"} <= set(m)
    assert m["test_n"] == len(data.splits["test"])
    spread = float(np.std(data.splits["test"].targets))
    assert m["test_rmse"] < 0.7 * spread and m["test_r2"] > 0.5  # better than the mean


def test_regression_metrics_in_the_target_units():
    m = regression_metrics(np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0, 5.0]), scale=2.0)
    assert m["rmse"] == pytest.approx(math.sqrt(4 / 3)) and m["mae"] == pytest.approx(2 / 3)
    assert m["loss"] == pytest.approx(4 / 3 / 4) and m["r2"] == pytest.approx(1 - 4 / 2)
    assert "r2" not in regression_metrics(np.ones(3), np.zeros(3), 1.0)  # undefined


def _classifier(tmp_path):
    data, _ = CLASSIFY.prepare(str(_ts(tmp_path, _many())), 0, {})
    import torch

    from rnn_core.tasks._audio_train import build_model

    cfg = {"cell": "gru", "num_layers": 1, "hidden_size": 8, "input_size": 8,
           "bidirectional": False, "dropout": 0.0, "backend": "native"}
    torch.manual_seed(0)
    model = build_model(cfg, data.num_features, len(data.classes))
    return data, {"state_dict": model.state_dict(), "model_config": model.cfg.to_dict(),
                  "config": cfg}


def test_classifier_trainer_reports_accuracy_and_macro_f1(tmp_path):
    data, _ = CLASSIFY.prepare(str(_ts(tmp_path, _many())), 0, {})
    m = train({"task": "sequence_classification", "hidden_size": 8, "max_epochs": 2}, data)
    assert {"val_acc", "val_f1", "test_acc", "test_f1", "test_n"} <= set(m)
    assert 0 <= m["val_f1"] <= 1 and m["test_n"] == 12


def test_predictor_reads_raw_series_as_training_scaled_them(tmp_path):
    data, ckpt = _classifier(tmp_path)
    predictor = SeriesPredictor(CLASSIFY.serving.bundle(data), ckpt)
    raw = list(CLASSIFY.serving.examples(data))
    rows = predictor.predict([*raw, "[1, 2, 3]", np.array([4.0, 5.0]), None, [[1, 2], [3]],
                              "not json", [1, float("nan")]])
    assert all(r["label"] in data.classes and 0 < r["probability"] <= 1 and r["note"] == ""
               for r in rows[:4])
    assert rows[2]["frames"] == 3
    assert rows[4]["note"] == "row 4: the series is empty (missing)"
    assert rows[5]["note"].startswith("row 5: expected a list of frames of 1 numbers each")
    assert rows[6]["note"].startswith("row 6: expected a list of frames") and \
        rows[6]["label"] is None
    assert "missing or infinite value" in rows[7]["note"] and math.isnan(rows[7]["probability"])


def test_raw_value_shapes():
    assert read_value(0, [[1, 2], [3, 4]], 2)[0].shape == (2, 2)
    assert "got shape (3,)" in read_value(3, [1, 2, 3], 2)[1]
    assert "got shape (0, 1)" in read_value(1, [], 1)[1] or "no frames" in read_value(1, [], 1)[1]
    series, note = read_value(2, [1, None, 3], 1, interpolate=True)
    assert series[:, 0].tolist() == [1, 2, 3] and "1 missing values interpolated" in note
