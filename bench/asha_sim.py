"""ASHA by promotion under a simulated Ray controller: right answers and fast calls at scale.

    python bench/asha_sim.py                  # 100 sweeps per case, ~10 min on 2 CPU cores
    python bench/asha_sim.py --seeds 20 --json asha.json

For each slot count and trial count: the share of simulated sweeps in which the best trial
(best at every rung; epoch times random and independent of quality) trains to the last epoch
(goal: at least 99 %), sweeps with any broken rule (``bench.sim.rules``), the
trial-epochs spent against synchronous halving's, and the scheduler's call times, its state
file saved after every change as in a sweep: median and max of ``choose_trial_to_run`` and of
every hook (goal at 200 trials and 64 slots: median at most 10 ms, max at most 100 ms).

CPU time, less the pauses of Python's garbage collector (they stop whatever code triggers
them, Ray's driver included; the longest inside a call is shown apart), is what the scheduler
costs; wall time also counts the waits for a core on a shared machine. Grace 1, reduction
factor 3, 5 epochs (rungs at 1 and 3). A second pass adds failures (3 % per epoch, 10 % while
pausing, one retry each; best@last then counts the sweeps whose best trial did not fail for
good).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.sim import METRIC, SimConfig, simulate  # noqa: E402
from rnn_core.tuning import PromotionASHA  # noqa: E402

SLOTS = (2, 8, 27, 64)
TRIALS = (27, 200)


def _ms(calls: list[float]) -> str:
    return f"{statistics.median(calls):.3f} / {max(calls):.2f}"


def case(n: int, slots: int, seeds: int, faults: bool) -> dict:
    extra = {"fail_p": 0.03, "save_fail_p": 0.1, "max_failures": 1} if faults else {}
    cfg = SimConfig(n_trials=n, slots=slots, **extra)
    reached, broken, examples, epochs = [], 0, [], []
    cpu, wall, cpu_all, gc_pause = [], [], [], 0.0
    with tempfile.TemporaryDirectory() as tmp:
        for seed in range(seeds):
            # the scheduler saves its state after every change, as in a sweep
            def make(c: SimConfig, seed: int = seed) -> PromotionASHA:
                return PromotionASHA(
                    c.n_trials,
                    c.grace,
                    c.max_t,
                    c.rf,
                    metric=METRIC,
                    mode="max",
                    state_file=Path(tmp, f"{seed}.json"),
                )

            res = simulate(make, cfg, seed)
            if res.best_reached_last is not None:
                reached.append(res.best_reached_last)
            if res.violations:
                broken += 1
                examples.append(f"seed {seed}: {res.violations[0]}")
            epochs.append(res.epochs / res.sha_epochs)
            cpu += res.call_ms.get("choose_trial_to_run", [])
            wall += res.wall_ms.get("choose_trial_to_run", [])
            cpu_all += [ms for calls in res.call_ms.values() for ms in calls]
            gc_pause = max(gc_pause, res.gc_pause_ms)
    return {
        "trials": n,
        "slots": slots,
        "faults": faults,
        "sweeps": seeds,
        "best_reached_last": sum(reached) / len(reached) if reached else None,
        "sweeps_best_not_failed": len(reached),
        "sweeps_breaking_a_rule": broken,
        "epochs_vs_sha": statistics.mean(epochs),
        "choose_cpu_median_ms": statistics.median(cpu),
        "choose_cpu_max_ms": max(cpu),
        "choose_wall_median_ms": statistics.median(wall),
        "choose_wall_max_ms": max(wall),
        "any_hook_cpu_median_ms": statistics.median(cpu_all),
        "any_hook_cpu_max_ms": max(cpu_all),
        "gc_pause_in_a_call_max_ms": gc_pause,
        "examples": examples[:3],
        "_text": (_ms(cpu), _ms(wall), _ms(cpu_all), f"{gc_pause:.1f}"),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", type=int, default=100, help="simulated sweeps per case")
    p.add_argument("--json", help="write the figures here")
    args = p.parse_args()
    rows = []
    print(
        "choose_trial_to_run and any hook: median / max ms per call; CPU less the garbage "
        "collector's pauses, whose longest inside a call is the last column"
    )
    print(
        f"{'faults':>6} {'trials':>6} {'slots':>5} {'best@last':>9} {'broken':>6} "
        f"{'epochs/SHA':>10} {'choose CPU':>15} {'choose wall':>16} {'any hook CPU':>15} "
        f"{'GC':>6}"
    )
    for faults in (False, True):
        for n in TRIALS:
            for slots in SLOTS:
                r = case(n, slots, args.seeds, faults)
                text = r.pop("_text")
                rows.append(r)
                best = r["best_reached_last"]
                print(
                    f"{'yes' if faults else 'no':>6} {n:>6} {slots:>5} "
                    f"{'n/a' if best is None else f'{best:.1%}':>9} "
                    f"{r['sweeps_breaking_a_rule']:>6} {r['epochs_vs_sha']:>10.3f} "
                    f"{text[0]:>15} {text[1]:>16} {text[2]:>15} {text[3]:>6}",
                    flush=True,
                )
                for ex in r["examples"]:
                    print(f"{'':>20}{ex}")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
