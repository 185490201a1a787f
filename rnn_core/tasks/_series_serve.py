"""Raw series -> class (or value): the time-series tasks' logged model at work.

A series is a list of frames, each a list of the channels' values, or a flat list for a
one-channel series (a JSON text of either, as a CSV cell holds it, is read too). It is scaled
by the training split's statistics the model carries (``_series.serving_bundle``), so no data
cache is read. A value that cannot be read as a series gets a row whose ``note`` says why, in
one sentence naming its row; the other rows are predicted as usual.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence

import numpy as np
import torch

from rnn_core.models import FrameClassifier, FrameConfig, FrameRegressor

__all__ = ["SeriesPredictor", "read_value"]

_BATCH = 256


class SeriesPredictor:
    """Series -> one row each: ``label`` and its ``probability`` (classification) or ``value``
    (regression), the ``frames`` read and a ``note`` (empty when there is nothing to say).

    Args:
        bundle: classes, channels and scale (``rnn_core.tasks._series.serving_bundle``).
        checkpoint: the trial's ``best.pt`` (state_dict, config, model_config).
    """

    def __init__(self, bundle: dict, checkpoint: dict) -> None:
        self.regression = bundle["kind"] == "regression"
        cfg = FrameConfig(**checkpoint["model_config"])
        self.model = (FrameRegressor if self.regression else FrameClassifier)(cfg)
        self.model.load_state_dict(checkpoint["state_dict"])
        self.model.eval()
        self.classes = list(bundle["classes"])
        self.channels = int(bundle["channels"])
        self.mean = np.asarray(bundle["mean"], dtype=np.float64)
        self.std = np.asarray(bundle["std"], dtype=np.float64)
        self.target = (float(bundle["target_mean"]), float(bundle["target_std"]))
        self.interpolate = bundle.get("missing") == "interpolate"

    def predict(self, values: Sequence) -> list[dict]:
        rows: list[dict] = []
        ready: list[tuple[int, np.ndarray]] = []
        for i, value in enumerate(values):
            row = ({"value": math.nan} if self.regression
                   else {"label": None, "probability": math.nan})
            row.update(frames=0, note="")
            rows.append(row)
            series, note = read_value(i, value, self.channels, self.interpolate)
            row["note"] = note
            if series is not None:
                row["frames"] = len(series)
                ready.append((i, ((series - self.mean) / self.std).astype(np.float32)))
        for i, out in self._outputs(ready):
            if self.regression:
                rows[i]["value"] = out * self.target[1] + self.target[0]
            else:
                best = int(np.argmax(out))
                rows[i].update(label=self.classes[best], probability=float(out[best]))
        return rows

    @torch.inference_mode()
    def _outputs(self, items: list[tuple[int, np.ndarray]]):
        """(row, class probabilities or a standardized value) in batches of similar length."""
        items = sorted(items, key=lambda item: len(item[1]))
        for start in range(0, len(items), _BATCH):
            batch = items[start:start + _BATCH]
            lengths = torch.tensor([len(s) for _, s in batch], dtype=torch.int64)
            frames = torch.zeros(len(batch), int(lengths.max()), self.channels)
            for row, (_, s) in enumerate(batch):
                frames[row, :len(s)] = torch.from_numpy(s)
            out = self.model(frames, lengths)
            out = out.tolist() if self.regression else torch.softmax(out, 1).numpy()
            yield from ((i, o) for (i, _), o in zip(batch, out, strict=True))


def read_value(i: int, value, channels: int, interpolate: bool = False
               ) -> tuple[np.ndarray | None, str]:
    """(the series as (T, channels) float64, a note); None and why where it cannot be read."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None, f"row {i}: the series is empty (missing)"
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return None, (f"row {i}: expected a list of frames (or of values), got the text "
                          f"{value[:40]!r}")
    if hasattr(value, "tolist"):
        value = value.tolist()
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        return None, (f"row {i}: expected a list of frames of {channels} numbers each (or a "
                      "flat list for one channel); its frames differ in length or hold a "
                      "value that is not a number")
    if arr.ndim == 1 and channels == 1:
        arr = arr[:, None]
    if arr.ndim != 2 or arr.shape[1] != channels:
        return None, (f"row {i}: expected a list of frames of {channels} numbers each"
                      + (" (or a flat list)" if channels == 1 else "")
                      + f"; got shape {arr.shape}")
    if not len(arr):
        return None, f"row {i}: the series has no frames"
    gaps = ~np.isfinite(arr)
    if not gaps.any():
        return arr, ""
    if not interpolate or np.isinf(arr).any() or gaps.all(0).any():
        return None, (f"row {i}: frame {int(np.argwhere(gaps)[0][0])} has a missing or "
                      "infinite value; the model was trained on complete series")
    steps = np.arange(len(arr))
    for c in range(channels):
        ok = ~gaps[:, c]
        arr[:, c] = np.interp(steps, steps[ok], arr[ok, c])
    return arr, f"row {i}: {int(gaps.sum())} missing values interpolated, as in training"
