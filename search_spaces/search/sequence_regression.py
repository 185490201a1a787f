"""Your own time series -> a real number, searched with TPE and ASHA: cell, depth, width,
input layer, dropout, learning rate and direction at once.

The model is the audio task's frame model with one output (a linear input layer over each
time step's channels, a recurrent stack, the last valid state to the value), trained on
targets standardized by the training split. The space, recipe and presets are the
classification space's: the same models and the same archive sizes (tens to hundreds of
series), only the head and the objective differ.
"""

from __future__ import annotations

from search_spaces.search.sequence_classification import (
    GRID,
    PRESETS,
    RECIPE,
    SCHEDULER,
    SEARCH,
)

__all__ = ["TITLE", "TASK", "GRID", "RECIPE", "PRESETS", "SCHEDULER", "SEARCH"]

TASK = "sequence_regression"  # rnn_core.tasks: objective val_rmse (lower), MAE and R^2 too

TITLE = ("Time-series regression (TPE + ASHA): cell, layers, hidden, input layer, "
         "dropout, learning rate, direction")
