"""Study S3's direction study: the best configuration of a finished sweep, trained uni- and
bidirectional over several seeds on IMDB.

The configuration is not fixed here: ``sweeps/bidirectional.py`` reads it from MLflow (the
validation pick of a finished sweep, ``--from-run`` / ``--from-experiment``) and runs it as the
recipe, with ``bidirectional`` the only axis and ``--num-samples`` (default: the preset's) the
seeds. Each seed trains both directions, so the report pairs them by seed.
"""

from __future__ import annotations

__all__ = ["TITLE", "TASK", "GRID", "RECIPE", "PRESETS", "SCHEDULER", "CONFIG_KEYS"]

TASK = "sentiment"  # rnn_core.tasks: what the trials train and the objective

TITLE = "Direction (study S3): a sweep's best configuration, uni- against bidirectional, IMDB"

GRID: dict[str, list] = {"bidirectional": [False, True]}

# filled from the source sweep's pick (its keys in ``CONFIG_KEYS``)
RECIPE: dict[str, object] = {}

# what is taken from the pick's MLflow params: the model and its training, not the data or
# the budget (those are this study's preset's) nor the seed (this study's seed axis)
CONFIG_KEYS = ("cell", "backend", "variant", "num_layers", "hidden_size", "embedding_dim",
               "dropout", "optimizer", "lr", "weight_decay", "batch_size", "grad_clip",
               "embedding", "freeze_embedding")

# both directions of every seed to the end: the difference is read at the same epoch
SCHEDULER = "fifo"

# Presets: data size, epochs, and the seeds (``samples``).
PRESETS: dict[str, dict] = {
    # all of IMDB's training split, 5 epochs, 5 seeds: 10 trials
    "full": {"max_epochs": 5, "samples": 5, "train_subset": None, "val_subset": None,
             "test_subset": None},
    # a training subset, 3 epochs, 3 seeds: 6 trials
    "quick": {"max_epochs": 3, "samples": 3, "train_subset": 4000, "val_subset": 1000,
              "test_subset": 2000},
    # CI / --smoke-test: 2 seeds on 128 reviews, 1 epoch: 4 trials
    "smoke": {"max_epochs": 1, "samples": 2, "train_subset": 128, "val_subset": 64,
              "test_subset": 64},
}
