"""ASHA by promotion's saved state (``_asha_state.RungState``): a snapshot with a journal of
the operations since, on a local folder (one file appended to) or on an object store
(numbered objects; a real S3 server, tests/_servers.py). Read back mid-sweep it is the same
state, a trial forgotten on resume included; and ``bench.sim.check_log`` checks a log that
forgot a trial."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from bench.sim import METRIC, SimConfig, SimController, check_log
from rnn_core.tuning import PromotionASHA
from rnn_core.tuning._asha_state import RungState
from rnn_core.tuning._storage import Place, place


def _place(where: str, request, tmp_path) -> Place:
    if where == "local":
        return place(tmp_path / "asha.json")
    from tests._servers import BUCKET

    server = request.getfixturevalue("s3_server")
    key = f"{BUCKET}/asha-{uuid.uuid4().hex[:8]}/asha.json"
    return Place(server.filesystem(), key, f"s3://{key}")


def _journal(path: Place) -> list[str]:
    """The journal's lines as stored: the local file's, or every numbered object's."""
    if path.local:
        journal = Path(f"{path.path}l")
        return journal.read_text().splitlines() if journal.exists() else []
    return [ln for f in path.parent.files() if f.name.startswith(f"{path.name}l.")
            for ln in f.read_text().splitlines()]


def _view(state: RungState) -> tuple:
    """What the scheduler reads, rungs in arrival order and pools in rank order."""
    return ({m: list(r.items()) for m, r in state.rungs.items()}, state.promoted,
            state.waiting, state.stopped, state.log, state.spec, state.held, state.yielded,
            state.resume, {m: [t for *_, t in r] for m, r in state.ranked.items()})


@pytest.mark.parametrize("where", ["local", pytest.param("s3", marks=pytest.mark.slow)])
def test_the_journal_reads_back_mid_sweep_and_keeps_a_forgotten_trial_forgotten(
        where, request, tmp_path):
    """A sweep stopped mid-way (speculative promotions on) reads back as it was from the
    snapshot and the journal. A resumed driver forgets a trial Ray lost; its first save
    rewrites the snapshot (locally, nothing is appended after a line a kill cut off), and
    what it journals after that reads back too."""
    path = _place(where, request, tmp_path)
    cfg = SimConfig(n_trials=27, slots=8, curves="synthetic")
    sched = PromotionASHA(cfg.n_trials, cfg.grace, cfg.max_t, cfg.rf, metric=METRIC,
                          mode="max", state_file=path, slots=cfg.slots)
    sim = SimController(sched, cfg, seed=2)
    while len(sched.log) < 60:
        assert sim._step()
    assert _journal(path)  # the saves journaled; the snapshot is behind
    if path.local:
        with Path(f"{path.path}l").open("a") as f:
            f.write('[999999, "log", "stop"')  # a line a kill cut off
    again = RungState(sched.milestones, path)
    assert again.loaded and _view(again) == _view(sched._state)
    assert again.changes == sched._state.changes

    lost = sorted(again.waiting)[0]
    again.forget(lost)
    again.save()
    assert _journal(path) == []  # the snapshot holds it all
    again.record(sched.milestones[0], "late", 0.5)
    again.wait("late", sched.milestones[0])
    again.note("arrive", sched.milestones[0], "late")
    again.save()
    assert len(_journal(path)) == 3
    third = RungState(sched.milestones, path)
    assert _view(third) == _view(again) and third.changes == again.changes
    assert ["forget", None, lost] in third.log and third.waiting["late"] == 1
    assert lost not in {*third.waiting, *third.spec, *third.stopped,
                        *(t for r in third.rungs.values() for t in r),
                        *(t for p in third.promoted.values() for t in p)}


def _log(after: list[list]) -> dict:
    """A rung at epoch 1 (rf 3): ``lost`` was promoted before the driver was killed; the
    resumed driver forgot it (Ray had lost it) and ``d`` arrived; then ``after``."""
    return {"rungs": {"1": {"b": 0.5, "c": 0.1, "d": 0.7}},
            "log": [["arrive", 1, "lost"], ["arrive", 1, "b"], ["arrive", 1, "c"],
                    ["promote", 1, "lost"], ["forget", None, "lost"], ["arrive", 1, "d"],
                    *after]}


def test_check_log_takes_a_forgotten_trial_out_of_its_rung():
    """The saved rungs no longer hold a forgotten trial: its promotion is given back, the
    rung's one promotion goes to the best of the rest, and the rules still catch a worse
    trial promoted or a promotion too many."""
    stops = [["stop", 1, "b"], ["stop", 1, "c"]]
    assert check_log(_log([["promote", 1, "d"], *stops]), 3) == []
    assert check_log(_log([["promote", 1, "b"], ["stop", 1, "d"], ["stop", 1, "c"]]), 3) == [
        "b promoted at rung 1 over a better (or earlier equal) trial"]
    assert check_log(_log([["promote", 1, "d"], ["promote", 1, "b"], ["stop", 1, "c"]]), 3) == [
        "b: promotion 2 at rung 1 after 3 arrivals", "rung 1: 2 promotions of 3 arrivals"]
