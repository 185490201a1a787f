"""Model-based search on your own labelled text (any number of classes): cell, depth, width,
embedding, direction, dropout and learning rate at once, with Optuna's TPE and ASHA.

    python sweeps/search.py --task text_classification --data-path reviews.parquet \\
        --text-column text --label-column label

Trials rank by validation accuracy; each also reports macro-F1 (``val_f1``, ``test_f1``), the
figure to read where the classes are unbalanced.
"""

from __future__ import annotations

from search_spaces.distributions import Choice, Conditional, IntRange, LogUniform, Uniform

__all__ = ["TITLE", "TASK", "GRID", "RECIPE", "PRESETS", "SCHEDULER", "SEARCH"]

TASK = "text_classification"

TITLE = ("Model-based search on your labelled text (TPE + ASHA): cell, layers, hidden, "
         "embedding, direction, dropout, learning rate")

GRID: dict[str, object] = {
    "cell": ["lstm", "gru"],
    "num_layers": IntRange(1, 2),
    "hidden_size": IntRange(32, 256, log=True),
    "bidirectional": [False, True],
    "dropout": Uniform(0.0, 0.6),
    "lr": LogUniform(3e-4, 1e-2),
    # GloVe 6B 50d as the first weights of a trained embedding, or one learned from scratch
    "embedding": ["learned", "glove50"],
    # pretrained vectors fix the width (50); a learned embedding draws its own
    "embedding_dim": Conditional("embedding", {"learned": IntRange(32, 256, log=True),
                                               "glove50": Choice([50])}),
}

RECIPE: dict[str, object] = {
    "backend": "native",
    "optimizer": "adam",
    "freeze_embedding": False,  # GloVe initialises the inputs; training moves them
    "weight_decay": 0.0,
    "batch_size": 64,
    "grad_clip": 5.0,
}

SEARCH = "tpe"
SCHEDULER = "asha"  # rungs at epochs 1 and 3 (grace 1, factor 3): a third go on at each

# Presets: data size, epochs and the number of trials (``samples``); a subset larger than
# its split takes the whole split.
PRESETS: dict[str, dict] = {
    # every text: 30 trials, up to 6 epochs
    "full": {"max_epochs": 6, "samples": 30, "train_subset": None, "val_subset": None,
             "test_subset": None},
    # 10,000 training texts, 2,000 for validation, all of test: 12 trials, up to 3 epochs
    "quick": {"max_epochs": 3, "samples": 12, "train_subset": 10000, "val_subset": 2000,
              "test_subset": None},
    # CI / --smoke-test: 2 tiny trials of 2 epochs on 200 texts, learned inputs only
    "smoke": {"max_epochs": 2, "samples": 2, "train_subset": 200, "val_subset": 64,
              "test_subset": 64,
              "grid": {"num_layers": IntRange(1, 2), "hidden_size": IntRange(8, 16, log=True),
                       "embedding": ["learned"],
                       "embedding_dim": Conditional("embedding", {
                           "learned": IntRange(8, 16, log=True)})}},
}
