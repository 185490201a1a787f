"""The audio task's torch side: frame classifier, training epoch, accuracy and per-class recall.

Imported in trial workers only (``rnn_core.tasks.audio`` is the driver's side).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from rnn_core.amp import Amp
from rnn_core.data.batching import iterate_frame_batches
from rnn_core.data.features import FeatureSet, FeatureSplit
from rnn_core.models import FrameClassifier, FrameConfig
from rnn_core.tasks._classify import KeepsTestOutputs, classifier_epoch, classify
from rnn_core.tasks.audio import metric_key

__all__ = ["DEFAULTS", "AudioTrainer", "FeatureTrainer", "build_model", "feature_norm", "predict",
           "split_metrics"]

# Study S5's recipe: hand-written cells, 3 layers of 32, Adam lr 0.003, cross entropy; every
# key can be overridden by the config.
DEFAULTS: dict[str, Any] = {
    "cell": "gru", "backend": "scratch", "num_layers": 3, "hidden_size": 32,
    "input_size": 32, "bidirectional": False, "dropout": 0.0,
    "optimizer": "adam", "lr": 3e-3, "batch_size": 32, "eval_batch_size": 256,
    "train_subset": None, "val_subset": None, "test_subset": None,
    "dataset": None,  # named by the study (prepared on the driver); kept with the run
    # "global": frames scaled by the training split's statistics only; "utterance": each
    # sequence also less its own mean frame (rnn_core.data.features.FeatureSplit.centered);
    # "auto": utterance for words, global for Japanese Vowels, whose class is the speaker and
    # so lives partly in the mean frame that centring takes away
    "feature_norm": "auto",
}

# test splits beyond ``test`` that the data may hold, reported as test_<name>_* with their
# confusion counts (the report's confusion matrix on human speech)
EXTRA_TEST_SPLITS = ("human", "human_aug")


def feature_norm(cfg: dict) -> str:
    """The config's feature normalisation with ``auto`` resolved by its dataset."""
    norm = str(cfg.get("feature_norm") or "auto")
    if norm == "auto":
        return "global" if cfg.get("dataset") == "japanese_vowels" else "utterance"
    return norm


def build_model(cfg: dict, num_features: int, num_classes: int) -> FrameClassifier:
    """The classifier of a trial config."""
    return FrameClassifier(FrameConfig(
        num_features=num_features, num_classes=num_classes, input_size=int(cfg["input_size"]),
        hidden_size=int(cfg["hidden_size"]), num_layers=int(cfg["num_layers"]),
        cell=str(cfg["cell"]), bidirectional=bool(cfg["bidirectional"]),
        dropout=float(cfg["dropout"]), backend=str(cfg["backend"])))


def predict(model: nn.Module, split: FeatureSplit, batch_size: int, device: torch.device,
            precision: str = "fp32") -> tuple[float, np.ndarray, np.ndarray]:
    """(summed cross entropy, predicted classes, true classes) over a split, in length-sorted
    batches (``classify``)."""
    return classify(model, iterate_frame_batches(split, batch_size, shuffle=False), device,
                    precision)


def split_metrics(loss_sum: float, pred: np.ndarray, true: np.ndarray, classes: list[str],
                  recall: bool, confusion: bool = False) -> dict[str, float]:
    """loss, acc, n and, with ``recall``, ``recall_<class>`` for every class present (the
    share of that class's sequences predicted as it); with ``confusion``, the count of
    sequences of each class predicted as each other, ``confusion_<true>__<predicted>``, where
    not zero (a missing pair is 0)."""
    n = len(true)
    out = {"loss": loss_sum / max(n, 1), "acc": float((pred == true).mean()) if n else 0.0}
    if recall:
        out["n"] = float(n)
        for c, name in enumerate(classes):
            mask = true == c
            if mask.any():
                out[f"recall_{metric_key(name)}"] = float((pred[mask] == c).mean())
                out[f"support_{metric_key(name)}"] = float(mask.sum())  # its interval's n
    if confusion and n:
        pairs, counts = np.unique(np.stack([true, pred]), axis=1, return_counts=True)
        for (t, p), k in zip(pairs.T, counts, strict=True):
            out[f"confusion_{metric_key(classes[t])}__{metric_key(classes[p])}"] = float(k)
    return out


class FeatureTrainer:
    """What every trainer of feature frames keeps (audio, time series): its resolved config,
    the data, the splits a trial uses (seeded subsets, picked by ``setup`` once the loop has
    seeded), its device and precision."""

    def __init__(self, config: dict, data: FeatureSet) -> None:
        self.config, self.data, self.extra_metrics = config, data, {}
        self.splits: dict[str, FeatureSplit] = {}
        self.device = torch.device("cpu")
        self.amp = Amp(self.device)

    def setup(self, device: torch.device) -> None:
        seed, cfg = int(self.config["seed"]), self.config
        self.device = device
        self.amp = Amp(device, str(cfg.get("precision", "fp32")))
        self.splits = {name: self.data.splits[name].subset(cfg.get(f"{name}_subset"), seed)
                       for name in ("train", "val", "test")}


class AudioTrainer(FeatureTrainer, KeepsTestOutputs):
    """Feature frames -> classifier; reports loss and accuracy, and per-class recall on the
    test splits (``rnn_core.training.TaskTrainer``)."""

    DEFAULTS = DEFAULTS

    def setup(self, device: torch.device) -> None:
        super().setup(device)
        for name in EXTRA_TEST_SPLITS:
            if name in self.data.splits:
                self.splits[name] = self.data.splits[name]
        if feature_norm(self.config) == "utterance":
            self.splits = {name: s.centered() for name, s in self.splits.items()}

    def build_model(self) -> FrameClassifier:
        return build_model(self.config, self.data.num_features, len(self.data.classes))

    def train_epoch(self, model: nn.Module, opt: torch.optim.Optimizer,
                    rng: np.random.Generator, epoch: int) -> tuple[dict[str, float], int]:
        batches = iterate_frame_batches(self.splits["train"], int(self.config["batch_size"]),
                                  shuffle=True, rng=rng)
        return classifier_epoch(model, batches, self.amp, opt,
                                float(self.config["grad_clip"] or 0), self.device, epoch)

    def predict(self, model: nn.Module, split: FeatureSplit) -> tuple[float, np.ndarray,
                                                                       np.ndarray]:
        """(summed cross entropy, predicted classes, true classes) of ``model`` over any
        split (a benchmark's own validation sets too), as ``evaluate`` scores its splits."""
        return predict(model, split, int(self.config["eval_batch_size"]), self.device,
                       self.amp.precision)

    def evaluate(self, model: nn.Module, split: str) -> dict[str, float]:
        """Loss and accuracy; on ``test``, also the count and per-class recall, and the same
        for every extra test split (``human_acc``, ...) with its confusion counts."""
        names = [split] + ([s for s in EXTRA_TEST_SPLITS if s in self.splits]
                           if split == "test" else [])
        out: dict[str, float] = {}
        for name in names:
            loss, pred, true = self.predict(model, self.splits[name])
            metrics = split_metrics(loss, pred, true, self.data.classes, recall=split == "test",
                                    confusion=name in EXTRA_TEST_SPLITS)
            prefix = "" if name == split else f"{name}_"
            out.update({f"{prefix}{k}": v for k, v in metrics.items()})
            if name == "test":
                self.keep_test(true, pred)
        return out
