"""Sequence classifiers: token ids -> embedding (or feature frames -> linear) -> recurrent stack
-> last valid state -> linear."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import Tensor, nn

from rnn_core.stack import RecurrentStack

__all__ = ["FrameClassifier", "FrameConfig", "FrameRegressor", "ModelConfig",
           "SequenceClassifier", "count_parameters"]


@dataclass(frozen=True)
class ModelConfig:
    """Everything needed to rebuild the model (saved beside every checkpoint)."""

    vocab_size: int
    embedding_dim: int
    hidden_size: int
    num_layers: int = 1
    cell: str = "lstm"
    bidirectional: bool = False
    dropout: float = 0.5
    num_classes: int = 2
    pad_index: int = 0
    backend: str = "native"
    freeze_embedding: bool = False  # embedding weights get no gradient (pretrained inputs)

    def to_dict(self) -> dict:
        return asdict(self)


class SequenceClassifier(nn.Module):
    """Embedding(pad) -> dropout -> RecurrentStack -> dropout(final state) -> Linear.

    Args:
        cfg: the architecture.
        embedding_weights: optional ``(vocab_size, embedding_dim)`` initial embedding (e.g.
            pretrained word vectors, ``rnn_core.data.vectors.embedding_matrix``); frozen when
            ``cfg.freeze_embedding``.
    """

    def __init__(self, cfg: ModelConfig, embedding_weights: Tensor | None = None) -> None:
        super().__init__()
        self.cfg = cfg
        self.embedding = nn.Embedding(cfg.vocab_size, cfg.embedding_dim, padding_idx=cfg.pad_index)
        self.drop = nn.Dropout(cfg.dropout)
        self.rnn = RecurrentStack(cfg.cell, cfg.embedding_dim, cfg.hidden_size, cfg.num_layers,
                                  cfg.bidirectional, cfg.dropout, cfg.backend)
        self.head = nn.Linear(self.rnn.output_size, cfg.num_classes)
        self.reset_parameters()
        if embedding_weights is not None:
            if tuple(embedding_weights.shape) != (cfg.vocab_size, cfg.embedding_dim):
                raise ValueError(f"embedding weights {tuple(embedding_weights.shape)} do not "
                                 f"match ({cfg.vocab_size}, {cfg.embedding_dim})")
            with torch.no_grad():
                self.embedding.weight.copy_(torch.as_tensor(embedding_weights))
        self.embedding.weight.requires_grad_(not cfg.freeze_embedding)

    def reset_parameters(self) -> None:
        """Xavier input weights, orthogonal recurrent weights, zero biases (LSTM forget gate 1)."""
        nn.init.normal_(self.embedding.weight, std=0.1)
        with torch.no_grad():
            self.embedding.weight[self.cfg.pad_index].zero_()
        _init_recurrent(self.rnn, self.cfg.cell)

    def forward(self, tokens: Tensor, lengths: Tensor) -> Tensor:
        """tokens (B, T) int64, lengths (B,) -> logits (B, num_classes)."""
        x = self.drop(self.embedding(tokens))  # (B, T, E)
        _, last = self.rnn(x, lengths)  # (B, D*H)
        return self.head(self.drop(last))


@dataclass(frozen=True)
class FrameConfig:
    """A feature-frame classifier's architecture (saved beside every checkpoint)."""

    num_features: int  # F per frame (12 LPC cepstra, 20 MFCCs)
    num_classes: int
    input_size: int = 32  # width of the linear input layer the stack reads
    hidden_size: int = 32
    num_layers: int = 1
    cell: str = "gru"
    bidirectional: bool = False
    dropout: float = 0.0
    backend: str = "scratch"

    def to_dict(self) -> dict:
        return asdict(self)


class FrameClassifier(nn.Module):
    """Frames (B, T, F) -> Linear(F, input_size) -> RecurrentStack -> dropout(final state) ->
    Linear(num_classes).

    The linear input layer takes the embedding's place: real-valued frames need a projection,
    not a lookup. The final state is the forward direction's at each sequence's last valid
    frame (and the backward direction's at its first), so padding never reaches the head.
    """

    def __init__(self, cfg: FrameConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.inp = nn.Linear(cfg.num_features, cfg.input_size)
        self.drop = nn.Dropout(cfg.dropout)
        self.rnn = RecurrentStack(cfg.cell, cfg.input_size, cfg.hidden_size, cfg.num_layers,
                                  cfg.bidirectional, cfg.dropout, cfg.backend)
        self.head = nn.Linear(self.rnn.output_size, cfg.num_classes)
        _init_recurrent(self.rnn, cfg.cell)

    def forward(self, frames: Tensor, lengths: Tensor) -> Tensor:
        """frames (B, T, F) float, lengths (B,) -> logits (B, num_classes)."""
        _, last = self.rnn(self.inp(frames), lengths)  # (B, D*H)
        return self.head(self.drop(last))


class FrameRegressor(FrameClassifier):
    """The frame classifier with one output, a real number per sequence (``num_classes`` 1)."""

    def __init__(self, cfg: FrameConfig) -> None:
        if cfg.num_classes != 1:
            raise ValueError(f"a regressor has one output, not num_classes={cfg.num_classes}")
        super().__init__(cfg)

    def forward(self, frames: Tensor, lengths: Tensor) -> Tensor:
        """frames (B, T, F) float, lengths (B,) -> predictions (B,)."""
        return super().forward(frames, lengths).squeeze(1)


def _init_recurrent(rnn: nn.Module, cell: str) -> None:
    """Xavier input weights, orthogonal recurrent weights, zero biases (LSTM forget gate 1)."""
    for name, p in rnn.named_parameters():
        if "weight_ih" in name:
            nn.init.xavier_uniform_(p)
        elif "weight_hh" in name:
            for block in p.chunk(p.shape[0] // p.shape[1]):
                nn.init.orthogonal_(block)
        elif "bias" in name:
            nn.init.zeros_(p)
            if cell == "lstm" and "bias_ih" in name:
                h = p.shape[0] // 4
                p.data[h:2 * h] = 1.0  # forget gate (Gers et al., 2000)


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    """All parameters, or only those with ``requires_grad`` when ``trainable_only``."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)
