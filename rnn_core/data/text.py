"""Shared text pipeline: tokenize, split 7:1:2, vocabulary from train only, encode once, cache.

The encoded corpus is one flat ``int32`` token array plus offsets per split, saved as ``.npy``
files keyed by source and options, so trials load integer arrays (memory-mapped) instead of
re-tokenizing.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from rnn_core.data.cache import cache_dir

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["PAD", "TOKEN_PATTERN", "UNK", "TextOptions", "Split", "EncodedCorpus", "tokenize",
           "stop_words", "encode_corpus"]

log = logging.getLogger(__name__)
PAD, UNK = "<pad>", "<unk>"
TOKEN_PATTERN = r"[a-z0-9]+(?:'[a-z]+)?"  # over lower-cased text
_TOKEN = re.compile(TOKEN_PATTERN)
_FORMAT = 1  # bump when the encoding changes


@dataclass(frozen=True)
class TextOptions:
    """How raw text becomes token ids (every field is part of the cache key)."""

    min_freq: int = 5
    max_length: int = 256
    remove_stop_words: bool = True
    seed: int = 0
    split: tuple[float, float, float] = (0.7, 0.1, 0.2)


@dataclass
class Split:
    """One split: ``tokens[offsets[i]:offsets[i+1]]`` are the ids of example ``i``."""

    tokens: np.ndarray  # (N_tokens,) int32
    offsets: np.ndarray  # (N + 1,) int64
    labels: np.ndarray  # (N,) int64

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, n: int | None, seed: int = 0) -> Split:
        """The first ``n`` examples of a seeded permutation (all when ``n`` is None or too big)."""
        if n is None or n >= len(self):
            return self
        idx = np.sort(np.random.default_rng(seed).permutation(len(self))[:n])
        lens = self.lengths[idx]
        offsets = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(lens, out=offsets[1:])
        # one gather instead of n slices: token j of the subset comes from its example's start
        # in the full split plus its position within the example
        at = np.repeat(self.offsets[idx] - offsets[:-1], lens) + np.arange(offsets[-1])
        return Split(self.tokens[at].astype(np.int32), offsets, self.labels[idx])


@dataclass
class EncodedCorpus:
    """Vocabulary plus the three encoded splits."""

    itos: list[str]
    splits: dict[str, Split]
    stats: dict = field(default_factory=dict)
    # optional initial embedding matrices, built once on the driver: name -> (V, dim) float32,
    # and each one's coverage of the vocabulary (``vectors.embedding_matrix``)
    embeddings: dict[str, np.ndarray] = field(default_factory=dict)
    embedding_coverage: dict[str, dict] = field(default_factory=dict)

    @property
    def vocab_size(self) -> int:
        return len(self.itos)

    @property
    def pad_index(self) -> int:
        return 0

    @property
    def classes(self) -> list[str]:
        """The name of each label (label ``i`` is ``classes[i]``); numbers where unnamed."""
        if self.stats.get("classes"):
            return list(self.stats["classes"])
        top = max((int(np.max(s.labels)) for s in self.splits.values() if len(s)), default=1)
        return [str(i) for i in range(max(top + 1, 2))]


def tokenize(text: str, remove_stop_words: bool = True) -> list[str]:
    """Lower-case word tokens; English stop words (scikit-learn's list) dropped if asked."""
    toks = _TOKEN.findall(text.lower())
    if remove_stop_words:
        stop = stop_words()
        toks = [t for t in toks if t not in stop]
    return toks


@cache
def stop_words() -> frozenset[str]:
    """The English stop words ``tokenize`` drops (scikit-learn's list, copied)."""
    from rnn_core.data._stop_words import ENGLISH_STOP_WORDS

    return ENGLISH_STOP_WORDS


def _cache_key(source: str, opts: TextOptions) -> str:
    blob = json.dumps({"source": source, "opts": asdict(opts), "format": _FORMAT}, sort_keys=True)
    return hashlib.sha1(blob.encode()).hexdigest()[:16]


def encode_corpus(frame: pd.DataFrame | None, source: str, opts: TextOptions,
                  load_frame=None, classes: Sequence[str] | None = None) -> EncodedCorpus:
    """Encode a ``text,label`` frame, or load the cached encoding for ``source`` + ``opts``.

    The frame is split ``opts.split``, stratified and seeded, unless it has a ``split``
    column (train/val/test; no val rows: validation drawn from train by the same rule).

    Args:
        frame: the cleaned texts; may be None when ``load_frame`` is given (called on a miss).
        source: a key naming the source (see ``imdb.source_id``).
        opts: tokenization and split options.
        load_frame: zero-argument callable returning the frame, only used on a cache miss.
        classes: the name of each label; else the frame's ``attrs["classes"]`` (its
            ``attrs["stats"]`` join the corpus stats).
    """
    folder = cache_dir() / "encoded" / _cache_key(source, opts)
    if (folder / "meta.json").exists():
        corpus = _load(folder)
        if classes and "classes" not in corpus.stats:  # encoded before classes were kept
            corpus.stats["classes"] = list(classes)
        return corpus
    if frame is None:
        frame = load_frame()
    classes = classes or frame.attrs.get("classes")
    from sklearn.model_selection import train_test_split

    t0 = time.perf_counter()
    labels = frame["label"].to_numpy()
    idx = np.arange(len(frame))
    train_share, val_share, test_share = opts.split
    if "split" in frame:  # the user's own splits; validation drawn from train without one
        given = frame["split"].to_numpy()
        rest, test, val = idx[given == "train"], idx[given == "test"], idx[given == "val"]
        train = rest
    else:
        rest, test = train_test_split(idx, test_size=test_share, stratify=labels,
                                      random_state=opts.seed)
    if "split" not in frame or not len(val):
        train, val = train_test_split(rest, test_size=val_share / (train_share + val_share),
                                      stratify=labels[rest], random_state=opts.seed)
    texts = frame["text"].tolist()
    toks = [tokenize(t, opts.remove_stop_words) for t in texts]
    counts = Counter(w for i in train for w in toks[i])
    itos = [PAD, UNK] + sorted((w for w, c in counts.items() if c >= opts.min_freq),
                               key=lambda w: (-counts[w], w))
    stoi = {w: i for i, w in enumerate(itos)}
    splits = {name: _encode([toks[i] for i in rows], labels[rows], stoi, opts.max_length)
              for name, rows in (("train", train), ("val", val), ("test", test))}
    train_tokens = sum(counts.values())
    covered = sum(c for w, c in counts.items() if w in stoi)
    stats = {
        "source": source,
        "vocab_size": len(itos),
        "examples": {k: len(v) for k, v in splits.items()},
        "tokens_before_truncation": {"train": train_tokens},
        "tokens": {k: int(v.lengths.sum()) for k, v in splits.items()},
        "train_token_coverage": covered / max(train_tokens, 1),
        "encode_seconds": round(time.perf_counter() - t0, 2),
        "options": asdict(opts),
        **({"classes": list(classes)} if classes else {}),
        **frame.attrs.get("stats", {}),
    }
    corpus = EncodedCorpus(itos, splits, stats)
    _save(folder, corpus)
    log.info("encoded %s: vocabulary %d, tokens %s", source, len(itos), stats["tokens"])
    return corpus


def _encode(docs: list[list[str]], labels: np.ndarray, stoi: dict[str, int],
            max_length: int) -> Split:
    unk = stoi[UNK]
    ids = [[stoi.get(w, unk) for w in d[:max_length]] or [unk] for d in docs]
    lens = np.fromiter((len(x) for x in ids), dtype=np.int64, count=len(ids))
    offsets = np.zeros(len(ids) + 1, dtype=np.int64)
    np.cumsum(lens, out=offsets[1:])
    tokens = np.fromiter((t for x in ids for t in x), dtype=np.int32, count=int(offsets[-1]))
    return Split(tokens, offsets, np.asarray(labels, dtype=np.int64))


def _save(folder: Path, corpus: EncodedCorpus) -> None:
    # a folder of this process's own, renamed into place: two first-time encodes at once
    # (two sweeps on a fresh machine) each write whole files, and the first rename wins
    tmp = folder.with_name(f"{folder.name}.{os.getpid()}.tmp")
    tmp.mkdir(parents=True, exist_ok=True)
    for name, s in corpus.splits.items():
        for part in ("tokens", "offsets", "labels"):
            np.save(tmp / f"{name}_{part}.npy", getattr(s, part))
    (tmp / "itos.json").write_text(json.dumps(corpus.itos))
    (tmp / "meta.json").write_text(json.dumps(corpus.stats, indent=1))
    try:
        tmp.rename(folder)
    except OSError:  # another process won the race: its copy is the same
        shutil.rmtree(tmp, ignore_errors=True)


def _load(folder: Path) -> EncodedCorpus:
    splits = {
        name: Split(*(np.load(folder / f"{name}_{part}.npy", mmap_mode="r")
                      for part in ("tokens", "offsets", "labels")))
        for name in ("train", "val", "test")
    }
    itos = json.loads((folder / "itos.json").read_text())
    stats = json.loads((folder / "meta.json").read_text())
    return EncodedCorpus(itos, splits, stats)
