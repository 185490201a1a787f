"""Which device a trial trains on."""

from __future__ import annotations

import warnings

import torch

__all__ = ["pick_device"]


def pick_device(gpus_requested: float) -> torch.device:
    """CUDA when the trial was given a GPU (a fraction counts) and CUDA works; else the CPU,
    with a warning if a GPU was asked for."""
    if gpus_requested > 0:
        if torch.cuda.is_available():
            return torch.device("cuda")
        warnings.warn(f"--gpus-per-trial {gpus_requested} was given but CUDA is not available; "
                      "training on CPU", RuntimeWarning, stacklevel=2)
    return torch.device("cpu")
