from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rnn_core.data.batching import bucket_batches, iterate_batches, padded_batch
from rnn_core.data.imdb import load_imdb, source_id
from rnn_core.data.text import PAD, UNK, Split, TextOptions, encode_corpus, stop_words, tokenize
from rnn_core.errors import DataError


def _reviews(n_per_class: int = 30) -> pd.DataFrame:
    pos = [f"a wonderful film number {i}, truly great acting<br />great great" for i in
           range(n_per_class)]
    neg = [f"an awful film number {i + 1000}, terrible boring plot<br />bad bad" for i in
           range(n_per_class)]
    return pd.DataFrame({"review": pos + neg, "sentiment": ["positive"] * n_per_class +
                         ["negative"] * n_per_class})


def test_real_imdb_is_cleaned_split_and_encoded(imdb):
    s = imdb.stats
    # 50,000 reviews less the duplicates (418 in the raw file, 419 once <br /> is removed)
    assert sum(s["examples"].values()) == 49_581
    n = sum(s["examples"].values())
    assert s["examples"]["train"] == pytest.approx(0.7 * n, abs=2)
    assert s["examples"]["val"] == pytest.approx(0.1 * n, abs=2)
    assert s["examples"]["test"] == pytest.approx(0.2 * n, abs=2)
    assert imdb.itos[:2] == [PAD, UNK]
    assert 30_000 < imdb.vocab_size < 40_000  # the study implies ~38k with its tokenizer
    train = imdb.splits["train"]
    assert train.lengths.max() <= 256 and train.lengths.min() >= 1
    # stratified: each split is balanced like the whole
    for split in imdb.splits.values():
        assert abs(np.mean(split.labels) - 0.5) < 0.01
    assert "br" not in imdb.itos[:2000]  # <br /> was removed before tokenizing


def test_vocabulary_comes_from_training_split_only(tmp_path, monkeypatch):
    monkeypatch.setenv("RNN_SWEEPS_DATA", str(tmp_path))
    df = _reviews(50).rename(columns={"review": "text"})  # each review has its own number
    df["label"] = (df.pop("sentiment") == "positive").astype(int)
    corpus = encode_corpus(df, "unit:vocab", TextOptions(min_freq=1))
    unk = corpus.itos.index(UNK)
    # min_freq=1: every training word is known; the numbers unique to val/test reviews are not
    assert (corpus.splits["train"].tokens != unk).all()
    assert (corpus.splits["test"].tokens == unk).sum() == len(corpus.splits["test"])
    assert sum(w.isdigit() for w in corpus.itos) == len(corpus.splits["train"])


def test_encoding_is_cached_and_reloaded(tmp_path, monkeypatch):
    monkeypatch.setenv("RNN_SWEEPS_DATA", str(tmp_path))
    df = _reviews().rename(columns={"review": "text"})
    df["label"] = (df.pop("sentiment") == "positive").astype(int)
    first = encode_corpus(df, "unit:cache", TextOptions(min_freq=1))
    calls = []
    second = encode_corpus(None, "unit:cache", TextOptions(min_freq=1),
                           load_frame=lambda: calls.append(1))
    assert calls == []  # served from the cache, raw text never read
    assert second.itos == first.itos
    np.testing.assert_array_equal(second.splits["test"].tokens, first.splits["test"].tokens)
    other = encode_corpus(df, "unit:cache", TextOptions(min_freq=2))
    assert other.stats["options"]["min_freq"] == 2  # another option, another cache entry


def test_tokenize_lowercases_and_drops_stop_words():
    assert tokenize("The movie was GREAT, and I loved it!") == ["movie", "great", "loved"]
    assert tokenize("The movie", remove_stop_words=False) == ["the", "movie"]


def test_stop_words_are_scikit_learns():
    """The copy the pipeline uses (a driver need not import scikit-learn for it) is
    scikit-learn's list, word for word."""
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    assert stop_words() == ENGLISH_STOP_WORDS


def test_csv_source_reads_and_cleans(tmp_path):
    p = tmp_path / "reviews.csv"
    df = _reviews()
    pd.concat([df, df.head(5)]).to_csv(p, index=False)  # 5 duplicates
    out = load_imdb(p)
    assert len(out) == 60
    assert not out["text"].str.contains("<br").any()
    assert sorted(out["label"].unique()) == [0, 1]
    assert source_id(p) != source_id(None)


