"""Labelled text a user brings as a table: CSV, TSV, Parquet or JSON (lines), one file or a
folder with one file per split.

One file is split 7:1:2 later, stratified and seeded (``rnn_core.data.text.encode_corpus``),
after duplicate texts are dropped (the first kept), as the IMDB protocol does. A folder holds
``train.*``, ``test.*`` and optionally ``val.*`` (or ``valid.*``); without one, validation is
drawn from train there. Labels of any type become class names (strings), sorted (numerically
where every label is a whole number). Every refusal is one sentence naming the file, and the
row (1-based data row; the line of a JSON-lines file) where a row is at fault.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from numbers import Integral, Real
from pathlib import Path

import pandas as pd

from rnn_core.errors import DataError

__all__ = ["EXTENSIONS", "MIN_PER_CLASS", "MIN_TRAIN_PER_CLASS", "TableOptions", "load_table",
           "read_table", "split_files", "table_source_id"]

EXTENSIONS = (".csv", ".tsv", ".parquet", ".jsonl", ".json")
_SPLITS = (("train", ("train",)), ("val", ("val", "valid")), ("test", ("test",)))
# one file: 10 rows of a class put 2 in test (20 %) and 1 in validation (1/8 of the rest)
MIN_PER_CLASS = 10
# a folder without validation: 1/8 of train is drawn, so 8 rows give the class one there
MIN_TRAIN_PER_CLASS = 8


@dataclass(frozen=True)
class TableOptions:
    """Which columns hold the text and the label, and the text files' encoding."""

    text_column: str = "text"
    label_column: str = "label"
    encoding: str = "utf-8"


def split_files(path: str | Path) -> dict[str, Path]:
    """``{"all": file}`` for one file, or ``{"train", "test"[, "val"]: file}`` for a folder."""
    p = Path(path)
    if not p.exists():
        raise DataError(f"--data-path {p} does not exist; expected a table file "
                        f"({', '.join(EXTENSIONS)}) or a folder with train.* and test.*")
    if p.is_file():
        _check_extension(p)
        return {"all": p}
    files: dict[str, Path] = {}
    for split, stems in _SPLITS:
        found = sorted(f for f in p.iterdir() if f.is_file() and f.stem.lower() in stems
                       and f.suffix.lower() in EXTENSIONS)
        if len(found) > 1:
            raise DataError(f"{p} holds {len(found)} {split} files "
                            f"({', '.join(f.name for f in found)}); keep one")
        if found:
            files[split] = found[0]
    missing = [s for s in ("train", "test") if s not in files]
    if missing:
        names = sorted(f.name for f in p.iterdir())[:8]
        raise DataError(f"{p} holds no {' and no '.join(m + '.*' for m in missing)} table "
                        f"(it has {names or 'nothing'}); a folder needs train.* and test.* "
                        f"({', '.join(EXTENSIONS)}), and val.* or valid.* optionally")
    return files


def table_source_id(path: str | Path, opts: TableOptions) -> str:
    """A key naming the table(s) and columns, changing when a file changes."""
    parts = [f"{opts.text_column}|{opts.label_column}|{opts.encoding}"]
    for split, f in sorted(split_files(path).items()):
        stat = f.stat()
        parts.append(f"{split}:{f.resolve()}:{stat.st_size}:{int(stat.st_mtime)}")
    digest = hashlib.sha1("\n".join(parts).encode()).hexdigest()[:12]
    return f"table:{Path(path).name}:{digest}"


def _check_extension(p: Path) -> None:
    if p.suffix.lower() not in EXTENSIONS:
        raise DataError(f"{p} has the unknown extension {p.suffix or '(none)'!r}; expected "
                        f"one of {', '.join(EXTENSIONS)}")


def _row_word(p: Path) -> str:
    return "line" if p.suffix.lower() == ".jsonl" else "row"


def read_table(p: Path, encoding: str = "utf-8") -> pd.DataFrame:
    """The file's rows as read (no checks of its columns); DataError naming it where it cannot
    be read or holds no row."""
    _check_extension(p)
    if p.stat().st_size == 0:
        raise DataError(f"{p} is empty; expected a table with a header (or keys) and rows")
    ext = p.suffix.lower()
    try:
        if ext in (".csv", ".tsv"):
            # only an empty cell is missing: "NA" or "null" are words a text may hold
            frame = pd.read_csv(p, sep="\t" if ext == ".tsv" else ",", encoding=encoding,
                                keep_default_na=False, na_values=[""])
        elif ext == ".parquet":
            frame = pd.read_parquet(p)
        elif ext == ".jsonl":
            frame = pd.read_json(p, lines=True, encoding=encoding, dtype=False)
        else:
            try:
                frame = pd.read_json(p, encoding=encoding, dtype=False)
            except ValueError:  # a .json file written one record a line
                frame = pd.read_json(p, lines=True, encoding=encoding, dtype=False)
    except UnicodeDecodeError as exc:
        raise DataError(f"{p} is not {encoding} text (byte {exc.start}); give its encoding "
                        "with --encoding (latin-1, cp1252, ...)") from exc
    except LookupError as exc:
        raise DataError(f"--encoding {encoding!r} is not an encoding Python knows "
                        f"(reading {p})") from exc
    except Exception as exc:  # noqa: BLE001  (pandas/pyarrow raise many kinds for a bad file)
        raise DataError(f"{p} is not a readable {ext[1:]} table ({_first(exc, p)})") from exc
    if len(frame) == 0:
        raise DataError(f"{p} holds no rows")
    return frame


