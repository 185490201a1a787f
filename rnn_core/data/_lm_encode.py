"""Words to token ids: the vocabulary counted on train, the three streams with or without
``<eos>``, and each layout's way there (``rnn_core.data.lm_text``'s module doc gives the
protocols). Kept apart from the cache and the readers: a change of encoding touches this
module (and ``FORMAT``) only."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict
from pathlib import Path

import numpy as np

from rnn_core.data import lm_files
from rnn_core.data._lm_corpus import EOS, FORMAT, SPLITS, UNK, LMTextOptions, TokenCorpus
from rnn_core.data._lm_sources import PTB_FILES, read_brown_dir, read_brown_tar, read_ptb
from rnn_core.data.lm_files import DEFAULT_SPLIT
from rnn_core.errors import ConfigError

__all__ = ["build", "check_layout"]


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
    for k, name in enumerate(SPLITS):
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
        "source": source, "options": asdict(opts), "format": FORMAT, **extra,
        "total_words": len(words), "sentences": len(ends), "types": len(types),
        "train_types": int(np.count_nonzero(counts)), "vocab_size": len(itos),
        "words": stats_words, "tokens": {k: len(v) for k, v in splits.items()},
        "unk_tokens": unk, "eos_in_stream": eos,
        "oov_rate": {k: round(unk[k] / max(stats_words[k], 1), 5) for k in SPLITS},
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
        by_split = {name: lines[b[k]:b[k + 1]] for k, name in enumerate(SPLITS)}
        origins = {name: f"{path} lines {b[k] + 1}-{b[k + 1]}" for k, name in enumerate(SPLITS)}
        extra = {"split_fractions": list(fractions)}
    else:
        by_split = {name: lm_files.read_lines(f) for name, f in files.items()}
        origins = {name: str(f) for name, f in files.items()}
        extra = {"files": {name: f.name for name, f in files.items()}}
    words, ends, bounds, sentences = [], [], [0], [0]
    for name in SPLITS:
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


def check_layout(path: Path | None, layout: str, opts: LMTextOptions) -> None:
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


def build(path: Path, layout: str, source: str, opts: LMTextOptions) -> TokenCorpus:
    """The corpus at ``path`` (in ``layout``, named ``source``) as ``opts`` encode it."""
    if layout == "text-dir":
        return _build_text(lm_files.split_files(path), path, layout, source, opts)
    if layout == "text-file" or (layout == "ptb" and opts.token_unit == "char"):
        files = {name: path / f for name, f in PTB_FILES.items()} if layout == "ptb" else {}
        return _build_text(files, path, layout, source, opts)
    if layout == "ptb":
        by_split = read_ptb(path)
        words, ends, bounds, sentences = [], [], [0], [0]
        for name in SPLITS:
            w, e = _stream(by_split[name], lower=False)
            ends.append(e + len(words))
            words.extend(w)
            bounds.append(len(words))
            sentences.append(sentences[-1] + len(e))
        return _encode(words, np.concatenate(ends), bounds, 1, source, opts,
                       {"layout": "ptb", "min_count_applied": 1, "lowercased": False},
                       sentences)
    files = read_brown_dir(path) if layout == "brown-dir" else read_brown_tar(path)
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

