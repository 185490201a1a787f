"""``python -m reports``: rebuild the report of a finished sweep of any study from MLflow
(the study, and so which report, is read from the sweep's parent run); ``--models``: how to
load, predict with and serve the model the sweep registered; ``--fronts``: the Pareto fronts
of every sweep of an experiment on one page; ``--compare RUN_A RUN_B``: two trials compared
on the same test examples."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rnn_core.errors import ConfigError


def build_any(tracking_uri: str, parent_run_id: str | None, out: str | Path | None,
              experiment_name: str | None = None, pngs: bool = True) -> tuple[str, str, Path]:
    """Write the report of the sweep's own study; returns (summary, parent run id, folder)."""
    from reports.build import read_sweep
    from reports.studies import report_builder

    record = read_sweep(tracking_uri, parent_run_id, experiment_name)
    folder = Path(out) if out else Path("reports") / f"{record.study or 'sweep'}-" \
        f"{record.parent_run_id[:8]}"
    summary = report_builder(record.study)(tracking_uri, record.parent_run_id, folder,
                                           record=record, pngs=pngs)
    return summary, record.parent_run_id, folder


def compare_runs(tracking_uri: str, run_a: str, run_b: str) -> str:
    """The paired comparison of two child runs, in one sentence."""
    from reports.compare import compare_outputs, comparison_sentence
    from rnn_core.tuning import fetch_test_outputs, run_name

    found = []
    for run_id in (run_a, run_b):
        name = run_name(tracking_uri, run_id)
        outputs = fetch_test_outputs(tracking_uri, run_id)
        if outputs is None:
            raise ConfigError(f"run {run_id} kept no per-example test results (it stopped "
                              "before its test, or was logged before they were kept)")
        found.append((name, outputs))
    (name_a, a), (name_b, b) = found
    return comparison_sentence(name_a, name_b, compare_outputs(a, b))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m reports", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tracking-uri", default="sqlite:///mlruns.db")
    p.add_argument("--experiment-name", default="rnn-sweeps",
                   help="used when --parent-run-id is not given: its newest sweep (with "
                        "--fronts: all its sweeps)")
    p.add_argument("--parent-run-id", help="the sweep's MLflow parent run")
    p.add_argument("--out", "--report-dir", dest="out",  # --report-dir: as the sweeps say it
                   help="folder for report.html and the tables "
                        "(default: ./reports/<study>-<parent run id prefix>)")
    p.add_argument("--log", action="store_true", help="also attach it to the parent run")
    p.add_argument("--no-png", action="store_true",
                   help="no PNG copies of the figures (no browser is started for them)")
    p.add_argument("--models", action="store_true",
                   help="print how to load and serve the sweep's registered model instead")
    p.add_argument("--compare", nargs=2, metavar=("RUN_A", "RUN_B"),
                   help="two child runs of one sweep compared on the same test examples: "
                        "the difference with its 95 %% interval and p-value (McNemar's exact "
                        "test for accuracy, a paired bootstrap for perplexity)")
    p.add_argument("--fronts", action="store_true",
                   help="one page with the Pareto front of every sweep of --experiment-name "
                        "and their combined front (default folder: ./reports/fronts-<name>)")
    args = p.parse_args(argv)
    if args.fronts and (args.parent_run_id or args.models or args.log):
        print("python -m reports: error: --fronts reads every sweep of --experiment-name; "
              "leave out --parent-run-id, --models and --log", file=sys.stderr)
        return 2
    try:
        if args.compare:
            print(compare_runs(args.tracking_uri, *args.compare))
            return 0
        if args.fronts:
            from reports.fronts import build_fronts_report

            print(build_fronts_report(args.tracking_uri, args.experiment_name,
                                      args.out or Path("reports") /
                                      f"fronts-{args.experiment_name}",
                                      pngs=not args.no_png))
            return 0
        if args.models:
            from rnn_core.tuning import model_usage

            print(model_usage(args.tracking_uri, args.parent_run_id, args.experiment_name))
            return 0
        summary, parent, folder = build_any(args.tracking_uri, args.parent_run_id, args.out,
                                            args.experiment_name, pngs=not args.no_png)
        print(summary)
        if args.log:
            from rnn_core.tuning import log_report

            log_report(args.tracking_uri, parent, folder)
    except (ConfigError, ValueError) as exc:
        print(f"python -m reports: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