def _first(exc: Exception, p: Path) -> str:
    """The first sentence of a reader's error, the file named once (by the message)."""
    text = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    return text.replace(str(p), p.name).split(". ")[0].rstrip(".")[:160]


def _columns(frame: pd.DataFrame, p: Path, opts: TableOptions) -> pd.DataFrame:
    for column, flag in ((opts.text_column, "--text-column"),
                         (opts.label_column, "--label-column")):
        if column not in frame.columns:
            raise DataError(f"{p} has no column {column!r} ({flag}); its columns are "
                            f"{[str(c) for c in frame.columns]}")
    return frame


def _texts(column: pd.Series, p: Path) -> list[str]:
    texts = []
    for i, value in enumerate(column.tolist(), start=1):
        missing = value is None or (isinstance(value, float) and math.isnan(value))
        text = "" if missing else str(value).strip()
        if not text:
            raise DataError(f"{p} {_row_word(p)} {i}: the text is empty")
        texts.append(text)
    return texts


def _labels(column: pd.Series, p: Path) -> list:
    """The raw labels, whole-number floats as ints (a label column read with a gap is float)."""
    labels = []
    for i, value in enumerate(column.tolist(), start=1):
        if value is None or (isinstance(value, float) and math.isnan(value)) or (
                isinstance(value, str) and not value.strip()):
            raise DataError(f"{p} {_row_word(p)} {i}: the label is missing")
        if isinstance(value, Real) and not isinstance(value, (bool, Integral)) \
                and float(value).is_integer():
            value = int(value)
        labels.append(value.strip() if isinstance(value, str) else value)
    return labels


def _class_names(labels: list) -> tuple[list[str], dict]:
    """(sorted class names, raw label -> class index): numerically where every label is a
    whole number, as text otherwise."""
    distinct = set(labels)
    if all(isinstance(v, Integral) and not isinstance(v, bool) for v in distinct):
        ordered = sorted(distinct)
        return [str(v) for v in ordered], {v: i for i, v in enumerate(ordered)}
    names = sorted({str(v) for v in distinct})
    at = {name: i for i, name in enumerate(names)}
    return names, {v: at[str(v)] for v in distinct}


def load_table(path: str | Path, opts: TableOptions = TableOptions()) -> pd.DataFrame:
    """The table(s) as a frame ``text``, ``label`` (class index) and, for a folder, ``split``;
    ``frame.attrs["classes"]`` names the classes and ``frame.attrs["stats"]`` says what was
    dropped. DataError (one sentence naming the file and row) on anything it cannot use."""
    files = split_files(path)
    parts, raw = [], []
    for split, f in files.items():
        frame = _columns(read_table(f, opts.encoding), f, opts)
        texts = _texts(frame[opts.text_column], f)
        labels = _labels(frame[opts.label_column], f)
        parts.append((split, f, texts))
        raw.append(labels)
    names, index = _class_names([v for labels in raw for v in labels])
    if len(names) < 2:
        f = parts[0][1]
        raise DataError(f"{f if len(files) == 1 else path} holds one class only "
                        f"({names[0]!r}); a classifier needs at least two")
    frames = [pd.DataFrame({"text": texts, "label": [index[v] for v in labels],
                            "split": split})
              for (split, _, texts), labels in zip(parts, raw, strict=True)]
    frame = pd.concat(frames, ignore_index=True)
    stats: dict = {}
    if "all" in files:
        before = len(frame)
        frame = frame.drop_duplicates("text").drop(columns="split").reset_index(drop=True)
        stats["duplicates_dropped"] = before - len(frame)
        _check_counts(frame, files["all"], names, MIN_PER_CLASS,
                      "for the 7:1:2 split to put it in train, validation and test")
    else:
        _check_split_classes(frame, files, names)
    frame.attrs["classes"] = names
    frame.attrs["stats"] = stats
    return frame


def _check_counts(frame: pd.DataFrame, f: Path, names: list[str], least: int, why: str,
                  ) -> None:
    counts = frame["label"].value_counts()
    for label, name in enumerate(names):
        n = int(counts.get(label, 0))
        if n < least:
            raise DataError(f"{f}: class {name!r} has {n} row{'s' * (n != 1)} "
                            f"{'once duplicates are dropped ' if 'split' not in frame else ''}"
                            f"and needs at least {least} {why}")


def _check_split_classes(frame: pd.DataFrame, files: dict[str, Path], names: list[str]) -> None:
    """Every class in every split file; enough in train to draw validation where none is
    given."""
    train = frame[frame["split"] == "train"]
    if "val" not in files:
        _check_counts(train, files["train"], names, MIN_TRAIN_PER_CLASS,
                      "to draw validation (1/8 of train) from it")
    for split, f in files.items():
        present = set(frame.loc[frame["split"] == split, "label"])
        for label, name in enumerate(names):
            if label not in present:
                where = [s for s in files if label in set(frame.loc[frame["split"] == s,
                                                                    "label"])]
                raise DataError(f"{f} has no row of class {name!r} (found in "
                                f"{', '.join(files[s].name for s in where)}); every split "
                                "needs every class")
