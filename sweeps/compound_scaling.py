"""Study S3 compound scaling as one command: LSTM layers x hidden x embedding on IMDB.

    python sweeps/compound_scaling.py                 # full grid: 27 configs, up to 5 epochs, ASHA
    python sweeps/compound_scaling.py --preset quick  # same grid on a training subset (5-12 min)
    python sweeps/compound_scaling.py --smoke-test    # 4 tiny configs, ~1-2 min
    python sweeps/compound_scaling.py --method coefficient   # EfficientNet's compound method

--method coefficient: depth = alpha^phi, hidden = beta^phi, embedding = gamma^phi times a base
config; the (alpha, beta, gamma) whose recurrent FLOPs about double are tried at phi = 1, then
the best on validation is scaled to phi = 2, 3 (docs/compound_scaling.md).
"""

from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout

from rnn_core.errors import ConfigError  # noqa: E402
from search_spaces import compound_scaling as space  # noqa: E402
from sweeps._common import exit_now, main_guard, run_study  # noqa: E402
from sweeps._options import build_parser  # noqa: E402

COEFFICIENT_STUDY = "compound_coefficients"


def coefficient_space() -> SimpleNamespace:
    """The study's space with the coefficient search in place of the grid, per preset."""
    presets = {name: {**{k: v for k, v in p.items() if k != "grid"},
                      "grid": space.COEFFICIENTS[name]} for name, p in space.PRESETS.items()}
    return SimpleNamespace(TASK=space.TASK, TITLE=space.TITLE, RECIPE=space.RECIPE,
                           GRID=space.COEFFICIENTS["full"], PRESETS=presets,
                           SEARCH="coefficient", SCHEDULER="fifo")


def _method(args) -> str:
    """The method asked for; a sweep folder given to --resume says its own."""
    from rnn_core import tuning

    if args.resume not in (None, "latest") and (tuning.is_uri(args.resume)
                                                 or Path(args.resume).is_dir()):
        study = tuning.sweep_meta(args.resume).get("study")
        return "coefficient" if study == COEFFICIENT_STUDY else "grid"
    return args.method


def main(argv: list[str] | None = None) -> int:
    parser = build_parser(__doc__, space)
    parser.add_argument("--method", choices=("grid", "coefficient"), default="grid",
                        help="grid (default): the grid of layers x hidden x embedding; "
                             "coefficient: EfficientNet's compound coefficients, searched at "
                             "phi = 1 under a FLOPs constraint, then phi = 2, 3 (every trial "
                             "to the end: it runs with --scheduler fifo only, its default)")
    args = parser.parse_args(argv)
    if _method(args) == "grid":
        return run_study("compound_scaling", args, space)
    for flag, value in (("--search", args.search), ("--num-samples", args.num_samples),
                        ("--layers", args.layers), ("--hidden", args.hidden),
                        ("--embedding", args.embedding)):
        if value is not None:
            raise ConfigError(f"{flag} does not apply to --method coefficient, whose "
                              "configurations come from the coefficients (edit COEFFICIENTS "
                              "in search_spaces/compound_scaling.py to change them)")
    return run_study(COEFFICIENT_STUDY, args, coefficient_space())


if __name__ == "__main__":
    exit_now(main_guard(main))
