"""Search efficiency: ASHA and synchronous SHA against the full grid (FIFO) on the same
training subset, grid and seed, over seeds: the test accuracy of each side's validation pick
and the compute each spent, from real sweeps."""

from __future__ import annotations

import statistics
from pathlib import Path

from bench.figures.common import figure, train_flops_per_token
from bench.figures.overhead import sweep_overhead
from bench.figures.processes import run_tree, sweep_cmd
from rnn_core.tasks import get_task
from search_spaces import compound_scaling as space

__all__ = ["EARLY", "SEARCH_SEEDS", "search_efficiency"]

TASK = get_task(space.TASK)  # the picks are ranked by its objective
# ASHA as in the full preset (grace 1, rf 3, up to 5 epochs: rungs at 1 and 3) on a grid shaped
# like the study's (layers x hidden x embedding) but small enough to run in full on 2 cores,
# repeated over seeds (each seed: training subset, batching, weights). 8,000 reviews give 125
# steps per epoch: on 4,000 (63 steps) the epoch-1 rung mostly ranks how fast a config starts.
SEARCH_GRID = {"layers": "1,2", "hidden": "16,32,64", "embedding": "16,32,64"}
SEARCH_SUBSET, SEARCH_EPOCHS = 8000, 5
SEARCH_SEEDS = {"quick": (0,), "full": (0, 1, 2)}


EARLY = {"asha": "ASHA", "sha": "synchronous SHA"}


def search_efficiency(tmp: Path, corpus, seeds: tuple[int, ...], loop_fixed_s: float = 0.0
                      ) -> tuple[list[dict], list[dict], list[dict]]:
    """ASHA and synchronous SHA vs the full grid (FIFO) per seed: one figure per scheduler,
    the sweep runs, their accountings."""
    import pandas as pd

    # all of the validation and test splits: on 1,000 / 2,000 reviews both sides' picks were
    # decided by noise (val accuracies of most configs within one standard error, ~1 point)
    opts = ["--preset", "full", "--layers", SEARCH_GRID["layers"], "--hidden",
            SEARCH_GRID["hidden"], "--embedding", SEARCH_GRID["embedding"], "--train-subset",
            str(SEARCH_SUBSET), "--max-epochs", str(SEARCH_EPOCHS)]

    def name(b) -> str:
        return f"L{b['num_layers']}H{b['hidden_size']}E{b['embedding_dim']}"

    per_seed: dict[str, list[dict]] = {k: [] for k in EARLY}
    sweeps, accounts = [], []
    for seed in seeds:
        runs, side = {}, {}
        tokens = int(corpus.splits["train"].subset(SEARCH_SUBSET, seed).lengths.sum())
        for sched in (*EARLY, "fifo"):
            tag = f"{sched}-seed{seed}"
            runs[sched] = run_tree(sweep_cmd(tmp, tag, *opts, "--seed", str(seed),
                                             "--scheduler", sched))
            print(f"  seed {seed} {sched} sweep: {runs[sched]['wall']:.1f} s rc "
                  f"{runs[sched]['rc']}", flush=True)
            if runs[sched]["rc"] != 0:
                raise RuntimeError(f"{sched} sweep failed:\n" + runs[sched]["out"][-2000:])
            df = pd.read_csv(tmp / f"report-{tag}" / "trials.csv")
            sweeps.append(runs[sched])
            accounts.append({"sweep": tag, **sweep_overhead(
                runs[sched], f"sqlite:///{tmp / tag}.db", loop_fixed_s=loop_fixed_s)})
            done = df[df[TASK.test_metric].notna()]
            # ties (same count of correct val reviews) go to the smaller model, then by name
            best = done.sort_values([TASK.best_metric, "n_params", "run_name"],
                                    ascending=[False, True, True]).iloc[0]
            flops = sum(int(r.epochs_run) * tokens * train_flops_per_token(
                int(r.num_layers), int(r.hidden_size), int(r.embedding_dim))
                for r in df.itertuples())
            side[sched] = {"epochs": int(df["epochs_run"].sum()), "flops": flops,
                           "best": name(best), "test_acc": float(best[TASK.test_metric]),
                           "max_test_acc": float(df[TASK.test_metric].max()),
                           "finished": len(done), "wall_s": runs[sched]["wall"]}
        g = side["fifo"]
        for sched in EARLY:
            a = side[sched]
            per_seed[sched].append({
                "seed": seed, "tokens_per_epoch": tokens,
                "gap_points": (g["test_acc"] - a["test_acc"]) * 100,
                "compute_share": a["epochs"] / g["epochs"], "flops_share": a["flops"] / g["flops"],
                "early": a, "grid": g})
            print(f"  seed {seed}: {EARLY[sched]} {a['best']} {a['test_acc']:.4f} vs grid "
                  f"{g['best']} {g['test_acc']:.4f}, compute {a['epochs']}/{g['epochs']} "
                  "trial-epochs", flush=True)
    return ([_search_figure(sched, rows) for sched, rows in per_seed.items()], sweeps, accounts)


