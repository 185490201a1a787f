"""Study S3's optimizer comparison as one command: SGD, Adagrad, RMSprop and Adam x LSTM and GRU
on IMDB, each optimizer's learning rate drawn log-uniformly from its own range.

    python sweeps/optimizers.py                    # 32 random trials, all of IMDB, 5 epochs
    python sweeps/optimizers.py --preset quick     # 16 trials on a training subset
    python sweeps/optimizers.py --smoke-test       # 4 tiny trials, ~1-2 min
    python sweeps/optimizers.py --search tpe --num-samples 24   # Optuna TPE instead
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout

from search_spaces import optimizers as space  # noqa: E402
from sweeps._common import exit_now, main_guard, run_study  # noqa: E402
from sweeps._options import OPTIMIZERS, Axis, build_parser  # noqa: E402


def _names(valid: tuple[str, ...]):
    def parse(text: str) -> list[str]:
        values = list(dict.fromkeys(v.strip() for v in text.split(",") if v.strip()))
        if not values or set(values) - set(valid):
            raise argparse.ArgumentTypeError(
                f"{text!r}: expected a comma-separated list of {', '.join(valid)}")
        return values

    return parse


AXES = (
    Axis("--optimizers", "optimizer", _names(OPTIMIZERS),
         "optimizers to compare, e.g. sgd,adam (default: all 4)"),
    Axis("--cells", "cell", _names(("lstm", "gru")), "lstm, gru or lstm,gru (default: both)"),
)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser(__doc__, space, AXES)
    args = parser.parse_args(argv)
    return run_study("optimizers", args, space, AXES)


if __name__ == "__main__":
    exit_now(main_guard(main))
