"""Grid, random, TPE and NSGA-II compared at the same compute on a recorded table
(``bench/data/search_table.csv``; the tabular benchmark method of NAS-Bench and HPOBench).

    python bench/search.py                         # the figures, 3 sampler seeds (~2 min)
    python bench/search.py --json search.json
    python bench/search.py --record sqlite:///mlruns.db --experiment-name search-table
                                                   # a grid sweep run with --test-every-epoch
                                                   # -> the table (docs/search.md says how)

Every search runs as a sweep would (``bench.sim.tabular``: the real searcher and
scheduler, 2 trials at a time, each epoch as long as it took in the recording), reading each
epoch's results from the table. Compute is trial-epochs; the grid's is every configuration to
the last epoch. A search's budget (``--num-samples``) is the largest whose compute stays
within the goal's share of the grid's for every seed. What each reports:

- TPE + ASHA and random + ASHA: the test accuracy of the validation pick (the test accuracy of
  its best-on-validation epoch) against the full grid's pick, in points, mean over seeds;
  the grid under ASHA beside them; how many trials TPE modelled at each ask (the ended ones
  and those at a rung, ``_rungs.RungSampler``);
- NSGA-II (FIFO) and random (FIFO): the hypervolume of the (best validation accuracy,
  parameters) front of their trials as a share of the full grid's (log10 parameters;
  reference corner: the grid's largest model and worst accuracy), mean over seeds.
"""

from __future__ import annotations

import argparse
import ast
import csv
import json
import statistics
import sys
from itertools import product
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout

import numpy as np  # noqa: E402

from bench.sim.table import KEYS, TABLE, load_table  # noqa: E402
from reports.frames import hypervolume  # noqa: E402

SEEDS = (0, 1, 2)
TPE_SHARE, NSGA_SHARE = 0.25, 0.5  # the goals' compute, a share of the grid's
COLUMNS = ("grid_index", *KEYS, "n_params", "epoch", "val_acc", "epoch_test_acc",
           "epoch_seconds")


def record_table(tracking_uri: str, out: Path, parent_run_id: str | None = None,
                 experiment_name: str | None = None) -> int:
    """Write the table of a finished grid sweep run with ``--test-every-epoch`` and a FIFO
    scheduler (every configuration to the last epoch); returns its rows."""
    from rnn_core.tuning import fetch_sweep

    rec = fetch_sweep(tracking_uri, parent_run_id, experiment_name,
                      history_metrics=("epoch_test_acc",))
    grid = ast.literal_eval(rec.params["grid"])
    order = {c: i for i, c in enumerate(product(*(grid[k] for k in KEYS)))}
    epochs = int(rec.params["max_epochs"])
    rows = []
    for _, run in rec.runs.iterrows():
        key = tuple(int(run[f"param.{k}"]) for k in KEYS)
        hist = rec.history[rec.history["run_id"] == run["run_id"]].sort_values("epoch")
        if len(hist) != epochs or hist["epoch_test_acc"].isna().any():
            raise ValueError(f"run {run['run_name']} has {len(hist)} of {epochs} epochs with "
                             "test metrics: record with --scheduler fifo --test-every-epoch")
        for h in hist.itertuples():
            rows.append({"grid_index": order[key], **dict(zip(KEYS, key, strict=True)),
                         "n_params": int(run["n_params"]), "epoch": int(h.epoch),
                         "val_acc": h.val_acc, "epoch_test_acc": h.epoch_test_acc,
                         "epoch_seconds": round(h.epoch_seconds, 2)})
    if len(rows) != len(order) * epochs:
        raise ValueError(f"the sweep has {len(rows)} rows; its grid needs "
                         f"{len(order) * epochs}")
    rows.sort(key=lambda r: (r["grid_index"], r["epoch"]))
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=COLUMNS)
        w.writeheader()
        w.writerows(rows)
    return len(rows)


