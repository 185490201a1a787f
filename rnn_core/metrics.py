"""Metrics of a classifier's predictions that more than one task reports (NumPy only)."""

from __future__ import annotations

import numpy as np

__all__ = ["confusion", "macro_f1"]


def confusion(labels: np.ndarray, predicted: np.ndarray, num_classes: int) -> np.ndarray:
    """(num_classes, num_classes) counts: row the true class, column the predicted one."""
    labels, predicted = np.asarray(labels, np.int64), np.asarray(predicted, np.int64)
    return np.bincount(labels * num_classes + predicted,
                       minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def macro_f1(labels: np.ndarray, predicted: np.ndarray, num_classes: int) -> float:
    """The mean over classes of F1 (scikit-learn's ``f1_score(average="macro")``): a class
    absent from both ``labels`` and ``predicted`` is left out, one never predicted (or never
    present) counts 0, so a model that ignores a rare class cannot hide behind accuracy."""
    m = confusion(labels, predicted, num_classes)
    tp = np.diag(m).astype(np.float64)
    support, predicted_n = m.sum(1), m.sum(0)
    seen = (support + predicted_n) > 0
    if not seen.any():
        return 0.0
    denom = support + predicted_n
    f1 = np.divide(2 * tp, denom, out=np.zeros_like(tp), where=denom > 0)
    return float(f1[seen].mean())
