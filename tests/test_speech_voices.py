"""The spoken digits' synthetic voices: the variant families against espeak-ng's own voice
files, and splits that share no voice (variant family, flite voice, formant table), checked
on the speakers' attributes rather than their names."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import numpy as np
import pytest

from rnn_core.data import _voices
from rnn_core.data.features import disjoint_groups
from rnn_core.data.spoken_digits import FLITE_PER_VOICE, N_ESPEAK, SPLIT
from tests.test_speech_data import _need_tools


def _variant_files() -> dict[str, Path]:
    """Every installed espeak-ng variant (its name as ``-v en+NAME`` takes it) -> its file."""
    _need_tools()
    version = subprocess.run(["espeak-ng", "--version"], capture_output=True, text=True).stdout
    folder = Path(re.search(r"Data at: (\S+)", version).group(1)) / "voices" / "!v"
    return {p.name: p for p in folder.iterdir() if p.is_file()}


def _formants(path: Path) -> tuple[int, ...]:
    """A variant's formant frequencies (percent of the base voice's, 100 where no line sets
    one): its vocal tract."""
    table = [100] * 9
    for line in path.read_text(encoding="latin-1").splitlines():
        words = line.split()
        if words[:1] == ["formant"]:
            table[int(words[1])] = int(words[2])
    return tuple(table)


def test_the_families_are_what_the_voice_files_say():
    files = _variant_files()
    inventory = [*_voices.VARIANTS, *_voices.WHISPERED]
    assert sorted(inventory) == sorted(files)  # every variant, each by a name espeak-ng takes
    assert len(set(inventory)) == len(inventory)
    identity = {v: _voices.Speaker("espeak-ng", f"en-us+{v}", 50).identity for v in inventory}
    tables = {v: _formants(files[v]) for v in inventory}
    for a in inventory:
        for b in inventory:
            if tables[a] == tables[b]:  # one vocal tract: one voice
                assert identity[a] == identity[b], (a, b)
        base = re.sub(r"\d+$", "", a)
        if base != a and base in files:  # iven2 is iven's
            assert identity[a] == identity[base], (a, base)
    # and a family is no wider than those two relations make it
    for family in _voices.FAMILIES:
        linked = {family[0]}
        while True:
            more = {v for v in family if v not in linked and any(
                tables[v] == tables[u] or re.sub(r"\d+$", "", v) == u
                or re.sub(r"\d+$", "", u) == v for u in linked)}
            if not more:
                break
            linked |= more
        assert linked == set(family), family


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("whispered", [False, True])
def test_validation_and_test_voices_share_nothing_with_training(seed, whispered):
    speakers = _voices.synthetic_speakers(N_ESPEAK, FLITE_PER_VOICE, seed, whispered)
    owner = _voices.identity_splits(SPLIT, seed)
    split = {k: [s for s in speakers if owner[s.identity] == k] for k in SPLIT}

    def espeak(k: str) -> set[str]:
        return {s.variant for s in split[k] if s.engine == "espeak-ng"}

    def flite(k: str) -> set[str]:  # kal16 is kal's voice at 16 kHz
        return {s.variant.removesuffix("16") for s in split[k] if s.engine == "flite"}

    for a, b in (("train", "val"), ("train", "test"), ("val", "test")):
        assert not espeak(a) & espeak(b), (a, b)
        assert not flite(a) & flite(b), (a, b)
        for k in (a, b):  # every split hears both engines, in about its share
            assert espeak(k) and flite(k), k
    assert 0.05 < len(split["val"]) / len(speakers) < 0.2
    assert 0.05 < len(split["test"]) / len(speakers) < 0.2
    # an accent or a pitch alone never makes a voice new: no variant recurs across splits
    # under another accent or pitch
    for k in ("val", "test"):
        for s in split[k]:
            assert all(t.variant != s.variant for t in split["train"]), s
    # whispered voices or not, every other speaker keeps its split
    other = _voices.synthetic_speakers(N_ESPEAK, FLITE_PER_VOICE, seed, not whispered)
    common = set(speakers) & set(other)
    assert len(common) >= len(speakers) - 10
    assert all(s.variant in _voices.WHISPERED for s in set(speakers) ^ set(other))


@pytest.mark.parametrize("seed", [0, 1])
def test_validation_and_test_vocal_tracts_are_unheard_in_training(seed):
    """The formant tables themselves, read from the voice files: no validation or test
    variant has a training variant's vocal tract."""
    files = _variant_files()
    owner = _voices.identity_splits(SPLIT, seed)
    tables = {k: set() for k in SPLIT}
    for v in (*_voices.VARIANTS, *_voices.WHISPERED):
        tables[owner[_voices.Speaker("espeak-ng", f"en-us+{v}", 50).identity]].add(
            _formants(files[v]))
    assert not tables["train"] & tables["val"] and not tables["train"] & tables["test"]
    assert not tables["val"] & tables["test"]


def test_disjoint_groups_deals_whole_groups_in_about_their_shares():
    speakers = np.repeat(np.array([f"v{i}" for i in range(10)]), 5)
    parts = disjoint_groups(speakers, {"train": 0.6, "val": 0.2, "test": 0.2}, seed=0)
    voices = {k: set(speakers[v]) for k, v in parts.items()}
    assert [len(voices[k]) for k in ("train", "val", "test")] == [6, 2, 2]
    assert sorted(np.concatenate(list(parts.values())).tolist()) == list(range(50))
    # a large group goes to the large split; each stratum reaches every split
    groups = np.array(["big"] * 8 + ["a", "b", "c", "d"] + ["x", "y", "z"])
    strata = np.array(["e"] * 12 + ["f"] * 3)
    parts = disjoint_groups(groups, {"train": 0.8, "val": 0.1, "test": 0.1}, 3, strata)
    assert "big" in set(groups[parts["train"]])
    for k, idx in parts.items():
        assert set(strata[idx]) == {"e", "f"}, k
        assert not set(groups[idx]) & set().union(*(set(groups[v]) for j, v in parts.items()
                                                    if j != k))
