"""Sentiment of reviews (binary classification): the task of studies S1-S3.

Driver side only (no torch): the task's declaration, and preparing its data once (IMDB
encoded to integer arrays, plus any pretrained embedding matrices the grid asks for). The
trainer is ``rnn_core.tasks._sentiment_train.SentimentTrainer``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Sequence

from rnn_core.errors import ConfigError
from rnn_core.tasks._base import Serving, Task
from rnn_core.tasks._registry import register

__all__ = ["TASK", "attach_embeddings", "data_options", "prepare", "serving_bundle"]

log = logging.getLogger(__name__)


def data_options(grid: dict, base: dict) -> dict:
    """The pretrained inputs a study asks for (its ``embedding`` axis or fixed value) and the
    training subset word2vec is trained on."""
    values = grid.get("embedding", base.get("embedding", "learned"))
    values = values if isinstance(values, list) else [values]
    names = sorted({str(v) for v in values} - {"learned"})
    return {"embeddings": names, "embedding_train_subset": base.get("train_subset")} if names \
        else {}


def prepare(data_path: str | None, seed: int, options: dict):
    """IMDB (or ``data_path``) encoded once (cached), with the embeddings ``options`` names.

    Returns:
        (EncodedCorpus, info logged on the parent run)
    """
    from rnn_core.data.imdb import load_imdb, source_id
    from rnn_core.data.text import TextOptions, encode_corpus

    t0 = time.perf_counter()
    corpus = encode_corpus(None, source_id(data_path), TextOptions(seed=seed),
                           load_frame=lambda: load_imdb(data_path))
    log.info("data: vocabulary %d, examples %s, tokens %s (%.1f s)", corpus.vocab_size,
             corpus.stats["examples"], corpus.stats["tokens"], time.perf_counter() - t0)
    names = options.get("embeddings", [])
    attach_embeddings(corpus, names, options.get("embedding_train_subset"), seed)
    info = {"data_source": corpus.stats["source"], "vocab_size": corpus.vocab_size}
    if names:
        info["embedding_coverage"] = corpus.embedding_coverage
    return corpus, info


def attach_embeddings(corpus, names: Sequence[str], train_subset: int | None,
                      seed: int) -> None:
    """Build each pretrained embedding matrix once, on the driver, into ``corpus.embeddings``.

    ``word2vec300`` is trained on the training split the trials train on (the same seeded
    subset), decoded from its ids (``<pad>``/``<unk>`` dropped), and cached by corpus, split,
    size and seed. Coverage counts the tokens of that split.
    """
    if not names:
        return
    import numpy as np

    from rnn_core.data import vectors

    train = corpus.splits["train"].subset(train_subset, seed)
    counts = np.bincount(np.asarray(train.tokens), minlength=corpus.vocab_size)
    token_counts = {w: int(c) for w, c in zip(corpus.itos, counts, strict=True) if c}
    corpus_id = hashlib.sha1(json.dumps([corpus.stats.get("source"),
                                         corpus.stats.get("options")], sort_keys=True,
                                        default=str).encode()).hexdigest()[:10]
    cache_key = f"imdb-train-{corpus_id}-n{len(train)}-seed{seed}"
    sentences = None
    for name in names:
        t0 = time.perf_counter()
        if name == "word2vec300" and sentences is None:
            itos = np.asarray(corpus.itos, dtype=object)
            sentences = [itos[ids[ids > 1]].tolist() for ids in
                         (np.asarray(train.tokens[a:b]) for a, b in
                          zip(train.offsets[:-1], train.offsets[1:], strict=True))]
        try:
            kv = vectors.resolve_vectors(name, train_sentences=sentences, cache_key=cache_key)
        except (ValueError, FileNotFoundError) as exc:
            raise ConfigError(f"embedding {name!r}: {exc}") from exc
        weights, coverage = vectors.embedding_matrix(kv, corpus.itos, pad_index=corpus.pad_index,
                                                     seed=seed, counts=token_counts)
        corpus.embeddings[name] = weights
        corpus.embedding_coverage[name] = coverage
        log.info("embedding %s: %s x %d, vocab coverage %.3f, token coverage %.3f (%.1f s)",
                 name, weights.shape[0], weights.shape[1], coverage["vocab_coverage"],
                 coverage["token_coverage"], time.perf_counter() - t0)


def serving_bundle(corpus) -> dict:
    """What a logged model keeps of the data its trial trained on: the vocabulary and how a
    review became token ids (``rnn_core.tasks._sentiment_serve`` applies it to raw text)."""
    from rnn_core.data.imdb import LABELS, MARKUP
    from rnn_core.data.text import TOKEN_PATTERN, UNK, stop_words

    opts = corpus.stats["options"]
    return {"vocabulary": list(corpus.itos), "unk": UNK, "pad_index": corpus.pad_index,
            "markup": MARKUP, "token_pattern": TOKEN_PATTERN,
            "stop_words": sorted(stop_words()) if opts["remove_stop_words"] else [],
            "max_length": int(opts["max_length"]), "labels": list(LABELS)}


SERVING = Serving(
    input="review",
    outputs=(("label", "string"), ("probability", "double"), ("p_negative", "double"),
             ("p_positive", "double"), ("words", "long"), ("note", "string")),
    example=("One of the best films I have seen this year: moving, funny and beautifully "
             "shot.<br /><br />Go and see it.",
             "A dull, badly acted mess. I walked out after an hour."),
    bundle=serving_bundle,
    predictor="rnn_core.tasks._sentiment_serve:SentimentPredictor",
)


TASK = register(Task(
    name="sentiment",
    objective="val_acc",
    mode="max",
    trainer="rnn_core.tasks._sentiment_train:SentimentTrainer",
    prepare=prepare,
    data_options=data_options,
    name_keys=(("cell", ""), ("num_layers", "L"), ("hidden_size", "H"), ("embedding_dim", "E")),
    table_params=("num_layers", "hidden_size", "embedding_dim"),
    # a two-class classifier that predicts 1/2 for everything has cross-entropy ln 2
    chance=("ln 2", 0.6931),
    data_help="an aclImdb/ folder or a review,sentiment CSV (default: IMDB fetched once into "
              "the data cache)",
    subset=("train_subset", "reviews"),
    reference="study S3 (IMDB, LSTM): best compound-scaling config 2 layers / hidden 100 / "
              "embedding 32, test accuracy 0.8806",
    serving=SERVING,
), __name__)
