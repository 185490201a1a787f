"""One-second speech clips: reading a wav with its checks, and its MFCC frames (study S5).

A clip is 16 kHz mono, zero-padded at the end or cut to 16,000 samples, as S5 read Speech
Commands. Its features are librosa's MFCC with S5's parameters: 20 coefficients of a 128-band
Slaney mel spectrogram in dB, a 2048-sample Hann window (128 ms) every 512 samples (32 ms),
centred, so a 1 s clip gives 1 + 16000 // 512 = 32 frames of 20.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from rnn_core.errors import DataError

__all__ = ["CLIP_SAMPLES", "HOP", "MFCC_PARAMS", "N_FFT", "N_MFCC", "SAMPLE_RATE", "check_clip",
           "fit_clip", "mfcc", "mfcc_batch", "read_clip"]

SAMPLE_RATE = 16_000
CLIP_SAMPLES = SAMPLE_RATE  # 1 s
N_MFCC, N_FFT, HOP = 20, 2048, 512
# everything else is librosa's default (n_mels 128, Slaney mel scale and norm, power 2,
# power_to_db with ref 1 and top_db 80, DCT-II orthonormal, constant padding when centred)
MFCC_PARAMS = {"sr": SAMPLE_RATE, "n_mfcc": N_MFCC, "n_fft": N_FFT, "hop_length": HOP}

# A clip whose loudest sample is below -60 dBFS holds no speech anyone could hear.
SILENT_PEAK = 1e-3
# Clipped: more than 1 % of the samples at full scale (a recording driven past its range; a
# few peaks touching it are left alone).
FULL_SCALE, CLIPPED_SHARE = 0.999, 0.01


def check_clip(y: np.ndarray, origin: str) -> None:
    """DataError, one sentence naming ``origin``, for an empty, silent or clipped clip."""
    if y.size == 0:
        raise DataError(f"{origin} holds no samples; expected a clip of speech")
    if not np.isfinite(y).all():
        raise DataError(f"{origin} holds non-finite samples; expected PCM audio")
    peak = float(np.abs(y).max())
    if peak < SILENT_PEAK:
        raise DataError(f"{origin} is silent (peak {20 * np.log10(max(peak, 1e-12)):.0f} dBFS, "
                        f"below {20 * np.log10(SILENT_PEAK):.0f}); expected a clip of speech")
    share = float((np.abs(y) >= FULL_SCALE).mean())
    if share > CLIPPED_SHARE:
        raise DataError(f"{origin} is clipped ({share:.1%} of its samples at full scale, more "
                        f"than {CLIPPED_SHARE:.0%}); expected a recording within range")


def read_clip(path: str | Path) -> np.ndarray:
    """A wav file's samples, float32 in [-1, 1], after its checks; not yet padded or cut.

    Raises:
        DataError: the file is not audio, not mono, not at 16 kHz (clips are refused rather
            than resampled: a folder at another rate is a different dataset, and converting
            it is the user's call), or empty, silent or clipped; the message names the file.
    """
    import soundfile as sf

    if Path(path).stat().st_size == 0:
        raise DataError(f"{path} is an empty file; expected a 16 kHz mono wav")
    try:
        y, rate = sf.read(str(path), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, TypeError) as exc:
        raise DataError(f"{path} is not a readable audio file ({exc}); expected a 16 kHz "
                        "mono wav") from None
    if rate != SAMPLE_RATE:
        raise DataError(f"{path} is sampled at {rate} Hz; expected {SAMPLE_RATE} Hz "
                        "(resample the folder first, e.g. sox in.wav -r 16000 out.wav)")
    if y.shape[1] != 1:
        raise DataError(f"{path} has {y.shape[1]} channels; expected a mono clip")
    y = y[:, 0]
    check_clip(y, str(path))
    return y


def fit_clip(y: np.ndarray) -> np.ndarray:
    """Zero-padded at the end or cut to ``CLIP_SAMPLES`` (S5: 1 s)."""
    if len(y) >= CLIP_SAMPLES:
        return y[:CLIP_SAMPLES]
    return np.pad(y, (0, CLIP_SAMPLES - len(y)))


def mfcc(y: np.ndarray) -> np.ndarray:
    """(32, 20) float32 MFCC frames of a 1 s clip (time first, as the task reads them):
    ``librosa.feature.mfcc(y=clip, sr=16000, n_mfcc=20, n_fft=2048, hop_length=512)``."""
    return mfcc_batch([y])[0]


def mfcc_batch(clips: list[np.ndarray]) -> np.ndarray:
    """(N, 32, 20) MFCC frames of N clips, each as ``mfcc`` computes it alone.

    The mel spectrograms are computed for the whole batch at once (ten times faster than
    clip by clip); the dB scale's 80 dB floor is relative to each clip's own peak, so it is
    applied per clip, as ``librosa.feature.mfcc`` on one clip does."""
    import librosa

    if not clips:
        return np.zeros((0, 1 + CLIP_SAMPLES // HOP, N_MFCC), np.float32)
    batch = np.stack([fit_clip(y).astype(np.float32) for y in clips])
    params = {k: v for k, v in MFCC_PARAMS.items() if k != "n_mfcc"}
    mel = librosa.feature.melspectrogram(y=batch, **params)
    return np.stack([librosa.feature.mfcc(S=librosa.power_to_db(m), n_mfcc=N_MFCC).T
                     for m in mel]).astype(np.float32)
