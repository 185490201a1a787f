"""Free slots under a time budget: new trials (an open stream) against speculative promotions.

    python bench/asha_stream.py                # 10 seeds a case
    python bench/asha_stream.py --seeds 3 --json stream.json

Each case (trials / slots; grace 1, reduction factor 3, 5 epochs: rungs at 1 and 3; the
replayed table's 4 epochs: same rungs) runs on the simulated controller (``bench.sim``) per
seed twice: ``PromotionASHA`` with today's fixed count and ``slots`` (free slots go to
speculative promotions), then with an open stream (``n_trials=None``, ``bench.sim.stream``):
a sampled search whose free slots take new trials, stopped at a time budget equal to the
fixed count's makespan on that seed. The stream's first trials are the fixed count's (same
values and epoch times), the rest drawn alike.

Per scheduler, means over seeds: slot utilisation (busy slot-time over slots x makespan);
anytime, when the eventual pick (the best final value among trials that trained to the last
epoch) finished, over the fixed count's makespan; regret of the pick against the best final
value of the fixed count's trials and against the best of all trials the sweep drew
(synthetic: standard deviations of final quality; replay: validation accuracy); sweeps
with no trial at the last epoch (no pick: left out of anytime and regret); trials
drawn; trials that reached the last epoch; trial-epochs over synchronous halving's for the
fixed count; sweeps breaking a rule (``bench.sim.rules``; the stream's: promotions within
``floor(arrived / rf)``, each to the best waiting trial).
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.asha_slots import run_cases  # noqa: E402
from bench.sim import METRIC, SimConfig, simulate  # noqa: E402
from rnn_core.tuning import PromotionASHA  # noqa: E402


def make(stream: bool):
    def build(cfg: SimConfig):
        return PromotionASHA(None if stream else cfg.n_trials, cfg.grace, cfg.max_t, cfg.rf,
                             metric=METRIC, mode="max", slots=cfg.slots)

    return build


def _mean(values) -> float:
    kept = [v for v in values if not math.isnan(v)]
    return statistics.mean(kept) if kept else math.nan


def case(n: int, slots: int, curves: str, rho: float, seeds: int) -> list[dict]:
    runs: dict[str, list] = {"speculate": [], "stream": []}
    for seed in range(seeds):
        cfg = SimConfig(n_trials=n, slots=slots, curves=curves, rho=rho,
                        max_t=4 if curves == "replay" else 5)
        fixed = simulate(make(False), cfg, seed)
        stream = simulate(make(True), SimConfig(**{**vars(cfg), "time_budget": fixed.makespan}),
                          seed)
        runs["speculate"].append(fixed)
        runs["stream"].append(stream)
    base = runs["speculate"]
    best_fixed = [r.pick_value + r.regret for r in base]  # the best of the fixed count's
    rows = []
    for which, res in runs.items():
        pairs = list(zip(res, base, best_fixed, strict=True))
        rows.append({
            "trials": n, "slots": slots, "curves": curves + (f" {rho}" if rho else ""),
            "scheduler": which, "sweeps": seeds,
            "utilisation": _mean(r.utilisation for r in res),
            "anytime_vs_fixed": _mean(r.anytime / b.makespan for r, b, _ in pairs),
            "regret_fixed_trials": _mean(best - r.pick_value for r, _, best in pairs),
            "regret_all_drawn": _mean(r.regret for r in res),
            "no_pick": sum(math.isnan(r.pick_value) for r in res),
            "drawn": _mean(r.trials for r in res),
            "reached_last": _mean(r.reached_last for r in res),
            "epochs_vs_sha": _mean(r.epochs / b.sha_epochs for r, b, _ in pairs),
            "broken": sum(bool(r.violations) for r in res),
            "examples": [v for r in res for v in r.violations][:2],
        })
    return rows


HEADER = (f"{'trials':>6} {'slots':>5} {'curves':>13} {'scheduler':>9} {'util':>6} "
          f"{'anytime':>7} {'rgr-fix':>7} {'rgr-all':>7} {'nopick':>6} {'drawn':>7} "
          f"{'@last':>6} {'ep/SHA':>6} {'broken':>6}")


def line(r: dict) -> str:
    return (f"{r['trials']:>6} {r['slots']:>5} {r['curves']:>13} {r['scheduler']:>9} "
            f"{r['utilisation']:>6.3f} {r['anytime_vs_fixed']:>7.3f} "
            f"{r['regret_fixed_trials']:>7.4f} {r['regret_all_drawn']:>7.4f} "
            f"{r['no_pick']:>6} {r['drawn']:>7.1f} {r['reached_last']:>6.1f} "
            f"{r['epochs_vs_sha']:>6.3f} {r['broken']:>6}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", type=int, default=10, help="simulated sweeps per case")
    p.add_argument("--json", help="write the figures here")
    args = p.parse_args()
    if args.seeds < 1:
        p.error(f"--seeds {args.seeds}: expected 1 or more")
    print("anytime: over the fixed count's makespan (the stream's budget), same seeds; "
          "regret: best final value (of the fixed count's trials / of all drawn) minus the "
          "pick's")
    print(HEADER)
    run_cases(case, line, lambda n: args.seeds, args.json)

if __name__ == "__main__":
    main()
