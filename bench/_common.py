"""What the bench scripts share: timing, the matmul roof, and the FLOPs of a recurrent stack."""

from __future__ import annotations

import time
from collections.abc import Callable

import torch

__all__ = ["timed", "matmul", "recurrent_flops_per_token"]


def timed(fn: Callable[[], object]) -> float:
    """Seconds one call of ``fn`` takes."""
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def matmul(m: int, k: int, n: int, min_s: float = 0.05) -> Callable[[], float]:
    """A callable timing float32 ``(m,k) @ (k,n)``, repeated to at least ``min_s``; each call
    returns the FLOP/s it measured (the roof that training is read against, measured beside
    it in the same run and thread count)."""
    a, b = torch.randn(m, k), torch.randn(k, n)
    a @ b
    reps = max(1, int(min_s / max(timed(lambda: a @ b), 1e-6)))

    def run() -> float:
        t = timed(lambda: [a @ b for _ in range(reps)])
        return 2 * m * k * n * reps / t

    return run


def recurrent_flops_per_token(gates: int, layers: int, hidden: int, emb: int) -> int:
    """Matrix-product FLOPs per training token of a recurrent stack: forward + backward of the
    input and recurrent products, 6 * G*H * sum_l(in_l + H) (G gate blocks: 4 LSTM, 3 GRU)."""
    sizes = [emb] + [hidden] * (layers - 1)
    return 6 * gates * hidden * sum(s + hidden for s in sizes)
