"""Text classification's torch side (the ``text_classification`` and ``sentiment`` tasks):
classifier, training epoch and evaluation with accuracy and macro-F1.

Imported in trial workers only (``rnn_core.tasks.text_classification`` is the driver's side).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from rnn_core.amp import Amp
from rnn_core.data.batching import iterate_batches
from rnn_core.data.text import EncodedCorpus, Split
from rnn_core.errors import ConfigError
from rnn_core.metrics import macro_f1
from rnn_core.models import ModelConfig, SequenceClassifier
from rnn_core.tasks._classify import KeepsTestOutputs, classifier_epoch, classify

__all__ = ["DEFAULTS", "TextClassifierTrainer", "build_model", "evaluate", "resolve_config"]

# Study S3's recipe (RMSprop was its best optimizer; the loop's defaults); every key can be
# overridden by the config.
DEFAULTS: dict[str, Any] = {
    "cell": "lstm", "backend": "native", "num_layers": 1, "hidden_size": 100,
    "embedding_dim": 32, "bidirectional": False, "dropout": 0.5,
    "train_subset": None, "val_subset": None, "test_subset": None,
    # "learned", or the name of a matrix in ``data.embeddings`` (built once on the driver:
    # "glove50", "word2vec300" or a vectors file path); pretrained sets embedding_dim
    "embedding": "learned", "freeze_embedding": False,
    # optional "cell/backend" (e.g. "mgu/scratch"): one grid axis holds only valid pairs
    "variant": None,
}


def resolve_config(config: dict, data: EncodedCorpus) -> tuple[dict, np.ndarray | None, dict]:
    """Resolve the derived keys of a text-classification trial config (``DEFAULTS`` fill the rest).

    ``variant`` "cell/backend" sets ``cell`` and ``backend``; a pretrained ``embedding`` takes
    its matrix from ``data.embeddings`` and sets ``embedding_dim`` to the vectors' size.

    Returns:
        (config, initial embedding weights or None, coverage metrics of those weights)
    """
    from rnn_core.training import LOOP_DEFAULTS

    cfg = {**LOOP_DEFAULTS, **DEFAULTS, **config}
    if cfg.get("variant"):
        cell, sep, backend = str(cfg["variant"]).partition("/")
        if not sep or not cell or not backend:
            raise ConfigError(f"variant {cfg['variant']!r} is not 'cell/backend', e.g. "
                              "'lstm/native'")
        cfg["cell"], cfg["backend"] = cell, backend
    emb = str(cfg["embedding"])
    if emb == "learned":
        cfg["freeze_embedding"] = False
        return cfg, None, {}
    if emb not in data.embeddings:
        raise ConfigError(f"embedding {emb!r} was not built on the driver; the data holds "
                          f"{sorted(data.embeddings) or 'no embeddings'}")
    weights = data.embeddings[emb]
    if weights.shape[0] != data.vocab_size:
        raise ConfigError(f"embedding {emb!r} has {weights.shape[0]} rows for a vocabulary of "
                          f"{data.vocab_size}")
    cfg["embedding_dim"] = int(weights.shape[1])
    cfg["freeze_embedding"] = bool(cfg["freeze_embedding"])
    coverage = {k: float(v) for k, v in data.embedding_coverage.get(emb, {}).items()
                if k in ("vocab_coverage", "token_coverage") and v is not None}
    return cfg, weights, coverage


def build_model(cfg: dict, vocab_size: int, pad_index: int = 0,
                embedding_weights: np.ndarray | None = None,
                num_classes: int = 2) -> SequenceClassifier:
    """The classifier of a (resolved) trial config; ``embedding_weights`` initialise it."""
    weights = None if embedding_weights is None else torch.as_tensor(
        np.asarray(embedding_weights, dtype=np.float32))
    return SequenceClassifier(ModelConfig(
        vocab_size=vocab_size, embedding_dim=int(cfg["embedding_dim"]),
        hidden_size=int(cfg["hidden_size"]), num_layers=int(cfg["num_layers"]),
        cell=cfg["cell"], bidirectional=bool(cfg["bidirectional"]),
        dropout=float(cfg["dropout"]), pad_index=pad_index, backend=cfg["backend"],
        num_classes=num_classes,
        freeze_embedding=bool(cfg.get("freeze_embedding", False))), weights)


def predict(model: nn.Module, split: Split, batch_size: int, device: torch.device,
            precision: str = "fp32") -> tuple[float, np.ndarray, np.ndarray]:
    """(summed cross entropy, predicted classes, true classes) over a split, in length-sorted
    batches (``classify``)."""
    return classify(model, iterate_batches(split, batch_size, shuffle=False), device, precision)


def evaluate(model: nn.Module, split: Split, batch_size: int, device: torch.device,
             precision: str = "fp32", num_classes: int = 2) -> dict[str, float]:
    """{"loss" (mean), "acc", "f1" (macro)} over a split (``predict``)."""
    loss_sum, pred, true = predict(model, split, batch_size, device, precision)
    return _metrics(loss_sum, pred, true, num_classes)


def _metrics(loss_sum: float, pred: np.ndarray, true: np.ndarray, num_classes: int
             ) -> dict[str, float]:
    n = len(true)
    return {"loss": loss_sum / max(n, 1), "acc": float((pred == true).sum()) / max(n, 1),
            "f1": macro_f1(true, pred, num_classes) if n else 0.0}


class TextClassifierTrainer(KeepsTestOutputs):
    """Texts -> classifier of ``data.classes``; reports loss, accuracy and macro-F1
    (``rnn_core.training.TaskTrainer``)."""

    DEFAULTS = DEFAULTS

    def __init__(self, config: dict, data: EncodedCorpus) -> None:
        self.config, self.weights, self.extra_metrics = resolve_config(config, data)
        self.data = data
        self.num_classes = len(data.classes)
        self.splits: dict[str, Split] = {}
        self.device = torch.device("cpu")
        self.amp = Amp(self.device)

    def setup(self, device: torch.device) -> None:
        seed, cfg = int(self.config["seed"]), self.config
        self.device = device
        self.amp = Amp(device, str(cfg.get("precision", "fp32")))
        self.splits = {name: self.data.splits[name].subset(cfg[f"{name}_subset"], seed)
                       for name in ("train", "val", "test")}

    def build_model(self) -> SequenceClassifier:
        return build_model(self.config, self.data.vocab_size, self.data.pad_index, self.weights,
                           self.num_classes)

    def train_epoch(self, model: nn.Module, opt: torch.optim.Optimizer,
                    rng: np.random.Generator, epoch: int) -> tuple[dict[str, float], int]:
        batches = iterate_batches(self.splits["train"], int(self.config["batch_size"]),
                                  shuffle=True, rng=rng)
        return classifier_epoch(model, batches, self.amp, opt,
                                float(self.config["grad_clip"] or 0), self.device, epoch)

    def evaluate(self, model: nn.Module, split: str) -> dict[str, float]:
        """Loss, accuracy and macro-F1; on ``test`` also the count (its interval's n), and
        the per-example results are kept (``test_outputs``)."""
        loss_sum, pred, true = predict(model, self.splits[split],
                                       int(self.config["eval_batch_size"]), self.device,
                                       self.amp.precision)
        out = _metrics(loss_sum, pred, true, self.num_classes)
        if split == "test":
            out["n"] = float(len(true))
            self.keep_test(true, pred)
        return out
