"""Model-based search on IMDB: optimizer, learning rate, dropout, layers, hidden size, embedding
size, direction, cell and GloVe-initialised inputs, all at once, with Optuna's TPE and ASHA.

The grids of study S3 vary one or three axes around a fixed recipe; this study lets TPE move
every axis together, because the best recipe for a bidirectional two-layer network is not the
one-layer recipe with a flag turned on. Ranges follow S3's studies (layers 1-3, hidden 32-512
narrowed to 256, embedding 8-256 from 32) so a pick is comparable with the compound grid's.
"""

from __future__ import annotations

from search_spaces.distributions import Choice, Conditional, IntRange, Uniform
from search_spaces.optimizers import LR_RANGES

__all__ = ["TITLE", "REFERENCE", "TASK", "GRID", "RECIPE", "PRESETS", "SCHEDULER", "SEARCH"]

TASK = "sentiment"  # rnn_core.tasks: what the trials train and the objective

TITLE = ("Model-based search on IMDB (TPE + ASHA): optimizer, learning rate, dropout, layers, "
         "hidden, embedding, direction, GloVe inputs")
# the figure a pick is read against: the compound grid's validation pick on the same split
REFERENCE = {"metric": "test_acc", "value": 0.8933,
             "source": "the compound-scaling grid's validation pick on all of IMDB (1 layer / "
                       "hidden 100 / embedding 128, RMSprop 1e-3; study S3's best: 0.8806)"}

GRID: dict[str, object] = {
    "optimizer": list(LR_RANGES),
    # each optimizer its own range: one range would compare the rates, not the optimizers
    "lr": Conditional("optimizer", LR_RANGES),
    "dropout": Uniform(0.0, 0.6),
    "num_layers": IntRange(1, 3),
    "hidden_size": IntRange(32, 256, log=True),
    "bidirectional": [False, True],
    "cell": ["lstm", "gru"],
    # GloVe 6B 50d as the first weights of a trained embedding, or one learned from scratch
    "embedding": ["learned", "glove50"],
    # pretrained vectors fix the width (50); a learned embedding draws its own
    "embedding_dim": Conditional("embedding", {"learned": IntRange(32, 256, log=True),
                                               "glove50": Choice([50])}),
}

RECIPE: dict[str, object] = {
    "backend": "native",
    "freeze_embedding": False,  # GloVe initialises the inputs; training moves them
    "weight_decay": 0.0,
    "batch_size": 64,
    "grad_clip": 5.0,
}

SEARCH = "tpe"
SCHEDULER = "asha"  # rungs at epochs 1 and 3 (grace 1, factor 3): a third go on at each

# Presets: data size, epochs and the number of trials (``samples``).
PRESETS: dict[str, dict] = {
    # all of IMDB's training split: 60 trials, up to 4 epochs, at most 107 trial-epochs under
    # ASHA (60 + 20 x 2 + 7 x 1); more than a 2-core machine trains in 3 hours, so give it
    # --time-budget (docs/search.md has the measured run)
    "full": {"max_epochs": 4, "samples": 60, "train_subset": None, "val_subset": None,
             "test_subset": None},
    # a training subset: 24 trials, up to 3 epochs
    "quick": {"max_epochs": 3, "samples": 24, "train_subset": 4000, "val_subset": 1000,
              "test_subset": 2000},
    # CI / --smoke-test: 6 tiny trials on 128 reviews, about 1-2 minutes
    "smoke": {"max_epochs": 2, "samples": 6, "train_subset": 128, "val_subset": 64,
              "test_subset": 64,
              "grid": {"num_layers": IntRange(1, 2), "hidden_size": IntRange(8, 32, log=True),
                       "embedding_dim": Conditional("embedding", {
                           "learned": IntRange(8, 32, log=True), "glove50": Choice([50])})}},
}
