"""Learning curves for the simulated controller: what each trial reports after each epoch, and
how long each epoch takes (``SimConfig.curves``).

- ``flat``: a fixed quality per trial, reported as ``quality + epoch``: ranks never change
  between epochs, so the trial best at the end is best at every rung (flatters any rule that
  promotes on early results).
- ``synthetic``: ``value(i, e) = c_e z_i + sqrt(1 - c_e^2) eps_{i,e} + 0.05 e``, ``z_i`` and
  ``eps_{i,e}`` independent standard normals, ``c_e`` rising linearly from ``rho`` at epoch 1
  to 1 at ``max_t``. ``z_i`` is the trial's final quality; the correlation of a trial's value
  at epoch ``e`` with its final one is ``c_e``, so ``rho`` is how far the first rung's ranks
  can be trusted. The trend is the same for every trial (rungs compare trials at the same
  epoch): it only makes values grow like a learning curve.
- ``replay``: real curves from ``bench/data/search_table.csv`` (per configuration and epoch:
  validation accuracy, epoch seconds). A trial reports its best validation accuracy so far,
  as a sweep's objective does. Trials take distinct configurations while the table has enough
  (a random order), then configurations drawn with replacement plus Gaussian noise (sd
  ``REPLAY_NOISE``, per epoch) so that copies differ. An epoch takes its recorded seconds
  over the table's mean epoch seconds (a mean of 1, the other models' unit), times the
  per-epoch jitter. ``max_t`` must not exceed the table's epochs (4).

For ``flat`` and ``synthetic`` an epoch takes the trial's speed (lognormal, independent of
quality) times a jitter in [0.8, 1.2]; every draw is fixed per trial and epoch up front, so
that two schedulers run on one seed see the same trials, values and epoch times.
"""

from __future__ import annotations

import math
import random

from bench.sim.table import load_table

REPLAY_NOISE = 0.005
TREND = 0.05


def _read_table() -> tuple[list[list[float]], list[list[float]]]:
    """Per configuration, in grid order: validation accuracy and seconds per epoch."""
    table = load_table()
    keys = sorted(table.val, key=table.order.get)
    return [table.val[k] for k in keys], [table.seconds[k] for k in keys]


class Curves:
    """Each trial's value after each epoch (1-based), its final value and its epoch times."""

    def __init__(self, kind: str, n: int, max_t: int, rng: random.Random, rho: float = 0.5,
                 ties: bool = False) -> None:
        if kind not in ("flat", "synthetic", "replay"):
            raise ValueError(f"curves {kind!r}: expected flat, synthetic or replay")
        self.kind, self.max_t = kind, max_t
        if kind == "flat":
            quality = [rng.random() for _ in range(n)]
            if ties:
                quality = [round(q, 1) for q in quality]
            self.values = [[q + e for e in range(1, max_t + 1)] for q in quality]
        elif kind == "synthetic":
            self.values = [self._synthetic(rng, max_t, rho) for _ in range(n)]
        speed = [rng.lognormvariate(0, 0.6) for _ in range(n)]
        jitter = [[rng.uniform(0.8, 1.2) for _ in range(max_t)] for _ in range(n)]
        if kind == "replay":
            self.values, seconds = self._replay(rng, n, max_t)
            self.times = [[s * j for s, j in zip(sec, jit, strict=False)]
                          for sec, jit in zip(seconds, jitter, strict=True)]
        else:
            self.times = [[s * j for j in jit] for s, jit in zip(speed, jitter, strict=True)]
        self.speed = [sum(t) / len(t) for t in self.times]

    @classmethod
    def given(cls, values: list[list[float]], times: list[list[float]]) -> Curves:
        """The curves of given trials: per trial, what it reports after each epoch and each
        epoch's seconds (a real sweep's trials, replayed in simulated time)."""
        curves = cls.__new__(cls)
        curves.kind, curves.max_t = "given", min(len(v) for v in values)
        curves.values, curves.times = values, times
        curves.speed = [sum(t) / len(t) for t in times]
        return curves

    @staticmethod
    def _synthetic(rng: random.Random, max_t: int, rho: float) -> list[float]:
        z = rng.gauss(0, 1)
        out = []
        for e in range(1, max_t + 1):
            c = rho + (1 - rho) * (e - 1) / max(1, max_t - 1)
            out.append(c * z + math.sqrt(max(0.0, 1 - c * c)) * rng.gauss(0, 1) + TREND * e)
        return out

    @staticmethod
    def _replay(rng: random.Random, n: int, max_t: int) -> tuple[list, list]:
        val, sec = _read_table()
        if max_t > min(len(v) for v in val):
            raise ValueError(f"replay: max_t {max_t} beyond the table's "
                             f"{min(len(v) for v in val)} epochs")
        mean = sum(map(sum, (s[:max_t] for s in sec))) / (len(sec) * max_t)
        picks = rng.sample(range(len(val)), min(n, len(val)))
        picks += [rng.randrange(len(val)) for _ in range(n - len(picks))]
        values, seconds = [], []
        for k, g in enumerate(picks):
            noisy = k >= len(val)  # a copy: its own noise
            curve = [v + (rng.gauss(0, REPLAY_NOISE) if noisy else 0.0) for v in val[g][:max_t]]
            values.append([max(curve[:e]) for e in range(1, max_t + 1)])
            seconds.append([s / mean for s in sec[g][:max_t]])
        return values, seconds

    def value(self, i: int, epoch: int) -> float:
        return self.values[i][epoch - 1]

    def final(self, i: int) -> float:
        return self.values[i][self.max_t - 1]

    def epoch_time(self, i: int, epoch: int) -> float:
        """Seconds (simulated) of trial ``i``'s epoch ``epoch`` (1-based)."""
        return self.times[i][epoch - 1]
