"""The default spoken-words data: "zero" to "nine" from many synthetic speakers, built offline
and deterministically on first use, with two recorded human voices as a test split never
trained on.

Synthetic speakers: a seeded sample of espeak-ng's English accents x voice variants, each at
a drawn pitch, and flite's five voices at spread pitches. Each says every digit ``takes``
times, each take at a drawn speed (0.8-1.25x), resampled by a drawn factor (0.88-1.12: another
vocal tract length, formants and pitch moved together), after a drawn lead silence (0-0.3 s:
the time shift), with white noise at a drawn signal-to-noise ratio (15-60 dB) and a drawn
peak level.
Every clip then goes through an 8 kHz telephone channel (``_signal.telephone``): the human
recordings are 8 kHz telephone-band audio, and train and test must hear the same band.

Human voices: Allison (asterisk-core-sounds-en-wav) and saytime's voice, ten digits each: the
``human`` split (20 clips, through the same channel, nothing added). ``human_aug`` holds
``HUMAN_AUG`` seeded variations of each (speed 0.9-1.1x by resampling, which moves pitch
with it, lead silence, noise at 20-35 dB): more clips, but of the same 20 recordings.

Splits are by speaker (``features.speaker_disjoint``): no synthetic voice is in two of
train, validation and test. The set is written in Speech Commands v0.02's layout under the
data cache (``spoken_digits/<BUILD>``) and read by ``rnn_core.data.speech_commands``.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
import zlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from rnn_core.data import _voices
from rnn_core.data._signal import place, resample, telephone, trim
from rnn_core.data.cache import cache_dir
from rnn_core.data.clips import CLIP_SAMPLES, SAMPLE_RATE
from rnn_core.data.features import speaker_disjoint
from rnn_core.data.speech_commands import LISTS, WORD_SETS

__all__ = ["BUILD", "HUMAN_AUG", "SPLIT", "build_digits", "digits_root"]

log = logging.getLogger(__name__)

BUILD = "digits-v2"  # the recipe's name in the cache: a new recipe gets a new name
DIGITS = WORD_SETS["digits"]
SPLIT = {"train": 0.8, "val": 0.1, "test": 0.1}  # shares of the synthetic speakers
N_ESPEAK, FLITE_PER_VOICE, TAKES, HUMAN_AUG = 240, 6, 2, 5


def digits_root() -> Path:
    """The built set's folder, built first if absent."""
    root = cache_dir() / "spoken_digits" / BUILD
    if not (root / "build.json").exists():
        build_digits(root)
    return root


def _rng(*parts) -> np.random.Generator:
    """A generator seeded by a clip's name: the same clip whatever the build order."""
    return np.random.default_rng(zlib.crc32("/".join(map(str, parts)).encode()))


def _write(path: Path, y: np.ndarray) -> None:
    import soundfile as sf

    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), np.clip(y, -1, 1), SAMPLE_RATE, subtype="PCM_16")


def _synthetic_clip(speaker: _voices.Speaker, digit: int, take: int, seed: int) -> np.ndarray:
    rng = _rng(seed, speaker.name, digit, take)
    speed = float(rng.uniform(0.8, 1.25))
    y, rate = _voices.synthesize(speaker, DIGITS[digit], speed)
    word = trim(resample(y, rate, SAMPLE_RATE), SAMPLE_RATE)
    # another vocal tract: the word read at a rate 12 % off at most (in 2 % steps), which
    # moves its formants and pitch together (speed perturbation)
    warp = round(rng.uniform(0.88, 1.12) * 50) / 50
    word = resample(word, int(SAMPLE_RATE * warp), SAMPLE_RATE)
    # noise from clearly audible (15 dB) to as clean as the recordings (60 dB)
    clip = place(word, rng, SAMPLE_RATE, lead=(0.0, 0.3), tail=(0.05, 0.25),
                 snr_db=(15.0, 60.0), peak=(0.3, 0.9), limit=CLIP_SAMPLES)
    return telephone(clip, SAMPLE_RATE)