def _front_share(table, configs: list[tuple]) -> float:
    """Hypervolume of the (best val, parameters) points of ``configs`` trained to the last
    epoch, as a share of the whole grid's."""
    def points(cs):
        return np.array([[np.log10(table.n_params[c]), max(table.val[c])] for c in cs])

    grid = list(table.val)
    all_pts = points(grid)
    ref = (float(all_pts[:, 0].max()) + 1e-9, float(all_pts[:, 1].min()))
    return hypervolume(points(configs), ref) / hypervolume(all_pts, ref)


def _budget(table, search: str, scheduler: str, share: float, seeds, grid_compute: int):
    """The largest ``--num-samples`` whose compute is within ``share`` of the grid's for
    every seed, and its replays."""
    from bench.sim import replay

    best = None
    for n in range(2, len(table.val) + 1):
        runs = [replay(table, search, n, s, scheduler) for s in seeds]
        if max(r.compute for r in runs) > share * grid_compute:
            break
        best = (n, runs)
    return best


def search_figures(table, seeds=SEEDS, path: Path = TABLE) -> list[dict]:
    """The figures of ``bench/run.py`` (its ``figure`` dicts)."""
    import optuna

    from bench.sim import replay

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    epochs = table.max_epochs
    grid_compute = len(table.val) * epochs
    full = replay(table, "grid", 0, 0, "fifo")
    _, grid_val, grid_test = full.curve[-1][1:]
    grid_pick = full.curve[-1][1]
    asha = replay(table, "grid", 0, 0, "asha")
    a_pick, _, a_test = asha.curve[-1][1:]
    where = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
    head = (f"table {where} ({len(table.val)} configs x {epochs} epochs, "
            f"docs/search.md); the full grid: {grid_compute} trial-epochs, pick "
            f"{_name(grid_pick)} (val {grid_val:.4f}, test {grid_test:.4f}); grid + ASHA: "
            f"{asha.compute} trial-epochs ({asha.compute / grid_compute:.0%}), pick "
            f"{_name(a_pick)} (test {a_test:.4f}, {100 * (grid_test - a_test):+.2f} points "
            f"below)")
    figs = []
    for search, sched in (("tpe", "asha"), ("random", "asha"), ("tpe", "fifo")):
        n, runs = _budget(table, search, sched, TPE_SHARE, seeds, grid_compute)
        picks = [r.curve[-1][1:] for r in runs]
        gaps = [100 * (grid_test - p[2]) for p in picks]
        gap = statistics.mean(gaps)
        share = max(r.compute for r in runs) / grid_compute
        how = "ASHA (grace 1, rf 3)" if sched == "asha" else "FIFO"
        # asks TPE answered from a model under ASHA: what it saw had reached its start-up
        startup = max(2, min(10, n // 3))
        modelled = [sum(o >= startup for o in r.observed) for r in runs]
        notes = (f"{search} + {how}, --num-samples {n}: at most "
                 f"{max(r.compute for r in runs)} trial-epochs ({share:.0%} of the grid's); "
                 f"test of the validation pick {-gap:+.2f} points vs the grid's; seeds "
                 + "; ".join(f"{s}: {_name(p[0])} test {p[2]:.4f}, {r.compute} epochs, "
                             f"{len(set(r.trials))} distinct configs"
                             for s, p, r in zip(seeds, picks, runs, strict=True))
                 + f". Optuna had been told the end of at most {max(max(r.told) for r in runs)} "
                 "trial(s) when it was asked for one"
                 + (f"; TPE modelled those and the trials at a rung: at most "
                    f"{max(max(r.observed) for r in runs)}, and at least its start-up of "
                    f"{startup} on " + ", ".join(f"{m}" for m in modelled)
                    + f" of the {n} asks (seeds {', '.join(map(str, seeds))})"
                    if (search, sched) == ("tpe", "asha") else
                    f" (TPE draws its first {startup} at random)" if search == "tpe" else "")
                 + (_drawn(table, runs, startup) if sched == "asha" else "") + f". {head}.")
        goal, met = "n/a (baseline)", None
        if (search, sched) == ("tpe", "asha"):
            goal = "<= 0.3 points at <= 25% of grid compute"
            met = bool(gap <= 0.3 and share <= TPE_SHARE)
        figs.append({"name": f"search_{search}_{sched}", "value": round(gap, 2),
                     "unit": "test-acc points below the grid's pick (mean)", "goal": goal,
                     "met": met, "notes": notes, "num_samples": n, "compute_share": share,
                     "per_seed": [{"seed": s, "pick": list(p[0]), "test_acc": p[2],
                                   "compute": r.compute, "violations": r.violations,
                                   "configs": [list(c) for c in r.trials],
                                   "told": r.told, "observed": r.observed}
                                  for s, p, r in zip(seeds, picks, runs, strict=True)]})
    n = int(NSGA_SHARE * grid_compute // epochs)  # FIFO: every trial to the last epoch
    for search in ("nsga2", "random"):
        runs = [replay(table, search, n, s, "fifo") for s in seeds]
        shares = [_front_share(table, r.trials) for r in runs]
        value = statistics.mean(shares)
        goal = ">= 0.95 at <= 50% of grid compute" if search == "nsga2" else "n/a (baseline)"
        met = bool(value >= 0.95) if search == "nsga2" else None
        notes = (f"{search} (FIFO), --num-samples {n}: {n * epochs} trial-epochs "
                 f"({n * epochs / grid_compute:.0%} of the grid's); front hypervolume "
                 f"(log10 parameters vs best val acc) as a share of the full grid's: "
                 + ", ".join(f"seed {s} {v:.3f}" for s, v in zip(seeds, shares, strict=True))
                 + f". {head}.")
        figs.append({"name": f"search_{search}_front", "value": round(value, 3),
                     "unit": "share of the grid front's hypervolume (mean)", "goal": goal,
                     "met": met, "notes": notes, "num_samples": n,
                     "per_seed": [{"seed": s, "share": v, "configs": [list(c) for c in r.trials]}
                                  for s, v, r in zip(seeds, shares, runs, strict=True)]})
    return figs


def _drawn(table, runs, startup: int) -> str:
    """What the asks past TPE's start-up drew (those at which ended and rung trials numbered
    ``startup`` or more, all seeds): the mean of the configurations' best validation accuracy
    in the table (at the last epoch, whether or not ASHA trained them that far), and how many
    are at chance (below 0.65)."""
    drawn = [c for r in runs for c, o in zip(r.trials, r.observed, strict=True) if o >= startup]
    best = [max(table.val[c]) for c in drawn]
    return (f"; the {len(drawn)} configurations drawn past the start-up: best validation "
            f"{statistics.mean(best):.4f} on average in the table, "
            f"{sum(b < 0.65 for b in best)} at chance")


def _name(key: tuple) -> str:
    return "L{}-H{}-E{}".format(*key)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--table", type=Path, default=TABLE)
    p.add_argument("--seeds", default="0,1,2", help="sampler seeds, comma-separated")
    p.add_argument("--json", type=Path, help="write the figures here")
    p.add_argument("--record", metavar="TRACKING_URI",
                   help="write --table from a finished grid sweep in this MLflow store")
    p.add_argument("--experiment-name", help="with --record: its newest sweep")
    p.add_argument("--parent-run-id", help="with --record: this sweep")
    args = p.parse_args(argv)
    if args.record:
        rows = record_table(args.record, args.table, args.parent_run_id, args.experiment_name)
        print(f"{args.table}: {rows} rows")
        return 0
    if not args.table.is_file():
        p.error(f"--table {args.table} is not a file; record one with --record")
    seeds = tuple(int(s) for s in args.seeds.split(","))
    figs = search_figures(load_table(args.table), seeds, args.table.resolve())
    for f in figs:
        print(f"{f['name']}: {f['value']} {f['unit']} (goal {f['goal']}, met {f['met']})\n"
              f"  {f['notes']}")
    if args.json:
        args.json.write_text(json.dumps({"figures": figs}, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
