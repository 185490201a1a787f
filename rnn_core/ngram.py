"""An interpolated Kneser-Ney trigram over token-id streams: the count-based baseline a
language model's perplexity is read against, on the same split and vocabulary (NumPy only).

Chen & Goodman (1999)'s interpolated Kneser-Ney with one fixed discount D (0.75) at every order,
not their modified KN with three discounts: with counts c from the training stream and
``N1+`` the number of distinct types,

    P3(w | u v) = max(c(u v w) - D, 0) / c(u v .) + D N1+(u v .) / c(u v .) * P2(w | v)
    P2(w | v)   = max(a(v w) - D, 0) / a(v .)     + D N1+(v .)   / a(v .)   * P1(w)
    P1(w)       = max(a(w) - D, 0) / a(.)         + D N1+(.)     / a(.)     / V

where a(v w) = N1+(. v w), the number of distinct words seen before the bigram (counted over
the trigrams, so the stream's first bigram adds none), and a(w) = N1+(. w): the continuation
counts that give Kneser-Ney its lower orders; N1+(v .) and N1+(.) count the words w with
a(v w) > 0 and a(w) > 0, the types the discount was taken from. A context never seen falls
through to the order below (P3 = P2 where c(u v .) = 0, P2 = P1 where a(v .) = 0). The
unigram spreads its discounted mass uniformly over the V ids, so every id, ``<unk>`` and
``<eos>`` included, has a non-zero probability and each conditional sums to 1 over the
vocabulary.

Streams are read as they are: an ``<eos>`` is one more token, and a context crossing it is
kept, as a recurrent model reading the same stream sees it. Scoring gives every token after
the first its log-probability (the first target has a bigram context only), the targets the
language-model trainer scores.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["DISCOUNT", "KNTrigram", "fit_kn_trigram"]

DISCOUNT = 0.75


def _lookup(keys: np.ndarray, values: np.ndarray, query: np.ndarray) -> np.ndarray:
    """``values`` at ``query`` in the sorted ``keys``; 0 where a query is not among them."""
    if len(keys) == 0:
        return np.zeros(len(query), dtype=values.dtype)
    at = np.minimum(np.searchsorted(keys, query), len(keys) - 1)
    return np.where(keys[at] == query, values[at], 0)


def _group(keys: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For sorted ``keys`` with ``counts``: the distinct keys, their summed counts, and how many
    entries each holds."""
    distinct, first, size = np.unique(keys, return_index=True, return_counts=True)
    sums = np.add.reduceat(counts, first) if len(first) else counts[:0]
    return distinct, sums, size


@dataclass(frozen=True)
class KNTrigram:
    """The fitted tables; ``log_probs(stream)`` scores a stream, ``distribution(u, v)`` gives
    one context's probabilities over the vocabulary."""

    vocab_size: int
    discount: float
    train_tokens: int
    tri_keys: np.ndarray  # sorted (u V + v) V + w of the trigram types seen
    tri_counts: np.ndarray  # c(u v w)
    ctx_keys: np.ndarray  # sorted u V + v of the trigram contexts seen
    ctx_counts: np.ndarray  # c(u v .)
    ctx_types: np.ndarray  # N1+(u v .)
    bi_keys: np.ndarray  # sorted v V + w of the bigrams seen inside a trigram
    bi_cont: np.ndarray  # a(v w) = N1+(. v w)
    bi_denom: np.ndarray  # (V,) a(v .)
    bi_types: np.ndarray  # (V,) N1+(v .) among the continuation bigrams
    unigram: np.ndarray  # (V,) P1

    def _bigram(self, v: np.ndarray, w: np.ndarray) -> np.ndarray:
        d, p1 = self.discount, self.unigram[w]
        cont = _lookup(self.bi_keys, self.bi_cont, v * self.vocab_size + w).astype(np.float64)
        denom, types = self.bi_denom[v], self.bi_types[v]
        safe = np.maximum(denom, 1)
        return np.where(denom > 0,
                        np.maximum(cont - d, 0) / safe + d * types / safe * p1, p1)

    def _trigram(self, u: np.ndarray, v: np.ndarray, w: np.ndarray) -> np.ndarray:
        d, size = self.discount, self.vocab_size
        p2 = self._bigram(v, w)
        ctx = u * size + v
        count = _lookup(self.tri_keys, self.tri_counts, ctx * size + w).astype(np.float64)
        total = _lookup(self.ctx_keys, self.ctx_counts, ctx).astype(np.float64)
        types = _lookup(self.ctx_keys, self.ctx_types, ctx).astype(np.float64)
        safe = np.maximum(total, 1)
        return np.where(total > 0, np.maximum(count - d, 0) / safe + d * types / safe * p2, p2)

    def log_probs(self, stream: np.ndarray) -> np.ndarray:
        """Natural log-probability of every token of ``stream`` after the first, in order."""
        s = np.asarray(stream, dtype=np.int64)
        if len(s) < 2:
            return np.zeros(0)
        first = self._bigram(s[:1], s[1:2])
        rest = self._trigram(s[:-2], s[1:-1], s[2:])
        return np.log(np.concatenate([first, rest]))

    def distribution(self, u: int, v: int) -> np.ndarray:
        """P3(. | u v) over the vocabulary (sums to 1)."""
        w = np.arange(self.vocab_size, dtype=np.int64)
        return self._trigram(np.full_like(w, u), np.full_like(w, v), w)

    def perplexity(self, stream: np.ndarray) -> float:
        """exp(mean NLL) over ``stream``'s targets (every token after the first)."""
        lp = self.log_probs(stream)
        return math.exp(-lp.mean()) if len(lp) else math.nan


def fit_kn_trigram(train: np.ndarray, vocab_size: int,
                   discount: float = DISCOUNT) -> KNTrigram:
    """Count the training stream's trigrams, bigram and unigram continuations (module doc)."""
    if not 0 < discount < 1:
        raise ValueError(f"discount must be in (0, 1), got {discount}")
    size = int(vocab_size)
    if size ** 3 >= 2 ** 63:
        raise ValueError(f"a vocabulary of {size:,} ids does not fit trigram keys in int64")
    t = np.asarray(train, dtype=np.int64)
    if len(t) < 3:
        raise ValueError(f"a trigram needs a training stream of 3 tokens or more, got {len(t)}")
    if t.min() < 0 or t.max() >= size:
        raise ValueError(f"token ids must lie in [0, {size}), got {t.min()}..{t.max()}")
    tri_keys, tri_counts = np.unique((t[:-2] * size + t[1:-1]) * size + t[2:],
                                     return_counts=True)
    ctx_keys, ctx_counts, ctx_types = _group(tri_keys // size, tri_counts)
    # each trigram type adds one distinct left word to its last two words' bigram
    bi_keys, bi_cont = np.unique(tri_keys % (size * size), return_counts=True)
    v = bi_keys // size
    bi_denom = np.bincount(v, weights=bi_cont, minlength=size)
    bi_types = np.bincount(v, minlength=size).astype(np.float64)
    # the unigram's continuation counts: the distinct words seen before each word
    pairs = np.unique(t[:-1] * size + t[1:])
    cont = np.bincount(pairs % size, minlength=size).astype(np.float64)
    total, seen = cont.sum(), np.count_nonzero(cont)
    unigram = np.maximum(cont - discount, 0) / total + discount * seen / total / size
    return KNTrigram(size, float(discount), len(t), tri_keys, tri_counts, ctx_keys, ctx_counts,
                     ctx_types, bi_keys, bi_cont, bi_denom, bi_types, unigram)
