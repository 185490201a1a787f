"""Performance figures of the project, each against its goal (docs/performance.md).

    python bench/run.py --quick --json perf.json   # no sweep but the smoke one's
    python bench/run.py --quick --search-sweeps    # ... and the search sweeps of seed 0
    python bench/run.py --json perf.json           # every grid config, 3 seeds, ~40-45 min (est.)

Every figure is a ratio of two things measured side by side in this one run (interleaved
where they are short, medians), because the machine's cores are shared with other work:

- training efficiency: achieved training FLOP/s / dense matmul FLOP/s at the same thread count.
  Training FLOPs per real (non-padding) token = 3 x forward, forward = sum over layers of
  2 * 4H * (in_l + H) (input projection + recurrent product of the 4 LSTM gates; in_1 = E,
  in_l = H above), i.e. 6 * 4H * sum(in_l + H). Embedding, head, elementwise gate maths and
  the optimizer are not counted (they are overhead, as is padding).
- padding waste: real tokens / processed tokens (batch rows x longest in batch).
- platform overhead: a sweep's whole-process wall vs a plain loop over 2 processes running the
  same trials (each trial's compute is measured inside it; ``reports.frames.sweep_accounting``)
  on the quick preset (``--preset-sweep``) or the search sweeps; cross-checked with real
  processes: the smoke sweep vs the same trials through ``rnn_core.training.train`` in a loop.
- language-model training efficiency (``bench/lm.py``): useful training FLOP/s of the LM
  study's configs, decoder over the vocabulary included, / dense matmul FLOP/s.
- search efficiency: ASHA and synchronous SHA vs the full grid (FIFO), same subset, grid and seed,
  over seeds.
- searchers (``bench/search.py``): TPE + ASHA and random + ASHA vs the grid's pick at a quarter
  of its compute, NSGA-II's and random's fronts vs the grid's at half, over sampler seeds 0-2,
  replayed with the real searcher and scheduler on a table recorded by a real grid sweep.
- data path: cold fetch+tokenize+encode (fresh cache folder) vs warm cache load.
- memory: peak summed PSS (and RSS) of the sweep's process tree, sampled every 0.5 s.
- full study: measured by ``bench/full_study.py`` (``--full-study DIR``), else an estimate.

The figures are computed in ``bench/figures/`` (one module per concern); this script picks
them (``--only``), runs them in one temporary folder and prints and writes them.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout

import torch  # noqa: E402

from bench.figures.common import load_corpus  # noqa: E402
from bench.figures.data import data_path, padding_waste  # noqa: E402
from bench.figures.efficiency import (  # noqa: E402
    GRID,
    QUICK_CONFIGS,
    lm_figure,
    training_efficiency,
)
from bench.figures.overhead import loop_worker, overhead_figures  # noqa: E402
from bench.figures.processes import memory_figure  # noqa: E402
from bench.figures.search_efficiency import SEARCH_SEEDS, search_efficiency  # noqa: E402
from bench.figures.study import full_study_estimate, full_study_figures  # noqa: E402

GROUPS = ("efficiency", "lm", "padding", "overhead", "search", "searchers", "data")


def format_table(figs: list[dict]) -> str:
    head = f"{'figure':<22} {'value':>10} {'unit':<38} {'goal':<40} met"
    lines = [head, "-" * len(head)]
    for f in figs:
        met = "n/a" if f["met"] is None else ("yes" if f["met"] else "NO")
        lines.append(f"{f['name']:<22} {f['value']!s:>10} {f['unit']:<38} {f['goal']:<40} {met}")
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="3 grid configs, fewer steps")
    parser.add_argument("--json", type=Path, help="write the figures here")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads for the efficiency figure (trials use 1)")
    parser.add_argument("--only", help="comma list: " + ",".join(GROUPS))
    parser.add_argument("--preset-sweep", action=argparse.BooleanOptionalAction, default=None,
                        help="also run the quick-preset sweep (5-12 min) and account its "
                             "overhead (default: on without --quick)")
    parser.add_argument("--search-sweeps", action=argparse.BooleanOptionalAction, default=None,
                        help="the search-efficiency figure's sweeps (ASHA, SHA and the full "
                             "grid per seed: ~10 min a seed on 2 cores, the heaviest part; "
                             "default: on without --quick, or where --only names search)")
    parser.add_argument("--full-study", type=Path, metavar="DIR",
                        help="bench/full_study.py's --out folder: its measured wall time, "
                             "memory and overhead replace the estimate")
    # the plain-loop side of the overhead figure, run as a process of its own
    parser.add_argument("--loop-worker", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.full_study and not (args.full_study / "full_study.json").exists():
        parser.error(f"--full-study {args.full_study}: no full_study.json in it; run "
                     "bench/full_study.py --out DIR first")
    if args.preset_sweep is None:
        args.preset_sweep = not args.quick
    if args.search_sweeps is None:
        args.search_sweeps = not args.quick or "search" in (args.only or "").split(",")
    return args


def run_figures(args: argparse.Namespace) -> list[dict]:
    """The figures ``--only`` asks for (all by default), in one temporary folder. The data
    path runs before the sweeps: it measures a plain loop's fixed cost, which the overhead
    figures subtract."""
    only = set(args.only.split(",")) if args.only else set(GROUPS)
    corpus = load_corpus()
    figs, rows, sweeps, accounts = [], [], [], []
    loop_fixed = 0.0
    with tempfile.TemporaryDirectory(prefix="rnn-bench-") as tmp_s:
        tmp = Path(tmp_s)
        if "padding" in only:
            figs.append(padding_waste(corpus))
        if "data" in only:
            print("data path ...", flush=True)
            figs.append(data_path(tmp))
            loop_fixed = figs[-1]["warm_process_wall_s"]
        if "efficiency" in only:
            print("training efficiency ...", flush=True)
            configs = QUICK_CONFIGS if args.quick else GRID
            fig, rows = training_efficiency(corpus, configs, 1, 5 if args.quick else 10)
            figs.append(fig)
        if "lm" in only:
            print("language-model training efficiency ...", flush=True)
            figs.append(lm_figure(6 if args.quick else 12))
        if "search" in only and args.search_sweeps:
            print("search efficiency ...", flush=True)
            seeds = SEARCH_SEEDS["quick" if args.quick else "full"]
            search_figs, sw, accounts = search_efficiency(tmp, corpus, seeds, loop_fixed)
            figs += search_figs
            sweeps += sw
        if "searchers" in only:
            print("searchers on the recorded table ...", flush=True)
            from bench.search import TABLE, load_table, search_figures

            figs += search_figures(load_table(TABLE))
        if "overhead" in only:
            print("platform overhead ...", flush=True)
            over_figs, sw = overhead_figures(tmp, 1 if args.quick else 2, args.preset_sweep,
                                             accounts, loop_fixed)
            figs += over_figs
            sweeps += sw
        if sweeps:
            ran = [k for k, on in (("the quick preset", "overhead" in only and args.preset_sweep),
                                   ("smoke", "overhead" in only),
                                   ("ASHA/SHA/FIFO search",
                                    "search" in only and args.search_sweeps)) if on]
            figs.append(memory_figure(sweeps, ", ".join(ran)))
        if args.full_study:
            figs += full_study_figures(args.full_study, loop_fixed)
        elif rows:
            figs.append(full_study_estimate(corpus, rows))
    return figs


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.loop_worker:
        return loop_worker(args.loop_worker)
    torch.set_num_threads(args.threads)
    t_start = time.perf_counter()
    figs = run_figures(args)
    print()
    print(format_table(figs))
    for f in figs:
        print(f"\n{f['name']}: {f['notes']}")
    total = time.perf_counter() - t_start
    print(f"\nbench wall {total:.0f} s")
    if args.json:
        result = {"settings": {"quick": args.quick, "threads": args.threads,
                               "torch": torch.__version__, "cpu_count": os.cpu_count(),
                               "wall_s": total},
                  "figures": [{k: v for k, v in f.items()} for f in figs]}
        args.json.write_text(json.dumps(result, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
