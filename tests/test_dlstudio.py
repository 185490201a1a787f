"""DLStudio sentiment archives: round trips, tar wrapping, refused pickles, damaged files."""

from __future__ import annotations

import builtins
import gzip
import io
import os
import pickle
import tarfile

import numpy as np
import pytest

from rnn_core.data.dlstudio import read_dlstudio_archive, write_dlstudio_archive

POSITIVE = {"books": [["great", "read"], ["loved", "it"]], "music": [["fine", "album"]]}
NEGATIVE = {"books": [["dull"]], "music": [["too", "loud"], ["skip"]]}
VOCAB = ["album", "dull", "fine", "great", "it", "loud", "loved", "read", "skip", "too"]


def _gzip_pickle(path, obj) -> None:
    with gzip.open(path, "wb") as f:
        pickle.dump(obj, f, protocol=2)


def _tar_with(path, member: str, payload: bytes, mode: str) -> None:
    with tarfile.open(path, mode) as tar:
        for name, data in ((f"._{member}", b"macOS resource fork"), (member, payload)):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def _check_reviews(data) -> None:
    assert data.reviews == [["great", "read"], ["loved", "it"], ["fine", "album"], ["dull"],
                            ["too", "loud"], ["skip"]]  # fmt: skip
    np.testing.assert_array_equal(data.labels, [1, 1, 1, 0, 0, 0])
    assert data.categories == ["books", "books", "music", "books", "music", "music"]
    assert data.vocab == VOCAB


def test_round_trip_matches_dlstudio_format(tmp_path):
    path = write_dlstudio_archive(
        tmp_path / "sentiment_dataset_train_200.tar.gz", POSITIVE, NEGATIVE, VOCAB
    )
    # Read back the way DLStudio itself does.
    with gzip.open(path, "rb") as f:
        assert pickle.loads(f.read(), encoding="latin1") == (POSITIVE, NEGATIVE, VOCAB)
    data = read_dlstudio_archive(path)
    _check_reviews(data)
    assert data.labels.dtype == np.int64


@pytest.mark.parametrize(
    "mode, compress_member", [("w:gz", False), ("w", True), ("w", False)], ids=str
)
def test_tar_wrapped_archive(tmp_path, mode, compress_member):
    payload = pickle.dumps((POSITIVE, NEGATIVE, VOCAB), protocol=2)
    if compress_member:
        payload = gzip.compress(payload)
    path = tmp_path / "sentiment_dataset_test_200.tar.gz"
    _tar_with(path, "sentiment_dataset_test_200.pkl", payload, mode)
    assert tarfile.is_tarfile(path)
    _check_reviews(read_dlstudio_archive(path))


def test_vocab_pickled_as_set_is_admitted(tmp_path):
    path = tmp_path / "set_vocab.tar.gz"
    _gzip_pickle(path, (POSITIVE, NEGATIVE, set(VOCAB)))
    assert read_dlstudio_archive(path).vocab == VOCAB


class _Evil:
    def __init__(self, func, arg):
        self.func, self.arg = func, arg

    def __reduce__(self):
        return self.func, (self.arg,)


@pytest.mark.parametrize("tar_wrapped", [False, True])
@pytest.mark.parametrize("func, refused", [(os.system, "system"), (builtins.eval, "eval")])
def test_malicious_pickle_is_refused_and_not_run(tmp_path, func, refused, tar_wrapped):
    pwned = tmp_path / "pwned"
    cmd = f"touch {pwned}"
    arg = cmd if func is os.system else f"__import__('os').system({cmd!r})"
    obj = (POSITIVE, {"books": [[_Evil(func, arg)]]}, VOCAB)
    path = tmp_path / "evil.tar.gz"
    if tar_wrapped:
        _tar_with(path, "evil.pkl", pickle.dumps(obj, protocol=2), "w:gz")
    else:
        _gzip_pickle(path, obj)

    with pytest.raises(ValueError) as info:
        read_dlstudio_archive(path)
    message = str(info.value)
    assert str(path) in message and refused in message
    assert "only builtin containers and strings" in message
    assert not pwned.exists()

    # Control: the same payload is live under the plain unpickler.
    control = tmp_path / "control"
    live = (POSITIVE, NEGATIVE, [_Evil(func, arg.replace(str(pwned), str(control)))])
    pickle.loads(pickle.dumps(live, protocol=2))
    assert control.exists()


def test_truncated_archive_names_file(tmp_path):
    many = {"books": [[f"w{i}", f"x{i * 7}"] for i in range(500)]}
    path = write_dlstudio_archive(tmp_path / "full.tar.gz", many, many, VOCAB)
    cut = tmp_path / "truncated.tar.gz"
    cut.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(ValueError, match="truncated.tar.gz"):
        read_dlstudio_archive(cut)


def test_bad_gzip_names_file(tmp_path):
    path = tmp_path / "bad.tar.gz"
    path.write_bytes(b"\x1f\x8b\x08\x00" + b"definitely not deflate data" * 10)
    with pytest.raises(ValueError, match="bad.tar.gz.*gzip"):
        read_dlstudio_archive(path)


def test_not_a_pickle_names_file(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("just some review text\n")
    with pytest.raises(ValueError, match="notes.txt"):
        read_dlstudio_archive(path)


def test_missing_archive(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere.tar.gz"):
        read_dlstudio_archive(tmp_path / "nowhere.tar.gz")


@pytest.mark.parametrize(
    "obj, fragment",
    [
        ({"books": [["a"]]}, "triple"),
        ((POSITIVE, NEGATIVE), "triple"),
        (({"books": "not a list"}, NEGATIVE, VOCAB), "expected a list of reviews"),
        (({"books": [["ok"], [1, 2]]}, NEGATIVE, VOCAB), "review 1 of category 'books'"),
        (({7: [["a"]]}, NEGATIVE, VOCAB), "category 7"),
        ((POSITIVE, [["a"]], VOCAB), "negative reviews"),
        ((POSITIVE, NEGATIVE, ["ok", 3]), "vocab"),
    ],
)
def test_wrong_structure_is_value_error(tmp_path, obj, fragment):
    path = tmp_path / "odd.tar.gz"
    _gzip_pickle(path, obj)
    with pytest.raises(ValueError) as info:
        read_dlstudio_archive(path)
    assert "odd.tar.gz" in str(info.value) and fragment in str(info.value)


def test_writer_refuses_wrong_structure(tmp_path):
    path = tmp_path / "never.tar.gz"
    with pytest.raises(ValueError, match="not a list of word strings"):
        write_dlstudio_archive(path, {"books": [["a", 1]]}, NEGATIVE, VOCAB)
    assert not path.exists()
