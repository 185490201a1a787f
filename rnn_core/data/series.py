"""Numeric time series with a class or a target each, read from aeon ``.ts``, Parquet or NumPy.

Every reader gives a ``SeriesTable``: each series a (T_i, channels) float32 array (lengths may
differ between series, never between the channels of one), its label (a class name) or its
target (a float), and where it came from, so a later check can name the line or row. Bad input
is refused with one sentence naming the file and the line (``.ts``) or row (Parquet, NumPy;
rows count from 0 as pandas and NumPy index them).

The ``.ts`` format (aeon / timeseriesclassification.com): ``@`` header lines (``@classLabel
true a b``, ``@targetLabel true``, ``@dimensions 3``, ...), then after ``@data`` one series per
line: its channels separated by ``:``, each a comma-separated series over time, the label or
target last; ``?`` (or NaN) marks a missing value.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rnn_core.errors import DataError

__all__ = ["KINDS", "MISSING", "SeriesTable", "read_npz", "read_parquet", "read_series",
           "read_ts"]

KINDS = ("classification", "regression")
# what a missing value does: refuse the file (naming the row), or fill it in along time
MISSING = ("refuse", "interpolate")
LABEL_COLUMNS = ("label", "target", "class", "y")  # a Parquet file's label, first found


@dataclass
class SeriesTable:
    """Series read from one file.

    Attributes:
        series: (T_i, C) float32 arrays.
        labels: class names (classification) or float targets (regression), one per series.
        classes: the class names the file declares (``@classLabel``), else None.
        origin: the file, for messages.
        rows: where each series is (``line 12``, ``row 3``), for messages.
    """

    series: list[np.ndarray]
    labels: list
    classes: list[str] | None
    origin: str
    rows: list[str]

    @property
    def channels(self) -> int:
        return int(self.series[0].shape[1])


def read_series(path: str | Path, kind: str, missing: str = "refuse",
                label_column: str | None = None) -> SeriesTable:
    """The series in ``path`` (``.ts``, ``.parquet``, ``.npz``) by its suffix."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".ts":
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise DataError(f"{path}: cannot read it as text ({exc})") from None
        return read_ts(text, str(path), kind, missing)
    if suffix == ".parquet":
        return read_parquet(path, kind, missing, label_column)
    if suffix == ".npz":
        return read_npz(path, kind, missing)
    raise DataError(f"{path}: expected a .ts, .parquet or .npz file of labelled series")


def read_ts(text: str, origin: str, kind: str = "classification",
            missing: str = "refuse") -> SeriesTable:
    """The series of a ``.ts`` file's text (``origin`` names it in messages)."""
    header: dict[str, list[str]] = {}
    series, labels, rows, in_data = [], [], [], False
    for n, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith(("#", "%")):
            continue
        if not in_data:
            if line.lower() == "@data":
                in_data = True
                _check_header(header, origin, kind)
            elif line.startswith("@"):
                key, *values = line.split()
                header[key.lower()] = values
            continue
        where = f"line {n}"
        *channels, label = line.split(":")
        if not channels:
            raise DataError(f"{origin} {where}: expected channels separated by ':' and the "
                            "label last, found no ':'")
        if any("(" in c for c in channels):
            raise DataError(f"{origin} {where}: time-stamped values '(t,v)' are not read; "
                            "give one value per time step")
        dims = header.get("@dimensions")
        if dims and dims[0].isdigit() and len(channels) != int(dims[0]):
            raise DataError(f"{origin} {where}: expected {dims[0]} channels (@dimensions), "
                            f"found {len(channels)}")
        values = [_numbers(c.split(","), origin, where, i) for i, c in enumerate(channels)]
        series.append(_stack(values, origin, where, missing))
        labels.append(_label(label.strip(), kind, origin, where))
        rows.append(where)
    if not in_data or not series:
        raise DataError(f"{origin} holds no @data rows; expected a .ts file of labelled series")
    classes = header.get("@classlabel", [])[1:] if kind == "classification" else None
    if classes:
        unknown = sorted(set(labels) - set(classes))
        if unknown:
            bad = next(r for r, v in zip(rows, labels, strict=True) if v in unknown)
            raise DataError(f"{origin} {bad}: label {unknown[0]!r} is outside @classLabel "
                            f"{' '.join(classes)}")
    table = SeriesTable(series, labels, classes or None, origin, rows)
    _check_channels(table)
    return table


