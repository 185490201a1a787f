"""Study S3's optimizer comparison: SGD, Adagrad, RMSprop and Adam x LSTM and GRU on IMDB,
each optimizer at learning rates drawn log-uniformly from its own range.

A learning rate that suits Adam leaves SGD barely moving and one that suits SGD makes Adam
diverge, so a single grid of rates compares the rates, not the optimizers: each optimizer
draws from its own range (``Conditional``), and the study runs as a random search
(``SEARCH``), the trials spread over optimizer x cell x learning rate.
"""

from __future__ import annotations

from search_spaces.distributions import Conditional, LogUniform

__all__ = ["TITLE", "TASK", "GRID", "RECIPE", "PRESETS", "SCHEDULER", "SEARCH", "LR_RANGES"]

TASK = "sentiment"  # rnn_core.tasks: what the trials train and the objective

TITLE = "Optimizer comparison (study S3): SGD, Adagrad, RMSprop, Adam x LSTM, GRU on IMDB"

# each optimizer's learning-rate range, about two decades around its usual default
LR_RANGES: dict[str, LogUniform] = {
    "sgd": LogUniform(1e-2, 1.0),
    "adagrad": LogUniform(1e-3, 1e-1),
    "rmsprop": LogUniform(1e-4, 1e-2),
    "adam": LogUniform(1e-4, 1e-2),
}

GRID: dict[str, object] = {
    "optimizer": list(LR_RANGES),
    "cell": ["lstm", "gru"],
    "lr": Conditional("optimizer", LR_RANGES),
}

# compound scaling's recipe at one layer (the optimizer and learning rate are searched)
RECIPE: dict[str, object] = {
    "backend": "native",
    "bidirectional": False,
    "num_layers": 1,
    "hidden_size": 100,
    "embedding_dim": 64,
    "dropout": 0.5,
    "weight_decay": 0.0,
    "batch_size": 64,
    "grad_clip": 5.0,
}

# the learning rate cannot be enumerated: draw configurations at random (``--search tpe``
# concentrates the budget where the results are good instead)
SEARCH = "random"
# every trial to the end: the ranking compares optimizers over the whole run (S3 saw SGD stuck
# near a loss of 0.695 throughout; an early rung would only hide that)
SCHEDULER = "fifo"

# Presets: data size, epochs and the number of trials (``samples``).
PRESETS: dict[str, dict] = {
    # all of IMDB's training split, 5 epochs, 4 trials per optimizer x cell on average
    "full": {"max_epochs": 5, "samples": 32, "train_subset": None, "val_subset": None,
             "test_subset": None},
    # a training subset, 3 epochs, 2 trials per optimizer x cell on average
    "quick": {"max_epochs": 3, "samples": 16, "train_subset": 4000, "val_subset": 1000,
              "test_subset": 2000},
    # CI / --smoke-test: 4 tiny trials on 128 reviews, about 1-2 minutes
    "smoke": {"max_epochs": 1, "samples": 4, "train_subset": 128, "val_subset": 64,
              "test_subset": 64, "hidden_size": 16, "embedding_dim": 16},
}
