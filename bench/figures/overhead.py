"""Platform overhead: a sweep's whole-process wall against a plain loop over 2 processes
running the same trials (each trial's compute measured inside it,
``reports.frames.sweep_accounting``), and the smoke sweep against the same trials through
``rnn_core.training.train`` in real processes (a fixed and a per-trial part)."""

from __future__ import annotations

import concurrent.futures as cf
import json
import multiprocessing as mp
import statistics
import sys
import time
from pathlib import Path

from bench._common import timed
from bench.figures.common import ROOT, figure, load_corpus
from bench.figures.processes import run_tree, sweep_cmd
from search_spaces import compound_scaling as space

__all__ = ["loop_worker", "overhead_figure", "overhead_figures", "platform_overhead",
           "smoke_configs", "sweep_overhead"]

# the loop side runs as ``bench/run.py --loop-worker N``: a process importing what the bench
# does, timed whole like the sweep's
RUN = ROOT / "bench" / "run.py"


def smoke_configs() -> list[dict]:
    """The trial configs of the smoke sweep (``--smoke-test``), as its trials receive them."""
    preset = dict(space.PRESETS["smoke"])
    grid = {**space.GRID, **preset.pop("grid")}
    epochs = preset.pop("max_epochs")
    return [{**space.RECIPE, **preset, "seed": 0, "max_epochs": epochs, "threads": 1,
             "num_layers": lay, "hidden_size": hid, "embedding_dim": emb}
            for lay in grid["num_layers"] for hid in grid["hidden_size"]
            for emb in grid["embedding_dim"]]


_CORPUS = None  # loaded before the pool forks, so the loop's processes share it


def _loop_one(cfg: dict) -> float:
    from rnn_core.tasks import train

    return timed(lambda: train(cfg, _CORPUS))


def loop_worker(repeat: int) -> int:
    """The plain-loop side of the overhead figure: the smoke trials (x repeat) in 2 processes."""
    global _CORPUS
    t0 = time.perf_counter()
    _CORPUS = load_corpus()
    t1 = time.perf_counter()
    with cf.ProcessPoolExecutor(2, mp_context=mp.get_context("fork")) as pool:
        secs = list(pool.map(_loop_one, smoke_configs() * repeat))
    print(json.dumps({"data_s": t1 - t0, "train_wall_s": time.perf_counter() - t1,
                      "trial_s": secs}))
    return 0


def platform_overhead(tmp: Path, reps: int) -> tuple[dict, list[dict]]:
    """Sweep minus loop at two sweep sizes (4 and 8 trials): a fixed and a per-trial part."""
    n = len(smoke_configs())
    walls: dict[tuple[str, int], list[float]] = {}
    sweeps = []
    for i in range(reps):
        for mult in (1, 2):  # loop, sweep, loop, sweep: alternated, each size side by side
            loop = run_tree([sys.executable, str(RUN), "--loop-worker", str(mult)])
            sweep = run_tree(sweep_cmd(tmp, f"smoke{i}-{mult}", "--smoke-test",
                                       "--num-samples", str(mult)))
            for kind, r in (("loop", loop), ("sweep", sweep)):
                if r["rc"] != 0:
                    raise RuntimeError(f"overhead {kind} failed:\n" + r["out"][-2000:])
                walls.setdefault((kind, mult), []).append(r["wall"])
            sweeps.append(sweep)
            print(f"  {n * mult} trials: loop {loop['wall']:.1f} s, sweep {sweep['wall']:.1f} s",
                  flush=True)
    w = {k: statistics.median(v) for k, v in walls.items()}
    over1 = w["sweep", 1] - w["loop", 1]
    over2 = w["sweep", 2] - w["loop", 2]
    per_trial = max(0.0, (over2 - over1) / n)  # wall seconds per extra trial, 2 at a time
    fixed = max(0.0, over1 - n * per_trial)
    notes = (f"cross-check with real processes: the smoke sweep (2 epochs, 256 train reviews, 2 "
             f"trials at a time) vs the same trials via rnn_core.training.train in a plain loop "
             f"over 2 processes (both timed as whole processes incl. interpreter, imports, data "
             f"load; median of {reps}, run alternately): {n} trials {w['sweep', 1]:.1f} s vs "
             f"{w['loop', 1]:.1f} s, {2 * n} trials {w['sweep', 2]:.1f} s vs "
             f"{w['loop', 2]:.1f} s. Fit: fixed {fixed:.1f} s (Ray start, MLflow parent run, "
             f"report, shutdown) + {per_trial:.2f} s of wall per trial (trial start, result "
             "reporting, per-epoch checkpoint, MLflow child run).")
    fig = figure("overhead_fixed_s", round(fixed, 1), "s per sweep (+ per trial: see notes)",
                 "(cross-check, no goal)", None, notes, fixed_s=fixed, per_trial_s=per_trial,
                 walls={f"{k}_{n * m}": v for (k, m), v in w.items()})
    return fig, sweeps


