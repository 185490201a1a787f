"""Run a full study once and measure it: wall time and memory.

    python bench/full_study.py --out full-study      # ~40 min on 2 CPU cores; writes full-study/
    python bench/full_study.py --study language_model --out full-lm

Runs ``sweeps/<study>.py`` (default compound_scaling) on its embedded defaults (compound
scaling: 27 configs, all of IMDB's training split, up to 5 epochs, ASHA grace 1 / rf 3; the
language model: 4 configs, all of Brown, 6 epochs; two one-thread trials at a time) as a
subprocess with its own MLflow store and Ray folder under ``--out``, and samples the summed
resident memory (RSS; and PSS, shared pages split between their users) of the sweep and every
process it starts (Ray GCS, raylet, trial workers, MLflow in the driver) every 2 s from /proc.
Writes ``--out/full_study.json`` (wall, sweep seconds, peak and median summed RSS, peak PSS,
process count at the peak, trial statuses, trial-epochs, the study table) that
``bench/run.py --full-study`` reads, ``sweep.log`` (the sweep's output), ``rss.csv`` (the
memory samples) and ``report/`` (the study's report).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.figures.processes import sweep_seconds, tree_memory  # noqa: E402


def measure(cmd: list[str], log: Path, interval: float = 2.0) -> dict:
    """Run ``cmd`` with output to ``log``; wall time and (time, RSS, processes, PSS) samples."""
    samples: list[tuple[float, int, int, int]] = []
    done = threading.Event()
    t0 = time.perf_counter()
    with log.open("w") as out:
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)

        def sample() -> None:
            while not done.is_set():
                rss, pss, n = tree_memory(proc.pid)
                samples.append((time.perf_counter() - t0, rss, n, pss))
                done.wait(interval)

        th = threading.Thread(target=sample, daemon=True)
        th.start()
        rc = proc.wait()
        done.set()
        th.join()
    return {"wall_s": time.perf_counter() - t0, "rc": rc, "samples": samples}


def summarize(run: dict, out: Path, study: str) -> dict:
    import importlib

    import pandas as pd

    from reports.frames import validation_pick
    from rnn_core.tasks import get_task

    task = get_task(importlib.import_module(f"search_spaces.{study}").TASK)

    samples = run["samples"]
    peak = max(samples, key=lambda s: s[1])
    trials = pd.read_csv(out / "report" / "trials.csv")
    pick = validation_pick(trials, task)
    table = (out / "report" / "study_table.md").read_text()
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                            capture_output=True, text=True).stdout.strip()
    return {
        "date": dt.date.today().isoformat(), "commit": commit, "rc": run["rc"],
        "wall_s": run["wall_s"], "sweep_s": sweep_seconds((out / "sweep.log").read_text()),
        "peak_rss_gib": peak[1] / 2**30, "peak_at_s": peak[0], "peak_procs": peak[2],
        "median_rss_gib": statistics.median(s[1] for s in samples) / 2**30,
        "peak_pss_gib": max(s[3] for s in samples) / 2**30,
        "n_samples": len(samples),
        "rss_samples_over_4gib": sum(s[1] > 4 * 2**30 for s in samples),
        "statuses": trials["status"].value_counts().to_dict(),
        "trial_epochs": int(trials["epochs_run"].sum()),
        # the validation pick (the report's one rule: ended trials only), its test beside it
        "best": None if pick is None else pick[
            [*task.table_params, task.test_metric, task.best_metric]].to_dict(),
        "study_table_md": table,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--study", default="compound_scaling",
                        help="the study script under sweeps/ (default compound_scaling)")
    parser.add_argument("--out", type=Path, default=Path("full-study"),
                        help="folder for the MLflow store, Ray results, log and JSON")
    parser.add_argument("extra", nargs="*",
                        help="more options for the sweep after --, e.g. -- --max-epochs 2")
    args = parser.parse_args(argv)
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, f"sweeps/{args.study}.py", "--tracking-uri",
           f"sqlite:///{out / 'mlruns.db'}", "--storage-path", str(out / "ray_results"),
           "--report-dir", str(out / "report"), *args.extra]
    print("running:", " ".join(cmd), flush=True)
    run = measure(cmd, out / "sweep.log")
    with (out / "rss.csv").open("w") as f:
        f.write("seconds,rss_bytes,processes,pss_bytes\n")
        f.writelines(f"{t:.1f},{r},{n},{p}\n" for t, r, n, p in run["samples"])
    if run["rc"] != 0:
        print((out / "sweep.log").read_text()[-3000:], file=sys.stderr)
        print(f"the sweep failed with exit code {run['rc']}", file=sys.stderr)
        return 1
    result = summarize(run, out, args.study)
    (out / "full_study.json").write_text(json.dumps(result, indent=2, default=str))
    print(f"wall {result['wall_s'] / 3600:.2f} h (sweep {result['sweep_s']} s), peak summed RSS "
          f"{result['peak_rss_gib']:.2f} GiB over {result['peak_procs']} processes (PSS "
          f"{result['peak_pss_gib']:.2f} GiB), "
          f"{result['trial_epochs']} trial-epochs, {result['statuses']}")
    print(result["study_table_md"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
