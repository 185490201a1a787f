"""One training epoch of a sequence classifier and its predictions over a split, shared by the
tasks that classify whole sequences (sentiment of token ids, audio and series of feature
frames)."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import torch
from torch import nn

from rnn_core.amp import Amp, autocast
from rnn_core.errors import TrainingDiverged

__all__ = ["KeepsTestOutputs", "classifier_epoch", "classify"]


@torch.inference_mode()
def classify(model: nn.Module, batches: Iterable, device: torch.device,
             precision: str = "fp32") -> tuple[float, np.ndarray, np.ndarray]:
    """(summed cross entropy, predicted classes, true classes) over ``batches`` of (inputs,
    lengths, labels) in the order given; the forward pass in ``precision``, the loss in
    float32."""
    model.eval()
    loss_sum, preds, trues = 0.0, [], []
    for inputs, lengths, labels in batches:
        with autocast(device, precision):
            logits = model(inputs.to(device), lengths)
        logits, labels = logits.float(), labels.to(device)
        loss_sum += nn.functional.cross_entropy(logits, labels, reduction="sum").item()
        preds.append(logits.argmax(1).cpu().numpy())
        trues.append(labels.cpu().numpy())
    empty = np.zeros(0, np.int64)
    return (loss_sum, np.concatenate(preds) if preds else empty,
            np.concatenate(trues) if trues else empty)


class KeepsTestOutputs:
    """A classifier trainer's per-example test results (``TaskTrainer.test_outputs``): kept
    by its last test evaluation, which the loop runs on the best state just before asking,
    so the test split is not predicted twice. In the split's evaluation order, which is the
    same for every trial of a sweep (the same examples, sorted the same way)."""

    _test: dict[str, np.ndarray] | None = None

    def keep_test(self, true: np.ndarray, pred: np.ndarray) -> None:
        self._test = {"label": np.asarray(true, np.int32), "predicted": np.asarray(pred, np.int32),
                      "correct": np.asarray(pred) == np.asarray(true)}

    def test_outputs(self, model: nn.Module) -> dict[str, np.ndarray]:
        return dict(self._test or {})


def classifier_epoch(model: nn.Module, batches: Iterable, amp: Amp, opt: torch.optim.Optimizer,
                     clip: float, device: torch.device, epoch: int
                     ) -> tuple[dict[str, float], int]:
    """Train on ``(inputs, lengths, labels)`` batches: ({"loss", "acc"}, timesteps seen).

    The forward pass runs in ``amp``'s precision, the cross entropy in float32."""
    loss_sum, correct, seen, steps = 0.0, 0, 0, 0
    params = [p for p in model.parameters() if p.requires_grad]
    for inputs, lengths, labels in batches:
        inputs, labels = inputs.to(device), labels.to(device)
        with amp.autocast():
            logits = model(inputs, lengths).float()
        loss = nn.functional.cross_entropy(logits, labels)
        if not torch.isfinite(loss):
            raise TrainingDiverged(f"training loss became {loss.item()} at epoch {epoch}")
        amp.step(loss, opt, params, clip)
        loss_sum += loss.item() * len(labels)
        correct += int((logits.argmax(1) == labels).sum())
        seen += len(labels)
        steps += int(lengths.sum())
    return {"loss": loss_sum / seen, "acc": correct / seen}, steps
