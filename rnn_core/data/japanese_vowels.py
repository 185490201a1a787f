"""UCI Japanese Vowels (Kudo, Toyama & Shimbo 1999): 9 male speakers saying /ae/, as 12 LPC
cepstrum coefficients per frame, 7-29 frames; the class is the speaker.

The files ship inside the PyPI wheel ``aeon==1.6.0`` (``aeon/datasets/data/JapaneseVowels/
JapaneseVowels_{TRAIN,TEST}.ts``, the archive's 270 training and 370 test utterances). The
wheel is downloaded into the data cache with pip (never installed) and read with zipfile.

The ``.ts`` format: ``@`` header lines, then one utterance per line, its 12 channels separated
by ``:`` (each a comma-separated series over time) and the class label last.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np

from rnn_core.data.cache import pip_download
from rnn_core.data.features import FeatureSet, from_sequences, stratified_holdout
from rnn_core.errors import DataError

__all__ = ["JV_WHEEL", "VAL_FRACTION", "load_japanese_vowels", "read_ts"]

JV_WHEEL = "aeon==1.6.0"
_WHEEL_GLOB = "aeon-1.6.0-*.whl"
_MEMBER = "aeon/datasets/data/JapaneseVowels/JapaneseVowels_{}.ts"
# a fifth of each speaker's training utterances (6 of 30) is the validation split
VAL_FRACTION = 0.2


def read_ts(text: str, origin: str) -> tuple[list[np.ndarray], list[str], list[str]]:
    """(sequences (T, channels) float32, labels, the header's class labels) of a ``.ts`` file.

    Raises:
        DataError: the text is not a multivariate ``.ts`` file with class labels; the message
            names ``origin`` and the line.
    """
    classes: list[str] = []
    seqs, labels, in_data, dims = [], [], False, None
    for n, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if not in_data:
            low = line.lower()
            if low.startswith("@classlabel"):
                parts = line.split()
                classes = parts[2:] if len(parts) > 2 and parts[1].lower() == "true" else []
            elif low.startswith("@dimensions"):
                dims = int(line.split()[1])
            elif low == "@data":
                in_data = True
            continue
        *channels, label = line.split(":")
        try:
            series = [np.asarray(c.split(","), dtype=np.float32) for c in channels]
        except ValueError as exc:
            raise DataError(f"{origin} line {n}: a value is not a number ({exc})") from None
        if not series or len({len(s) for s in series}) != 1 or (dims and len(series) != dims):
            raise DataError(f"{origin} line {n}: expected {dims or 'equal-length'} channels of "
                            "one length each")
        seqs.append(np.stack(series, axis=1))
        labels.append(label.strip())
    if not in_data or not seqs:
        raise DataError(f"{origin} holds no @data rows; expected a .ts file with labelled series")
    if not classes:
        raise DataError(f"{origin} declares no @classLabel; expected a classification set")
    unknown = sorted(set(labels) - set(classes))
    if unknown:
        raise DataError(f"{origin} has labels {unknown[:3]} outside @classLabel {classes}")
    return seqs, labels, classes


def load_japanese_vowels(seed: int = 0, wheel: str | Path | None = None) -> FeatureSet:
    """Train (24 per speaker), validation (6 per speaker, seeded) and the archive's test split.

    The class is the speaker, so every speaker is in every split by design: validation takes
    a seeded ``VAL_FRACTION`` of each speaker's training utterances (stratified by speaker).
    Features are left as published (``FeatureSet.standardized`` scales them).
    """
    wheel = Path(wheel) if wheel else pip_download(JV_WHEEL, _WHEEL_GLOB)
    parts = {}
    try:
        with zipfile.ZipFile(wheel) as zf:
            for name in ("TRAIN", "TEST"):
                member = _MEMBER.format(name)
                text = io.TextIOWrapper(zf.open(member), encoding="utf-8").read()
                parts[name] = read_ts(text, f"{wheel}:{member}")
    except (zipfile.BadZipFile, KeyError, OSError, UnicodeDecodeError) as exc:
        raise DataError(f"cached wheel {wheel} is damaged or lacks Japanese Vowels ({exc}); "
                        "delete it to refetch") from exc
    classes = parts["TRAIN"][2]
    index = {c: i for i, c in enumerate(classes)}
    splits = {}
    for name, key in (("train", "TRAIN"), ("test", "TEST")):
        seqs, labels, _ = parts[key]
        y = np.array([index[v] for v in labels])
        splits[name] = from_sequences(seqs, y, [f"speaker{v}" for v in labels], 12)
    keep, held = stratified_holdout(splits["train"].speakers, VAL_FRACTION, seed)
    train = splits["train"]
    splits = {"train": train.take(keep), "val": train.take(held), "test": splits["test"]}
    lengths = np.concatenate([s.lengths for s in splits.values()])
    return FeatureSet(splits, [f"speaker{c}" for c in classes], {
        "source": f"japanese_vowels:{JV_WHEEL}", "features": "12 LPC cepstra",
        "frames": f"{int(lengths.min())}-{int(lengths.max())}",
        "val_split": f"{VAL_FRACTION:g} of each speaker's training utterances, seed {seed}"})
