"""Study S5 as one command: every recurrent cell, uni- and bidirectional, hand-written (scratch)
cells of 3 x 32 trained with Adam 0.003 on sequences of feature frames.

    python sweeps/speech_commands.py                             # full: spoken digits
    python sweeps/speech_commands.py --preset quick              # same grid, fewer epochs
    python sweeps/speech_commands.py --smoke-test                # every cell once, tiny
    python sweeps/speech_commands.py --dataset japanese_vowels

--dataset takes digits (default: "zero".."nine" from synthetic voices, built offline on first
use, tested also on two recorded human voices), three_words (S5's one, two, three of it),
japanese_vowels (UCI, 9 speakers, 12 LPC cepstra per frame, read from the aeon wheel on
PyPI) or a folder in Speech Commands v0.02's layout (every word folder in it); --data-path
FOLDER with digits or three_words reads those words from that folder.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout

from search_spaces import speech_commands as space  # noqa: E402
from sweeps._common import exit_now, main_guard, run_study  # noqa: E402
from sweeps._options import Axis, build_parser  # noqa: E402

DIRECTIONS = {"uni": False, "bi": True}


def _cells(text: str) -> list[str]:
    values = [v.strip() for v in text.split(",") if v.strip()]
    if not values or set(values) - set(space.CELLS):
        raise argparse.ArgumentTypeError(
            f"{text!r}: expected a comma-separated list of {', '.join(space.CELLS)}")
    return list(dict.fromkeys(values))


def _directions(text: str) -> list[bool]:
    values = [v.strip() for v in text.split(",") if v.strip()]
    if not values or set(values) - set(DIRECTIONS):
        raise argparse.ArgumentTypeError(f"{text!r}: expected uni, bi or uni,bi")
    return [DIRECTIONS[v] for v in dict.fromkeys(values)]


def _dataset(text: str) -> list[str]:
    """A named dataset, or a Speech Commands folder (checked here, before any work)."""
    from rnn_core.tasks.audio import DATASETS

    if text in DATASETS:
        return [text]
    path = Path(text)
    if not path.exists():
        raise argparse.ArgumentTypeError(
            f"{text} is neither {', '.join(DATASETS)} nor an existing Speech Commands folder")
    if not path.is_dir():
        raise argparse.ArgumentTypeError(
            f"{text} is a file; expected {', '.join(DATASETS)} or a Speech Commands folder")
    from rnn_core.data.speech_commands import scan
    from rnn_core.errors import DataError

    try:  # its layout only: the clips are read (and checked) when the data is prepared
        scan(path)
    except DataError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return [text]


FEATURE_NORMS = ("auto", "global", "utterance")


def _feature_norms(text: str) -> list[str]:
    values = [v.strip() for v in text.split(",") if v.strip()]
    if not values or set(values) - set(FEATURE_NORMS):
        raise argparse.ArgumentTypeError(
            f"{text!r}: expected auto, global, utterance or a comma-separated list of them")
    return list(dict.fromkeys(values))


AXES = (
    Axis("--cells", "cell", _cells, "cells, e.g. lstm,gru (default: all 5)"),
    Axis("--directions", "bidirectional", _directions, "uni, bi or uni,bi (default: both)"),
    Axis("--dataset", "dataset", _dataset,
         "digits (default), three_words, japanese_vowels or a Speech Commands folder"),
    Axis("--feature-norm", "feature_norm", _feature_norms,
         "global (the training split's scale), utterance (also each clip less its mean "
         "frame), auto (utterance for words, global for japanese_vowels; default), or a "
         "comma-separated list as an axis"),
)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser(__doc__, space, AXES)
    args = parser.parse_args(argv)
    return run_study("speech_commands", args, space, AXES)


if __name__ == "__main__":
    exit_now(main_guard(main))
