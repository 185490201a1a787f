"""Spoken-word data: MFCC frames against an independent computation, the Speech Commands
folder reader on a folder built here, bad clips, and the built spoken digits (real espeak-ng,
flite and the two recorded human voices; skipped where a tool is missing unless
RNN_SWEEPS_REQUIRE_AUDIO_TOOLS=1, as CI sets)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from scipy.fft import dct
from scipy.signal import get_window

from rnn_core.data import _voices
from rnn_core.data._signal import decode_mulaw
from rnn_core.data.clips import SAMPLE_RATE, fit_clip, mfcc, mfcc_batch, read_clip
from rnn_core.data.speech_commands import LISTS, load_speech_commands, scan, speaker_of
from rnn_core.errors import DataError


def _need_tools() -> None:
    try:
        _voices.check_tools()
    except DataError as exc:
        if os.environ.get("RNN_SWEEPS_REQUIRE_AUDIO_TOOLS") == "1":
            pytest.fail(f"RNN_SWEEPS_REQUIRE_AUDIO_TOOLS=1 but {exc}")
        pytest.skip(str(exc))


def _slaney_mel(sr: int, n_fft: int, n_mels: int) -> np.ndarray:
    """Slaney's mel filterbank (Auditory Toolbox): linear below 1 kHz, logarithmic above,
    triangles normalized to equal area."""
    f_sp, min_log_hz = 200.0 / 3, 1000.0
    min_log_mel, logstep = min_log_hz / f_sp, np.log(6.4) / 27.0

    def to_mel(f):
        f = np.asarray(f, dtype=np.float64)
        return np.where(f >= min_log_hz, min_log_mel + np.log(np.maximum(f, 1e-10) / min_log_hz)
                        / logstep, f / f_sp)

    def to_hz(m):
        return np.where(m >= min_log_mel, min_log_hz * np.exp(logstep * (m - min_log_mel)),
                        f_sp * m)

    hz = to_hz(np.linspace(to_mel(0.0), to_mel(sr / 2), n_mels + 2))
    bins = np.linspace(0, sr / 2, n_fft // 2 + 1)
    ramps = hz[:, None] - bins[None, :]
    lower = -ramps[:-2] / np.diff(hz)[:-1, None]
    upper = ramps[2:] / np.diff(hz)[1:, None]
    return np.maximum(0, np.minimum(lower, upper)) * (2.0 / (hz[2:] - hz[:-2]))[:, None]


def _reference_mfcc(y: np.ndarray) -> np.ndarray:
    """S5's MFCC written out with numpy/scipy: centred frames (zero padding), periodic Hann
    window of 2048, hop 512, power spectrum, 128 Slaney mel bands, dB floored 80 below the
    peak, orthonormal DCT-II, 20 coefficients."""
    n_fft, hop = 2048, 512
    y = np.pad(y.astype(np.float64), n_fft // 2)
    starts = hop * np.arange(1 + (len(y) - n_fft) // hop)
    frames = y[starts[:, None] + np.arange(n_fft)[None, :]] * get_window("hann", n_fft)
    power = np.abs(np.fft.rfft(frames, axis=1)) ** 2
    db = 10 * np.log10(np.maximum(power @ _slaney_mel(SAMPLE_RATE, n_fft, 128).T, 1e-10))
    db = np.maximum(db, db.max() - 80.0)
    return dct(db, type=2, norm="ortho", axis=1)[:, :20]


def _tone(seconds: float, f0: float, seed: int, amp: float = 0.5) -> np.ndarray:
    """A vowel-like clip: a harmonic series on ``f0`` with a little noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    y = sum(np.sin(2 * np.pi * f0 * k * t) / k for k in range(1, 6))
    y = y + 0.05 * rng.normal(size=t.size)
    return (amp * y / np.abs(y).max()).astype(np.float32)


