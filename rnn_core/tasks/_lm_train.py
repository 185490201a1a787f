"""The language-model task's torch side: truncated BPTT over token streams, perplexity.

Imported in trial workers only (``rnn_core.tasks.language_model`` is the driver's side).

A split's stream of N tokens has N - 1 targets (every token after the first). It is cut into
contiguous segments of L = ceil((N - 1) / segments) inputs each (pytorch/examples'
``batchify``, but the segments overlap by one token and the tail is padded with unscored
targets instead of dropped), so every target of the split is scored exactly once. Windows of
``bptt`` steps walk each segment in order; the recurrent state is carried from window to
window, detached (truncated BPTT), and starts at zero at the start of each segment.
Perplexity = exp(summed NLL / scored targets).

Training cuts the split into ``batch_size`` segments, one per batch row. Evaluation cuts it
into a fixed ``eval_streams`` segments (64), whatever ``eval_batch_size`` is: the batch only
says how many of them run at once, so a validation or test perplexity is the same figure for
any batch layout (each segment's state starts at zero once, a fixed cost of the protocol).
The test pass also keeps each sentence's summed NLL and token count (``test_outputs``): the
bootstrap interval of the test perplexity and paired comparisons of two models resample them.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch import nn

from rnn_core.amp import Amp, autocast
from rnn_core.cells import get_cell
from rnn_core.data.lm_text import sentence_totals
from rnn_core.errors import TrainingDiverged
from rnn_core.language_model import (
    IGNORE,
    LanguageModel,
    LMConfig,
    detach_state,
    segments,
    windows,
)
from rnn_core.stats import bootstrap_ppl

__all__ = ["DEFAULTS", "EVAL_STREAMS", "LanguageModelTrainer", "evaluate", "per_sentence",
           "score"]

# the segments a split is scored as: the recipe's eval batch, so the figures measured before
# the batch stopped mattering stay as they were
EVAL_STREAMS = 64

# Zaremba et al. 2014's "small" recipe: 2 layers of 200, SGD lr 1 halved every epoch after
# the 4th, gradient norm clipped at 5, batch 20; 35 steps of BPTT (their medium and large
# models') and tied weights (Press & Wolf 2017: fewer parameters, lower perplexity).
DEFAULTS: dict[str, Any] = {
    "cell": "lstm", "backend": "native", "num_layers": 2, "hidden_size": 200,
    "embedding_dim": None, "tie_weights": True, "dropout": 0.0, "init_range": 0.1,
    "optimizer": "sgd", "lr": 1.0, "lr_decay": 0.5, "lr_decay_start": 4, "grad_clip": 5.0,
    "batch_size": 20, "eval_batch_size": 64, "bptt": 35, "eval_streams": EVAL_STREAMS,
    # the first N tokens of a split (None: all of it): quick presets and tests
    "train_tokens": None, "val_tokens": None, "test_tokens": None,
}


@torch.inference_mode()
def score(model: LanguageModel, stream: np.ndarray, rows: int, bptt: int,
          device: torch.device, precision: str = "fp32", streams: int = EVAL_STREAMS,
          per_token: bool = False) -> tuple[float, int, np.ndarray | None]:
    """(summed NLL, scored targets, each target's NLL in stream order or None) over a split
    cut into ``streams`` segments, ``rows`` of them at a time, the state carried through
    each; the forward pass in ``precision``, the softmax and the NLL in float32."""
    model.eval()
    inputs, targets = segments(stream, streams)
    total, count = 0.0, 0
    each = np.zeros(targets.shape, dtype=np.float64) if per_token else None
    for first in range(0, streams, max(1, rows)):
        rows_in, rows_out = inputs[first:first + rows], targets[first:first + rows]
        state, col = None, 0
        for x, y in windows(rows_in, rows_out, bptt):
            with autocast(device, precision):
                out, state = model(x.to(device), state)
                nll, n = model.nll(out, y.to(device))
            total += float(nll)
            count += n
            if each is not None:
                y = y.to(device)
                logp = torch.log_softmax(model.logits(out).float(), -1)
                tok = -logp.gather(-1, y.clamp(min=0).unsqueeze(-1)).squeeze(-1)
                tok = torch.where(y == IGNORE, torch.zeros_like(tok), tok)
                each[first:first + len(x), col:col + x.shape[1]] = tok.double().cpu().numpy()
            col += x.shape[1]
    n_targets = max(len(stream) - 1, 0)
    return total, count, None if each is None else each.reshape(-1)[:n_targets]


def evaluate(model: LanguageModel, stream: np.ndarray, rows: int, bptt: int,
             device: torch.device, precision: str = "fp32",
             streams: int = EVAL_STREAMS) -> tuple[float, float]:
    """(mean NLL per target, perplexity) over a whole split (``score``)."""
    total, count, _ = score(model, stream, rows, bptt, device, precision, streams)
    mean = total / max(count, 1)
    return mean, math.exp(mean)


def per_sentence(token_nll: np.ndarray, stream: np.ndarray, eos: int
                 ) -> tuple[np.ndarray, np.ndarray]:
    """(summed NLL, token count) of each sentence: the targets up to and including each
    ``eos`` (the last sentence may lack one, cut where the split ends)."""
    return sentence_totals(token_nll, np.asarray(stream[1:len(token_nll) + 1]) == eos)


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
        self._test: dict[str, np.ndarray] | None = None
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
        """Loss and perplexity; on ``test`` also the perplexity's bootstrap interval over
        sentences and their count, the sentences kept for ``test_outputs``."""
        c, stream = self.config, self.streams[split]
        total, count, each = score(model, stream, int(c["eval_batch_size"]), int(c["bptt"]),
                                   self.device, self.amp.precision, int(c["eval_streams"]),
                                   per_token=split == "test")
        mean = total / max(count, 1)
        out = {"loss": mean, "ppl": math.exp(mean)}
        if each is not None:
            # the sentence ends: <eos> targets, or those the corpus keeps for a stream without
            nll, tokens = sentence_totals(each, self.data.sentence_end_targets(split, len(each)))
            self._test = {"nll": nll, "tokens": tokens}
            iv = bootstrap_ppl(nll, tokens, seed=int(c["seed"]))
            out.update(ppl_ci_low=iv.low, ppl_ci_high=iv.high, n=float(len(nll)))
        return out

    def test_outputs(self, model: nn.Module) -> dict[str, np.ndarray]:
        """Each test sentence's summed NLL and token count, from the last test pass."""
        return dict(self._test or {})