def _search_figure(sched: str, per_seed: list[dict]) -> dict:
    label = EARLY[sched]
    gap = statistics.mean(r["gap_points"] for r in per_seed)
    share = statistics.mean(r["compute_share"] for r in per_seed)
    n_cfg = 1
    for v in SEARCH_GRID.values():
        n_cfg *= len(v.split(","))
    how = ("a trial pauses at a rung; whenever a slot frees, the best waiting one goes on "
           "if fewer than 1/3 of the rung's arrivals have, and once all have arrived the rest "
           "stop" if sched == "asha" else
           "every trial waits (paused) at a rung until all have reached it, then the top 1/3 "
           "continue from their checkpoints")
    notes = (f"{n_cfg} configs: layers {{{SEARCH_GRID['layers']}}} x hidden "
             f"{{{SEARCH_GRID['hidden']}}} x emb {{{SEARCH_GRID['embedding']}}}, "
             f"{SEARCH_SUBSET:,} train reviews, all 4,959 val / 9,917 test, up to {SEARCH_EPOCHS} "
             f"epochs, {label} (grace 1 / rf 3: rungs at epochs 1 and 3; {how}) vs the full "
             f"grid (FIFO), {len(per_seed)} seed(s). Each side's pick is its best trial by "
             "validation accuracy among those that ran to the end (a tie goes to the smaller "
             "model); the gap is the grid pick's "
             "test accuracy minus the early-stopped sweep's (0 when both pick the same config: "
             "training is deterministic). Compute = trial-epochs x tokens, the whole sweep on "
             "each side. Per seed: " + "; ".join(
                 f"seed {r['seed']}: {r['early']['best']} {r['early']['test_acc']:.4f} vs "
                 f"grid {r['grid']['best']} {r['grid']['test_acc']:.4f} (gap "
                 f"{r['gap_points']:+.2f}), {r['early']['epochs']}/{r['grid']['epochs']} "
                 f"trial-epochs = {r['compute_share']:.0%} (FLOP-weighted "
                 f"{r['flops_share']:.0%}), wall {r['early']['wall_s']:.0f} s vs "
                 f"{r['grid']['wall_s']:.0f} s, grid's max test {r['grid']['max_test_acc']:.4f}"
                 for r in per_seed)
             + ". Standard error of one accuracy: ~0.45 points on 4,959 val reviews, ~0.35 on "
             "9,917 test reviews.")
    met = bool(gap <= 0.5 and share <= 0.4)
    return figure("search_efficiency" + ("" if sched == "asha" else f"_{sched}"), round(gap, 2),
                  "test-acc points below the grid's pick (mean)",
                  "<= 0.5 points at <= 40% of grid compute", met, notes,
                  compute_share=share, per_seed=per_seed)