def test_mfcc_shape_and_values_match_an_independent_computation():
    y = _tone(0.8, 220.0, 0)  # 0.8 s: the zero padding to 1 s hits the 80 dB floor
    frames = mfcc(y)
    assert frames.shape == (32, 20) and frames.dtype == np.float32
    ref = _reference_mfcc(fit_clip(y))
    assert ref.shape == (32, 20)
    # librosa works in float32 (its STFT in complex64): a few thousandths of a dB on values
    # of tens to hundreds
    np.testing.assert_allclose(frames, ref, rtol=1e-3, atol=0.05)
    assert np.abs(frames[-3:] - ref[-3:]).max() < 0.05  # the floored, padded frames too
    other = _tone(0.3, 330.0, 1, amp=0.05)
    assert not np.allclose(mfcc(other), frames, atol=1.0)  # not constant
    # a batch gives each clip what it gives alone (its 80 dB floor is the clip's own)
    batch = mfcc_batch([y, other])
    np.testing.assert_allclose(batch[0], frames, atol=1e-3)
    np.testing.assert_allclose(batch[1], _reference_mfcc(fit_clip(other)), rtol=1e-3,
                               atol=0.05)


def _write(path: Path, y: np.ndarray, rate: int = SAMPLE_RATE, subtype: str = "PCM_16"):
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), y, rate, subtype=subtype)


def _folder(root: Path) -> Path:
    """A Speech Commands folder: 3 words x 4 speakers x 2 takes, one speaker validation and
    one test, a _background_noise_ folder that is no word."""
    for w, word in enumerate(("yes", "no", "up")):
        for s in range(4):
            for take in range(2):
                _write(root / word / f"spk{s}_nohash_{take}.wav",
                       _tone(0.6 + 0.1 * take, 150 + 60 * w + 7 * s, s * 10 + take))
    _write(root / "_background_noise_" / "noise.wav", _tone(1.0, 50.0, 99))
    (root / "validation_list.txt").write_text(
        "".join(f"{w}/spk2_nohash_{t}.wav\n" for w in ("yes", "no", "up") for t in range(2)))
    (root / "testing_list.txt").write_text(
        "".join(f"{w}/spk3_nohash_{t}.wav\n" for w in ("yes", "no", "up") for t in range(2)))
    return root


def test_speech_commands_reader_on_a_small_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("RNN_SWEEPS_DATA", str(tmp_path / "cache"))
    root = _folder(tmp_path / "sc")
    classes, splits = scan(root)
    assert classes == ["no", "up", "yes"]  # every word folder, sorted; not _background_noise_
    assert {k: len(v) for k, v in splits.items()} == {"train": 12, "val": 6, "test": 6}
    data = load_speech_commands(root)
    assert data.classes == ["no", "up", "yes"] and data.num_features == 20
    train, val, test = (data.splits[k] for k in ("train", "val", "test"))
    assert len(train) == 12 and set(train.lengths) == {32}
    assert sorted(set(train.speakers)) == ["spk0", "spk1"]
    assert set(val.speakers) == {"spk2"} and set(test.speakers) == {"spk3"}
    assert np.bincount(train.labels).tolist() == [4, 4, 4]
    # the frames are the clip's MFCC, zero-padded to 1 s
    i = np.flatnonzero(val.labels == 2)[0]  # clips in path order: yes/spk2_nohash_0 first
    clip = sf.read(str(root / "yes" / "spk2_nohash_0.wav"), dtype="float32")[0]
    np.testing.assert_allclose(val.sequence(i), mfcc(clip), atol=1e-5)
    # a word set reads only its words, in its order
    two = load_speech_commands(root, ("yes", "no"))
    assert two.classes == ["yes", "no"] and len(two.splits["train"]) == 8
    with pytest.raises(DataError, match="has no word folder left"):
        scan(root, ("yes", "left"))


