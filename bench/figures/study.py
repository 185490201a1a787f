"""The full study's figures: wall time and memory measured by ``bench/full_study.py``
(``--full-study DIR``), else the wall time estimated from the measured training rates."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

from bench.figures.common import figure, train_flops_per_token
from bench.figures.efficiency import GRID
from bench.figures.overhead import sweep_overhead

__all__ = ["full_study_estimate", "full_study_figures"]


def full_study_estimate(corpus, rows: list[dict]) -> dict:
    """Wall time of the full preset (27 configs, all data, ASHA up to 5 epochs) from rates."""
    train_tok = int(corpus.splits["train"].lengths.sum())
    val_tok = int(corpus.splits["val"].lengths.sum())
    test_tok = int(corpus.splits["test"].lengths.sum())
    measured = {(r["layers"], r["hidden"], r["emb"]): r for r in rows}
    med_eff = statistics.median(r["bucketed_gflops"] * 1e9 for r in rows)  # useful FLOP/s
    epoch_s = {}
    for c in GRID:
        fpt = train_flops_per_token(*c)
        tok_s = measured[c]["bucketed_real_tok_s"] if c in measured else med_eff / fpt
        epoch_s[c] = train_tok / tok_s + val_tok / (3 * tok_s)  # eval ~ forward = 1/3
    times = sorted(epoch_s.values())
    mean = statistics.mean(times)
    # ASHA max_t 5, grace 1, rf 3: rungs at 1 and 3 -> 27 x 1 + 9 x 2 + 3 x 2 = 51 trial-epochs
    asha = (27 * mean + 9 * 2 * mean + 3 * 2 * mean) / 2
    worst = (sum(times) + 2 * sum(times[-9:]) + 2 * sum(times[-3:])) / 2
    fifo = 5 * sum(times) / 2
    est_h = asha / 3600
    return figure("full_study_wall", round(est_h, 2), "h (estimate, not measured)", "<= 3 h",
                  None,
                  f"NOT MEASURED: estimate. {train_tok:,} train tokens/epoch (+ val {val_tok:,} "
                  f"at 1/3 cost); per-config epoch times from the measured 1-thread bucketed "
                  f"rates ({len(rows)} configs measured, the rest scaled by FLOPs/token at the "
                  f"median measured FLOP/s): {times[0] / 60:.1f}-{times[-1] / 60:.1f} min per "
                  f"epoch. ASHA (51 trial-epochs, 2 trials at a time): {asha / 3600:.1f} h if "
                  f"survivors are average, {worst / 3600:.1f} h if the 9/3 survivors are the "
                  f"slowest; the full grid to 5 epochs (FIFO) {fifo / 3600:.1f} h. Assumes "
                  "2 free cores; excludes overhead, test passes (~minutes).",
                  asha_worst_h=worst / 3600, fifo_h=fifo / 3600, test_tokens=test_tok)


def full_study_figures(folder: Path, loop_fixed_s: float) -> list[dict]:
    """Measured figures of ``bench/full_study.py``'s run in ``folder``."""
    res = json.loads((folder / "full_study.json").read_text())
    acc = sweep_overhead({"wall": res["wall_s"]}, f"sqlite:///{folder / 'mlruns.db'}",
                         loop_fixed_s=loop_fixed_s)
    hours = res["wall_s"] / 3600
    when = f"measured {res['date']} at commit {res['commit']}"
    wall = figure("full_study_wall", round(hours, 2), "h (measured)", "<= 3 h", bool(hours <= 3),
                  f"{when}: python sweeps/compound_scaling.py on its defaults (27 configs, "
                  f"34,705 train reviews, up to 5 epochs, ASHA grace 1 / rf 3, 2 one-thread "
                  f"trials at a time) {res['wall_s'] / 60:.1f} min wall (sweep "
                  f"{res['sweep_s']:.0f} s), {res['trial_epochs']} trial-epochs, "
                  f"{res['statuses']}; best by val {res['best']}. Platform overhead in that "
                  f"run: {acc['overhead_s']:.0f} s = {acc['share']:.1%} of its wall "
                  f"(plain-loop makespan {acc['loop_makespan_s']:.0f} s of "
                  f"{acc['compute_s']:.0f} s trial compute"
                  + (", test passes not timed by that version, so counted as overhead)"
                     if acc["test_s"] == 0 else ")"),
                  overhead=acc, **{k: v for k, v in res.items() if k != "study_table_md"})
    # the goal is memory resident in all: PSS (each shared page split between the processes
    # that map it) sums to that; summed RSS counts torch's libraries and Ray's object store
    # once per process, so it is also given, as an upper bound
    pss, rss = res["peak_pss_gib"], res["peak_rss_gib"]
    mem = figure("full_study_memory", round(pss, 2), "GiB resident in all (peak summed PSS)",
                 "< 4 GiB", bool(pss < 4),
                 f"{when}: peak of the summed PSS of the sweep process and everything it started "
                 f"(Ray GCS, raylet, API server, workers, MLflow in the driver, 2 concurrent "
                 f"trials), sampled every 2 s: {pss:.2f} GiB. Summed RSS (shared pages counted "
                 f"once per process: an upper bound) peaked at {rss:.2f} GiB over "
                 f"{res['peak_procs']} processes at {res['peak_at_s'] / 60:.0f} min "
                 f"({res.get('rss_samples_over_4gib', '?')} of {res['n_samples']} samples above "
                 f"4 GiB); median {res['median_rss_gib']:.2f} GiB",
                 peak_rss_gib=rss)
    return [wall, mem]
