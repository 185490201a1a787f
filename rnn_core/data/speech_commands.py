"""A folder in Speech Commands v0.02's layout, read as MFCC frames (study S5).

The layout: one folder per word holding 1 s 16 kHz mono wav clips named
``<speaker>_nohash_<n>.wav``; ``validation_list.txt`` and ``testing_list.txt`` name the
validation and test clips (``word/file.wav``, one a line); every other clip trains. Folders
whose name starts with ``_`` (``_background_noise_``) are not words. Two more lists, this
project's own, name extra test splits that are never trained on: ``human_list.txt`` (the
recorded human voices of the built spoken digits) and ``human_aug_list.txt`` (augmented copies
of them). The digits set this project builds (``rnn_core.data.spoken_digits``) has the same
layout, so this one reader serves both.

Each clip's MFCC frames are computed once and kept in the data cache (``mfcc/``), keyed by
the folder, the clip's path, size and modification time, and the MFCC parameters.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from pathlib import Path

import numpy as np

from rnn_core.data.cache import cache_dir
from rnn_core.data.clips import MFCC_PARAMS, mfcc_batch, read_clip
from rnn_core.data.features import FeatureSet, from_sequences
from rnn_core.errors import DataError

__all__ = ["LISTS", "WORD_SETS", "load_speech_commands", "scan", "speaker_of"]

log = logging.getLogger(__name__)

WORD_SETS = {
    "digits": ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"),
    "three_words": ("one", "two", "three"),  # S5's words
}
# split -> the list file naming its clips (train: every clip no list names)
LISTS = {"val": "validation_list.txt", "test": "testing_list.txt", "human": "human_list.txt",
         "human_aug": "human_aug_list.txt"}
REQUIRED = ("val", "test")
_BATCH = 256  # clips per MFCC batch (about 16 MB of samples)


def speaker_of(name: str) -> str:
    """The speaker of ``<speaker>_nohash_<n>.wav`` (the file's stem if it has no ``_nohash_``)."""
    stem = Path(name).stem
    return stem.split("_nohash_")[0]


def _read_list(root: Path, split: str) -> list[str]:
    path = root / LISTS[split]
    if not path.exists():
        if split in REQUIRED:
            raise DataError(f"{root} has no {LISTS[split]}; expected Speech Commands v0.02's "
                            "layout (word folders, validation_list.txt, testing_list.txt)")
        return []
    entries = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        entry = line.strip()
        if not entry:
            continue
        if not (root / entry).is_file():
            raise DataError(f"{path} line {n} names {entry}, which is not a file in {root}")
        entries.append(entry)
    return entries


def scan(root: str | Path, words: tuple[str, ...] | None = None
         ) -> tuple[list[str], dict[str, list[str]]]:
    """(classes, split -> clip paths relative to ``root``), checked before any clip is read.

    Args:
        words: the word folders to read, in class order (None: every word folder, sorted).
    """
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root} is not a folder; expected Speech Commands v0.02's layout")
    found = sorted(p.name for p in root.iterdir() if p.is_dir() and p.name[0] not in "_.")
    if words is None:
        classes = found
    else:
        missing = [w for w in words if w not in found]
        if missing:
            raise DataError(f"{root} has no word folder {', '.join(missing)}; expected "
                            f"{', '.join(words)}")
        classes = list(words)
    if not classes:
        raise DataError(f"{root} has no word folders; expected Speech Commands v0.02's layout")
    chosen = set(classes)
    listed: dict[str, list[str]] = {}
    owner: dict[str, str] = {}
    for split in LISTS:
        entries = [e for e in _read_list(root, split) if Path(e).parts[0] in chosen]
        for e in entries:
            if e in owner:
                raise DataError(f"{root}: {e} is in both {LISTS[owner[e]]} and {LISTS[split]}; "
                                "a clip belongs to one split")
            owner[e] = split
        listed[split] = sorted(entries)
    clips = sorted(f"{c}/{p.name}" for c in classes for p in (root / c).glob("*.wav"))
    splits = {"train": [c for c in clips if c not in owner], **listed}
    for split in ("train", *REQUIRED):
        if not splits[split]:
            raise DataError(f"{root} holds no {split} clip of {', '.join(classes)}; expected "
                            "clips in the word folders and in validation_list.txt and "
                            "testing_list.txt")
    return classes, {k: v for k, v in splits.items() if v}


