"""Running a precision (``rnn_core.precision``): autocast contexts and the optimizer step."""

from __future__ import annotations

import contextlib

import torch

__all__ = ["Amp", "autocast", "compute_dtype"]

_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def compute_dtype(precision: str) -> torch.dtype:
    return _DTYPES.get(precision, torch.float32)


def autocast(device: torch.device, precision: str):
    """The context a forward pass and its loss run in (a no-op for float32)."""
    if precision not in _DTYPES:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=_DTYPES[precision])


class Amp:
    """A trainer's precision: the autocast context of its forward passes, and the backward and
    optimizer step, with a gradient scaler for float16 (its small range underflows small
    gradients otherwise; bfloat16 has float32's range and needs none)."""

    def __init__(self, device: torch.device, precision: str = "fp32") -> None:
        self.device, self.precision = device, precision
        self.scaler = torch.amp.GradScaler(device.type) if precision == "fp16" else None

    def autocast(self):
        return autocast(self.device, self.precision)

    def step(self, loss: torch.Tensor, opt: torch.optim.Optimizer, params, clip: float) -> None:
        """zero_grad, backward, clip the gradient norm at ``clip`` (0: no clipping), step."""
        opt.zero_grad(set_to_none=True)
        if self.scaler is None:
            loss.backward()
            if clip:
                torch.nn.utils.clip_grad_norm_(params, clip)
            opt.step()
            return
        self.scaler.scale(loss).backward()
        if clip:
            self.scaler.unscale_(opt)  # clip the true gradients, not the scaled ones
            torch.nn.utils.clip_grad_norm_(params, clip)
        self.scaler.step(opt)
        self.scaler.update()
