"""UCI Japanese Vowels read from the aeon wheel by the time-series reader: the archive's known
counts, the seeded speaker-stratified validation split, and bad files refused with their name."""

from __future__ import annotations

import zipfile

import numpy as np
import pytest

from rnn_core.data.japanese_vowels import load_japanese_vowels
from rnn_core.data.series import read_ts
from rnn_core.errors import DataError

# utterances per speaker in the archive's test file (UCI's description: 24 to 88)
TEST_PER_SPEAKER = [31, 35, 88, 44, 29, 24, 40, 50, 29]


@pytest.fixture(scope="module")
def jv():
    return load_japanese_vowels(seed=0)


def test_known_counts(jv):
    train, val, test = (jv.splits[k] for k in ("train", "val", "test"))
    assert len(train) + len(val) == 270 and len(test) == 370
    assert len(jv.classes) == 9 and jv.num_features == 12
    lengths = np.concatenate([s.lengths for s in (train, val, test)])
    assert lengths.min() == 7 and lengths.max() == 29
    assert np.bincount(test.labels).tolist() == TEST_PER_SPEAKER
    # 30 training utterances per speaker: 24 train, 6 validation
    assert np.bincount(train.labels).tolist() == [24] * 9
    assert np.bincount(val.labels).tolist() == [6] * 9
    assert train.frames.shape == (int(train.lengths.sum()), 12)


def test_validation_split_is_seeded_and_disjoint_from_train(jv):
    def rows(s):
        return {s.sequence(i).tobytes() for i in range(len(s))}

    assert not rows(jv.splits["train"]) & rows(jv.splits["val"])
    same = load_japanese_vowels(seed=0).splits["val"]
    other = load_japanese_vowels(seed=1).splits["val"]
    assert rows(same) == rows(jv.splits["val"]) and rows(other) != rows(jv.splits["val"])


def test_standardized_by_the_training_split(jv):
    std = jv.standardized()
    train = std.splits["train"].frames
    np.testing.assert_allclose(train.mean(0), 0, atol=1e-5)
    np.testing.assert_allclose(train.std(0), 1, atol=1e-4)
    assert abs(std.splits["test"].frames.mean()) > 1e-4  # test scaled by train's numbers only


GOOD = ("@problemName x\n@dimensions 2\n@classLabel true a b\n@data\n"
        "1,2,3:4,5,6:a\n7,8:9,10:b\n")


def test_read_ts_parses_channels_over_time():
    table = read_ts(GOOD, "x.ts")
    assert table.classes == ["a", "b"] and table.labels == ["a", "b"]
    assert table.series[0].shape == (3, 2) and table.series[0][:, 1].tolist() == [4, 5, 6]


@pytest.mark.parametrize("text, fragment", [
    ("", "holds no @data rows"),
    ("@dimensions 2\n@classLabel true a\n@data\n1,x:2,3:a\n", "line 4: channel 1 holds 'x'"),
    ("@dimensions 2\n@classLabel true a\n@data\n1,2:3:a\n", "line 4: its channels have "
     "different lengths"),
    ("@dimensions 2\n@classLabel true a\n@data\n1:3:z\n", "outside @classLabel"),
    ("@dimensions 1\n@classLabel false\n@data\n1,2:a\n", "declares no @classLabel"),
])
def test_bad_ts_names_the_file(text, fragment):
    with pytest.raises(DataError, match=fragment) as err:
        read_ts(text, "/data/JV_TRAIN.ts")
    assert "/data/JV_TRAIN.ts" in str(err.value)


def test_damaged_wheel_names_the_file(tmp_path):
    bad = tmp_path / "aeon-1.6.0-py3-none-any.whl"
    bad.write_bytes(b"not a zip")
    with pytest.raises(DataError, match="is damaged") as err:
        load_japanese_vowels(wheel=bad)
    assert str(bad) in str(err.value)
    empty = tmp_path / "empty.whl"
    with zipfile.ZipFile(empty, "w") as zf:
        zf.writestr("other.txt", "x")
    with pytest.raises(DataError, match="lacks JapaneseVowels"):
        load_japanese_vowels(wheel=empty)
