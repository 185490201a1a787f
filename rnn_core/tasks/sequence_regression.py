"""Numeric time series -> a real number: a user's ``.ts``, Parquet or NumPy file, or an aeon
regression set (Covid3Month, CardanoSentiment).

Driver side only (no torch); the trainer is
``rnn_core.tasks._series_train:SeriesRegressorTrainer`` (the frame model with one output,
mean squared error on targets standardized by the training split).
"""

from __future__ import annotations

from rnn_core.tasks import _series
from rnn_core.tasks._base import Task
from rnn_core.tasks._registry import register

__all__ = ["TASK"]

TASK = register(Task(
    name="sequence_regression",
    objective="val_rmse",  # in the target's own units
    mode="min",
    trainer="rnn_core.tasks._series_train:SeriesRegressorTrainer",
    prepare=_series.preparer("regression"),
    data_options=_series.data_options,
    name_keys=(("cell", ""), ("num_layers", "L"), ("hidden_size", "H")),
    table_params=("cell", "bidirectional", "num_layers", "hidden_size"),
    data_help=_series.DATA_HELP,
    subset=("train_subset", "series"),
    reference="the time series extrinsic regression archive's published RMSE per set (Tan, "
              "Bergmeir, Petitjean & Webb 2021, Time series extrinsic regression)",
    serving=_series.serving((("value", "double"), ("frames", "long"), ("note", "string"))),
    options=_series.options("regression"),
), __name__)
