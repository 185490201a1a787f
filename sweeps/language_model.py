"""Study S4 as one command: word-level language models, {LSTM, GRU} x dropout {0, 0.5}, on the
Brown corpus split as Bengio et al. 2003 did (or Penn Treebank from --data-path).

    python sweeps/language_model.py                 # full: 4 configs, all of Brown, 6 epochs
    python sweeps/language_model.py --preset quick  # same grid on 200,000 training tokens
    python sweeps/language_model.py --smoke-test    # tiny models on a few thousand tokens
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout

from search_spaces import language_model as space  # noqa: E402
from sweeps._common import exit_now, main_guard, run_study  # noqa: E402
from sweeps._options import SCALING_AXES, Axis, build_parser  # noqa: E402

CELL_NAMES = ("rnn_tanh", "rnn_relu", "lstm", "gru", "mgu")


def _cells(text: str) -> list[str]:
    values = [v.strip() for v in text.split(",") if v.strip()]
    if not values or set(values) - set(CELL_NAMES):
        raise argparse.ArgumentTypeError(
            f"{text!r}: expected a comma-separated list of {', '.join(CELL_NAMES)}")
    return list(dict.fromkeys(values))


def _rates(text: str) -> list[float]:
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a list of numbers") from None
    if not values or any(not 0 <= v < 1 for v in values):
        raise argparse.ArgumentTypeError(f"{text!r}: each rate must be in [0, 1)")
    return values


AXES = (
    Axis("--cells", "cell", _cells, "cells, e.g. lstm,gru (mgu runs on the scratch backend)"),
    Axis("--dropout", "dropout", _rates, "dropout rates, e.g. 0,0.5"),
    *SCALING_AXES[:2],  # --layers, --hidden
)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser(__doc__, space, AXES)
    args = parser.parse_args(argv)
    return run_study("language_model", args, space, AXES)


if __name__ == "__main__":
    exit_now(main_guard(main))
