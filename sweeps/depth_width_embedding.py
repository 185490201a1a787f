"""Study S3's depth, width and embedding studies as one command: layers, hidden size and
embedding size varied one at a time around the recipe (the other two held), over seeds, on IMDB.

    python sweeps/depth_width_embedding.py                 # 14 configs x 3 seeds, all of IMDB
    python sweeps/depth_width_embedding.py --preset quick  # x 2 seeds on a training subset
    python sweeps/depth_width_embedding.py --smoke-test    # 4 tiny configs x 2 seeds, ~1-2 min
    python sweeps/depth_width_embedding.py --layers 1,2 --num-samples 5   # one axis narrowed

--layers, --hidden and --embedding replace an axis's values (keep the centre's value in it);
--num-samples sets the seeds per configuration (default: the preset's).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout

from search_spaces import depth_width_embedding as space  # noqa: E402
from sweeps._common import exit_now, main_guard, run_study  # noqa: E402
from sweeps._options import build_parser  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = build_parser(__doc__, space)
    args = parser.parse_args(argv)
    return run_study("depth_width_embedding", args, space)


if __name__ == "__main__":
    exit_now(main_guard(main))
