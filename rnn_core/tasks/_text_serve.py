"""Raw text -> label and probability: the logged model of a text classifier at work
(``text_classification``, and ``sentiment`` on IMDB).

The text goes through what the training data went through (the corpus's markup cleaning, if
any, then ``rnn_core.data.text`` tokenizing and encoding), from the options, vocabulary and
class names the model carries (``text_classification.serving_bundle``), so no data cache is
read. A value that cannot be read as a text gets a row whose ``note`` says why, in one sentence
naming its row; the other rows are predicted as usual.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

import torch

from rnn_core.models import ModelConfig, SequenceClassifier

__all__ = ["TextPredictor"]

_BATCH = 256


class TextPredictor:
    """Texts -> one row each: ``label``, its ``probability``, ``p_<label>`` for every
    label (the task's outputs keep those it declares), ``words`` read and a ``note`` (empty
    when there is nothing to say).

    Args:
        bundle: the vocabulary, class names and preprocessing
            (``text_classification.serving_bundle``).
        checkpoint: the trial's ``best.pt`` (state_dict, config, model_config).
    """

    def __init__(self, bundle: dict, checkpoint: dict) -> None:
        self.model = SequenceClassifier(ModelConfig(**checkpoint["model_config"]))
        self.model.load_state_dict(checkpoint["state_dict"])
        self.model.eval()
        self.stoi = {w: i for i, w in enumerate(bundle["vocabulary"])}
        if len(self.stoi) != self.model.cfg.vocab_size:
            raise ValueError(
                f"the model's vocabulary holds {len(self.stoi)} words, its "
                f"embedding {self.model.cfg.vocab_size}"
            )
        self.unk, self.pad = self.stoi[bundle["unk"]], int(bundle["pad_index"])
        # no markup pattern: the texts were tokenized as given
        self.markup = re.compile(bundle["markup"]) if bundle.get("markup") else None
        self.noun = bundle.get("noun", "review")  # what a row is called in its notes
        self.token = re.compile(bundle["token_pattern"])
        self.stop = frozenset(bundle["stop_words"])
        self.max_length = int(bundle["max_length"])
        self.labels = list(bundle["labels"])

    def encode(self, text: str) -> tuple[list[int], int]:
        """(token ids as training encoded them, words before truncation)."""
        words = [
            w for w in self.token.findall(self._clean(text).lower()) if w not in self.stop
        ]
        ids = [self.stoi.get(w, self.unk) for w in words[: self.max_length]]
        return ids or [self.unk], len(words)

    def predict(self, values: Sequence) -> list[dict]:
        rows: list[dict] = []
        ready: list[tuple[int, list[int]]] = []
        for i, value in enumerate(values):
            row = {
                "label": None,
                "probability": math.nan,
                **{f"p_{name}": math.nan for name in self.labels},
                "words": 0,
                "note": "",
            }
            rows.append(row)
            note = _unreadable(i, value, self.noun)
            if note is None and not self._clean(value).strip():
                note = f"row {i}: the {self.noun} is empty"
            if note is not None:
                row["note"] = note
                continue
            ids, n_words = self.encode(value)
            row["words"] = min(n_words, self.max_length)
            if n_words > self.max_length:
                row["note"] = (
                    f"row {i}: read the first {self.max_length} of its {n_words} "
                    "words (stop words left out), as in training"
                )
            elif n_words == 0:
                row["note"] = (
                    f"row {i}: no word is left once stop words and punctuation are "
                    "left out; predicted as an unknown word, as in training"
                )
            elif all(t == self.unk for t in ids):
                row["note"] = f"row {i}: none of its words is in the model's vocabulary"
            ready.append((i, ids))
        for i, probs in self._probabilities(ready):
            best = max(range(len(probs)), key=probs.__getitem__)
            rows[i].update(
                {
                    "label": self.labels[best],
                    "probability": probs[best],
                    **{f"p_{n}": p for n, p in zip(self.labels, probs, strict=True)},
                }
            )
        return rows

    def _clean(self, text: str) -> str:
        return self.markup.sub(" ", text) if self.markup is not None else text

    @torch.inference_mode()
    def _probabilities(self, items: list[tuple[int, list[int]]]):
        """(row, class probabilities) in batches of similar length, as evaluation batches."""
        items = sorted(items, key=lambda item: len(item[1]))
        for start in range(0, len(items), _BATCH):
            batch = items[start : start + _BATCH]
            lengths = torch.tensor([len(ids) for _, ids in batch], dtype=torch.int64)
            tokens = torch.full((len(batch), int(lengths.max())), self.pad, dtype=torch.int64)
            for row, (_, ids) in enumerate(batch):
                tokens[row, : len(ids)] = torch.tensor(ids, dtype=torch.int64)
            probs = torch.softmax(self.model(tokens, lengths), dim=1).tolist()
            yield from ((i, p) for (i, _), p in zip(batch, probs, strict=True))


def _unreadable(i: int, value, noun: str) -> str | None:
    """Why ``value`` is not a text (None when it is one)."""
    if isinstance(value, str):
        return None
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return f"row {i}: the {noun} is empty (missing)"
    what = "text" if noun == "text" else f"a {noun}'s text"
    return f"row {i}: expected {what}, got {type(value).__name__} {str(value)[:40]!r}"
