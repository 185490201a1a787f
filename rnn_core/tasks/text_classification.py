"""Text classification on a user's labelled table: any number of classes, no code.

Driver side only (no torch): the task's declaration, its data options, and preparing a corpus
once (a table read by ``rnn_core.data.tables``, encoded by ``rnn_core.data.text``, plus any
pretrained embedding matrices the grid asks for). ``sentiment`` is this task on the IMDB file:
it calls ``prepare_text`` and shares the trainer
(``rnn_core.tasks._text_train.TextClassifierTrainer``) and the predictor.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable, Sequence

from rnn_core.errors import ConfigError
from rnn_core.tasks._base import Serving, Task, TaskOption
from rnn_core.tasks._registry import register

__all__ = ["OPTIONS", "TASK", "TRAINER", "attach_embeddings", "data_options",
           "embedding_options", "prepare", "prepare_text", "serving_bundle"]

log = logging.getLogger(__name__)
TRAINER = "rnn_core.tasks._text_train:TextClassifierTrainer"
PREDICTOR = "rnn_core.tasks._text_serve:TextPredictor"


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise ValueError(text)
    return value


OPTIONS = (
    TaskOption("--text-column", "text_column", "the column holding the text (default text)"),
    TaskOption("--label-column", "label_column",
               "the column holding the class: strings or numbers, any number of classes "
               "(default label)"),
    TaskOption("--encoding", "encoding",
               "the encoding of CSV, TSV and JSON files (default utf-8; latin-1, cp1252, ...)"),
    TaskOption("--min-freq", "min_freq", "a word enters the vocabulary when it occurs at least "
               "this often in the training split (default 5)", type=_positive_int),
    TaskOption("--max-length", "max_length", "words of a text read (its first ones, stop words "
               "left out; default 256)", type=_positive_int),
    TaskOption("--stop-words", "stop_words", "drop English stop words (scikit-learn's list, "
               "'not' among them) or keep them (default drop)", choices=("drop", "keep")),
)
# each option's value where a sweep leaves it out
_DEFAULTS = {"text_column": "text", "label_column": "label", "encoding": "utf-8",
             "min_freq": 5, "max_length": 256, "stop_words": "drop"}


def embedding_options(grid: dict, base: dict) -> dict:
    """The pretrained inputs a study asks for (its ``embedding`` axis or fixed value) and the
    training subset word2vec is trained on."""
    values = grid.get("embedding", base.get("embedding", "learned"))
    values = values if isinstance(values, list) else [values]
    names = sorted({str(v) for v in values} - {"learned"})
    return {"embeddings": names, "embedding_train_subset": base.get("train_subset")} if names \
        else {}


def data_options(grid: dict, base: dict) -> dict:
    """The table's columns and encoding, how its text is encoded, and the embeddings."""
    return {**{k: base.get(k, v) for k, v in _DEFAULTS.items()},
            **embedding_options(grid, base)}


def prepare_text(load_frame: Callable, source: str, seed: int, options: dict,
                 text_options=None, classes: Sequence[str] | None = None):
    """A ``text,label`` frame (``load_frame()``, called on a cache miss) encoded once, with
    the embeddings ``options`` names.

    Returns:
        (EncodedCorpus, info logged on the parent run)
    """
    from rnn_core.data.text import TextOptions, encode_corpus

    t0 = time.perf_counter()
    corpus = encode_corpus(None, source, text_options or TextOptions(seed=seed),
                           load_frame=load_frame, classes=classes)
    log.info("data: vocabulary %d, examples %s, tokens %s (%.1f s)", corpus.vocab_size,
             corpus.stats["examples"], corpus.stats["tokens"], time.perf_counter() - t0)
    names = options.get("embeddings", [])
    attach_embeddings(corpus, names, options.get("embedding_train_subset"), seed)
    info = {"data_source": corpus.stats["source"], "vocab_size": corpus.vocab_size}
    if names:
        info["embedding_coverage"] = corpus.embedding_coverage
    return corpus, info


def prepare(data_path: str | None, seed: int, options: dict):
    """The table(s) at ``data_path`` read, split and encoded once (cached)."""
    from rnn_core.data.tables import TableOptions, load_table, table_source_id
    from rnn_core.data.text import TextOptions

    if data_path is None:
        raise ConfigError(f"--data-path is required for text_classification: {TASK.data_help}")
    opts = {**_DEFAULTS, **{k: v for k, v in options.items() if v is not None}}
    table = TableOptions(str(opts["text_column"]), str(opts["label_column"]),
                         str(opts["encoding"]))
    text = TextOptions(min_freq=int(opts["min_freq"]), max_length=int(opts["max_length"]),
                       remove_stop_words=opts["stop_words"] == "drop", seed=seed)
    corpus, info = prepare_text(lambda: load_table(data_path, table),
                                table_source_id(data_path, table), seed, options, text)
    info.update(classes=", ".join(corpus.classes), num_classes=len(corpus.classes),
                examples=json.dumps(corpus.stats["examples"]),
                duplicates_dropped=int(corpus.stats.get("duplicates_dropped", 0)))
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
    # "imdb-" names every corpus's vectors: vectors cached under it stay found
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


def serving_bundle(corpus, markup: str | None = None, noun: str = "text") -> dict:
    """What a logged model keeps of the data its trial trained on: the vocabulary, the class
    names and how a text became token ids (``rnn_core.tasks._text_serve`` applies it to raw
    text); ``markup``: a pattern the corpus replaced by spaces before tokenizing."""
    from rnn_core.data.text import TOKEN_PATTERN, UNK, stop_words

    opts = corpus.stats["options"]
    return {"vocabulary": list(corpus.itos), "unk": UNK, "pad_index": corpus.pad_index,
            "markup": markup, "token_pattern": TOKEN_PATTERN,
            "stop_words": sorted(stop_words()) if opts["remove_stop_words"] else [],
            "max_length": int(opts["max_length"]), "labels": list(corpus.classes),
            "noun": noun}


SERVING = Serving(
    input="text",
    outputs=(("label", "string"), ("probability", "double"), ("words", "long"),
             ("note", "string")),
    example=("Works wonders, thank you so much!",
             "Still waiting for a reply after three days. Not impressed."),
    bundle=serving_bundle,
    predictor=PREDICTOR,
)


TASK = register(Task(
    name="text_classification",
    objective="val_acc",
    mode="max",
    trainer=TRAINER,
    prepare=prepare,
    data_options=data_options,
    name_keys=(("cell", ""), ("num_layers", "L"), ("hidden_size", "H"), ("embedding_dim", "E")),
    table_params=("cell", "num_layers", "hidden_size", "embedding_dim"),
    data_help="a table (.csv, .tsv, .parquet, .jsonl, .json) with a text and a label column, "
              "split 7:1:2 stratified; or a folder with train.*, test.* and optionally val.* "
              "(or valid.*)",
    subset=("train_subset", "texts"),
    serving=SERVING,
    options=OPTIONS,
), __name__)
