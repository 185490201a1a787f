"""``python -m reports``: rebuild the report of a finished sweep from MLflow; ``--models``:
how to load, predict with and serve the model the sweep registered."""

from __future__ import annotations

import argparse
import sys

from reports.build import build_report
from rnn_core.errors import ConfigError


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m reports", description=__doc__)
    p.add_argument("--tracking-uri", default="sqlite:///mlruns.db")
    p.add_argument("--experiment-name", default="rnn-sweeps",
                   help="used when --parent-run-id is not given: its newest sweep")
    p.add_argument("--parent-run-id", help="the sweep's MLflow parent run")
    p.add_argument("--out", default="report", help="folder for report.html and the tables")
    p.add_argument("--log", action="store_true", help="also attach it to the parent run")
    p.add_argument("--models", action="store_true",
                   help="print how to load and serve the sweep's registered model instead")
    args = p.parse_args(argv)
    try:
        if args.models:
            from rnn_core.tuning import model_usage

            print(model_usage(args.tracking_uri, args.parent_run_id, args.experiment_name))
            return 0
        print(build_report(args.tracking_uri, args.parent_run_id, args.out, args.experiment_name))
        if args.log:
            from rnn_core.tuning import fetch_sweep, log_report

            parent = args.parent_run_id or fetch_sweep(args.tracking_uri, None,
                                                       args.experiment_name).parent_run_id
            log_report(args.tracking_uri, parent, args.out)
    except (ConfigError, ValueError) as exc:
        print(f"python -m reports: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
