"""Sentiment of reviews (binary classification): the task of studies S1-S3.

``text_classification`` on the IMDB file: its preparing, trainer and predictor, with IMDB's
reader (the text column ``review``, the label ``sentiment``, ``<br />`` cleaned; classes
negative and positive). The name stays: configs, runs, registered models and saved sweeps
record it. Driver side only (no torch).
"""

from __future__ import annotations

from rnn_core.tasks._base import Serving, Task
from rnn_core.tasks._registry import register
from rnn_core.tasks.text_classification import (
    PREDICTOR,
    TRAINER,
    embedding_options,
    prepare_text,
)
from rnn_core.tasks.text_classification import serving_bundle as text_bundle

__all__ = ["TASK", "data_options", "prepare", "serving_bundle"]

data_options = embedding_options  # IMDB's reading is fixed: only the embeddings vary


def prepare(data_path: str | None, seed: int, options: dict):
    """IMDB (or ``data_path``) encoded once (cached), with the embeddings ``options`` names.

    Returns:
        (EncodedCorpus, info logged on the parent run)
    """
    from rnn_core.data.imdb import LABELS, load_imdb, source_id

    return prepare_text(lambda: load_imdb(data_path), source_id(data_path), seed, options,
                        classes=LABELS)


def serving_bundle(corpus) -> dict:
    """The text classifier's bundle, with IMDB's markup cleaning and its class names."""
    from rnn_core.data.imdb import LABELS, MARKUP

    return {**text_bundle(corpus, MARKUP, "review"), "labels": list(LABELS)}


SERVING = Serving(
    input="review",
    outputs=(("label", "string"), ("probability", "double"), ("p_negative", "double"),
             ("p_positive", "double"), ("words", "long"), ("note", "string")),
    example=("One of the best films I have seen this year: moving, funny and beautifully "
             "shot.<br /><br />Go and see it.",
             "A dull, badly acted mess. I walked out after an hour."),
    bundle=serving_bundle,
    predictor=PREDICTOR,
)


TASK = register(Task(
    name="sentiment",
    objective="val_acc",
    mode="max",
    trainer=TRAINER,
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