def _cache_file(root: Path) -> Path:
    import librosa

    key = hashlib.sha256(repr((str(root.resolve()), sorted(MFCC_PARAMS.items()),
                               librosa.__version__)).encode()).hexdigest()[:16]
    return cache_dir() / "mfcc" / f"{root.name}-{key}.npz"


def _clip_key(root: Path, rel: str) -> str:
    st = (root / rel).stat()
    return f"{rel}|{st.st_size}|{st.st_mtime_ns}"


def mfcc_frames(root: str | Path, rels: list[str]) -> tuple[np.ndarray, int]:
    """(len(rels), 32, 20) MFCC frames of the clips, and how many were computed now (the rest
    came from the cache)."""
    root = Path(root)
    path = _cache_file(root)
    cached: dict[str, np.ndarray] = {}
    if path.exists():
        try:
            with np.load(path) as z:
                cached = dict(zip(z["keys"].tolist(), z["frames"], strict=True))
        except (OSError, ValueError, KeyError) as exc:
            log.warning("MFCC cache %s unreadable (%s): computing again", path, exc)
    keys = [_clip_key(root, r) for r in rels]
    todo = [(k, r) for k, r in zip(keys, rels, strict=True) if k not in cached]
    for start in range(0, len(todo), _BATCH):
        part = todo[start:start + _BATCH]
        frames = mfcc_batch([read_clip(root / r) for _, r in part])
        cached.update(zip((k for k, _ in part), frames, strict=True))
    if todo:
        path.parent.mkdir(parents=True, exist_ok=True)
        # a name of this process's own: two processes that fill the cache at once (two sweeps,
        # or two test workers) each replace the file whole
        tmp = path.with_suffix(f".tmp-{os.getpid()}.npz")
        np.savez(tmp, keys=np.array(list(cached)), frames=np.stack(list(cached.values())))
        tmp.replace(path)
    return np.stack([cached[k] for k in keys]), len(todo)


def load_speech_commands(root: str | Path, words: tuple[str, ...] | None = None,
                         source: str | None = None) -> FeatureSet:
    """The folder's splits as MFCC frames: ``train``, ``val``, ``test``, and ``human`` /
    ``human_aug`` where their lists exist. Features are left in dB (``FeatureSet.standardized``
    scales them)."""
    root = Path(root)
    t0 = time.perf_counter()
    classes, splits = scan(root, words)
    index = {c: i for i, c in enumerate(classes)}
    out, computed = {}, 0
    for name, rels in splits.items():
        frames, n = mfcc_frames(root, rels)
        computed += n
        out[name] = from_sequences(list(frames), [index[Path(r).parts[0]] for r in rels],
                                   [speaker_of(r) for r in rels], frames.shape[2])
    log.info("%s: MFCC of %d clips (%d computed, the rest cached) in %.1f s", root,
             sum(len(v) for v in splits.values()), computed, time.perf_counter() - t0)
    return FeatureSet(out, classes, {
        "source": source or f"speech_commands:{root}",
        "features": f"{MFCC_PARAMS['n_mfcc']} MFCC (librosa, n_fft {MFCC_PARAMS['n_fft']}, "
                    f"hop {MFCC_PARAMS['hop_length']}, {MFCC_PARAMS['sr']} Hz)",
        "frames": "32", "words": ",".join(classes),
        "speakers": {k: int(len(np.unique(v.speakers))) for k, v in out.items()}})
