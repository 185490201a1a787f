"""What a trial's own pipeline says of raw reviews: the reference a logged model must match."""

from __future__ import annotations

import re

import numpy as np
import torch

from rnn_core.data.batching import padded_batch
from rnn_core.data.imdb import MARKUP
from rnn_core.data.text import _encode, tokenize
from rnn_core.models import ModelConfig, SequenceClassifier


def trial_probabilities(
    ckpt: dict, itos: list[str], texts: list[str], max_length: int
) -> np.ndarray:
    """Class probabilities (N, 2) of ``texts``: cleaned as IMDB is, tokenized and encoded as
    the corpus was, padded as evaluation pads, through the model rebuilt from ``ckpt`` (a
    trial's best.pt)."""
    model = SequenceClassifier(ModelConfig(**ckpt["model_config"]))
    model.load_state_dict(ckpt["state_dict"])
    model.eval()
    stoi = {w: i for i, w in enumerate(itos)}
    docs = [tokenize(re.sub(MARKUP, " ", t)) for t in texts]
    split = _encode(docs, np.zeros(len(docs)), stoi, max_length)
    tokens, lengths, _ = padded_batch(split, np.arange(len(docs)))
    with torch.inference_mode():
        return torch.softmax(model(tokens, lengths), 1).numpy()
