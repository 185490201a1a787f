"""The time-series tasks' torch side: the audio task's frame model and batching over a series'
channels; a classifier (accuracy, macro-F1) and a regressor (MSE on standardized targets,
RMSE / MAE / R^2 in the target's units).

Imported in trial workers only (``rnn_core.tasks._series`` is the driver's side).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from rnn_core.amp import autocast
from rnn_core.data.batching import bucket_batches, iterate_frame_batches, padded_frames
from rnn_core.data.features import FeatureSplit
from rnn_core.data.series_sets import SeriesSet
from rnn_core.errors import TrainingDiverged
from rnn_core.metrics import macro_f1
from rnn_core.models import FrameConfig, FrameRegressor
from rnn_core.tasks._audio_train import FeatureTrainer, build_model, predict, split_metrics
from rnn_core.tasks._classify import KeepsTestOutputs, classifier_epoch

__all__ = ["DEFAULTS", "SeriesClassifierTrainer", "SeriesRegressorTrainer", "regression_metrics"]

# every key can be overridden by the config (the search spaces set most)
DEFAULTS: dict[str, Any] = {
    "cell": "gru", "backend": "native", "num_layers": 1, "hidden_size": 64,
    "input_size": 32, "bidirectional": False, "dropout": 0.0,
    "optimizer": "adam", "lr": 3e-3, "batch_size": 32, "eval_batch_size": 256,
    "train_subset": None, "val_subset": None, "test_subset": None,
    # the data options, prepared on the driver; kept with the run
    "dataset": None, "missing": None, "label_column": None,
}


class _SeriesTrainer(FeatureTrainer):
    """A series task's trainer: its ``data`` a ``SeriesSet`` (targets and their scale)."""

    DEFAULTS = DEFAULTS
    data: SeriesSet


class SeriesClassifierTrainer(_SeriesTrainer, KeepsTestOutputs):
    """Series -> class; reports loss, accuracy and macro-F1 (``f1``), and on test the count
    and per-class recall."""

    def build_model(self) -> nn.Module:
        return build_model(self.config, self.data.num_features, len(self.data.classes))

    def train_epoch(self, model: nn.Module, opt: torch.optim.Optimizer,
                    rng: np.random.Generator, epoch: int) -> tuple[dict[str, float], int]:
        batches = iterate_frame_batches(self.splits["train"], int(self.config["batch_size"]),
                                        shuffle=True, rng=rng)
        return classifier_epoch(model, batches, self.amp, opt,
                                float(self.config["grad_clip"] or 0), self.device, epoch)

    def evaluate(self, model: nn.Module, split: str) -> dict[str, float]:
        loss, pred, true = predict(model, self.splits[split], int(self.config["eval_batch_size"]),
                                   self.device, self.amp.precision)
        out = split_metrics(loss, pred, true, self.data.classes, recall=split == "test")
        out["f1"] = macro_f1(true, pred, len(self.data.classes))
        if split == "test":
            self.keep_test(true, pred)
        return out


class SeriesRegressorTrainer(_SeriesTrainer):
    """Series -> a real number: MSE on targets standardized by the training split (``loss``);
    ``rmse``, ``mae`` and ``r2`` in the target's own units."""

    def build_model(self) -> nn.Module:
        cfg = self.config
        return FrameRegressor(FrameConfig(
            num_features=self.data.num_features, num_classes=1,
            input_size=int(cfg["input_size"]), hidden_size=int(cfg["hidden_size"]),
            num_layers=int(cfg["num_layers"]), cell=str(cfg["cell"]),
            bidirectional=bool(cfg["bidirectional"]), dropout=float(cfg["dropout"]),
            backend=str(cfg["backend"])))

    def _batches(self, split: FeatureSplit, batch_size: int, shuffle: bool,
                 rng: np.random.Generator | None = None):
        """(frames, lengths, standardized targets) in length-bucketed batches."""
        y = (split.targets - self.data.target_mean) / self.data.target_std
        for idx in bucket_batches(split.lengths, batch_size, shuffle=shuffle, rng=rng):
            frames, lengths, _ = padded_frames(split, idx)
            yield frames, lengths, torch.from_numpy(y[idx].astype(np.float32))

    def train_epoch(self, model: nn.Module, opt: torch.optim.Optimizer,
                    rng: np.random.Generator, epoch: int) -> tuple[dict[str, float], int]:
        loss_sum, seen, steps = 0.0, 0, 0
        params = [p for p in model.parameters() if p.requires_grad]
        clip = float(self.config["grad_clip"] or 0)
        for frames, lengths, y in self._batches(self.splits["train"],
                                                int(self.config["batch_size"]), True, rng):
            frames, y = frames.to(self.device), y.to(self.device)
            with self.amp.autocast():
                out = model(frames, lengths).float()
            loss = nn.functional.mse_loss(out, y)
            if not torch.isfinite(loss):
                raise TrainingDiverged(f"training loss became {loss.item()} at epoch {epoch}")
            self.amp.step(loss, opt, params, clip)
            loss_sum += loss.item() * len(y)
            seen += len(y)
            steps += int(lengths.sum())
        return {"loss": loss_sum / seen}, steps

    @torch.inference_mode()
    def predictions(self, model: nn.Module, split: FeatureSplit) -> np.ndarray:
        """The model's predictions in the target's units, in the split's order."""
        model.eval()
        out = np.empty(len(split))
        for idx in bucket_batches(split.lengths, int(self.config["eval_batch_size"]),
                                  shuffle=False):
            frames, lengths, _ = padded_frames(split, idx)
            with autocast(self.device, self.amp.precision):
                pred = model(frames.to(self.device), lengths)
            out[idx] = pred.float().cpu().numpy()
        return out * self.data.target_std + self.data.target_mean

    def evaluate(self, model: nn.Module, split: str) -> dict[str, float]:
        part = self.splits[split]
        out = regression_metrics(part.targets, self.predictions(model, part),
                                 self.data.target_std)
        if split == "test":
            out["n"] = float(len(part))
        return out


def regression_metrics(true: np.ndarray, pred: np.ndarray, scale: float) -> dict[str, float]:
    """loss (MSE in units of ``scale``, the training targets' standard deviation), rmse, mae
    and r2 (left out where the targets are all one value: it is undefined there)."""
    err = pred - true
    mse = float(np.mean(err ** 2))
    out = {"loss": mse / scale ** 2, "rmse": mse ** 0.5, "mae": float(np.mean(np.abs(err)))}
    spread = float(np.sum((true - true.mean()) ** 2))
    if spread > 0:
        out["r2"] = 1.0 - float(np.sum(err ** 2)) / spread
    return out
