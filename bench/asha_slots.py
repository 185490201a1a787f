"""Free slots under ASHA by promotion: today's rule, speculative promotions, Ray's ASHAScheduler.

    python bench/asha_slots.py                 # 10 seeds a case, ~5 min on 2 CPU cores
    python bench/asha_slots.py --seeds 3 --json slots.json

Each case (trials / slots; grace 1, reduction factor 3, 5 epochs: rungs at 1 and 3) runs on
the simulated controller (``bench.sim``) with three schedulers on the same seeds, so the
same trials, values and epoch times: ``PromotionASHA`` as it was (no ``slots``), with
``slots`` (free slots go to speculative promotions), and Ray's own ``ASHAScheduler`` (one
bracket, deciding at report time). Curves (``bench.sim.curves``): ``flat`` (ranks never
change), ``synthetic`` with rho 0.5 and 0.8 (the correlation of epoch 1's value with the
final one), ``replay`` of the recorded search table (4 epochs there: max_t 4, same rungs).

Per scheduler, means over seeds: slot utilisation (busy slot-time over slots x makespan;
speculative work that is thrown away counts as busy), idle slot-time while a trial waits
paused (a share of slots x makespan), makespan over today's, anytime (when the eventual pick,
the best final value among trials that trained to the last epoch, finished) over today's
makespan, regret (true best final value minus the pick's; synthetic values are in standard
deviations of the final quality, replay in validation accuracy), trial-epochs over
synchronous halving's, the share of sweeps whose best trial trained to the last epoch, and
sweeps breaking a rule (``bench.sim.rules``; not checked for Ray's, whose rules differ).
A fourth row, ``bound``, is how short any scheduler that keeps today's settled promotions
could make the sweep and the pick's training, starting trials in an order blind to their
quality (``bench.sim.bound``).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ray.tune.schedulers import ASHAScheduler  # noqa: E402

from bench.sim import METRIC, SimConfig, simulate  # noqa: E402
from bench.sim.bound import sweep_bound  # noqa: E402
from rnn_core.tuning import PromotionASHA  # noqa: E402

CASES = ((27, 2), (27, 8), (81, 8), (200, 64), (1000, 64))
CURVES = (("flat", 0.0), ("synthetic", 0.5), ("synthetic", 0.8), ("replay", 0.0))
SCHEDULERS = ("today", "speculate", "ray")


def make(which: str):
    def build(cfg: SimConfig):
        if which == "ray":
            return ASHAScheduler(time_attr="training_iteration", metric=METRIC, mode="max",
                                 max_t=cfg.max_t, grace_period=cfg.grace,
                                 reduction_factor=cfg.rf, brackets=1)
        return PromotionASHA(cfg.n_trials, cfg.grace, cfg.max_t, cfg.rf, metric=METRIC,
                             mode="max", slots=cfg.slots if which == "speculate" else None)

    return build


def case(n: int, slots: int, curves: str, rho: float, seeds: int) -> list[dict]:
    runs = {w: [] for w in SCHEDULERS}
    bounds = []
    for seed in range(seeds):
        for which in SCHEDULERS:
            cfg = SimConfig(n_trials=n, slots=slots, curves=curves, rho=rho,
                            max_t=4 if curves == "replay" else 5, check_rules=which != "ray")
            runs[which].append(simulate(make(which), cfg, seed))
        bounds.append(sweep_bound(cfg, seed, runs["today"][-1]))
    base = [r.makespan for r in runs["today"]]
    rows = []
    for which, res in runs.items():
        mean = statistics.mean
        rows.append({
            "trials": n, "slots": slots, "curves": curves + (f" {rho}" if rho else ""),
            "scheduler": which, "sweeps": seeds,
            "utilisation": mean(r.utilisation for r in res),
            "idle_waiting": mean(r.idle_waiting for r in res),
            "makespan_vs_today": mean(r.makespan / b for r, b in zip(res, base, strict=True)),
            "anytime_vs_today": mean(r.anytime / b for r, b in zip(res, base, strict=True)),
            "regret": mean(r.regret for r in res),
            "epochs_vs_sha": mean(r.epochs / r.sha_epochs for r in res),
            "best_reached_last": mean(bool(r.best_reached_last) for r in res),
            "speculative": mean(r.speculated for r in res),
            "broken": None if which == "ray" else sum(bool(r.violations) for r in res),
            "examples": [v for r in res for v in r.violations][:2],
        })
    # no scheduler that keeps today's settled promotions can be faster (``bench.sim.bound``)
    rows.append({
        "trials": n, "slots": slots, "curves": rows[0]["curves"], "scheduler": "bound",
        "sweeps": seeds, "utilisation": None, "idle_waiting": None,
        "makespan_vs_today": statistics.mean(b.makespan / t for b, t in zip(bounds, base,
                                                                             strict=True)),
        "anytime_vs_today": statistics.mean(b.anytime / t for b, t in zip(bounds, base,
                                                                           strict=True)),
        "regret": None, "epochs_vs_sha": None, "best_reached_last": None, "speculative": None,
        "broken": None, "examples": [],
        # how many times sooner than today's the pick could at most finish training
        "pick_sooner_at_most": statistics.mean(
            t.anytime / b.anytime for b, t in zip(bounds, runs["today"], strict=True)),
        # busy slot-time that a utilisation of 0.8 needs, over the settled trial-epochs' own
        # (synchronous halving's work): no shorter makespan than the bound is possible
        "busy_for_0.8_vs_sha_work": statistics.mean(0.8 * b.makespan / b.work for b in bounds),
    })
    return rows


HEADER = (f"{'trials':>6} {'slots':>5} {'curves':>13} {'scheduler':>9} {'util':>6} "
          f"{'idle-w':>6} {'makespan':>8} {'anytime':>7} {'regret':>7} {'ep/SHA':>6} "
          f"{'best@T':>6} {'spec':>6} {'broken':>6}")


def line(r: dict) -> str:
    if r["scheduler"] == "bound":
        return (f"{r['trials']:>6} {r['slots']:>5} {r['curves']:>13} {'bound':>9} "
                f"{'':>6} {'':>6} {r['makespan_vs_today']:>8.3f} {r['anytime_vs_today']:>7.3f}"
                f"  (the pick at most {r['pick_sooner_at_most']:.2f} x sooner than today; "
                f"utilisation 0.8 needs {r['busy_for_0.8_vs_sha_work']:.2f} x SHA's work)")
    broken = "n/a" if r["broken"] is None else str(r["broken"])
    return (f"{r['trials']:>6} {r['slots']:>5} {r['curves']:>13} {r['scheduler']:>9} "
            f"{r['utilisation']:>6.3f} {r['idle_waiting']:>6.3f} "
            f"{r['makespan_vs_today']:>8.3f} {r['anytime_vs_today']:>7.3f} "
            f"{r['regret']:>7.4f} {r['epochs_vs_sha']:>6.3f} {r['best_reached_last']:>6.0%} "
            f"{r['speculative']:>6.1f} {broken:>6}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", type=int, default=10, help="simulated sweeps per case")
    p.add_argument("--big-seeds", type=int, default=10, help="at 1000 trials")
    p.add_argument("--json", help="write the figures here")
    args = p.parse_args()
    print("makespan and anytime: over today's makespan, same seeds; regret: true best final "
          "value minus the pick's")
    print(HEADER)
    run_cases(case, line, lambda n: args.big_seeds if n >= 1000 else args.seeds, args.json)


def run_cases(case, line, seeds_for, json_path: str | None) -> list[dict]:
    """Every case and curve kind: the rows of ``case(n, slots, curves, rho, seeds_for(n))``,
    printed (``line``) as they come, with a sweep's broken rules; written to ``json_path``."""
    rows = []
    for n, slots in CASES:
        for curves, rho in CURVES:
            for r in case(n, slots, curves, rho, seeds_for(n)):
                rows.append(r)
                print(line(r), flush=True)
                for ex in r["examples"]:
                    print(f"{'':>20}{ex}")
    if json_path:
        Path(json_path).write_text(json.dumps(rows, indent=1))
    return rows


if __name__ == "__main__":
    main()