def overhead_figure(accounts: list[dict], basis: str) -> dict:
    """The goal figure: the largest measured sweep's wall not spent in its trials' work."""
    acc = max(accounts, key=lambda a: a["wall_s"])
    others = "; ".join(f"{a['sweep']}: {a['share']:.1%} of {a['wall_s']:.0f} s"
                       for a in accounts if a is not acc)
    notes = (f"{basis}: {acc['sweep']} ({acc['trials']} trials, 2 at a time): wall "
             f"{acc['wall_s']:.1f} s (whole process) vs {acc['loop_makespan_s']:.1f} s for a "
             f"plain loop over 2 processes running the same trials in the same order for the "
             f"epochs each ran ({acc['compute_s']:.0f} s of trial compute measured inside the "
             f"trials: training + validation + test passes) + {acc['loop_fixed_s']:.1f} s a "
             f"plain loop also pays (interpreter, torch import, cached data load): overhead "
             f"{acc['overhead_s']:.1f} s = {acc['share']:.1%} (Ray start, trial scheduling, "
             "result reporting, per-epoch checkpoints, MLflow runs, report, shutdown, idle "
             "slots). The same loop given the longest trials first (an order known only "
             f"afterwards) would take {acc['loop_longest_first_s']:.1f} s: against it the "
             f"overhead is {acc['overhead_lf_s']:.1f} s = {acc['share_lf']:.1%} (this also "
             "counts a scheduler's own ordering and any slot idle while trials wait for a "
             "rung's decision)." + (f" Other sweeps of this run: {others}." if others else ""))
    return figure("platform_overhead", round(acc["share"], 4), "share of sweep wall",
                  "<= 0.03", bool(acc["share"] <= 0.03), notes, accounts=accounts)


def sweep_overhead(run: dict, tracking_uri: str, slots: int = 2,
                   loop_fixed_s: float = 0.0) -> dict:
    """A finished sweep's wall against a plain loop over the same trials (``sweep_accounting``).

    ``run`` is ``run_tree``'s result for the sweep command (whole process: imports, data,
    Ray, trials, MLflow, report); ``loop_fixed_s`` is what a plain loop also pays outside its
    trials (a process that imports torch and loads the cached data).
    """
    from reports.build import read_sweep
    from reports.frames import sweep_accounting

    record = read_sweep(tracking_uri, None)
    runs, history = record.runs, record.history
    acc = sweep_accounting(runs, history, slots)
    overhead = run["wall"] - acc["loop_makespan_s"] - loop_fixed_s
    overhead_lf = run["wall"] - acc["loop_longest_first_s"] - loop_fixed_s
    return {**acc, "wall_s": run["wall"], "loop_fixed_s": loop_fixed_s,
            "overhead_s": overhead, "share": overhead / run["wall"],
            "overhead_lf_s": overhead_lf, "share_lf": overhead_lf / run["wall"]}


def overhead_figures(tmp: Path, reps: int, preset_sweep: bool, accounts: list[dict],
                     loop_fixed_s: float) -> tuple[list[dict], list[dict]]:
    """The goal figure, on the quick preset's sweep (run here when ``preset_sweep``) or else
    on ``accounts`` (the search sweeps' of this run), and the smoke cross-check
    (``platform_overhead``, ``reps`` times); and the sweeps run, for the memory figure."""
    sweeps, accounts = [], list(accounts)
    if preset_sweep:
        run = run_tree(sweep_cmd(tmp, "preset", "--preset", "quick"), timeout=3600)
        if run["rc"] != 0:
            raise RuntimeError("quick preset sweep failed:\n" + run["out"][-2000:])
        sweeps.append(run)
        accounts.append({"sweep": "quick preset", **sweep_overhead(
            run, f"sqlite:///{tmp / 'preset'}.db", loop_fixed_s=loop_fixed_s)})
    fig, sw = platform_overhead(tmp, reps)
    sweeps += sw
    figs = []
    if accounts:
        basis = ("the quick preset, run in this bench" if preset_sweep else
                 "the search-efficiency sweeps (short trials: a larger share than on "
                 "the quick preset)")
        figs.append(overhead_figure(accounts, basis))
    return [*figs, fig], sweeps
