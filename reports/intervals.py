"""How sure each test figure of a report is: its 95 % interval and n, in words and columns.

Trials log their test accuracy's Wilson bounds beside it (``test_acc_ci_low``,
``test_acc_ci_high``, ``test_n``; ``rnn_core.training.accuracy_intervals``). Runs logged
before that carry the count alone for some tasks: their interval is computed here from the
same count. A figure with no count gets none, and the text says so, rather than a guess.
"""

from __future__ import annotations

import math

import pandas as pd

from rnn_core.stats import Interval, wilson
from rnn_core.tasks import Task

__all__ = ["interval_columns", "test_interval", "test_text"]


def interval_columns(task: Task) -> tuple[str, ...]:
    """The run columns a test figure's interval is read from."""
    test = task.test_metric
    return (f"{test}_ci_low", f"{test}_ci_high", "test_n")


def _num(row: pd.Series, key: str) -> float:
    try:
        v = float(row.get(key, math.nan))
    except (TypeError, ValueError):
        return math.nan
    return v


def test_interval(row: pd.Series, task: Task) -> Interval | None:
    """The test figure of one trial with its 95 % interval (None: no test figure, or no
    count to rest an interval on)."""
    test = task.test_metric
    value, n = _num(row, test), _num(row, "test_n")
    if not math.isfinite(value) or not math.isfinite(n) or n <= 0:
        return None
    low, high = _num(row, f"{test}_ci_low"), _num(row, f"{test}_ci_high")
    if math.isfinite(low) and math.isfinite(high):
        return Interval(value, low, high, int(n))
    if task.measure.endswith("acc"):
        return wilson(round(value * n), int(n))
    return None


def test_text(row: pd.Series, task: Task, digits: int | None = None) -> str:
    """``test acc 0.8806 (95 % CI 0.8741-0.8869, n = 9,917)``; without a count, the figure
    and ``no interval: n not logged``; without a figure, ``test acc not measured``."""
    test, measure = task.test_metric, task.measure
    digits = digits if digits is not None else (4 if task.mode == "max" else 1)
    value = _num(row, test)
    if not math.isfinite(value):
        return f"test {measure} not measured"
    iv = test_interval(row, task)
    if iv is None:
        return f"test {measure} {value:.{digits}f} (no interval: n not logged)"
    return f"test {measure} {iv.text(digits)}"
