"""What a language-model corpus is once read: the options that turn text into token ids, and
the vocabulary with its three id streams (``rnn_core.data.lm_text``). Kept apart from the
readers and the encoder: the task and its trainer use a corpus without either."""

from __future__ import annotations

from dataclasses import dataclass, field
from numbers import Integral

import numpy as np

from rnn_core.data.lm_files import UNITS
from rnn_core.errors import ConfigError

__all__ = ["EOS", "FORMAT", "PROTOCOLS", "SPLITS", "UNK", "LMTextOptions", "TokenCorpus",
           "check_fractions", "sentence_totals"]

UNK, EOS = "<unk>", "<eos>"
SPLITS = ("train", "val", "test")
FORMAT = 1  # bump when the encoding changes
# how Brown becomes a stream: ours (lower-cased, <eos> after each sentence) or Bengio et al.'s
PROTOCOLS = ("default", "bengio2003")


@dataclass(frozen=True)
class LMTextOptions:
    """How text becomes token ids (every field is part of the cache key)."""

    # None: lower-case words, keep characters as they are (Brown's and PTB's own rules apply
    # to them)
    lowercase: bool | None = None
    # tokens seen fewer times than this in train become <unk> (Bengio et al. merged words seen
    # 3 times or fewer); None: 4 for words, 1 for characters
    min_count: int | None = None
    # words in train, val; the rest is test (Bengio et al.: file order, 800,000 / 200,000)
    split_words: tuple[int, int] = (800_000, 200_000)
    # "word" (split on whitespace) or "char" (every character a token): plain text only
    token_unit: str = "word"
    # train, val, test fractions of ONE text file's lines (None: 0.8, 0.1, 0.1 there)
    split_fractions: tuple[float, float, float] | None = None
    # "default" or "bengio2003" (case kept, no <eos>; Brown only): ``PROTOCOLS``
    protocol: str = "default"

    def __post_init__(self) -> None:
        # plain ints and a tuple, so that a value from a grid (numpy int, JSON list) keys the
        # cache like the default
        def whole(x) -> bool:
            return isinstance(x, Integral) and not isinstance(x, bool) and x >= 1

        if self.token_unit not in UNITS:
            raise ConfigError(f"token_unit must be one of {', '.join(UNITS)}, got "
                              f"{self.token_unit!r}")
        char = self.token_unit == "char"
        if self.protocol not in PROTOCOLS:
            raise ConfigError(f"protocol must be one of {', '.join(PROTOCOLS)}, got "
                              f"{self.protocol!r}")
        if self.protocol == "bengio2003":
            _check_bengio(self)
            object.__setattr__(self, "lowercase", False)
        min_count = (1 if char else 4) if self.min_count is None else self.min_count
        if not whole(min_count):
            raise ConfigError(f"min_count must be an integer >= 1, got {self.min_count!r}")
        sw = self.split_words
        if not isinstance(sw, tuple | list) or len(sw) != 2 or not all(whole(n) for n in sw):
            raise ConfigError("split_words must be two positive integers (train words, val "
                              f"words), got {self.split_words!r}")
        object.__setattr__(self, "min_count", int(min_count))
        object.__setattr__(self, "split_words", tuple(int(n) for n in self.split_words))
        object.__setattr__(self, "lowercase",
                           not char if self.lowercase is None else bool(self.lowercase))
        if self.split_fractions is not None:
            object.__setattr__(self, "split_fractions", check_fractions(self.split_fractions))


def _check_bengio(opts: LMTextOptions) -> None:
    """The options ``--protocol bengio2003`` fixes itself, refused when given otherwise."""
    fixed = [("--tokens char", opts.token_unit == "char"),
             ("--lowercase yes", opts.lowercase is True),
             (f"--min-count {opts.min_count}", opts.min_count not in (None, 4)),
             ("--split", opts.split_fractions is not None)]
    for given, clash in fixed:
        if clash:
            raise ConfigError(f"--protocol bengio2003 reads Brown's words with case kept and "
                              f"min_count 4; leave out {given}")


def check_fractions(value) -> tuple[float, float, float]:
    """Three fractions in (0, 1) summing to 1 (ConfigError naming the value otherwise)."""
    try:
        fr = tuple(float(x) for x in value)
    except (TypeError, ValueError):
        fr = ()
    if len(fr) != 3 or not all(0 < x < 1 for x in fr) or abs(sum(fr) - 1) > 1e-6:
        raise ConfigError(f"--split {value!r} must be three fractions in (0, 1) summing to 1 "
                          "(train, validation, test), e.g. 0.8,0.1,0.1")
    return fr


@dataclass
class TokenCorpus:
    """Vocabulary plus the three token-id streams (``<eos>`` after every sentence)."""

    itos: list[str]
    splits: dict[str, np.ndarray]  # "train", "val", "test" -> (N_tokens,) int32
    stats: dict = field(default_factory=dict)
    # streams without <eos> only: split -> each sentence's end (one past its last token)
    sentence_ends: dict[str, np.ndarray] | None = None

    @property
    def vocab_size(self) -> int:
        return len(self.itos)

    @property
    def unk_index(self) -> int:
        return self.itos.index(UNK)

    @property
    def eos_index(self) -> int:
        return self.itos.index(EOS)

    def sentence_end_targets(self, split: str, n_targets: int) -> np.ndarray:
        """Whether each of a split's first ``n_targets`` targets (its tokens after the first)
        ends a sentence: an ``<eos>``, or in a stream without them a sentence's last word."""
        if self.sentence_ends is None:
            return np.asarray(self.splits[split][1:n_targets + 1]) == self.eos_index
        mask = np.zeros(n_targets, dtype=bool)
        at = np.asarray(self.sentence_ends[split], dtype=np.int64) - 2  # target t: token t + 1
        mask[at[(at >= 0) & (at < n_targets)]] = True
        return mask


def sentence_totals(token_nll: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(summed NLL, token count) of each sentence, ``ends`` marking the target that ends one
    (``TokenCorpus.sentence_end_targets``); the last may be cut where the split ends."""
    ends = np.asarray(ends[:len(token_nll)], dtype=bool)
    sentence = np.cumsum(ends) - ends  # a sentence's last target belongs to it
    return (np.bincount(sentence, weights=token_nll),
            np.bincount(sentence).astype(np.int64))

