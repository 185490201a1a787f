"""Ray's state files cut short by a kill: told from whole ones, kept whole, mended on resume."""

from __future__ import annotations

import json
import pickle
from fractions import Fraction

import pytest

from rnn_core.errors import ConfigError
from rnn_core.tuning._state_copies import TORN, StateCopies, complete, keep, mend
from rnn_core.tuning._storage import place

TRIALS = json.dumps({"trial_data": [[json.dumps({"trial_id": f"t{k}"}), "{}"]
                                    for k in range(20)], "runner_data": {"n": 20}}).encode()
SEARCHER = pickle.dumps({"study": "s", "asked": list(range(50)), "lr": Fraction(1, 3),
                         "counts": (1, 2.5, None, "x" * 300)}, protocol=5)


@pytest.mark.parametrize("data", [TRIALS, SEARCHER], ids=["json", "pickle"])
def test_every_prefix_of_a_file_is_incomplete(data):
    assert complete(data)
    assert not [k for k in range(len(data)) if complete(data[:k])]


def _sweep(tmp_path):
    folder, copies = tmp_path / "exp", tmp_path / "side" / "ray_state"
    folder.mkdir()
    (folder / "experiment_state-s1.json").write_bytes(TRIALS)
    (folder / "searcher-state-s1.pkl").write_bytes(SEARCHER)
    (folder / "result.json").write_text("{}")  # a trial's file, not Ray's state
    return folder, copies


def test_complete_files_are_kept_once_and_a_torn_one_never(tmp_path):
    folder, copies = _sweep(tmp_path)
    seen = {}
    kept = keep(place(folder), place(copies), seen)
    assert sorted(kept) == ["experiment_state-s1.json", "searcher-state-s1.pkl"]
    assert keep(place(folder), place(copies), seen) == []  # unchanged: not read again
    (folder / "experiment_state-s1.json").write_bytes(TRIALS[:100])  # the kill, mid-copy
    assert keep(place(folder), place(copies), seen) == []
    assert (copies / "experiment_state-s1.json").read_bytes() == TRIALS
    assert sorted(p.name for p in copies.iterdir()) == ["experiment_state-s1.json",
                                                        "searcher-state-s1.pkl"]


def test_a_torn_file_is_mended_from_its_copy(tmp_path):
    folder, copies = _sweep(tmp_path)
    keep(place(folder), place(copies), {})
    (folder / "experiment_state-s1.json").write_bytes(b"")  # as a kill left it in a test run
    (folder / "searcher-state-s1.pkl").write_bytes(SEARCHER[:len(SEARCHER) // 2])
    said = mend(place(folder), place(copies), "--resume")
    assert len(said) == 2 and all("last complete copy" in s for s in said)
    assert (folder / "experiment_state-s1.json").read_bytes() == TRIALS
    assert (folder / "searcher-state-s1.pkl").read_bytes() == SEARCHER
    assert mend(place(folder), place(copies), "--resume") == []


def test_a_torn_file_with_no_copy_gives_way_to_the_previous_drivers(tmp_path):
    folder, copies = _sweep(tmp_path)
    (folder / "experiment_state-s2.json").write_bytes(TRIALS[:-1])  # the resumed driver's
    said = mend(place(folder), place(copies), "--resume")
    assert said and "set aside" in said[0]
    assert not (folder / "experiment_state-s2.json").exists()
    assert (copies / f"experiment_state-s2.json{TORN}").read_bytes() == TRIALS[:-1]


def test_a_torn_file_with_nothing_to_resume_from_is_refused_and_nothing_changes(tmp_path):
    folder, copies = _sweep(tmp_path)
    keep(place(folder), place(copies), {})
    (folder / "searcher-state-s1.pkl").write_bytes(SEARCHER[:7])  # it has a copy
    (folder / "tuner.pkl").write_bytes(b"\x80\x05")  # no copy and no other
    with pytest.raises(ConfigError, match=r"--resume .*exp: Ray's tuner\.pkl there is "
                                          r"incomplete .* no complete copy"):
        mend(place(folder), place(copies), "--resume")
    assert (folder / "searcher-state-s1.pkl").read_bytes() == SEARCHER[:7]
    assert (folder / "tuner.pkl").read_bytes() == b"\x80\x05"


def test_the_callback_looks_at_most_once_a_period(tmp_path):
    folder, copies = _sweep(tmp_path)
    cb = StateCopies(place(folder), place(copies), period=3600)
    cb.on_step_end(0, [])
    (folder / "experiment_state-s1.json").write_bytes(TRIALS + b" ")
    cb.on_step_end(1, [])
    assert (copies / "experiment_state-s1.json").read_bytes() == TRIALS
    cb.on_experiment_end([])
    assert (copies / "experiment_state-s1.json").read_bytes() == TRIALS + b" "
