"""Study S3 compound scaling as one command: LSTM layers x hidden x embedding on IMDB.

    python sweeps/compound_scaling.py                 # full grid: 27 configs, up to 5 epochs, ASHA
    python sweeps/compound_scaling.py --preset quick  # same grid on a training subset (~5 min)
    python sweeps/compound_scaling.py --smoke-test    # 4 tiny configs, < 2 minutes
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout

from search_spaces import compound_scaling as space  # noqa: E402
from sweeps._common import build_parser, exit_now, main_guard, run_study  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = build_parser(__doc__, space)
    args = parser.parse_args(argv)
    return run_study("compound_scaling", args, space, parser)


if __name__ == "__main__":
    exit_now(main_guard(main))
