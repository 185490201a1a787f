"""What the two time-series tasks share on the driver (no torch): their data options, preparing
the data once, and what a logged model keeps to read raw series.

``sequence_classification`` and ``sequence_regression`` differ in their objective, trainer and
outputs only; both read the same files (``rnn_core.data.series``) and aeon's bundled sets.
"""

from __future__ import annotations

import logging
import time

from rnn_core.data.series import MISSING
from rnn_core.data.series_sets import AEON_SETS
from rnn_core.tasks._base import Serving, TaskOption

__all__ = ["DATA_HELP", "data_options", "options", "preparer", "serving", "serving_bundle"]

log = logging.getLogger(__name__)

DATA_HELP = ("a .ts, .parquet or .npz file of labelled series (split 7:1:2, seeded), or a "
             "folder with one *_TRAIN and *_TEST pair of them (docs/own_data.md)")
_KEYS = ("dataset", "missing", "label_column")


def options(kind: str) -> tuple[TaskOption, ...]:
    """The task's data options: an aeon set by name, missing values, the label column."""
    names = ", ".join(n for n, k in AEON_SETS.items() if k == kind)
    return (
        TaskOption("--dataset", "dataset", f"an aeon {kind} set by name, read from the aeon "
                   f"1.6.0 wheel (fetched once into the data cache): {names}"),
        TaskOption("--missing", "missing", "what a missing value ('?' or NaN) does: refuse the "
                   "file, naming its row (default), or interpolate along time",
                   choices=MISSING),
        TaskOption("--label-column", "label_column", "a Parquet file's label or target column "
                   "(default: the first of label, target, class, y)"),
    )


def data_options(grid: dict, base: dict) -> dict:
    """The study's data options from its fixed config (``--dataset`` and the rest)."""
    return {k: base[k] for k in _KEYS if base.get(k) is not None}


def preparer(kind: str):
    """The task's ``prepare``: ``(data_path, seed, options) -> (SeriesSet, info)``."""

    def prepare(data_path: str | None, seed: int, opts: dict):
        from rnn_core.data.series_sets import load_series_set

        t0 = time.perf_counter()
        missing = str(opts.get("missing") or "refuse")
        data = load_series_set(data_path, opts.get("dataset"), kind, seed, missing,
                               opts.get("label_column"))
        data = data.standardized()
        data.stats["missing"] = missing  # a logged model reads raw series the same way
        counts = {name: len(s) for name, s in data.splits.items()}
        log.info("data: %s, %s, %d channels, series %s (%.1f s)", data.stats["source"],
                 f"{len(data.classes)} classes" if data.classes else "regression",
                 data.num_features, counts, time.perf_counter() - t0)
        info = {"data_source": data.stats["source"], "num_features": data.num_features,
                "sequences": counts, "lengths": data.stats["lengths"],
                "val_split": data.stats["val_split"]}
        if kind == "classification":
            info["num_classes"] = len(data.classes)
        else:
            info.update(target_mean=data.target_mean, target_std=data.target_std)
        return data, info

    return prepare


def serving_bundle(data) -> dict:
    """What a logged model keeps of its data: the classes, the channel count, and the training
    split's scale of the channels (and of the target)."""
    return {"kind": data.kind, "classes": list(data.classes), "channels": data.num_features,
            "mean": list(data.mean), "std": list(data.std),
            "target_mean": data.target_mean, "target_std": data.target_std,
            "missing": data.stats.get("missing", "refuse")}


def _examples(data) -> tuple:
    return tuple(data.examples)


def serving(outputs: tuple[tuple[str, str], ...]) -> Serving:
    return Serving(input="series", outputs=outputs, example=_examples, bundle=serving_bundle,
                   predictor="rnn_core.tasks._series_serve:SeriesPredictor")
