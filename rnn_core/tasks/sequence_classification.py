"""Numeric time series -> class: a user's ``.ts``, Parquet or NumPy file, or an aeon set.

Driver side only (no torch); the trainer is
``rnn_core.tasks._series_train:SeriesClassifierTrainer`` (the audio task's frame model over
the series' channels, standardized by the training split).
"""

from __future__ import annotations

from rnn_core.tasks import _series
from rnn_core.tasks._base import Task
from rnn_core.tasks._registry import register

__all__ = ["TASK"]

TASK = register(Task(
    name="sequence_classification",
    objective="val_acc",
    mode="max",
    trainer="rnn_core.tasks._series_train:SeriesClassifierTrainer",
    prepare=_series.preparer("classification"),
    data_options=_series.data_options,
    name_keys=(("cell", ""), ("num_layers", "L"), ("hidden_size", "H")),
    table_params=("cell", "bidirectional", "num_layers", "hidden_size"),
    data_help=_series.DATA_HELP,
    subset=("train_subset", "series"),
    reference="the best published accuracy of the set (timeseriesclassification.com; "
              "Ruiz et al. 2021 for the multivariate sets)",
    serving=_series.serving((("label", "string"), ("probability", "double"),
                             ("frames", "long"), ("note", "string"))),
    options=_series.options("classification"),
), __name__)