def test_mfcc_computed_once_per_clip_then_cached(tmp_path, monkeypatch):
    from rnn_core.data.speech_commands import mfcc_frames

    monkeypatch.setenv("RNN_SWEEPS_DATA", str(tmp_path / "cache"))
    root = _folder(tmp_path / "sc")
    rels = scan(root)[1]["train"]
    first, computed = mfcc_frames(root, rels)
    assert computed == len(rels) and list((tmp_path / "cache" / "mfcc").glob("*.npz"))
    again, computed = mfcc_frames(root, rels)
    assert computed == 0 and np.array_equal(first, again)
    _write(root / rels[0], _tone(0.5, 400.0, 5))  # a changed clip is computed again
    changed, computed = mfcc_frames(root, rels)
    assert computed == 1 and not np.array_equal(changed[0], first[0])
    assert np.array_equal(changed[1:], first[1:])


def test_folder_layout_errors_name_the_file(tmp_path):
    root = _folder(tmp_path / "sc")
    (root / "testing_list.txt").write_text("yes/ghost_nohash_0.wav\n")
    with pytest.raises(DataError, match=r"testing_list.txt line 1 names yes/ghost_nohash_0"):
        scan(root)
    (root / "testing_list.txt").write_text("yes/spk2_nohash_0.wav\n")
    with pytest.raises(DataError, match="is in both validation_list.txt and testing_list.txt"):
        scan(root)
    (root / "testing_list.txt").unlink()
    with pytest.raises(DataError, match="has no testing_list.txt"):
        scan(root)


@pytest.mark.parametrize("kind, fragment", [
    ("empty file", "is an empty file"),
    ("no samples", "holds no samples"),
    ("silent", "is silent"),
    ("clipped", "is clipped"),
    ("wrong rate", "is sampled at 8000 Hz; expected 16000 Hz"),
    ("stereo", "has 2 channels; expected a mono clip"),
    ("not audio", "is not a readable audio file"),
])
def test_a_bad_clip_gets_one_sentence_naming_the_file(kind, fragment, tmp_path, monkeypatch):
    path = tmp_path / "sc" / "yes" / "bad_nohash_0.wav"
    good = _tone(0.5, 200.0, 1)
    if kind == "empty file":
        path.parent.mkdir(parents=True)
        path.write_bytes(b"")
    elif kind == "no samples":
        _write(path, np.zeros(0, np.float32))
    elif kind == "silent":
        _write(path, good * 1e-4)
    elif kind == "clipped":
        _write(path, np.clip(good * 8, -1, 1))
    elif kind == "wrong rate":
        _write(path, good[::2], rate=8000)
    elif kind == "stereo":
        _write(path, np.stack([good, good], axis=1))
    else:
        path.parent.mkdir(parents=True)
        path.write_text("these are words, not samples\n" * 50)
    with pytest.raises(DataError) as err:
        read_clip(path)
    message = str(err.value)
    assert str(path) in message and fragment in message and "\n" not in message
    # the reader stops on it with the same sentence, before anything trains
    monkeypatch.setenv("RNN_SWEEPS_DATA", str(tmp_path / "cache"))
    root = _folder(tmp_path / "sc")
    with pytest.raises(DataError, match=fragment):
        load_speech_commands(root)


def test_a_quiet_or_loud_but_sound_clip_is_read(tmp_path):
    y = np.concatenate([_tone(0.5, 200.0, 2, amp=0.01), np.zeros(100, np.float32)])
    y[10:20] = 1.0  # a few samples at full scale are not clipping
    _write(tmp_path / "ok.wav", y, subtype="FLOAT")
    np.testing.assert_allclose(read_clip(tmp_path / "ok.wav"), y, atol=1e-6)


def test_speaker_names_follow_speech_commands():
    assert speaker_of("yes/0a7c2a8d_nohash_1.wav") == "0a7c2a8d"
    assert speaker_of("zero/espeak-ng-en-gb-m3-p40_nohash_0.wav") == "espeak-ng-en-gb-m3-p40"


