"""The language-model task's torch side: truncated BPTT over token streams, perplexity.

Imported in trial workers only (``rnn_core.tasks.language_model`` is the driver's side).

A split's stream of N tokens has N - 1 targets (every token after the first). It is cut into
``rows`` contiguous segments of L = ceil((N - 1) / rows) inputs each, one per batch row
(pytorch/examples' ``batchify``, but the segments overlap by one token and the tail is padded
with unscored targets instead of dropped), so every target of the split is scored exactly
once. Windows of ``bptt`` steps walk the segments in order; the recurrent state is carried
from window to window, detached (truncated BPTT), and starts at zero at the start of every
pass over a split. Perplexity = exp(summed NLL / scored targets).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch import nn

from rnn_core.amp import Amp, autocast
from rnn_core.cells import get_cell
from rnn_core.errors import TrainingDiverged
from rnn_core.language_model import LanguageModel, LMConfig, detach_state, segments, windows

__all__ = ["DEFAULTS", "LanguageModelTrainer", "evaluate"]

# Zaremba et al. 2014's "small" recipe: 2 layers of 200, SGD lr 1 halved every epoch after
# the 4th, gradient norm clipped at 5, batch 20; 35 steps of BPTT (their medium and large
# models') and tied weights (Press & Wolf 2017: fewer parameters, lower perplexity).
DEFAULTS: dict[str, Any] = {
    "cell": "lstm", "backend": "native", "num_layers": 2, "hidden_size": 200,
    "embedding_dim": None, "tie_weights": True, "dropout": 0.0, "init_range": 0.1,
    "optimizer": "sgd", "lr": 1.0, "lr_decay": 0.5, "lr_decay_start": 4, "grad_clip": 5.0,
    "batch_size": 20, "eval_batch_size": 64, "bptt": 35,
    # the first N tokens of a split (None: all of it): quick presets and tests
    "train_tokens": None, "val_tokens": None, "test_tokens": None,
}


@torch.inference_mode()
def evaluate(model: LanguageModel, stream: np.ndarray, rows: int, bptt: int,
             device: torch.device, precision: str = "fp32") -> tuple[float, float]:
    """(mean NLL per target, perplexity) over a whole split, the state carried throughout;
    the forward pass in ``precision``, the softmax and the NLL in float32."""
    model.eval()
    inputs, targets = segments(stream, rows)
    total, count, state = 0.0, 0, None
    for x, y in windows(inputs, targets, bptt):
        with autocast(device, precision):
            out, state = model(x.to(device), state)
            nll, n = model.nll(out, y.to(device))
        total += float(nll)
        count += n
    mean = total / max(count, 1)
    return mean, math.exp(mean)


class LanguageModelTrainer:
    """Token streams -> language model; reports loss and perplexity
    (``rnn_core.training.TaskTrainer``)."""

    DEFAULTS = DEFAULTS

    def __init__(self, config: dict, data) -> None:
        self.config = dict(config)
        if self.config["embedding_dim"] is None or self.config["tie_weights"]:
            self.config["embedding_dim"] = int(self.config["hidden_size"])
        if self.config["backend"] == "native" and get_cell(self.config["cell"]).native is None:
            self.config["backend"] = "scratch"  # torch has no such layer (MGU)
        self.data = data
        self.extra_metrics: dict[str, float] = {}
        self.streams: dict[str, np.ndarray] = {}
        self.device = torch.device("cpu")
        self.amp = Amp(self.device)

    def setup(self, device: torch.device) -> None:
        self.device = device
        self.amp = Amp(device, str(self.config.get("precision", "fp32")))
        self.streams = {name: self.data.splits[name][:self.config[f"{name}_tokens"]]
                        for name in ("train", "val", "test")}

    def model_config(self) -> LMConfig:
        c = self.config
        return LMConfig(vocab_size=self.data.vocab_size, hidden_size=int(c["hidden_size"]),
                        num_layers=int(c["num_layers"]), embedding_dim=int(c["embedding_dim"]),
                        cell=str(c["cell"]), dropout=float(c["dropout"]),
                        tie_weights=bool(c["tie_weights"]), backend=str(c["backend"]),
                        init_range=float(c["init_range"]))

    def build_model(self) -> LanguageModel:
        return LanguageModel(self.model_config())

    def train_epoch(self, model: nn.Module, opt: torch.optim.Optimizer,
                    rng: np.random.Generator, epoch: int) -> tuple[dict[str, float], int]:
        clip, device, amp = float(self.config["grad_clip"] or 0), self.device, self.amp
        inputs, targets = segments(self.streams["train"], int(self.config["batch_size"]))
        total, count, state = 0.0, 0, None
        params = [p for p in model.parameters() if p.requires_grad]
        for x, y in windows(inputs, targets, int(self.config["bptt"])):
            with amp.autocast():
                out, state = model(x.to(device), detach_state(state))
                nll, n = model.nll(out, y.to(device))  # float32 (linear_cross_entropy)
            if n == 0:
                continue
            loss = nll / n
            if not torch.isfinite(loss):
                raise TrainingDiverged(f"training loss became {loss.item()} at epoch {epoch}")
            amp.step(loss, opt, params, clip)
            total += float(nll.detach())
            count += n
        mean = total / max(count, 1)
        return {"loss": mean, "ppl": math.exp(mean)}, count

    def evaluate(self, model: nn.Module, split: str) -> dict[str, float]:
        loss, ppl = evaluate(model, self.streams[split], int(self.config["eval_batch_size"]),
                             int(self.config["bptt"]), self.device, self.amp.precision)
        return {"loss": loss, "ppl": ppl}