def test_acl_imdb_folder(tmp_path):
    for split in ("train", "test"):
        for sub in ("pos", "neg"):
            d = tmp_path / "aclImdb" / split / sub
            d.mkdir(parents=True)
            for i in range(6):
                (d / f"{i}_7.txt").write_text(f"{split} {sub} review {i}<br />text")
    out = load_imdb(tmp_path)
    assert len(out) == 24 and out["label"].sum() == 12


@pytest.mark.parametrize("content, fragment", [
    (b"", "is empty"),
    (b"text,label\nhello,1\n", "expected review,sentiment"),
    (b"review,sentiment\n" + b"good film,positive\n" * 30, "expected both positive and negative"),
    (b"review,sentiment\n\xff\xfe bad bytes,positive\n", "not UTF-8"),
    (b'review,sentiment\n"unterminated,positive\nx,negative\n', "not a readable CSV"),
    (b"review,sentiment\ngood,maybe\n", "expected positive/negative"),
])
def test_bad_csv_gets_one_clear_sentence(tmp_path, content, fragment):
    p = tmp_path / "bad.csv"
    p.write_bytes(content)
    with pytest.raises(DataError) as err:
        load_imdb(p)
    assert fragment in str(err.value) and str(p) in str(err.value)
    assert "\n" not in str(err.value)


def test_missing_data_path_names_it(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        load_imdb(tmp_path / "nope.csv")


def _split(lengths: list[int]) -> Split:
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    tokens = np.arange(1, offsets[-1] + 1, dtype=np.int32)
    return Split(tokens, offsets, np.arange(len(lengths)) % 2)


def test_buckets_cover_every_example_once_with_little_padding():
    rng = np.random.default_rng(0)
    lengths = rng.integers(1, 257, size=5000)
    batches = bucket_batches(lengths, 64, shuffle=True, rng=rng)
    assert sorted(np.concatenate(batches).tolist()) == list(range(5000))
    real = lengths.sum()
    padded = sum(len(b) * lengths[b].max() for b in batches)
    assert real / padded > 0.95  # unsorted batches would be near 0.5


def test_padded_batch_holds_each_sequence_then_padding():
    split = _split([3, 1, 4])
    tokens, lengths, labels = padded_batch(split, np.array([2, 0, 1]))
    assert tokens.tolist() == [[5, 6, 7, 8], [1, 2, 3, 0], [4, 0, 0, 0]]
    assert lengths.tolist() == [4, 3, 1] and labels.tolist() == [0, 0, 1]
    seen = sum(len(b[2]) for b in iterate_batches(split, 2, shuffle=False))
    assert seen == 3


def test_subset_is_seeded_and_consistent(imdb):
    a = imdb.splits["train"].subset(100, seed=1)
    b = imdb.splits["train"].subset(100, seed=1)
    assert len(a) == 100 and a.offsets[-1] == len(a.tokens)
    np.testing.assert_array_equal(a.tokens, b.tokens)
    assert imdb.splits["train"].subset(None) is imdb.splits["train"]
    # the same examples, token for token, as slicing them out of the full split one by one
    full = imdb.splits["train"]
    idx = np.sort(np.random.default_rng(1).permutation(len(full))[:100])
    np.testing.assert_array_equal(a.tokens, np.concatenate(
        [full.tokens[full.offsets[i]:full.offsets[i + 1]] for i in idx]))
    np.testing.assert_array_equal(a.labels, full.labels[idx])
    assert a.tokens.dtype == np.int32


def test_trial_workers_import_neither_sklearn_nor_mlflow():
    """What a Ray trial worker imports before its first epoch (~1.5 s here): scikit-learn (0.8 s,
    used only to tokenize, on the driver) and MLflow (driver only) stay out of it."""
    code = ("import sys; import rnn_core.tuning._scheduling, rnn_core.tuning._trial; "
            "print(sorted(m for m in ('sklearn', 'mlflow') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=Path(__file__).resolve().parents[1]).stdout
    assert out.strip() == "[]"
