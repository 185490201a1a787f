"""Word-level language model: embedding -> recurrent stack -> decoder over the vocabulary.

Dropout on the embeddings, between layers and on the outputs (Zaremba et al. 2014,
"Recurrent neural network regularization"); optional weight tying of the decoder to the
embedding (Press & Wolf 2017; Inan et al. 2017). The recurrent state is carried across
calls for truncated backpropagation through time: ``segments`` and ``windows`` cut a token
stream into its batches, ``detach_state`` cuts the graph between them. The decoder and the
cross entropy are one fused step (``linear_cross_entropy``): over a vocabulary of ~15k words
they are most of the model's work.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import Tensor, nn
from torch.autograd.function import FunctionCtx, once_differentiable

from rnn_core.errors import ConfigError
from rnn_core.stack import RecurrentStack

__all__ = ["LMConfig", "LanguageModel", "detach_state", "linear_cross_entropy", "segments",
           "windows"]

IGNORE = -100  # target id of positions that are not scored (padding at a split's end)


class _LinearCrossEntropy(torch.autograd.Function):
    """sum over scored rows of -log softmax(h W^T + b)[target], and its gradient.

    torch's ``cross_entropy(linear(h))`` writes the logits, their log-softmax, a zero-filled
    gradient and the gradient of the logits: four (N, V) buffers. Here the log-softmax becomes
    the softmax in place (kept for backward), and backward turns it into the gradient in
    place: d logits = softmax - onehot(target), zero on unscored rows. So a graph through it
    can be backpropagated once (a second pass, with ``retain_graph``, is refused by autograd's
    version check).
    """

    @staticmethod
    def forward(ctx: FunctionCtx, h: Tensor, weight: Tensor, bias: Tensor, target: Tensor
                ) -> Tensor:
        # Under autocast the three products (logits, dh, dW) run in its dtype, the softmax,
        # the NLL and the gradient of the logits in float32 (``ctx.low``: None for float32).
        dev = h.device.type
        low = torch.get_autocast_dtype(dev) if torch.is_autocast_enabled(dev) else None
        ctx.low = low
        scored = target != IGNORE
        safe = torch.where(scored, target, 0)
        with torch.autocast(dev, enabled=False):
            if low is None:
                logits = torch.addmm(bias, h.to(weight.dtype), weight.t())
            else:
                logits = torch.addmm(bias.to(low), h.to(low), weight.t().to(low)).float()
            log_probs = torch.log_softmax(logits, 1)  # (N, V)
        nll = -log_probs.gather(1, safe.unsqueeze(1)).squeeze(1) * scored
        if ctx.needs_input_grad[0] or ctx.needs_input_grad[1] or ctx.needs_input_grad[2]:
            ctx.save_for_backward(h, weight, log_probs.exp_(), safe, scored)  # softmax
        return nll.sum()

    @staticmethod
    @once_differentiable
    def backward(ctx: FunctionCtx, grad: Tensor) -> tuple[Tensor | None, ...]:
        h, weight, d_logits, safe, scored = ctx.saved_tensors
        rows = torch.arange(len(safe), device=safe.device)
        d_logits[rows, safe] -= 1.0
        d_logits.mul_((scored * grad).unsqueeze(1).to(d_logits.dtype))
        db = d_logits.sum(0) if ctx.needs_input_grad[2] else None
        mm = ctx.low or weight.dtype
        d_mm = d_logits.to(mm)
        dh = (d_mm @ weight.to(mm)).to(h.dtype) if ctx.needs_input_grad[0] else None
        dw = (d_mm.t() @ h.to(mm)).to(weight.dtype) if ctx.needs_input_grad[1] else None
        return dh, dw, db, None


def linear_cross_entropy(h: Tensor, weight: Tensor, bias: Tensor, target: Tensor
                         ) -> tuple[Tensor, int]:
    """(summed NLL, scored count) of targets (N,) under softmax(h (N, H) W^T + b); targets
    equal to ``IGNORE`` are not scored."""
    return _LinearCrossEntropy.apply(h, weight, bias, target), int((target != IGNORE).sum())


@dataclass(frozen=True)
class LMConfig:
    """Everything needed to rebuild the model (saved beside every checkpoint)."""

    vocab_size: int
    hidden_size: int
    num_layers: int = 2
    embedding_dim: int | None = None  # None: hidden_size (needed when tied)
    cell: str = "lstm"
    dropout: float = 0.0
    tie_weights: bool = True
    backend: str = "native"
    init_range: float = 0.1  # uniform init of every weight (Zaremba et al.'s small model)

    @property
    def embed(self) -> int:
        return self.embedding_dim or self.hidden_size

    def to_dict(self) -> dict:
        return asdict(self)


class LanguageModel(nn.Module):
    """Embedding -> dropout -> RecurrentStack -> dropout -> decoder (tied or not).

    ``forward(tokens (B, T), state) -> (outputs (B, T, H), final state)``; the decoder is
    applied by ``nll`` (training and evaluation, fused with the loss) or ``logits``.
    """

    def __init__(self, cfg: LMConfig) -> None:
        super().__init__()
        if cfg.tie_weights and cfg.embed != cfg.hidden_size:
            raise ConfigError(f"tie_weights needs embedding_dim ({cfg.embed}) equal to "
                              f"hidden_size ({cfg.hidden_size})")
        self.cfg = cfg
        self.embedding = nn.Embedding(cfg.vocab_size, cfg.embed)
        self.drop = nn.Dropout(cfg.dropout)
        self.rnn = RecurrentStack(cfg.cell, cfg.embed, cfg.hidden_size, cfg.num_layers,
                                  False, cfg.dropout, cfg.backend)
        self.decoder = nn.Linear(cfg.hidden_size, cfg.vocab_size)
        if cfg.tie_weights:
            self.decoder.weight = self.embedding.weight
        self.reset_parameters()

    def reset_parameters(self) -> None:
        r = self.cfg.init_range
        for p in self.parameters():
            nn.init.uniform_(p, -r, r)
        nn.init.zeros_(self.decoder.bias)

    def forward(self, tokens: Tensor, state=None):
        x = self.drop(self.embedding(tokens))  # (B, T, E)
        lengths = torch.full((tokens.shape[0],), tokens.shape[1], dtype=torch.long)
        out, _, state = self.rnn(x, lengths, state, return_state=True)
        return self.drop(out), state  # (B, T, H)

    def nll(self, out: Tensor, targets: Tensor) -> tuple[Tensor, int]:
        """(summed NLL, scored targets) of ``targets`` (B, T) given outputs (B, T, H)."""
        return linear_cross_entropy(out.reshape(-1, out.shape[-1]), self.decoder.weight,
                                    self.decoder.bias, targets.reshape(-1))

    def logits(self, out: Tensor) -> Tensor:
        return self.decoder(out)


def segments(stream: np.ndarray, rows: int) -> tuple[Tensor, Tensor]:
    """(inputs, targets), each (rows, L) int64: row r holds inputs r*L .. r*L+L-1 and their
    next tokens; targets past the stream's end are ``IGNORE``."""
    stream = np.asarray(stream, dtype=np.int64)
    n = max(len(stream) - 1, 0)
    length = max(1, math.ceil(n / rows))
    inputs = np.zeros(rows * length, dtype=np.int64)
    targets = np.full(rows * length, IGNORE, dtype=np.int64)
    inputs[:n], targets[:n] = stream[:-1], stream[1:]
    return (torch.from_numpy(inputs).view(rows, length),
            torch.from_numpy(targets).view(rows, length))


def windows(inputs: Tensor, targets: Tensor, bptt: int) -> Iterator[tuple[Tensor, Tensor]]:
    """Consecutive (rows, <= bptt) windows of the segments, in order."""
    for i in range(0, inputs.shape[1], bptt):
        yield inputs[:, i:i + bptt], targets[:, i:i + bptt]


def detach_state(state):
    """The recurrent state cut from the graph of the window that made it (truncated BPTT)."""
    if state is None:
        return None
    return tuple(s.detach() for s in state) if isinstance(state, tuple) else state.detach()
