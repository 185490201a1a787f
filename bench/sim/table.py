"""The recorded table (``bench/data/search_table.csv``): for every configuration of the
compound grid, what a real sweep measured after each epoch (validation and test accuracy,
seconds, parameters). The replayed searches (``bench.sim.tabular``), the simulated replay
curves (``bench.sim.curves``) and the replay task (``bench/replay.py``) read it here."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

__all__ = ["KEYS", "TABLE", "Table", "load_table"]

TABLE = Path(__file__).resolve().parents[1] / "data" / "search_table.csv"
KEYS = ("num_layers", "hidden_size", "embedding_dim")


@dataclass(frozen=True)
class Table:
    """Per configuration (a tuple of ``keys``' values): per-epoch validation and test
    accuracy and seconds, its parameter count, and its place in the grid's order."""

    keys: tuple[str, ...]
    val: dict[tuple, list[float]]
    test: dict[tuple, list[float]]
    seconds: dict[tuple, list[float]]
    n_params: dict[tuple, int]
    order: dict[tuple, int]

    @property
    def max_epochs(self) -> int:
        return min(len(v) for v in self.val.values())

    def space(self) -> dict[str, list]:
        """The grid as a study's space: each key's values, as lists."""
        return {k: sorted({c[i] for c in self.val}) for i, k in enumerate(self.keys)}

    def best_epoch(self, config: tuple, upto: int) -> int:
        """The best-on-validation epoch (1-based) within the first ``upto``: the first that
        reaches the best value, as the training loop keeps only strictly better states."""
        vals = self.val[config][:upto]
        return vals.index(max(vals)) + 1


def load_table(path: Path = TABLE) -> Table:
    """The recorded table at ``path``."""
    val, test, sec, n_params, order = {}, {}, {}, {}, {}
    with path.open() as f:
        for r in sorted(csv.DictReader(f), key=lambda r: (int(r["grid_index"]),
                                                          int(r["epoch"]))):
            key = tuple(int(r[k]) for k in KEYS)
            val.setdefault(key, []).append(float(r["val_acc"]))
            test.setdefault(key, []).append(float(r["epoch_test_acc"]))
            sec.setdefault(key, []).append(float(r["epoch_seconds"]))
            n_params[key], order[key] = int(r["n_params"]), int(r["grid_index"])
    return Table(KEYS, val, test, sec, n_params, order)
