"""One study run twice, in two precisions (same seed), compared side by side.

    python bench/full_study.py --out prec/bf16 -- --precision bf16
    python bench/full_study.py --out prec/fp32 -- --precision fp32
    python bench/precision_study.py prec/bf16 prec/fp32          # Markdown on stdout

Reads each folder's MLflow store and ``full_study.json`` (``bench/full_study.py``) and prints:
the wall of each; every configuration's validation accuracy after epoch 1 (every trial runs
it, so all 27 pairs exist) with the mean paired difference and its 95 % interval; what the
scheduler did with each configuration in each run; each run's validation pick with its test
figure (Wilson 95 % interval, n); and the picks compared paired on the same test reviews
(McNemar's exact test), the pick of one run against the same configuration in the other.
Precision is the only difference between the runs, so a difference here is what the lower
precision costs (or noise the seed does not fix: thread scheduling can still reorder sums).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import pandas as pd  # noqa: E402
from scipy.stats import t as t_dist  # noqa: E402

from reports.compare import compare_outputs, comparison_sentence  # noqa: E402
from reports.frames import trials_frame, validation_pick  # noqa: E402
from reports.intervals import test_interval  # noqa: E402
from rnn_core.tuning import fetch_sweep, fetch_test_outputs  # noqa: E402


def load(folder: Path) -> dict:
    uri = f"sqlite:///{folder.resolve() / 'mlruns.db'}"
    record = fetch_sweep(uri, None)
    trials = trials_frame(record.runs, record.task)
    hist = record.history
    first = hist[hist["epoch"] == 1].set_index("run_name")[record.task.objective]
    meta = json.loads((folder / "full_study.json").read_text())
    return {"uri": uri, "task": record.task, "trials": trials.set_index("run_name"),
            "epoch1": first, "meta": meta, "pick": validation_pick(trials, record.task)}


def _fmt_test(row: pd.Series, task) -> str:
    iv = test_interval(row, task)
    return "" if iv is None else f"{iv.value:.4f} ({iv.low:.4f}-{iv.high:.4f})"


def compare(a: dict, b: dict, names: tuple[str, str]) -> str:
    task = a["task"]
    lines = [f"| | {names[0]} | {names[1]} |", "|---|---|---|"]
    for key, fmt in (("wall_s", lambda s: f"{s / 60:.1f} min"),
                     ("trial_epochs", str), ("peak_pss_gib", lambda g: f"{g:.2f} GiB"),
                     ("commit", str)):
        lines.append(f"| {key} | {fmt(a['meta'][key])} | {fmt(b['meta'][key])} |")
    lines.append(f"| statuses | {a['meta']['statuses']} | {b['meta']['statuses']} |")

    both = a["epoch1"].index.intersection(b["epoch1"].index)
    diff = (a["epoch1"][both] - b["epoch1"][both]).astype(float)
    n = len(diff)
    half = (t_dist.ppf(0.975, n - 1) * diff.std(ddof=1) / math.sqrt(n) if n > 1
            else float("nan"))
    lines += ["", f"Validation {task.objective} after epoch 1, {names[0]} minus {names[1]}, "
              f"over the {n} configurations: mean {diff.mean() * 100:+.2f} points (95 % CI "
              f"{(diff.mean() - half) * 100:+.2f} to {(diff.mean() + half) * 100:+.2f}, t), "
              f"largest |difference| {diff.abs().max() * 100:.2f} points, "
              f"{int((diff.abs() < 1e-9).sum())} equal.", ""]

    ta, tb = a["trials"], b["trials"]
    rows = [f"| configuration | epochs {names[0]} | epochs {names[1]} | "
            f"best val {names[0]} | best val {names[1]} | test {names[0]} (95 % CI) | "
            f"test {names[1]} (95 % CI) |", "|---|---|---|---|---|---|---|"]
    order = ta.sort_values(task.best_metric, ascending=task.mode == "min").index
    for name in order:
        if name not in tb.index:
            continue
        ra, rb = ta.loc[name], tb.loc[name]
        rows.append(f"| {name} | {ra['epochs_run']} | {rb['epochs_run']} | "
                    f"{ra[task.best_metric]:.4f} | {rb[task.best_metric]:.4f} | "
                    f"{_fmt_test(ra, task)} | {_fmt_test(rb, task)} |")
    same = sum(int(ta.loc[k, "epochs_run"] == tb.loc[k, "epochs_run"])
               for k in ta.index.intersection(tb.index))
    lines += rows + ["", f"The scheduler gave {same} of {len(ta.index.intersection(tb.index))} "
                     "configurations the same number of epochs in both runs.", ""]

    for mine, nm in ((a, names[0]), (b, names[1])):
        pick = mine["pick"]
        if pick is None:
            lines.append(f"{nm}: no validation pick.")
            continue
        lines.append(f"{nm}'s validation pick: {pick['run_name']} (best val "
                     f"{pick[task.best_metric]:.4f}), test {_fmt_test(pick, task)}, "
                     f"n = {int(pick['test_n']) if pd.notna(pick['test_n']) else 'n/a'}.")
    pa, pb = a["pick"], b["pick"]
    if pa is not None and pb is not None:
        # each pick against the same configuration in the other run, then pick against pick
        na, nb = pa["run_name"], pb["run_name"]
        pairs = dict.fromkeys([(na, na), (nb, nb), (na, nb)])
        for name_a, name_b in pairs:
            outs = [fetch_test_outputs(r["uri"], r["trials"].loc[n, "run_id"])
                    if n in r["trials"].index else None
                    for n, r in ((name_a, a), (name_b, b))]
            if any(o is None for o in outs):
                lines.append(f"{name_a} ({names[0]}) vs {name_b} ({names[1]}): no per-example "
                             "test results on one side (stopped before its test).")
                continue
            cmp = compare_outputs(*outs)
            lines.append(comparison_sentence(f"{name_a} ({names[0]})", f"{name_b} ({names[1]})",
                                             cmp) + ".")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("a", type=Path, help="bench/full_study.py's --out of the first run")
    p.add_argument("b", type=Path, help="the same of the second run")
    p.add_argument("--names", nargs=2, default=None,
                   help="labels of the two runs (default: the folders' names)")
    args = p.parse_args(argv)
    for folder in (args.a, args.b):
        if not (folder / "full_study.json").is_file():
            p.error(f"{folder}: no full_study.json; run bench/full_study.py --out {folder} first")
    names = tuple(args.names or (args.a.name, args.b.name))
    print(compare(load(args.a), load(args.b), names))
    return 0


if __name__ == "__main__":
    sys.exit(main())