def _check_header(header: dict, origin: str, kind: str) -> None:
    if header.get("@timestamps", ["false"])[0].lower() == "true":
        raise DataError(f"{origin}: @timestamps true is not read; give one value per time step")
    has_class = header.get("@classlabel", ["false"])[0].lower() == "true"
    has_target = header.get("@targetlabel", ["false"])[0].lower() == "true"
    if kind == "classification" and not has_class:
        hint = ("it is a regression set (@targetLabel true): use --task sequence_regression"
                if has_target else "expected '@classLabel true' and the class names")
        raise DataError(f"{origin} declares no @classLabel, so its series have no labels; {hint}")
    if kind == "regression" and not has_target:
        hint = ("it is a classification set (@classLabel true): use --task "
                "sequence_classification" if has_class else "expected '@targetLabel true'")
        raise DataError(f"{origin} declares no @targetLabel, so its series have no targets; "
                        f"{hint}")


def read_parquet(path: Path, kind: str, missing: str = "refuse",
                 label_column: str | None = None) -> SeriesTable:
    """One row per series: a label (or target) column, and one column per channel holding the
    channel's values over time as a list of numbers."""
    import pandas as pd

    try:
        frame = pd.read_parquet(path)
    except Exception as exc:  # noqa: BLE001  (pyarrow raises many kinds for a bad file)
        raise DataError(f"{path}: cannot read it as Parquet ({str(exc)[:200]})") from None
    column = label_column or next((c for c in LABEL_COLUMNS if c in frame.columns), None)
    if column is None or column not in frame.columns:
        raise DataError(f"{path} has no label column ({label_column or ', '.join(LABEL_COLUMNS)})"
                        f"; its columns are {list(frame.columns)[:8]} (--label-column names it)")
    channels = [c for c in frame.columns if c != column]
    if not channels:
        raise DataError(f"{path} has no channel columns beside {column!r}")
    if frame.empty:
        raise DataError(f"{path} holds no rows; expected one labelled series per row")
    series, labels, rows = [], [], []
    for i, (label, *cells) in enumerate(frame[[column, *channels]].itertuples(index=False)):
        where = f"row {i}"
        values = []
        for name, cell in zip(channels, cells, strict=True):
            if cell is None or np.ndim(cell) != 1:
                raise DataError(f"{path} {where}: column {name!r} holds {str(cell)[:40]!r}; "
                                "expected a list of numbers (the channel over time)")
            values.append(_numbers(list(cell), str(path), where, len(values)))
        series.append(_stack(values, str(path), where, missing))
        labels.append(_label(label, kind, str(path), where))
        rows.append(where)
    table = SeriesTable(series, labels, None, str(path), rows)
    _check_channels(table)
    return table


