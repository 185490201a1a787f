"""Study S3's direction study as one command: the best configuration of a finished sweep
(its validation pick among the trials that ran to the end, read from MLflow), trained uni- and
bidirectional over several seeds on IMDB; the report gives bi - uni with its spread.

    python sweeps/bidirectional.py --from-run PARENT_RUN_ID       # that sweep's pick, 5 seeds
    python sweeps/bidirectional.py --from-experiment rnn-sweeps   # the newest finished sweep's
    python sweeps/bidirectional.py --from-run ID --preset quick   # 3 seeds on a subset
    python sweeps/bidirectional.py --from-run ID --smoke-test     # 2 seeds, tiny, ~1-2 min

The configuration (cell, sizes, dropout, optimizer, learning rate, ...) is the pick's; the
data, epochs and seeds are this study's preset's. --num-samples sets the seeds.
"""

from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout

from rnn_core.errors import ConfigError  # noqa: E402
from search_spaces import bidirectional as space  # noqa: E402
from sweeps._common import exit_now, main_guard, run_study  # noqa: E402
from sweeps._options import DEFAULT_TRACKING, build_parser  # noqa: E402

STUDY = "bidirectional"


def main(argv: list[str] | None = None) -> int:
    from reports.bidirectional import source_config

    parser = build_parser(__doc__, space, axes=())
    source = parser.add_argument_group("where the configuration comes from")
    source.add_argument("--from-run", metavar="ID", help="a finished sweep's MLflow parent run")
    source.add_argument("--from-experiment", metavar="NAME",
                        help="the newest finished sweep (not a direction study) in this "
                             "MLflow experiment")
    args = parser.parse_args(argv)
    given = [f for f, v in (("--from-run", args.from_run),
                            ("--from-experiment", args.from_experiment)) if v]
    if args.resume is not None:
        if given:
            raise ConfigError(f"{given[0]} with --resume: a resumed sweep keeps the "
                              "configuration it started with; leave it out")
        return run_study(STUDY, args, space, axes=())
    if len(given) != 1:
        raise ConfigError("give the sweep whose best configuration to run: --from-run ID or "
                          "--from-experiment NAME (one of them)")
    config, info = source_config(args.tracking_uri or DEFAULT_TRACKING, args.from_run,
                                 args.from_experiment, space.CONFIG_KEYS, STUDY, space.TASK)
    config.pop("bidirectional", None)
    print(f"configuration: {info['source_pick']} of sweep {info['source_run']}")
    study_space = SimpleNamespace(**{**{k: getattr(space, k) for k in space.__all__},
                                     "RECIPE": config})
    return run_study(STUDY, args, study_space, axes=(), source=info)


if __name__ == "__main__":
    exit_now(main_guard(main))
