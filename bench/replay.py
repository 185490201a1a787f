"""A task that replays recorded learning curves in real time instead of training: the platform
at scale without the cost of training (``bench/scale.py``, ``tests/test_scale.py``).

A trial's configuration picks one of the 27 recorded curves of ``bench/data/search_table.csv``
(layers, hidden size, embedding size); its ``replica`` (drawn uniformly, so that a budget can
exceed the table's 27 configurations) seeds noise of sd ``NOISE`` on every epoch's validation
accuracy, as the simulator's replay curves do beyond the table (``bench.sim.curves``). Each
epoch sleeps its recorded seconds times the trial's ``time_scale`` and reports what the
training loop reports for it: that epoch's validation accuracy, the best so far (the
objective), the parameter count, the epoch's seconds, at the last epoch the test accuracy
of the best epoch, and ``torch_in_worker`` (1 where the trial's worker has torch loaded: it
must not, see below).

It is a real task of the platform (``rnn_core.tasks.register``): a sweep of it goes through
``SweepSpec`` and ``run_sweep`` (Ray Tune, ASHA, the Optuna searcher, MLflow, the report) as a
study's does. The one seam is where a trial runs: ``Task.trial`` names ``replay_trial`` in
place of the torch training loop, so the workers import no torch (``rnn_core.tuning._ray``
preloads this module instead).
"""

from __future__ import annotations

import math
import random
import sys
import time
from typing import Any

from rnn_core.tasks import Task, register
from search_spaces.distributions import Uniform

__all__ = ["KEYS", "NOISE", "SPACE", "TASK", "curve", "prepare", "replay_trial"]

KEYS = ("num_layers", "hidden_size", "embedding_dim")
NOISE = 0.005
# the recorded grid, and a replica key: TPE models the grid's keys; the replica is noise
SPACE: dict[str, Any] = {"num_layers": [1, 2, 3], "hidden_size": [32, 64, 128],
                         "embedding_dim": [16, 32, 64], "replica": Uniform(0.0, 1.0)}


def prepare(data_path: str | None, seed: int, options: dict) -> tuple[dict, dict]:
    """The recorded table, as plain dicts (the workers unpickle no class of bench's)."""
    from bench.sim.table import TABLE, load_table

    table = load_table()
    data = {"val": table.val, "test": table.test, "seconds": table.seconds,
            "n_params": table.n_params}
    return data, {"data_source": f"replay of {TABLE.name}", "configurations": len(table.val)}


def curve(config: dict, data: dict) -> tuple[list[float], list[float]]:
    """A trial's validation accuracy after each epoch (with its replica's noise) and each
    epoch's seconds (recorded, times ``time_scale``)."""
    key = tuple(int(config[k]) for k in KEYS)
    rng = random.Random(repr(float(config["replica"])))
    val = [v + rng.gauss(0, NOISE) for v in data["val"][key]]
    scale = float(config.get("time_scale", 1.0))
    return val, [s * scale for s in data["seconds"][key]]


def replay_trial(config: dict, data: dict, report, state: dict | None) -> None:
    """``Task.trial``: sleep each epoch's seconds, report its recorded results; ``state`` (the
    last epoch reported, the best value and its epoch) resumes a paused or retried trial."""
    key = tuple(int(config[k]) for k in KEYS)
    val, seconds = curve(config, data)
    max_epochs = min(int(config["max_epochs"]), len(val))
    epoch, best, best_epoch = 0, -math.inf, 0
    if state is not None:
        epoch, best, best_epoch = state["epoch"], state["best"], state["best_epoch"]
    while epoch < max_epochs:
        time.sleep(seconds[epoch])
        epoch += 1
        if val[epoch - 1] > best:
            best, best_epoch = val[epoch - 1], epoch
        metrics = {"epoch": epoch, "val_acc": val[epoch - 1], "best_val_acc": best,
                   "n_params": data["n_params"][key], "epoch_seconds": seconds[epoch - 1],
                   "torch_in_worker": float("torch" in sys.modules)}
        if epoch == max_epochs:
            metrics["test_acc"] = data["test"][key][best_epoch - 1]
        report(metrics, {"epoch": epoch, "best": best, "best_epoch": best_epoch})


TASK = register(Task(
    name="replay", objective="val_acc", mode="max", trainer="",
    trial=f"{__name__}:replay_trial", prepare=prepare,
    data_options=lambda grid, base: {},
    name_keys=(("num_layers", "L"), ("hidden_size", "H"), ("embedding_dim", "E")),
    table_params=KEYS), __name__)