def _human_clips(seed: int) -> Iterator[tuple[str, int, str, np.ndarray]]:
    """(split, digit, file stem, samples) of each human recording and its variations."""
    for speaker in _voices.HUMAN:
        for digit in range(10):
            y, rate, _ = _voices.human_clip(speaker, digit)
            yield "human", digit, f"{speaker}_nohash_0", telephone(
                y / np.abs(y).max() * 0.7, rate)
            for k in range(1, HUMAN_AUG + 1):
                rng = _rng(seed, speaker, digit, "aug", k)
                # played faster or slower: the recording read at another rate (in steps of
                # 2 %, which keeps the resampling ratio's terms small)
                sped = resample(y, int(rate * round(rng.uniform(0.9, 1.1) * 50) / 50), rate)
                clip = place(trim(sped, rate), rng, rate, lead=(0.0, 0.3), tail=(0.05, 0.25),
                             snr_db=(20.0, 35.0), peak=(0.4, 0.9), limit=rate)
                yield "human_aug", digit, f"{speaker}_nohash_{k}", telephone(clip, rate)


def build_digits(root: str | Path, n_espeak: int = N_ESPEAK,
                 flite_per_voice: int = FLITE_PER_VOICE, takes: int = TAKES,
                 seed: int = 0) -> dict:
    """Write the set into ``root`` (a fresh folder, renamed into place when complete) and
    return what ``build.json`` records: the recipe, tool versions, counts and seconds."""
    root = Path(root)
    _voices.check_tools()
    t0 = time.perf_counter()
    tmp = root.with_name(f"{root.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    speakers = _voices.synthetic_speakers(n_espeak, flite_per_voice, seed)
    jobs = [(s, d, t) for s in speakers for d in range(10) for t in range(takes)]
    names = np.array([s.name for s, _, _ in jobs])
    parts = speaker_disjoint(names, SPLIT, seed)
    split_of = {int(i): split for split, idx in parts.items() for i in idx}

    def one(i: int) -> str:
        s, d, t = jobs[i]
        rel = f"{DIGITS[d]}/{s.name}_nohash_{t}.wav"
        _write(tmp / rel, _synthetic_clip(s, d, t, seed))
        return rel

    log.info("building spoken digits: %d synthetic speakers x 10 digits x %d takes into %s "
             "(piper voices not used: the set would differ between machines with and without "
             "its optional packages)", len(speakers), takes, root)
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        rels = list(pool.map(one, range(len(jobs))))
    lists: dict[str, list[str]] = {"val": [], "test": [], "human": [], "human_aug": []}
    for i, rel in enumerate(rels):
        if split_of[i] != "train":
            lists[split_of[i]].append(rel)
    for split, digit, stem, y in _human_clips(seed):
        rel = f"{DIGITS[digit]}/{stem}.wav"
        _write(tmp / rel, y)
        lists[split].append(rel)
    for split, entries in lists.items():
        (tmp / LISTS[split]).write_text("".join(f"{e}\n" for e in sorted(entries)))
    clips = {"train": len(rels) - len(lists["val"]) - len(lists["test"]),
             **{k: len(v) for k, v in lists.items()}}
    info = {"build": BUILD, "seed": seed, "synthetic_speakers": len(speakers),
            "speakers_per_split": {k: len(np.unique(names[v])) for k, v in parts.items()},
            "takes": takes, "clips": clips, "tools": _voices.tool_versions(),
            "seconds": round(time.perf_counter() - t0, 1)}
    (tmp / "build.json").write_text(json.dumps(info, indent=1) + "\n")
    root.parent.mkdir(parents=True, exist_ok=True)
    try:
        tmp.rename(root)
    except OSError:  # another process finished the same build first: keep theirs
        shutil.rmtree(tmp, ignore_errors=True)
    log.info("spoken digits built in %.0f s: clips %s", info["seconds"], clips)
    return info
