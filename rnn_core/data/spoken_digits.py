"""The default spoken-words data: "zero" to "nine" from many synthetic speakers, built offline
and deterministically on first use, with two recorded human voices as a test split never
trained on.

Synthetic speakers: a seeded sample of espeak-ng's English accents x voice variants, each at
a drawn pitch, and flite's five voices at spread pitches. Each says every digit ``takes``
times, each take drawn by the ``Recipe``: a speed (0.8-1.25x), a resampling factor (0.88-1.12:
another vocal tract length, formants and pitch moved together), a lead silence (0-0.3 s: the
time shift), white noise at a signal-to-noise ratio (15-60 dB) and a peak level.
Every clip then goes through an 8 kHz telephone channel (``_signal.telephone``): the human
recordings are 8 kHz telephone-band audio, and train and test must hear the same band.

Human voices: Allison (asterisk-core-sounds-en-wav) and saytime's voice, ten digits each: the
``human`` split (20 clips, through the same channel, nothing added). ``human_aug`` holds
``HUMAN_AUG`` seeded variations of each (speed 0.9-1.1x by resampling, which moves pitch
with it, lead silence, noise at 20-35 dB): more clips, but of the same 20 recordings.

Splits are by voice identity (``_voices.identity_splits``): an espeak-ng variant family or a
flite voice is in one of train, validation and test, with all its accents and pitches, so
validation and test voices are unheard in training, not only their accent or pitch. The
set is written in Speech Commands v0.02's layout under the data cache
(``spoken_digits/<BUILD>``) and read by ``rnn_core.data.speech_commands``.
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
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from rnn_core.data import _voices
from rnn_core.data._signal import place, resample, telephone, trim
from rnn_core.data.cache import cache_dir
from rnn_core.data.clips import CLIP_SAMPLES, SAMPLE_RATE
from rnn_core.data.speech_commands import LISTS, WORD_SETS

__all__ = ["BUILD", "HUMAN_AUG", "RECIPE", "SPLIT", "Recipe", "build_digits", "digits_root"]

log = logging.getLogger(__name__)

BUILD = "digits-v3"  # the recipe's name in the cache: a new recipe gets a new name
DIGITS = WORD_SETS["digits"]
SPLIT = {"train": 0.8, "val": 0.1, "test": 0.1}  # shares of the synthetic voice identities
N_ESPEAK, FLITE_PER_VOICE, TAKES, HUMAN_AUG = 240, 6, 2, 5
# espeak-ng's whispered variants among the speakers: validation does not tell them in or out
# (docs/speech.md), and out keeps the build those measurements describe
WHISPERED = False


@dataclass(frozen=True)
class Recipe:
    """How each synthetic take is drawn (seeded by the clip's name): its speed, a resampling
    factor (``warp``: another vocal tract length, formants and pitch moved together; None:
    none) and the white noise's signal-to-noise ratio in dB."""

    speed: tuple[float, float] = (0.8, 1.25)
    warp: tuple[float, float] | None = (0.88, 1.12)
    snr_db: tuple[float, float] = (15.0, 60.0)


RECIPE = Recipe()


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


def _synthetic_clip(speaker: _voices.Speaker, digit: int, take: int, seed: int,
                    recipe: Recipe = RECIPE) -> np.ndarray:
    rng = _rng(seed, speaker.name, digit, take)
    speed = float(rng.uniform(*recipe.speed))
    y, rate = _voices.synthesize(speaker, DIGITS[digit], speed)
    word = trim(resample(y, rate, SAMPLE_RATE), SAMPLE_RATE)
    if recipe.warp is not None:
        # another vocal tract: the word read at another rate (in 2 % steps, which keeps the
        # resampling ratio's terms small), moving its formants and pitch together
        warp = round(rng.uniform(*recipe.warp) * 50) / 50
        word = resample(word, int(SAMPLE_RATE * warp), SAMPLE_RATE)
    clip = place(word, rng, SAMPLE_RATE, lead=(0.0, 0.3), tail=(0.05, 0.25),
                 snr_db=recipe.snr_db, peak=(0.3, 0.9), limit=CLIP_SAMPLES)
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
                 seed: int = 0, recipe: Recipe = RECIPE, whispered: bool = WHISPERED) -> dict:
    """Write the set into ``root`` (a fresh folder, renamed into place when complete) and
    return what ``build.json`` records: the recipe, the speakers of each split, tool
    versions, counts and seconds.

    ``recipe`` and ``whispered`` are the build's choices (``bench/speech_defaults.py`` builds
    the alternatives): neither moves a voice to another split."""
    root = Path(root)
    _voices.check_tools()
    t0 = time.perf_counter()
    tmp = root.with_name(f"{root.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    speakers = _voices.synthetic_speakers(n_espeak, flite_per_voice, seed, whispered)
    owner = _voices.identity_splits(SPLIT, seed)
    split_of = [owner[s.identity] for s in speakers]  # the split of each speaker
    jobs = [(s, d, t) for s in speakers for d in range(10) for t in range(takes)]

    def one(i: int) -> str:
        s, d, t = jobs[i]
        rel = f"{DIGITS[d]}/{s.name}_nohash_{t}.wav"
        _write(tmp / rel, _synthetic_clip(s, d, t, seed, recipe))
        return rel

    log.info("building spoken digits: %d synthetic speakers x 10 digits x %d takes into %s "
             "(piper voices not used: the set would differ between machines with and without "
             "its optional packages)", len(speakers), takes, root)
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        rels = list(pool.map(one, range(len(jobs))))
    lists: dict[str, list[str]] = {"val": [], "test": [], "human": [], "human_aug": []}
    for (s, _, _), rel in zip(jobs, rels, strict=True):
        if owner[s.identity] != "train":
            lists[owner[s.identity]].append(rel)
    for split, digit, stem, y in _human_clips(seed):
        rel = f"{DIGITS[digit]}/{stem}.wav"
        _write(tmp / rel, y)
        lists[split].append(rel)
    for split, entries in lists.items():
        (tmp / LISTS[split]).write_text("".join(f"{e}\n" for e in sorted(entries)))
    clips = {"train": len(rels) - len(lists["val"]) - len(lists["test"]),
             **{k: len(v) for k, v in lists.items()}}
    info = {"build": BUILD, "seed": seed, "recipe": asdict(recipe), "whispered": whispered,
            "synthetic_speakers": len(speakers),
            "speakers_per_split": {k: split_of.count(k) for k in SPLIT},
            # each split's speakers as (engine, voice, pitch): what tests check apart
            "speakers": {k: [[s.engine, s.voice, s.pitch] for s in speakers
                             if owner[s.identity] == k] for k in SPLIT},
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
