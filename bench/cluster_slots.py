"""Free slots when the cluster changes under a sweep: ASHA by promotion counting its slots
again (as a sweep does, ``slots_source``) against keeping the count it started with.

    python bench/cluster_slots.py              # 10 seeds a case, under a minute

Simulated (``bench.sim``: the real ``PromotionASHA``, grace 1, reduction factor 3, 5 epochs;
``SimConfig.slot_changes``): a node lost at a set time takes its trials with it (they fail
and are retried from their checkpoints, ``max_failures`` 2), or a node joins. Per case, means
over seeds, followed / kept: sweeps breaking a rule, the most speculative trials waiting
PENDING for room the cluster no longer has (per sweep, the largest), slot utilisation (busy
slot-time over the slots the cluster had), makespan and anytime (when the eventual pick
finished) followed over kept, and trial-epochs over synchronous halving's.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.asha_slots import make  # noqa: E402
from bench.sim import SimConfig, simulate  # noqa: E402

# (what happens, trials, slots at the start, (simulated time, slots from then on))
CASES = (("node lost", 27, 8, (3.0, 4)), ("node lost", 200, 64, (4.0, 32)),
         ("node joins", 27, 4, (2.0, 8)), ("node joins", 200, 32, (2.0, 64)))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", type=int, default=10, help="simulated sweeps per case")
    args = p.parse_args()
    print(f"{'case':>10} {'trials':>6} {'slots':>9} {'curves':>9} {'broken':>7} "
          f"{'spec waiting':>12} {'utilisation':>13} {'makespan':>8} {'anytime':>7} "
          f"{'ep/SHA':>11}")
    for what, n, slots, change in CASES:
        for curves in ("flat", "synthetic"):
            runs = {}
            for follow in (True, False):
                cfg = SimConfig(n_trials=n, slots=slots, slot_changes=(change,),
                                follow_slots=follow, max_failures=2, curves=curves)
                runs[follow] = [simulate(make("speculate"), cfg, seed)
                                for seed in range(args.seeds)]
            f, k = runs[True], runs[False]
            mean = statistics.mean
            print(f"{what:>10} {n:>6} {f'{slots}->{change[1]}':>9} {curves:>9} "
                  f"{sum(bool(r.violations) for r in f):>3} / {sum(bool(r.violations) for r in k)} "
                  f"{max(r.spec_waiting_peak for r in f):>5} / "
                  f"{max(r.spec_waiting_peak for r in k):<4} "
                  f"{mean(r.utilisation for r in f):.3f} / {mean(r.utilisation for r in k):.3f} "
                  f"{mean(a.makespan / b.makespan for a, b in zip(f, k, strict=True)):>8.3f} "
                  f"{mean(a.anytime / b.anytime for a, b in zip(f, k, strict=True)):>7.3f} "
                  f"{mean(r.epochs / r.sha_epochs for r in f):.3f} / "
                  f"{mean(r.epochs / r.sha_epochs for r in k):.3f}", flush=True)


if __name__ == "__main__":
    main()
