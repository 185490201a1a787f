"""Raw text -> perplexity and the next token: the language-model task's logged model at work.

A text is tokenized as its corpus was (``rnn_core.data.lm_files.tokenize``: words split on
whitespace or characters, lower-cased where the corpus was, ``<eos>`` between lines unless its
stream had none, as under ``--protocol bengio2003``), from the vocabulary and options the model
carries (``language_model.serving_bundle``), so no data cache is read. The model reads it
from a zero state after an ``<eos>`` (as if a line had just ended) and scores every token of
the text given the ones before; perplexity = exp(mean NLL). ``next`` is the most likely token
after the text other than ``<unk>`` (in character mode ``<eos>`` is the newline, given as
``\\n``). A value that is not text gets a row whose ``note`` says why.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from rnn_core.data.lm_files import tokenize
from rnn_core.language_model import LanguageModel, LMConfig

__all__ = ["LanguageModelPredictor"]

_WINDOW = 256  # tokens per forward pass: bounds the (window, vocabulary) softmax of a long text


class LanguageModelPredictor:
    """Texts -> one row each: ``perplexity``, ``tokens`` scored, ``next`` and
    ``next_probability``, and a ``note`` (empty when there is nothing to say).

    Args:
        bundle: the vocabulary and tokenizer options (``language_model.serving_bundle``).
        checkpoint: the trial's ``best.pt`` (state_dict, config, model_config).
    """

    def __init__(self, bundle: dict, checkpoint: dict) -> None:
        self.model = LanguageModel(LMConfig(**checkpoint["model_config"]))
        self.model.load_state_dict(checkpoint["state_dict"])
        self.model.eval()
        self.itos = list(bundle["vocabulary"])
        if len(self.itos) != self.model.cfg.vocab_size:
            raise ValueError(f"the model's vocabulary holds {len(self.itos)} tokens, its "
                             f"embedding {self.model.cfg.vocab_size}")
        self.stoi = {w: i for i, w in enumerate(self.itos)}
        self.unk, self.eos = self.stoi[bundle["unk"]], self.stoi[bundle["eos"]]
        self.unit, self.lowercase = bundle["token_unit"], bool(bundle["lowercase"])
        # a model trained on a stream without <eos> reads lines as one run of words
        self.line_ends = bool(bundle.get("eos_between_lines", True))

    def encode(self, text: str) -> list[int]:
        """Token ids as training encoded them, ``<eos>`` after every line but an unended last."""
        lines = text.replace("\r\n", "\n").split("\n")
        ids: list[int] = []
        for k, tokens in enumerate(tokenize(lines, self.unit, self.lowercase)):
            ids.extend(self.stoi.get(t, self.unk) for t in tokens)
            if self.line_ends and k < len(lines) - 1:
                ids.append(self.eos)
        return ids

    def predict(self, values: Sequence) -> list[dict]:
        rows = []
        for i, value in enumerate(values):
            row = {"perplexity": math.nan, "tokens": 0, "next": None,
                   "next_probability": math.nan, "note": ""}
            rows.append(row)
            note = _unreadable(i, value)
            if note is not None:
                row["note"] = note
                continue
            ids = self.encode(value)
            nll, probs = self._score(ids)
            best = int(probs.argmax())
            row.update({"tokens": len(ids), "next": self._token(best),
                        "next_probability": float(probs[best])})
            if not ids:
                row["note"] = (f"row {i}: the text is empty: nothing to score; next is the most "
                               "likely first token")
                continue
            row["perplexity"] = math.exp(nll / len(ids))
            unknown = sum(t == self.unk for t in ids)
            if unknown:
                what = "words" if self.unit == "word" else "characters"
                row["note"] = (f"row {i}: {unknown} of its {len(ids)} {what} "
                               f"({unknown / len(ids):.0%}) are out of the vocabulary (<unk>)")
        return rows

    def _token(self, index: int) -> str:
        if index == self.eos and self.unit == "char":
            return "\n"
        return self.itos[index]

    @torch.inference_mode()
    def _score(self, ids: list[int]) -> tuple[float, torch.Tensor]:
        """(summed NLL of ``ids``, next-token probabilities after them, ``<unk>`` at 0)."""
        stream = torch.tensor([self.eos, *ids], dtype=torch.int64).unsqueeze(0)
        total, state, last = 0.0, None, None
        for start in range(0, len(ids) + 1, _WINDOW):
            x = stream[:, start:start + _WINDOW]
            y = stream[:, start + 1:start + 1 + _WINDOW]
            out, state = self.model(x, state)
            if y.shape[1]:
                nll, _ = self.model.nll(out[:, :y.shape[1]], y)
                total += float(nll)
            last = out[:, -1]
        probs = torch.softmax(self.model.logits(last)[0].float(), 0)
        probs[self.unk] = 0.0
        return total, probs


def _unreadable(i: int, value) -> str | None:
    """Why ``value`` is not a text (None when it is one)."""
    if isinstance(value, str):
        return None
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return f"row {i}: the text is missing"
    return f"row {i}: expected a text, got {type(value).__name__} {str(value)[:40]!r}"
