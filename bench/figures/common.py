"""What the figures share: the repository root, the figure record, the IMDB corpus and the
classifier's FLOPs per token."""

from __future__ import annotations

from pathlib import Path

from bench._common import recurrent_flops_per_token

__all__ = ["BATCH", "ROOT", "figure", "load_corpus", "train_flops_per_token"]

ROOT = Path(__file__).resolve().parents[2]
BATCH = 64  # the study's batch size (compound_scaling.RECIPE)


def load_corpus():
    from rnn_core.data.imdb import load_imdb, source_id
    from rnn_core.data.text import TextOptions, encode_corpus

    return encode_corpus(None, source_id(None), TextOptions(), load_frame=load_imdb)


def train_flops_per_token(layers: int, hidden: int, emb: int, gates: int = 4) -> int:
    """The classifier's recurrent FLOPs per token (the 2-way head is negligible)."""
    return recurrent_flops_per_token(gates, layers, hidden, emb)


def figure(name, value, unit, goal, met, notes, **extra) -> dict:
    """One figure as ``--json`` writes it: its value against its goal, and its raw parts."""
    return {"name": name, "value": value, "unit": unit, "goal": goal, "met": met,
            "notes": notes, **extra}
