"""Plain-text language-model corpora: a folder of train/valid/test files, or one file cut by lines.

A folder holds ``train.txt``, a validation file (``valid.txt``, ``val.txt`` or
``validation.txt``: exactly one of them) and ``test.txt``. One text file is cut into three
contiguous runs of lines in file order by fractions (``--split 0.8,0.1,0.1``): train is the
first floor(n x 0.8) of its n lines, validation up to floor(n x 0.9), test the rest.

Files are UTF-8 (a byte-order mark is dropped); lines end at ``\\n`` (``\\r\\n`` too). A line is
read as words (split on whitespace) or as characters (every character a token, spaces
included); either way ``<eos>`` follows every line, so in character mode it stands for the
newline. Input that cannot be read is refused in one sentence naming the file and, where one
line is at fault, the line.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from rnn_core.errors import DataError

__all__ = ["DEFAULT_SPLIT", "UNITS", "VAL_NAMES", "check_tokens", "ratio_bounds", "read_lines",
           "split_files", "tokenize"]

UNITS = ("word", "char")
DEFAULT_SPLIT = (0.8, 0.1, 0.1)
VAL_NAMES = ("valid.txt", "val.txt", "validation.txt")
_NAMES = {"train": ("train.txt",), "val": VAL_NAMES, "test": ("test.txt",)}
_SPLIT_WORDS = {"train": "training", "val": "validation", "test": "test"}
EXPECTED = "expected UTF-8 text, one sentence or line of prose per line"


def split_files(folder: Path) -> dict[str, Path] | None:
    """``split -> file`` of a folder in the train/valid/test layout; None when it holds none of
    those names (another layout)."""
    found = {k: [folder / n for n in names if (folder / n).is_file()]
             for k, names in _NAMES.items()}
    if not any(found.values()):
        return None
    out = {}
    for split, files in found.items():
        if not files:
            raise DataError(f"{folder / _NAMES[split][0]} is missing; expected train.txt, "
                            "valid.txt (or val.txt, validation.txt) and test.txt together")
        if len(files) > 1:
            raise DataError(f"{folder} holds {' and '.join(f.name for f in files)}: keep one "
                            "validation file")
        if files[0].stat().st_size == 0:
            raise DataError(f"{files[0]} is empty; {EXPECTED}")
        out[split] = files[0]
    return out


def read_lines(f: Path) -> list[str]:
    """The lines of a UTF-8 text file, without their line ends."""
    raw = f.read_bytes()
    nul = raw.find(b"\0")
    if nul >= 0:
        raise DataError(f"{f} is a binary file (a NUL byte on line {_line(raw, nul)}); "
                        f"{EXPECTED}")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataError(f"{f} line {_line(raw, exc.start)} is not UTF-8 (byte "
                        f"0x{raw[exc.start]:02x}); {EXPECTED}") from exc
    if not text.strip():
        raise DataError(f"{f} is empty; {EXPECTED}")
    lines = text.split("\n")
    if lines[-1] == "":  # the file's last line end
        lines.pop()
    return [line.removesuffix("\r") for line in lines]


def _line(raw: bytes, offset: int) -> int:
    return raw.count(b"\n", 0, offset) + 1


def ratio_bounds(n_lines: int, fractions: tuple[float, float, float], origin: Path) -> list[int]:
    """[0, train end, val end, n_lines]: line bounds of the three splits of one file."""
    bounds = _bounds(n_lines, fractions)
    for k, split in enumerate(_SPLIT_WORDS.values()):
        if bounds[k + 1] <= bounds[k]:
            # every file from this many lines on gives three splits (1 / the smallest fraction
            # always does)
            need = math.ceil(1 / min(fractions) - 1e-9)
            while need > 1 and min(np.diff(_bounds(need - 1, fractions))) > 0:
                need -= 1
            raise DataError(f"{origin} has {n_lines:,} lines: --split "
                            f"{','.join(f'{x:g}' for x in fractions)} leaves the {split} split "
                            f"empty; give a file of at least {need} lines or other fractions")
    return bounds


def _bounds(n: int, fractions: tuple[float, float, float]) -> list[int]:
    a, b, _ = fractions
    # the epsilon keeps 0.7 + 0.2 of 10 lines at 9, not 8.999...
    return [0, math.floor(n * a + 1e-9), math.floor(n * (a + b) + 1e-9), n]


def tokenize(lines: list[str], unit: str, lowercase: bool) -> list[list[str]]:
    """Each line's tokens: its words (split on whitespace) or its characters."""
    if lowercase:
        lines = [line.lower() for line in lines]
    return [line.split() if unit == "word" else list(line) for line in lines]


def check_tokens(sents: list[list[str]], split: str, origin: str) -> None:
    """A split must hold a token besides ``<eos>``."""
    if not any(sents):
        raise DataError(f"{origin} (the {_SPLIT_WORDS[split]} split) holds no text, only "
                        f"blank lines; {EXPECTED}")
