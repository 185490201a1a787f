"""The voices of the spoken-digits build: synthetic speakers (espeak-ng, flite) and the two
recorded human ones (Allison of asterisk-core-sounds-en-wav, saytime's voice)."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rnn_core.data._signal import decode_mulaw
from rnn_core.data.features import disjoint_groups
from rnn_core.errors import DataError

__all__ = ["FAMILIES", "HUMAN", "VARIANTS", "WHISPERED", "Speaker", "check_tools", "human_clip",
           "identity_splits", "synthetic_speakers", "synthesize", "tool_versions"]

# espeak-ng's English accents (gmw voices; the mbrola ones need extra packages)
ACCENTS = ("en-us", "en-gb", "en-gb-scotland", "en-gb-x-rp", "en-029", "en-gb-x-gbclan",
           "en-gb-x-gbcwmd", "en-us-nyc")
# espeak-ng's voice variants (`espeak-ng --voices=variant`; "Mr serious" is one, with a space)
VARIANTS = (
    "adam Alex Alicia Andrea Andy Annie antonio aunty belinda benjamin boris caleb david "
    "Demonic Denis Diogo ed edward edward2 Gene Gene2 gustave announcer Henrique Hugo iven "
    "iven2 iven3 iven4 Jacky john kaukovalta Lee linda marcelo Marco Mario max Michael michel "
    "miguel Mike Nguyen pablo paul pedro quincy RicishayMax RicishayMax2 RicishayMax3 rob "
    "robert robosoft robosoft2 robosoft3 robosoft4 robosoft5 robosoft6 robosoft7 robosoft8 "
    "steph steph2 steph3 Storm Tweaky UniRobot zac anika anikaRobot AnxiousAndy fast f1 f2 f3 "
    "f4 f5 grandpa grandma klatt klatt2 klatt3 klatt4 klatt5 klatt6 m1 m2 m3 m4 m5 m6 m7 m8 "
    "norbert sandro shelby travis victor croak").split() + ["Mr serious"]
WHISPERED = ("whisper", "whisperf")  # espeak-ng's whispered variants
# One voice, many variants: variants with the same formant frequencies (one vocal tract; a
# missing formant line is espeak-ng's 100 %), and numbered variants of a base one (iven2 of
# iven), differ only in pitch, breath or voice quality. Each family is one voice identity,
# which the splits keep apart (tests/test_speech_voices.py reads the installed variant files
# and checks this table against them); every other variant is a family of its own.
FAMILIES = (
    ("robosoft", "robosoft2", "robosoft3", "robosoft4", "robosoft5", "robosoft6", "robosoft7",
     "robosoft8", "m8", "max", "RicishayMax", "RicishayMax2", "RicishayMax3"),
    ("klatt", "klatt2", "klatt3", "klatt4", "klatt5", "klatt6", "adam", "caleb", "croak",
     "fast", "john", "m6", "whisper"),  # espeak-ng's own formants, unchanged
    ("Hugo", "Diogo", "Henrique", "michel", "miguel"),
    ("iven", "iven2", "iven3", "iven4"),
    ("f2", "f5", "whisperf"),
    ("steph", "steph2", "steph3"),
    ("Gene", "Gene2"),
    ("anika", "anikaRobot"),
    ("edward", "edward2"),
)
# flite's voices, each with the range of mean pitch (Hz) its speakers are drawn from
FLITE = {"kal": (85, 150), "kal16": (85, 150), "awb": (85, 150), "rms": (80, 140),
         "slt": (150, 240)}
FLITE_FAMILIES = (("kal", "kal16"),)  # one recorded speaker's diphones at 8 and 16 kHz
_IDENTITY = {v: fam[0] for fam in FAMILIES + FLITE_FAMILIES for v in fam}

TOOLS = {"espeak-ng": "espeak-ng", "flite": "flite"}  # command -> Debian package
ALLISON = Path("/usr/share/asterisk/sounds/en_US_f_Allison/digits")  # {d}.wav, 8 kHz PCM
SAYTIME = Path("/usr/share/saytime")  # {d}.au, headerless 8 kHz mu-law
# speaker -> (folder, file pattern, Debian package)
HUMAN = {"allison": (ALLISON, "{d}.wav", "asterisk-core-sounds-en-wav"),
         "saytime": (SAYTIME, "{d}.au", "saytime")}


@dataclass(frozen=True)
class Speaker:
    """One synthetic speaker: engine, voice (+ variant) and pitch; speakers of one variant
    family share a voice identity (``identity``)."""

    engine: str  # espeak-ng | flite
    voice: str  # en-gb-scotland+klatt3 | slt
    pitch: int  # espeak-ng -p (0-99) | flite mean F0 in Hz

    @property
    def name(self) -> str:
        """The file-name speaker (no ``_``: Speech Commands names are ``<speaker>_nohash_``)."""
        name = f"{self.engine}-{self.voice.replace('+', '-')}-p{self.pitch}"
        return name.replace("_", "-").replace(" ", "-")

    @property
    def variant(self) -> str:
        """espeak-ng's voice variant (``klatt3`` of ``en-gb-scotland+klatt3``); flite's voice."""
        return self.voice.split("+", 1)[-1]

    @property
    def identity(self) -> str:
        """The voice behind the speaker: engine and variant family (``FAMILIES``), the same
        for every accent and pitch of it; the splits keep each identity in one split."""
        return f"{self.engine}:{_IDENTITY.get(self.variant, self.variant)}"


def synthetic_speakers(n_espeak: int, flite_per_voice: int, seed: int, whispered: bool
                       ) -> list[Speaker]:
    """A seeded sample of ``n_espeak`` espeak-ng accent+variant pairs, each at a drawn pitch,
    and ``flite_per_voice`` pitches of each flite voice.

    The pairs are drawn from every variant, the whispered ones included; ``whispered=False``
    then leaves those out, so the other speakers are the same either way."""
    rng = np.random.default_rng(seed)
    pairs = [(a, v) for a in ACCENTS for v in (*VARIANTS, *WHISPERED)]
    chosen = rng.choice(len(pairs), size=min(n_espeak, len(pairs)), replace=False)
    out = [Speaker("espeak-ng", f"{pairs[i][0]}+{pairs[i][1]}", int(rng.integers(20, 81)))
           for i in sorted(chosen)]
    if not whispered:
        out = [s for s in out if s.variant not in WHISPERED]
    for voice, (lo, hi) in FLITE.items():
        pitches = np.linspace(lo, hi, flite_per_voice) if flite_per_voice > 1 else [(lo + hi) / 2]
        out += [Speaker("flite", voice, int(round(p))) for p in pitches]
    return out


def identity_splits(fractions: dict[str, float], seed: int) -> dict[str, str]:
    """Voice identity (``Speaker.identity``) -> split, dealt from the whole inventory of
    voices, not from a sample of speakers: each engine's families are dealt whole, weighed
    by their number of variants, largest first (``features.disjoint_groups``), so every split
    hears both engines, no variant or flite voice is in two splits, and the deal is the same
    whatever speakers are sampled from it."""
    voices = [Speaker("espeak-ng", v, 0) for v in (*VARIANTS, *WHISPERED)]
    voices += [Speaker("flite", v, 0) for v in FLITE]
    identities = np.array([v.identity for v in voices])
    parts = disjoint_groups(identities, fractions, seed,
                            strata=np.array([v.engine for v in voices]))
    return {identities[i]: split for split, idx in parts.items() for i in idx}


def check_tools() -> None:
    """DataError naming the first missing program or recording and its Debian package."""
    for cmd, pkg in TOOLS.items():
        if shutil.which(cmd) is None:
            raise DataError(f"building the spoken digits needs {cmd}, which is not installed "
                            f"(apt-get install {pkg}, or make system-deps)")
    for folder, pattern, pkg in HUMAN.values():
        path = folder / pattern.format(d=0)
        if not path.exists():
            raise DataError(f"building the spoken digits needs the recording {path}, which "
                            f"is missing (apt-get install {pkg}, or make system-deps)")


def tool_versions() -> dict[str, str]:
    """The synthesizers' version lines (the build records them: another version speaks
    differently)."""
    out = {}
    for cmd in TOOLS:
        proc = subprocess.run([cmd, "--version"], capture_output=True, text=True)
        lines = (proc.stdout or proc.stderr).strip().splitlines()
        out[cmd] = next((ln.strip() for ln in lines if "version" in ln.lower() or "1." in ln),
                        lines[0].strip() if lines else "")
    return out


def synthesize(speaker: Speaker, word: str, speed: float) -> tuple[np.ndarray, int]:
    """(samples, rate) of ``word`` in ``speaker``'s voice, at ``speed`` times the normal
    rate."""
    import soundfile as sf

    with tempfile.TemporaryDirectory(prefix="rnn-sweeps-tts-") as tmp:
        out = Path(tmp) / "w.wav"
        if speaker.engine == "espeak-ng":
            cmd = ["espeak-ng", "-v", speaker.voice, "-p", str(speaker.pitch),
                   "-s", str(int(round(175 * speed))), "-w", str(out), word]
        else:
            cmd = ["flite", "-voice", speaker.voice,
                   "--setf", f"int_f0_target_mean={speaker.pitch}",
                   "--setf", f"duration_stretch={1 / speed:.3f}", "-t", word, "-o", str(out)]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0 or not out.exists():
            raise DataError(f"{' '.join(cmd)} failed: {proc.stderr.strip()[-300:]}")
        y, rate = sf.read(str(out), dtype="float32")
    return y, rate


def human_clip(speaker: str, digit: int) -> tuple[np.ndarray, int, Path]:
    """(samples, rate, file) of a recorded human voice saying ``digit``."""
    import soundfile as sf

    folder, pattern, _ = HUMAN[speaker]
    path = folder / pattern.format(d=digit)
    if path.suffix == ".au":  # saytime's .au files have no header: raw mu-law at 8 kHz
        return decode_mulaw(path.read_bytes()), 8000, path
    y, rate = sf.read(str(path), dtype="float32")
    return y, rate, path
