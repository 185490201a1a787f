"""UCI Japanese Vowels (Kudo, Toyama & Shimbo 1999): 9 male speakers saying /ae/, as 12 LPC
cepstrum coefficients per frame, 7-29 frames; the class is the speaker.

Read by the time-series reader (``rnn_core.data.series_sets``) from the ``aeon==1.6.0`` wheel
(the archive's 270 training and 370 test utterances), with the speakers named ``speaker1`` ..
``speaker9`` as the audio task reports them.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from rnn_core.data.features import FeatureSet
from rnn_core.data.series_sets import AEON_WHEEL, VAL_FRACTION, aeon_tables, build_set

__all__ = ["JV_WHEEL", "VAL_FRACTION", "load_japanese_vowels"]

JV_WHEEL = AEON_WHEEL


def load_japanese_vowels(seed: int = 0, wheel: str | Path | None = None) -> FeatureSet:
    """Train (24 per speaker), validation (6 per speaker, seeded) and the archive's test split.

    The class is the speaker, so every speaker is in every split by design: validation takes
    a seeded ``VAL_FRACTION`` of each speaker's training utterances (stratified by speaker).
    Features are left as published (``FeatureSet.standardized`` scales them).
    """
    tables = [replace(t, labels=[f"speaker{v}" for v in t.labels],
                      classes=[f"speaker{c}" for c in t.classes])
              for t in aeon_tables("JapaneseVowels", "classification", wheel=wheel)]
    data = build_set(*tables, "classification", seed, f"japanese_vowels:{JV_WHEEL}")
    return FeatureSet(data.splits, data.classes, {
        "source": data.stats["source"], "features": "12 LPC cepstra",
        "frames": data.stats["lengths"],
        "val_split": f"{VAL_FRACTION:g} of each speaker's training utterances, seed {seed}"})
