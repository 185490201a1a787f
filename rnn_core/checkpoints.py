"""Checkpoints are plain state: tensors, numbers, strings and containers, never pickled code."""

from __future__ import annotations

import pickle
from pathlib import Path

import torch

from rnn_core.errors import CheckpointError

__all__ = ["CheckpointError", "load_checkpoint"]




def load_checkpoint(path: str | Path) -> dict:
    """Load a checkpoint with ``torch.load(weights_only=True)``: a crafted pickle that would run
    code is refused, not executed."""
    p = Path(path)
    if not p.is_file():
        raise CheckpointError(f"checkpoint {p} does not exist")
    try:
        state = torch.load(p, weights_only=True, map_location="cpu")
    except pickle.UnpicklingError as exc:
        first = str(exc).strip().splitlines()[0][:200]
        raise CheckpointError(f"checkpoint {p} holds more than plain state and was refused "
                              f"({first})") from exc
    except (RuntimeError, EOFError, OSError) as exc:
        first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(f"checkpoint {p} is damaged ({first})") from exc
    if not isinstance(state, dict):
        raise CheckpointError(f"checkpoint {p} holds a {type(state).__name__}, expected a dict")
    return state
