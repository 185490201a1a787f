"""Signal steps the spoken-digits build shares between synthetic and recorded voices: the
telephone band, resampling, trimming, placing a word in a clip, noise."""

from __future__ import annotations

from math import gcd

import numpy as np

__all__ = ["BAND", "TELEPHONE_RATE", "decode_mulaw", "place", "resample", "telephone", "trim"]

TELEPHONE_RATE = 8_000
BAND = (300.0, 3400.0)  # Hz, the telephone voice band (ITU-T G.712)


def resample(y: np.ndarray, rate: int, to: int) -> np.ndarray:
    """``y`` at ``rate`` Hz resampled to ``to`` Hz (polyphase, with its anti-alias filter)."""
    from scipy.signal import resample_poly

    if rate == to:
        return y.astype(np.float32)
    g = gcd(rate, to)
    return resample_poly(y.astype(np.float64), to // g, rate // g).astype(np.float32)


def telephone(y: np.ndarray, rate: int, out_rate: int = 16_000) -> np.ndarray:
    """``y`` through an 8 kHz telephone channel: resampled to 8 kHz, band-passed to 300-3400
    Hz (4th-order Butterworth, forward and back so nothing shifts in time), and resampled to
    ``out_rate``: what the recorded human voices (8 kHz) hold, whatever the source's band."""
    from scipy.signal import butter, sosfiltfilt

    narrow = resample(y, rate, TELEPHONE_RATE).astype(np.float64)
    sos = butter(4, BAND, btype="band", fs=TELEPHONE_RATE, output="sos")
    return resample(sosfiltfilt(sos, narrow), TELEPHONE_RATE, out_rate)


def trim(y: np.ndarray, rate: int, threshold: float = 0.02) -> np.ndarray:
    """``y`` without its leading and trailing silence: samples more than 40 dB below the peak,
    with 10 ms kept on each side."""
    loud = np.flatnonzero(np.abs(y) > threshold * np.abs(y).max())
    if loud.size == 0:
        return y
    pad = rate // 100
    return y[max(0, loud[0] - pad):loud[-1] + pad + 1]


def place(word: np.ndarray, rng: np.random.Generator, rate: int, lead: tuple[float, float],
          tail: tuple[float, float], snr_db: tuple[float, float], peak: tuple[float, float],
          limit: int) -> np.ndarray:
    """A clip of ``word`` after a seeded silence of ``lead`` seconds and before one of ``tail``
    (the time shift), with white noise at a seeded signal-to-noise ratio over the whole clip,
    scaled to a seeded peak, cut to ``limit`` samples."""
    n_lead = int(rng.uniform(*lead) * rate)
    n_tail = int(rng.uniform(*tail) * rate)
    y = np.concatenate([np.zeros(n_lead), word.astype(np.float64), np.zeros(n_tail)])[:limit]
    power = float(np.mean(word.astype(np.float64) ** 2))
    noise_power = power / 10 ** (rng.uniform(*snr_db) / 10)
    y = y + rng.normal(0.0, np.sqrt(noise_power), len(y))
    return y * (rng.uniform(*peak) / np.abs(y).max())


def decode_mulaw(data: bytes) -> np.ndarray:
    """G.711 mu-law bytes as float32 samples in [-1, 1] (saytime's headerless ``.au`` files)."""
    u = ~np.frombuffer(data, dtype=np.uint8).astype(np.int32) & 0xFF
    exponent, mantissa = (u >> 4) & 0x07, u & 0x0F
    magnitude = (((mantissa << 3) + 0x84) << exponent) - 0x84
    return (np.where(u & 0x80, -magnitude, magnitude) / 32768.0).astype(np.float32)
