"""Your own time series -> class, searched with TPE and ASHA: cell, depth, width, input layer,
dropout, learning rate and direction at once.

The model is the audio task's frame classifier (a linear input layer over each time step's
channels, a recurrent stack, the last valid state to the classes); the ranges suit the
UCR/UEA archive's sets (tens to a few hundred training series, up to a few hundred steps).
"""

from __future__ import annotations

from search_spaces.distributions import IntRange, LogUniform, Uniform

__all__ = ["TITLE", "TASK", "GRID", "RECIPE", "PRESETS", "SCHEDULER", "SEARCH"]

TASK = "sequence_classification"  # rnn_core.tasks: objective val_acc (higher), macro-F1 too

TITLE = ("Time-series classification (TPE + ASHA): cell, layers, hidden, input layer, "
         "dropout, learning rate, direction")

GRID: dict[str, object] = {
    "cell": ["rnn_tanh", "lstm", "gru"],
    "num_layers": IntRange(1, 3),
    "hidden_size": IntRange(16, 128, log=True),
    "input_size": IntRange(8, 64, log=True),
    "dropout": Uniform(0.0, 0.5),
    "lr": LogUniform(3e-4, 1e-2),
    "bidirectional": [False, True],
}

RECIPE: dict[str, object] = {
    "backend": "native",
    "optimizer": "adam",
    "batch_size": 16,  # small sets: a few hundred series make 10-20 steps an epoch
    "grad_clip": 5.0,
}

SEARCH = "tpe"
SCHEDULER = "asha"  # rungs at epochs 1, 3, 9, 27 (grace 1, factor 3)

# Presets: epochs, the number of trials (``samples``) and the data's size.
PRESETS: dict[str, dict] = {
    # 40 trials up to 60 epochs; ASHA stops most of them at the early rungs
    "full": {"max_epochs": 60, "samples": 40, "train_subset": None, "val_subset": None,
             "test_subset": None},
    "quick": {"max_epochs": 30, "samples": 16, "train_subset": None, "val_subset": None,
              "test_subset": None},
    # CI / --smoke-test: 3 tiny trials, 2 epochs, on 96 training series
    "smoke": {"max_epochs": 2, "samples": 3, "train_subset": 96, "val_subset": None,
              "test_subset": None,
              "grid": {"num_layers": IntRange(1, 2), "hidden_size": IntRange(8, 16, log=True),
                       "input_size": IntRange(8, 16, log=True)}},
}
