"""Stopping and resuming a sweep, apart from the sweep itself (the interrupted and resumed TPE
sweep of tests/test_search_sweep.py): SIGTERM handed to the SIGINT handler, Ray's warning
about trials that never started, and a resume refused before any work."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest

from tests._sweeps import run_study

NAMES = {"lstm-L1-H16-E16", "lstm-L1-H32-E16", "lstm-L2-H16-E16", "lstm-L2-H32-E16"}


@pytest.mark.slow
def test_resume_refuses_an_option_that_contradicts_the_saved_sweep(tmp_path):
    """Checked before any work: the saved sweep's grid decides, not today's command line."""
    uri = f"sqlite:///{tmp_path}/m.db"
    folder = tmp_path / "ray" / "compound_scaling-0000abcd"
    folder.mkdir(parents=True)
    side = tmp_path / "ray" / ".rnn_sweeps" / folder.name
    side.mkdir(parents=True)
    (folder / "tuner.pkl").write_bytes(b"")  # what Ray's can_restore looks for
    (side / "sweep.json").write_text(json.dumps({
        "parent_run_id": "0000abcd" * 4, "tracking_uri": uri, "experiment_name": "rnn-sweeps",
        "status": "interrupted", "max_epochs": 2,
        "sweep_params": {"preset": "smoke", "grid": {"num_layers": [1, 2], "hidden_size": [16],
                                                     "embedding_dim": [16]},
                         "max_epochs": 2, "scheduler": "asha", "seed": 0}}))
    proc = run_study("compound_scaling", "--resume", str(folder), "--layers", "1,2,3",
                     "--tracking-uri", uri, cwd=tmp_path, timeout=120,
                     own="bad input, refused before any sweep")
    assert proc.returncode == 2
    assert proc.stderr.strip().endswith(
        "--layers 1,2,3 contradicts the saved sweep's layers 1,2; a resumed sweep keeps the "
        "options it started with (leave the option out, or start a new sweep)")
    assert not Path(tmp_path / "m.db").exists()  # refused before MLflow or Ray


def test_only_trials_that_never_started_are_dropped_from_rays_fetch_warning():
    import logging

    from rnn_core.tuning._progress import _DropNeverStartedTrials

    def record(msg):
        return logging.LogRecord("ray.tune.analysis.experiment_analysis", logging.WARNING,
                                 __file__, 1, msg, (), None)

    never = ("- trial_fn_1: FileNotFoundError('Could not fetch metrics for trial_fn_1: both "
             "result.json and progress.csv were not found at /x')")
    other = "- trial_fn_2: JSONDecodeError('Expecting value: line 1 column 1')"
    only = record(f"Failed to fetch metrics for 2 trial(s):\n{never}\n{never}")
    assert not _DropNeverStartedTrials().filter(only)
    mixed = record(f"Failed to fetch metrics for 2 trial(s):\n{never}\n{other}")
    assert _DropNeverStartedTrials().filter(mixed)
    assert mixed.getMessage() == f"Failed to fetch metrics for 1 trial(s):\n{other}"
    assert _DropNeverStartedTrials().filter(record("Trial trial_fn_3 errored"))


def test_sigterm_reaches_the_sweep_as_sigint_and_the_handler_is_put_back():
    """A scheduler's or kill's SIGTERM ends a sweep as Ctrl-C does: the driver hands it to
    the SIGINT handler in place (Ray Tune's, during a sweep), which saves the state; the
    rest of that path is the SIGINT sweep above."""
    import os

    from rnn_core.tuning._progress import sigterm_as_sigint

    got = []
    before_int = signal.signal(signal.SIGINT, lambda signum, frame: got.append(signum))
    before_term = signal.getsignal(signal.SIGTERM)
    try:
        with sigterm_as_sigint():
            os.kill(os.getpid(), signal.SIGTERM)
        assert got == [signal.SIGINT]
        assert signal.getsignal(signal.SIGTERM) == before_term
    finally:
        signal.signal(signal.SIGINT, before_int)
