"""A search over your own data, no code: pick the task, point it at the file or folder.

    python sweeps/search.py --task text_classification --data-path reviews.parquet \\
        --text-column text --label-column label          # any number of classes
    python sweeps/search.py --task language_model --data-path corpus/ --tokens char
    python sweeps/search.py --task sequence_classification --dataset JapaneseVowels
    python sweeps/search.py --task sequence_regression --data-path series.ts --smoke-test

Each task's space (search_spaces/search/<task>.py) is searched with Optuna's TPE and ASHA by
default; every option of the study scripts applies (--search, --scheduler, --num-samples,
--time-budget, --resume, ...), and so do their tracking, reports and registered models. A task
of your own: --space package.module, a module with the same names (TASK, GRID, RECIPE, PRESETS).
`python sweeps/search.py --task NAME --help` lists that task's own data options.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout

from rnn_core.errors import ConfigError  # noqa: E402
from search_spaces import search as spaces  # noqa: E402
from sweeps._common import exit_now, main_guard, run_study  # noqa: E402
from sweeps._options import build_parser  # noqa: E402


def _space(argv: list[str] | None):
    """The space module ``--task`` or ``--space`` names (read before the full parser, whose
    options depend on the task)."""
    pre = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    pre.add_argument("--task", choices=spaces.tasks())
    pre.add_argument("--space")
    known, _ = pre.parse_known_args(argv)
    if known.space:
        try:
            return importlib.import_module(known.space), known.space
        except ImportError as exc:
            raise ConfigError(f"--space {known.space}: cannot import it ({exc}); expected a "
                              "module with TASK, GRID, RECIPE and PRESETS") from None
    if known.task is None:
        return None, None
    return spaces.space_for(known.task), known.task


def main(argv: list[str] | None = None) -> int:
    space, name = _space(argv)
    if space is None:  # --help, or no task: the short form of the choices
        parser = argparse.ArgumentParser(description=__doc__,
                                         formatter_class=argparse.RawTextHelpFormatter)
        parser.add_argument("--task", choices=spaces.tasks(), required=True,
                            help="what to train on your data")
        parser.add_argument("--space", help="a search-space module of your own")
        parser.parse_args(argv)
        return 2
    parser = build_parser(__doc__, space, axes=())
    parser.add_argument("--task", choices=spaces.tasks(), help="what to train on your data")
    parser.add_argument("--space", help="a search-space module of your own (its TASK)")
    args = parser.parse_args(argv)
    study = "search_" + name.rsplit(".", 1)[-1]  # its Ray folder, parent run and report
    return run_study(study, args, space, axes=())


if __name__ == "__main__":
    exit_now(main_guard(main))
