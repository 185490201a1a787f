"""Which precision a sweep trains in (torch-free: the driver decides; ``rnn_core.amp`` runs it).

Float32, or bfloat16 / float16 autocast with float32 master weights.

``auto`` picks bfloat16 where the hardware runs it natively: a CPU with AVX-512 BF16 or AMX
(oneDNN then runs bf16 matmuls at ~4x the float32 rate), a CUDA GPU that supports bf16; float32
elsewhere, where bf16 would be emulated and slower. Weights, optimizer state, the loss
reduction, the language model's softmax and every metric stay float32.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from rnn_core.errors import ConfigError

__all__ = ["PRECISIONS", "cpu_bf16_flags", "resolve_precision"]

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
# CPU flags (``/proc/cpuinfo``) that make bfloat16 matmuls native rather than emulated
BF16_FLAGS = ("avx512_bf16", "amx_bf16")


@lru_cache(maxsize=1)
def cpu_bf16_flags() -> tuple[str, ...]:
    """The native bfloat16 flags this CPU reports (none where /proc/cpuinfo is missing)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return ()
    flags = set()
    for line in text.splitlines():
        if line.startswith("flags"):
            flags.update(line.split(":", 1)[1].split())
            break
    return tuple(f for f in BF16_FLAGS if f in flags)


def resolve_precision(requested: str, device: str) -> str:
    """The precision a trial on ``device`` (``cpu`` or ``cuda``) trains in: ``auto`` decided,
    an explicit one checked. Imports torch only for CUDA (the driver of a CPU sweep never
    loads it). Raises ConfigError (one sentence) for bf16 where it is not native, fp16 on a
    CPU."""
    kind = str(device).split(":")[0]
    if requested not in PRECISIONS:
        raise ConfigError(f"precision {requested!r}: expected one of {', '.join(PRECISIONS)}")
    if kind == "cuda":
        import torch

        # emulated bf16 (pre-Ampere GPUs) is slower than fp32: native only
        native = torch.cuda.is_available() and torch.cuda.is_bf16_supported(
            including_emulation=False)
    else:
        native = bool(cpu_bf16_flags())
    if requested == "auto":
        return "bf16" if native else "fp32"
    if requested == "bf16" and not native:
        where = ("this GPU" if kind == "cuda" else
                 "this CPU (no avx512_bf16 or amx_bf16 in /proc/cpuinfo)")
        raise ConfigError(f"--precision bf16: {where} has no native bfloat16, so it would run "
                          "emulated and slower than float32; use --precision fp32 or auto")
    if requested == "fp16" and kind != "cuda":
        raise ConfigError("--precision fp16 needs a CUDA GPU (on a CPU use bf16 or fp32)")
    return requested
