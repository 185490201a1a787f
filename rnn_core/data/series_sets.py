"""Labelled time series as a task's splits: a user's file or folder, or an aeon set by name.

Splits: a file pair's TRAIN and TEST where given (a folder's ``*_TRAIN.<ext>`` and
``*_TEST.<ext>``, or a ``*_TRAIN`` file beside its ``*_TEST``), validation a seeded
``VAL_FRACTION`` of TRAIN (stratified by class); a single file is dealt 7:1:2 (seeded,
stratified by class). The named sets are read from the ``aeon==1.6.0`` wheel, downloaded into
the data cache with pip (never installed) and read with zipfile.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from rnn_core.data.cache import pip_download
from rnn_core.data.features import FeatureSet, from_sequences, stratified_holdout
from rnn_core.data.series import SeriesTable, read_series, read_ts
from rnn_core.errors import ConfigError, DataError

__all__ = ["AEON_SETS", "AEON_WHEEL", "SUFFIXES", "VAL_FRACTION", "SeriesSet", "aeon_tables",
           "build_set", "load_series_set", "resolve_files"]

AEON_WHEEL = "aeon==1.6.0"
_WHEEL_GLOB = "aeon-1.6.0-*.whl"
_MEMBER = "aeon/datasets/data/{0}/{0}_{1}.ts"
# the sets the wheel bundles with a TRAIN and a TEST file, and what they are
AEON_SETS = {
    "ACSF1": "classification", "ArrowHead": "classification", "BasicMotions": "classification",
    "GunPoint": "classification", "ItalyPowerDemand": "classification",
    "JapaneseVowels": "classification", "OSULeaf": "classification",
    "PickupGestureWiimoteZ": "classification",
    "Covid3Month": "regression", "CardanoSentiment": "regression",
}
SUFFIXES = (".ts", ".parquet", ".npz")
VAL_FRACTION = 0.2  # of TRAIN, where a file pair gives TRAIN and TEST
SPLIT_FRACTIONS = (0.7, 0.1, 0.2)  # train, val, test of a single file


@dataclass
class SeriesSet(FeatureSet):
    """A ``FeatureSet`` of series, with what a logged model needs to read raw ones.

    Attributes:
        kind: ``classification`` or ``regression`` (``classes`` empty, targets in the splits).
        mean, std: the training split's per-channel scale (set by ``standardized``).
        target_mean, target_std: the training targets' (regression).
        examples: two raw test series as nested lists (a logged model's input example).
    """

    kind: str = "classification"
    mean: list[float] = field(default_factory=list)
    std: list[float] = field(default_factory=list)
    target_mean: float = 0.0
    target_std: float = 1.0
    examples: list = field(default_factory=list)

    def standardized(self) -> SeriesSet:
        mean, std = self.scale()
        scaled = FeatureSet.standardized(self)
        out = replace(self, splits=scaled.splits, stats=scaled.stats, mean=mean.tolist(),
                      std=std.tolist())
        if self.kind == "regression":
            y = self.splits["train"].targets
            out.target_mean = float(y.mean())
            out.target_std = float(y.std()) if y.std() > 1e-12 else 1.0
        return out


def aeon_tables(name: str, kind: str, missing: str = "refuse",
                wheel: str | Path | None = None) -> tuple[SeriesTable, SeriesTable]:
    """(TRAIN, TEST) of an aeon set by name. ConfigError for a name the wheel lacks (listing
    the valid ones) or a set of the other kind."""
    if name not in AEON_SETS:
        valid = ", ".join(n for n, k in AEON_SETS.items() if k == kind)
        raise ConfigError(f"--dataset {name}: no such bundled {kind} set; valid: {valid} "
                          "(or give --data-path)")
    if AEON_SETS[name] != kind:
        other = "sequence_" + AEON_SETS[name]
        raise ConfigError(f"--dataset {name} is a {AEON_SETS[name]} set; use --task {other}")
    wheel = Path(wheel) if wheel else pip_download(AEON_WHEEL, _WHEEL_GLOB)
    tables = []
    try:
        with zipfile.ZipFile(wheel) as zf:
            for split in ("TRAIN", "TEST"):
                member = _MEMBER.format(name, split)
                text = io.TextIOWrapper(zf.open(member), encoding="utf-8").read()
                tables.append(read_ts(text, f"{wheel}:{member}", kind, missing))
    except (zipfile.BadZipFile, KeyError, OSError, UnicodeDecodeError) as exc:
        raise DataError(f"cached wheel {wheel} is damaged or lacks {name} ({exc}); delete it "
                        "to refetch") from exc
    return tables[0], tables[1]


def resolve_files(data_path: str) -> tuple[Path, Path | None]:
    """(TRAIN or the one file, TEST or None) that ``data_path`` names."""
    path = Path(data_path)
    if path.is_dir():
        pairs = [(t, t.with_name(t.name.replace("_TRAIN", "_TEST")))
                 for s in SUFFIXES for t in sorted(path.glob(f"*_TRAIN{s}"))]
        pairs = [(t, e) for t, e in pairs if e.is_file()]
        if len(pairs) != 1:
            found = ", ".join(t.name for t, _ in pairs) or "none"
            raise DataError(f"{path}: expected one *_TRAIN and *_TEST pair of {'/'.join(SUFFIXES)} "
                            f"files in the folder, found {found}")
        return pairs[0]
    if not path.is_file():
        raise DataError(f"{path}: no such file or folder")
    if path.stem.endswith("_TRAIN"):
        test = path.with_name(path.name.replace("_TRAIN", "_TEST"))
        return path, test if test.is_file() else None
    return path, None


def load_series_set(data_path: str | None, dataset: str | None, kind: str, seed: int,
                    missing: str = "refuse", label_column: str | None = None) -> SeriesSet:
    """The splits of a user's file or folder, or of an aeon set by name, unscaled."""
    if (data_path is None) == (dataset is None):
        raise ConfigError("give --data-path (your file or folder) or --dataset (an aeon set "
                          f"by name: {', '.join(n for n, k in AEON_SETS.items() if k == kind)})"
                          + ("" if data_path is None else ", not both"))
    if dataset is not None:
        train, test = aeon_tables(dataset, kind, missing)
        source = f"{dataset}:{AEON_WHEEL}"
    else:
        first, second = resolve_files(data_path)
        train = read_series(first, kind, missing, label_column)
        test = None if second is None else read_series(second, kind, missing, label_column)
        source = str(Path(data_path).resolve())
    return build_set(train, test, kind, seed, source)


def build_set(train: SeriesTable, test: SeriesTable | None, kind: str, seed: int,
              source: str, groups: list[str] | None = None) -> SeriesSet:
    """Train, validation and test splits of the tables (see the module's docstring).

    Args:
        groups: what validation is stratified by, one per TRAIN series (default: its class).
    """
    if test is not None and test.channels != train.channels:
        raise DataError(f"{test.origin} has {test.channels} channels, {train.origin} "
                        f"{train.channels}")
    classes: list[str] = []
    if kind == "classification":
        classes = list(train.classes or sorted(set(train.labels), key=_class_order))
        if len(set(train.labels)) < 2:
            raise DataError(f"{train.origin} holds one class ({train.labels[0]!r}) only; a "
                            "classifier needs two or more")
        unseen = sorted(set(test.labels if test else ()) - set(classes))
        if unseen:
            raise DataError(f"{test.origin} has class {unseen[0]!r}, which {train.origin} "
                            "does not declare")
    index = {c: i for i, c in enumerate(classes)}
    split = _splitter(train, index, groups)
    if test is None:
        picked = _deal(train, kind, seed)
        parts = {name: split(idx) for name, idx in zip(("train", "val", "test"), picked,
                                                        strict=True)}
    else:
        keep, val = stratified_holdout(np.asarray(groups or _strata(train, kind)),
                                       VAL_FRACTION, seed)
        parts = {"train": split(keep), "val": split(val),
                 "test": _splitter(test, index, None)(np.arange(len(test.series)))}
    for name, part in parts.items():
        if not len(part):
            raise DataError(f"{train.origin}: too few series ({len(train.series)}) for a "
                            f"{name} split")
    lengths = np.concatenate([s.lengths for s in parts.values()])
    examples_from = test or train
    examples = [_nested(s) for s in examples_from.series[:2]]
    return SeriesSet(parts, classes, {
        "source": source, "kind": kind, "channels": train.channels,
        "lengths": f"{int(lengths.min())}-{int(lengths.max())}",
        "val_split": (f"{VAL_FRACTION:g} of TRAIN" if test is not None
                      else "7:1:2 of one file") + f", seed {seed}"},
        kind=kind, examples=examples)


def _splitter(table: SeriesTable, index: dict[str, int], groups: list[str] | None):
    """``idx -> FeatureSplit`` of those series of ``table``: class indices by ``index`` (a
    regression set's labels 0 and its targets kept), strata (``speakers``) by ``groups``."""
    regression = not index
    strata = groups or [str(v) for v in table.labels]

    def take(idx):
        idx = np.asarray(idx, dtype=np.int64)
        return from_sequences(
            [table.series[i] for i in idx],
            np.zeros(len(idx)) if regression else [index[table.labels[i]] for i in idx],
            ["" if regression else strata[i] for i in idx], table.channels,
            [table.labels[i] for i in idx] if regression else None)

    return take


def _strata(table: SeriesTable, kind: str) -> list[str]:
    return [str(v) for v in table.labels] if kind == "classification" else [""] * len(
        table.labels)


def _deal(table: SeriesTable, kind: str, seed: int
          ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(train, val, test) indices of one file in ``SPLIT_FRACTIONS``: test, then validation
    out of the rest, each stratified by class (seeded)."""
    _, val_share, test_share = SPLIT_FRACTIONS
    strata = np.asarray(_strata(table, kind))
    rest, test = stratified_holdout(strata, test_share, seed)
    keep, val = stratified_holdout(strata[rest], val_share / (1 - test_share), seed + 1)
    return rest[keep], rest[val], test


def _class_order(name: str):
    """Numbers in numeric order (2 before 10), then names."""
    try:
        return (0, float(name), "")
    except ValueError:
        return (1, 0.0, name)


def _nested(series: np.ndarray) -> list:
    """A raw series as a user would send it: a flat list for one channel, else frames."""
    values = [[float(f"{v:.7g}") for v in frame] for frame in series.tolist()]
    return [f[0] for f in values] if series.shape[1] == 1 else values