def test_mulaw_decoding_matches_sox():
    au = _voices.SAYTIME / "7.au"
    if not au.exists() or shutil.which("sox") is None:
        pytest.skip("needs saytime's recordings and sox (apt-get install saytime sox)")
    proc = subprocess.run(["sox", "-t", "ul", "-r", "8000", "-c", "1", str(au), "-t", "raw",
                           "-e", "floating-point", "-b", "32", "-"], capture_output=True,
                          check=True)
    np.testing.assert_allclose(decode_mulaw(au.read_bytes()),
                               np.frombuffer(proc.stdout, dtype=np.float32), atol=1e-6)


@pytest.fixture(scope="module")
def small_digits(tmp_path_factory):
    """A small build of the spoken digits (16 synthetic speakers, one take), as the default
    one is built."""
    _need_tools()
    from rnn_core.data.spoken_digits import build_digits

    root = tmp_path_factory.mktemp("digits") / "set"
    return root, build_digits(root, n_espeak=11, flite_per_voice=1, takes=1)


def test_built_digits_are_split_by_voice_with_the_human_voices_apart(small_digits):
    root, info = small_digits
    classes, splits = scan(root, ("zero", "one", "two", "three", "four", "five", "six",
                                  "seven", "eight", "nine"))
    voices = {k: {speaker_of(r) for r in v} for k, v in splits.items()}
    assert info["synthetic_speakers"] == 16
    assert sum(len(voices[k]) for k in ("train", "val", "test")) == 16
    # the build's record of each split's speakers, by their attributes: no espeak-ng variant
    # family or flite voice in two splits (tests/test_speech_voices.py: the default's)
    speakers = {k: [_voices.Speaker(*s) for s in v] for k, v in info["speakers"].items()}
    assert {k: {s.name for s in v} for k, v in speakers.items()} == \
        {k: voices[k] for k in ("train", "val", "test")}
    identities = {k: {s.identity for s in v} for k, v in speakers.items()}
    for a, b in (("train", "val"), ("train", "test"), ("val", "test")):
        assert not voices[a] & voices[b], (a, b)
        assert not identities[a] & identities[b], (a, b)
        assert not {s.variant for s in speakers[a]} & {s.variant for s in speakers[b]}
    assert voices["human"] == voices["human_aug"] == {"allison", "saytime"}
    assert not voices["human"] & (voices["train"] | voices["val"] | voices["test"])
    assert len(splits["human"]) == 20 and len(splits["human_aug"]) == 100
    assert {r.split("/")[0] for r in splits["human"]} == set(classes)
    # every speaker says every digit; every clip is a sound 16 kHz clip of at most 1 s
    for split in ("train", "val", "test"):
        assert len(splits[split]) == 10 * len(voices[split])
    engines = {v.split("-")[0] for v in voices["train"] | voices["val"] | voices["test"]}
    assert engines == {"espeak", "flite"}
    for rel in splits["train"][:5] + splits["human"][:2]:
        y = read_clip(root / rel)
        assert 0.2 * SAMPLE_RATE < len(y) <= SAMPLE_RATE
    assert (root / LISTS["human"]).read_text().count("\n") == 20
    assert info["clips"] == {k: len(v) for k, v in splits.items()}


def test_synthetic_clips_are_deterministic_and_telephone_band(small_digits):
    from rnn_core.data.spoken_digits import _synthetic_clip

    speaker = _voices.synthetic_speakers(3, 1, 0, whispered=False)[0]
    a, b = _synthetic_clip(speaker, 7, 0, 0), _synthetic_clip(speaker, 7, 0, 0)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, _synthetic_clip(speaker, 7, 1, 0))  # another take
    spectrum = np.abs(np.fft.rfft(a)) ** 2
    freqs = np.fft.rfftfreq(len(a), 1 / SAMPLE_RATE)
    above = spectrum[freqs > 4200].sum() / spectrum.sum()
    assert above < 1e-4  # nothing above the 8 kHz channel's band
