"""Cell comparison as one command: every recurrent cell, scratch and native, uni- and
bidirectional, on learned, GloVe and word2vec inputs, on IMDB.

    python sweeps/cell_comparison.py                 # full: 54 configs, all of IMDB, ASHA
    python sweeps/cell_comparison.py --preset quick  # same grid on a training subset
    python sweeps/cell_comparison.py --smoke-test    # 5 cells x {learned, glove50}, ~1-2 min

Pretrained inputs (glove50, word2vec300 trained on the training split, or a vectors file path
given to --inputs) are built once, on the driver, and shipped to the trials with the data.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout

from search_spaces import cell_comparison as space  # noqa: E402
from sweeps._common import exit_now, main_guard, run_study  # noqa: E402
from sweeps._options import Axis, build_parser  # noqa: E402

DIRECTIONS = {"uni": False, "bi": True}


def _variants(text: str) -> list[str]:
    values = [v.strip() for v in text.split(",") if v.strip()]
    bad = [v for v in values if v not in space.VARIANTS]
    if not values or bad:
        raise argparse.ArgumentTypeError(
            f"{text!r}: expected a comma-separated list of {', '.join(space.VARIANTS)}")
    return values


def _directions(text: str) -> list[bool]:
    values = [v.strip() for v in text.split(",") if v.strip()]
    if not values or set(values) - set(DIRECTIONS):
        raise argparse.ArgumentTypeError(f"{text!r}: expected uni, bi or uni,bi")
    return [DIRECTIONS[v] for v in dict.fromkeys(values)]


def _inputs(text: str) -> list[str]:
    values = [v.strip() for v in text.split(",") if v.strip()]
    if not values:
        raise argparse.ArgumentTypeError("expected at least one input")
    for v in values:
        if v not in ("learned", "glove50", "word2vec300") and not Path(v).is_file():
            raise argparse.ArgumentTypeError(
                f"{v!r} is not learned, glove50, word2vec300 or an existing vectors file")
    return values


AXES = (
    Axis("--variants", "variant", _variants,
         "cell/backend pairs, e.g. lstm/native,mgu/scratch (default: all 9)"),
    Axis("--directions", "bidirectional", _directions, "uni, bi or uni,bi (default: both)"),
    Axis("--inputs", "embedding", _inputs,
         "learned, glove50, word2vec300 or a word2vec/GloVe file path (default: the first 3)"),
)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser(__doc__, space, AXES)
    args = parser.parse_args(argv)
    return run_study("cell_comparison", args, space, AXES)


if __name__ == "__main__":
    exit_now(main_guard(main))
