"""A task defined here, and nowhere else, sweeps and reports like the built-in ones.

The proof that the task seam is one module wide: this module registers a toy task (is the sum
of a sequence of +-1 steps positive?) with its torch trainer, runs a real sweep of it (Ray
Tune, MLflow) and its report, and no file outside this module names it. Ray's workers, which
start without this process's imports, find the task through the module the sweep names in
the trial config (``task_module``).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd
import pytest

from rnn_core.tasks import Task, register, task_keys

SPLITS = {"train": 256, "val": 64, "test": 64}
LENGTH = 9  # odd: no sum is 0


@dataclass(frozen=True)
class Steps:
    """Each split's sequences of +-1 steps ``(n, LENGTH)`` and labels (sum > 0)."""

    x: dict[str, np.ndarray]
    y: dict[str, np.ndarray]


def prepare(data_path: str | None, seed: int, options: dict) -> tuple[Steps, dict]:
    rng = np.random.default_rng(seed)
    x = {s: rng.choice([-1.0, 1.0], size=(n, LENGTH)).astype(np.float32)
         for s, n in SPLITS.items()}
    return Steps(x, {s: (v.sum(1) > 0).astype(np.int64) for s, v in x.items()}), {
        "data_source": "toy steps", "sequences": dict(SPLITS)}


TOY = register(Task(
    name="toy_steps", objective="val_acc", mode="max",
    trainer=f"{__name__}:StepsTrainer", prepare=prepare,
    data_options=lambda grid, base: {}, name_keys=(("cell", ""), ("hidden_size", "H")),
    table_params=("hidden_size",), table_train=True), __name__)


@dataclass(frozen=True)
class ToyConfig:
    hidden_size: int

    def to_dict(self) -> dict:
        return asdict(self)


class StepsTrainer:
    """A GRU over the steps, classifying the sign of their sum; reports a metric of its own
    (``margin``) that no list of the platform names."""

    DEFAULTS: dict[str, Any] = {"hidden_size": 8, "batch_size": 32, "lr": 0.01}

    def __init__(self, config: dict, data: Steps) -> None:
        self.config, self.data, self.extra_metrics = config, data, {}

    def setup(self, device) -> None:
        self.device = device

    def build_model(self):
        import torch
        from torch import nn

        class Model(nn.Module):
            def __init__(self, hidden: int) -> None:
                super().__init__()
                self.cfg = ToyConfig(hidden)
                self.rnn = nn.GRU(1, hidden, batch_first=True)
                self.out = nn.Linear(hidden, 2)

            def forward(self, x: torch.Tensor) -> torch.Tensor:
                return self.out(self.rnn(x.unsqueeze(-1))[1][-1])

        return Model(int(self.config["hidden_size"]))

    def _batches(self, split: str, rng=None):
        import torch

        x, y = self.data.x[split], self.data.y[split]
        order = rng.permutation(len(x)) if rng is not None else np.arange(len(x))
        size = int(self.config["batch_size"])
        for i in range(0, len(x), size):
            idx = order[i:i + size]
            yield torch.from_numpy(x[idx]), torch.from_numpy(y[idx])

    def train_epoch(self, model, opt, rng, epoch: int) -> tuple[dict[str, float], int]:
        from torch import nn

        total, correct, seen = 0.0, 0, 0
        for x, y in self._batches("train", rng):
            opt.zero_grad()
            logits = model(x)
            loss = nn.functional.cross_entropy(logits, y)
            loss.backward()
            opt.step()
            total += loss.item() * len(y)
            correct += int((logits.argmax(1) == y).sum())
            seen += len(y)
        return {"loss": total / seen, "acc": correct / seen}, seen * LENGTH

    def evaluate(self, model, split: str) -> dict[str, float]:
        import torch
        from torch import nn

        model.eval()
        with torch.no_grad():
            logits = torch.cat([model(x) for x, _ in self._batches(split)])
        y = torch.from_numpy(self.data.y[split])
        model.train()
        probs = logits.softmax(1)[:, 1]
        return {"loss": float(nn.functional.cross_entropy(logits, y)),
                "acc": float((logits.argmax(1) == y).float().mean()),
                "margin": float((probs - 0.5).abs().mean())}


def test_the_task_registers_with_its_module_for_the_workers():
    assert task_keys(TOY) == {"task": "toy_steps", "task_module": __name__}


@pytest.mark.slow
def test_a_task_of_one_module_sweeps_reports_and_logs_what_its_loop_reports(tmp_path,
                                                                            monkeypatch):
    import os
    from pathlib import Path

    import ray
    from mlflow.tracking import MlflowClient

    from reports import build_report
    from rnn_core import tuning

    uri = f"sqlite:///{tmp_path}/m.db"
    spec = tuning.SweepSpec(
        study="toy", task=TOY.name, param_space={"hidden_size": [4, 8]},
        base_config={"optimizer": "adam", "cell": "gru"}, max_epochs=2, scheduler="fifo",
        storage_path=str(tmp_path / "ray"), tracking_uri=uri)
    data, _ = prepare(None, 0, {})
    # a task module outside the package must be importable where trials run, as any code
    # Ray workers import: here, this test's folder on the workers' PYTHONPATH
    here = str(Path(__file__).parent)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(
        p for p in (here, os.environ.get("PYTHONPATH", "")) if p))
    try:
        outcome = tuning.run_sweep(spec, data)
    finally:
        ray.shutdown()
    assert outcome.trials == {"finished": 2}
    client = MlflowClient(uri)
    parent = client.get_run(outcome.parent_run_id)
    assert parent.data.tags["task"] == "toy_steps"
    assert parent.data.tags["task_module"] == __name__
    children = client.search_runs([outcome.experiment_id],
                                  f"tags.mlflow.parentRunId = '{outcome.parent_run_id}'")
    assert sorted(c.info.run_name for c in children) == ["gru-H4", "gru-H8"]
    for child in children:
        m = child.data.metrics
        # the loop's metrics as it reports them: its own, the trainer's margin, no list kept
        assert {"train_loss", "train_acc", "val_loss", "val_acc", "val_margin", "best_val_acc",
                "best_val_loss", "test_acc", "test_margin", "n_params"} <= set(m)
        assert not {"training_iteration", "time_total_s", "pid", "epoch"} & set(m)
        assert 0 <= m["test_acc"] <= 1 and math.isfinite(m["val_margin"])
        steps = [h.step for h in client.get_metric_history(child.info.run_id, "val_margin")]
        assert steps == [1, 2]

    summary = build_report(uri, outcome.parent_run_id, tmp_path / "report")
    assert "The validation pick is gru-H" in summary
    table = pd.read_csv(tmp_path / "report" / "study_table.csv")
    assert list(table.columns[:3]) == ["hidden_size", "test_num_params", "train_acc"]
    assert sorted(table["hidden_size"]) == [4, 8]
    assert "stayed at chance" not in summary  # the toy task names no chance loss
