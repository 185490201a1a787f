"""Model-based search on IMDB as one command: Optuna's TPE with ASHA over optimizer, learning
rate, dropout, layers, hidden size, embedding size, direction, cell and GloVe-initialised inputs.

    python sweeps/sentiment_search.py                    # 60 trials, all of IMDB, up to 4 epochs
    python sweeps/sentiment_search.py --preset quick     # 24 trials on a training subset
    python sweeps/sentiment_search.py --smoke-test       # 6 tiny trials, ~1-2 min
    python sweeps/sentiment_search.py --resume           # continue the same Optuna study

The report adds the best-so-far curve: the validation pick, and its test accuracy, against the
trial-epochs and hours spent (docs/search.md).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout

from search_spaces import sentiment_search as space  # noqa: E402
from sweeps._common import exit_now, main_guard, run_study  # noqa: E402
from sweeps._options import build_parser  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    # the axes are distributions: the study narrows through its space, not grid options
    parser = build_parser(__doc__, space, axes=())
    args = parser.parse_args(argv)
    return run_study("sentiment_search", args, space, axes=())


if __name__ == "__main__":
    exit_now(main_guard(main))
