"""Reader for DLStudio sentiment archives (``sentiment_dataset_{train,test}_200.tar.gz``).

Despite the name, DLStudio (Kak, Purdue) writes these files as a gzip-compressed pickle of
``(positive_reviews, negative_reviews, vocab)``, where each review dict maps a product category
to a list of reviews and each review is a list of word strings; some copies are real tar
archives holding such a pickle. Both are read here with an unpickler that admits only builtin
containers and strings, so a crafted archive cannot run code.
"""

from __future__ import annotations

import gzip
import io
import os
import pickle
import tarfile
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["DLStudioReviews", "read_dlstudio_archive", "write_dlstudio_archive"]

_GZIP_MAGIC = b"\x1f\x8b"
# The only globals a pickle of dicts, lists, tuples, strings and sets ever names.
_ALLOWED_GLOBALS = frozenset(
    (module, name) for module in ("builtins", "__builtin__") for name in ("set", "frozenset")
)


@dataclass
class DLStudioReviews:
    """Reviews flattened in file order: positives by category, then negatives by category."""

    reviews: list[list[str]]  # one list of words per review
    labels: np.ndarray  # (N,) int64, 1 positive, 0 negative
    categories: list[str]  # product category of each review
    vocab: list[str]


class _RefusedGlobal(pickle.UnpicklingError):
    def __init__(self, qualname: str) -> None:
        super().__init__(qualname)
        self.qualname = qualname


class _BuiltinsOnlyUnpickler(pickle.Unpickler):
    """Unpickler that resolves no global except ``set``/``frozenset``."""

    def find_class(self, module: str, name: str):
        if (module, name) in _ALLOWED_GLOBALS:
            return {"set": set, "frozenset": frozenset}[name]
        raise _RefusedGlobal(f"{module}.{name}")


def _tar_payload(path: Path, data: bytes) -> bytes:
    """The one pickle file inside a tar archive (macOS ``._*`` companions skipped)."""
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as tar:
        members = [
            m for m in tar.getmembers() if m.isfile() and not Path(m.name).name.startswith("._")
        ]
        if len(members) != 1:
            names = ", ".join(m.name for m in members) or "none"
            raise ValueError(
                f"{path} is a tar archive that should hold exactly one pickle file, "
                f"but holds these files: {names}"
            )
        f = tar.extractfile(members[0])
        assert f is not None  # regular file
        return f.read()


def _gunzip(path: Path, data: bytes) -> bytes:
    try:
        return gzip.decompress(data)
    except (OSError, EOFError, zlib.error) as exc:
        raise ValueError(f"{path} is truncated or not a valid gzip file ({exc})") from exc


def _payload(path: Path) -> bytes:
    """The pickle bytes of a gzip-pickle, tar(.gz)-wrapped pickle or bare pickle file."""
    data = path.read_bytes()
    if data.startswith(_GZIP_MAGIC):
        data = _gunzip(path, data)
    try:
        is_tar = tarfile.is_tarfile(io.BytesIO(data))
    except (OSError, EOFError, tarfile.TarError):
        is_tar = False
    if is_tar:
        try:
            data = _tar_payload(path, data)
        except (tarfile.TarError, OSError, EOFError) as exc:
            raise ValueError(f"{path} is a truncated or damaged tar archive ({exc})") from exc
        if data.startswith(_GZIP_MAGIC):
            data = _gunzip(path, data)
    return data


def _check_reviews(path: Path, which: str, reviews: object) -> None:
    if not isinstance(reviews, dict):
        raise ValueError(
            f"{path} holds {type(reviews).__name__} for the {which} reviews; "
            "expected a dict of category -> list of reviews"
        )
    for category, items in reviews.items():
        if not isinstance(category, str):
            raise ValueError(f"{path} has a {which} review category {category!r} that is not a str")
        if not isinstance(items, list | tuple):
            raise ValueError(
                f"{path} holds {type(items).__name__} for {which} category {category!r}; "
                "expected a list of reviews"
            )
        for i, review in enumerate(items):
            if not isinstance(review, list | tuple) or not all(isinstance(w, str) for w in review):
                raise ValueError(
                    f"{path} has {which} review {i} of category {category!r} that is not "
                    "a list of word strings"
                )


def _validate(path: Path, obj: object) -> tuple[dict, dict, list[str]]:
    if not isinstance(obj, tuple | list) or len(obj) != 3:
        raise ValueError(
            f"{path} holds a {type(obj).__name__} instead of the DLStudio triple "
            "(positive_reviews, negative_reviews, vocab)"
        )
    positive, negative, vocab = obj
    _check_reviews(path, "positive", positive)
    _check_reviews(path, "negative", negative)
    if not isinstance(vocab, list | tuple | set | frozenset) or not all(
        isinstance(w, str) for w in vocab
    ):
        raise ValueError(f"{path} holds a vocab that is not a list of strings")
    vocab = sorted(vocab) if isinstance(vocab, set | frozenset) else list(vocab)
    return positive, negative, vocab


def read_dlstudio_archive(path: str | os.PathLike[str]) -> DLStudioReviews:
    """Read a DLStudio ``sentiment_dataset_*.tar.gz`` file.

    Raises:
        FileNotFoundError: no file at ``path``.
        ValueError: the file is truncated, not gzip/tar/pickle, pickles anything but builtin
            containers and strings, or does not have the DLStudio structure.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no DLStudio archive at {path}")
    payload = _payload(path)
    try:
        obj = _BuiltinsOnlyUnpickler(io.BytesIO(payload), encoding="latin1").load()
    except _RefusedGlobal as exc:
        raise ValueError(
            f"{path} holds a pickled {exc.qualname!r}; "
            "only builtin containers and strings are accepted"
        ) from exc
    except Exception as exc:  # any malformed pickle stream
        raise ValueError(
            f"{path} does not hold a readable pickle ({type(exc).__name__}: {exc})"
        ) from exc
    positive, negative, vocab = _validate(path, obj)

    reviews: list[list[str]] = []
    labels: list[int] = []
    categories: list[str] = []
    for label, by_category in ((1, positive), (0, negative)):
        for category, items in by_category.items():
            reviews.extend(list(r) for r in items)
            labels.extend([label] * len(items))
            categories.extend([category] * len(items))
    return DLStudioReviews(reviews, np.asarray(labels, dtype=np.int64), categories, vocab)


def write_dlstudio_archive(
    path: str | os.PathLike[str],
    positive: Mapping[str, Sequence[Sequence[str]]],
    negative: Mapping[str, Sequence[Sequence[str]]],
    vocab: Sequence[str],
) -> Path:
    """Write reviews in DLStudio's format: gzip of a protocol-2 pickle of the triple.

    Args:
        path: output file, e.g. ``sentiment_dataset_train_200.tar.gz``.
        positive: category -> list of reviews (lists of words).
        negative: same, for negative reviews.
        vocab: the words.
    """
    path = Path(path)
    obj = (
        {str(c): [list(r) for r in items] for c, items in positive.items()},
        {str(c): [list(r) for r in items] for c, items in negative.items()},
        list(vocab),
    )
    _validate(path, obj)
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wb") as f:
        pickle.dump(obj, f, protocol=2)
    return path