def read_npz(path: Path, kind: str, missing: str = "refuse") -> SeriesTable:
    """``X``: (N, T, C) or (N, T) numbers, or an object array of (T_i, C) or (T_i,) arrays;
    ``y``: (N,) labels or targets."""
    try:
        # object arrays (series of several lengths) are pickled: this is the user's own file
        with np.load(path, allow_pickle=True) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except Exception as exc:  # noqa: BLE001  (zipfile, pickle and format errors alike)
        raise DataError(f"{path}: cannot read it as a NumPy .npz file ({str(exc)[:200]})"
                        ) from None
    if "X" not in arrays or "y" not in arrays:
        raise DataError(f"{path} holds {sorted(arrays)}; expected arrays X (the series) and y "
                        "(their labels or targets)")
    x, y = arrays["X"], arrays["y"]
    if y.ndim != 1 or len(y) != len(x):
        raise DataError(f"{path}: y has shape {y.shape}; expected one label per series of X "
                        f"({len(x)})")
    series, labels, rows = [], [], []
    for i in range(len(x)):
        where = f"row {i}"
        arr = x[i]
        try:
            arr = np.asarray(arr, dtype=np.float64)
        except (TypeError, ValueError):
            raise DataError(f"{path} {where}: X holds a value that is not a number (or "
                            "channels of different lengths)") from None
        if arr.ndim == 1:
            arr = arr[:, None]
        if arr.ndim != 2 or not arr.shape[0]:
            raise DataError(f"{path} {where}: X's series has shape {arr.shape}; expected "
                            "(time steps, channels)")
        series.append(_fill(arr, str(path), where, missing))
        labels.append(_label(y[i].item() if hasattr(y[i], "item") else y[i], kind, str(path),
                             where))
        rows.append(where)
    if not series:
        raise DataError(f"{path}: X holds no series")
    table = SeriesTable(series, labels, None, str(path), rows)
    _check_channels(table)
    return table


def _numbers(values: list, origin: str, where: str, channel: int) -> np.ndarray:
    """A channel's values as float64, ``?`` and empty cells as NaN."""
    if len(values) == 1 and str(values[0]).strip() == "":
        raise DataError(f"{origin} {where}: channel {channel + 1} is empty")
    out = np.empty(len(values), dtype=np.float64)
    for t, v in enumerate(values):
        if v is None or (isinstance(v, str) and v.strip() == "?"):
            out[t] = np.nan
            continue
        try:
            out[t] = float(v)
        except (TypeError, ValueError):
            raise DataError(f"{origin} {where}: channel {channel + 1} holds {str(v)[:30]!r} at "
                            f"time step {t + 1}, which is not a number") from None
    return out


def _stack(channels: list[np.ndarray], origin: str, where: str, missing: str) -> np.ndarray:
    lengths = [len(c) for c in channels]
    if len(set(lengths)) != 1:
        raise DataError(f"{origin} {where}: its channels have different lengths ({lengths}); "
                        "each channel of a series needs one value per time step")
    return _fill(np.stack(channels, axis=1), origin, where, missing)


def _fill(arr: np.ndarray, origin: str, where: str, missing: str) -> np.ndarray:
    """(T, C) float32, missing values refused or interpolated along time."""
    if np.isinf(arr).any():
        raise DataError(f"{origin} {where}: holds an infinite value")
    gaps = np.isnan(arr)
    if gaps.any():
        t, c = (int(v) for v in np.argwhere(gaps)[0])
        if missing != "interpolate":
            raise DataError(f"{origin} {where}: channel {c + 1} has a missing value at time step "
                            f"{t + 1}; fill it in, or give --missing interpolate")
        arr = arr.copy()
        steps = np.arange(len(arr))
        for c in range(arr.shape[1]):
            ok = ~gaps[:, c]
            if not ok.any():
                raise DataError(f"{origin} {where}: channel {c + 1} has no value at all")
            arr[:, c] = np.interp(steps, steps[ok], arr[ok, c])
    return arr.astype(np.float32)


def _label(value, kind: str, origin: str, where: str):
    if value is None or (isinstance(value, float) and np.isnan(value)) or str(value) in ("", "?"):
        raise DataError(f"{origin} {where}: has no label")
    if kind == "classification":
        text = str(value)
        # 3.0 and 3 name one class: integral floats as integers
        if isinstance(value, float) and value.is_integer():
            text = str(int(value))
        return text
    try:
        target = float(value)
    except (TypeError, ValueError):
        raise DataError(f"{origin} {where}: the target {str(value)[:30]!r} is not a number"
                        ) from None
    if not np.isfinite(target):
        raise DataError(f"{origin} {where}: the target {value!r} is not a finite number")
    return target


def _check_channels(table: SeriesTable) -> None:
    first = table.channels
    for s, where in zip(table.series, table.rows, strict=True):
        if s.shape[1] != first:
            raise DataError(f"{table.origin} {where}: {s.shape[1]} channels, where the first "
                            f"series has {first}")
