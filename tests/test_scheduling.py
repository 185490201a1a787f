"""Successive halving on a real Ray instance and MLflow store: synchronous (``--scheduler sha``)
and asynchronous by promotion (``--scheduler asha``, the default).

SHA pauses every trial at a rung until all have reported there; the best ``ceil(n / rf)`` go
on from their epoch checkpoints. ASHA pauses a trial at a rung and promotes the best waiting
one whenever the rung's arrivals allow (``floor(arrived / rf)``, ``ceil(n / rf)`` once all
have arrived). Both sweeps are checked against the same grid run to the end (FIFO): the rung
decisions follow the FIFO run's own validation accuracies, and a trial that was paused and
resumed trains exactly as one that never stopped.
"""

from __future__ import annotations

import json
import math
import subprocess
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from bench.sim import check_log
from bench.sim.rules import CERTAIN
from rnn_core.tuning._asha import rung_epochs
from tests._sweeps import run_study

ROOT = Path(__file__).resolve().parents[1]
# 6 configs, grace 1, rf 2, 4 epochs: rungs at 1 and 2, then 4 -> 6 x 1 + 3 x 1 + 2 x 2 epochs
GRID = ["--smoke-test", "--layers", "1,2", "--hidden", "16,24,32", "--embedding", "16",
        "--max-epochs", "4", "--reduction-factor", "2"]


def _sweep(tmp: Path, tag: str, *extra: str) -> tuple[subprocess.CompletedProcess, str]:
    uri = f"sqlite:///{tmp}/{tag}.db"
    proc = run_study("compound_scaling", *GRID, *extra, "--tracking-uri", uri,
                     "--storage-path", str(tmp / f"ray-{tag}"), cwd=tmp,
                     own="a grid of its own, each scheduler against FIFO")
    return proc, uri


def _trials(uri: str) -> dict[str, dict]:
    """Child runs by name: per-epoch val_acc, best_val_acc and train_loss, status."""
    client = MlflowClient(uri)
    exp = client.get_experiment_by_name("rnn-sweeps")
    out = {}
    for run in client.search_runs([exp.experiment_id]):
        if "mlflow.parentRunId" not in run.data.tags:
            continue
        hist = {k: [m.value for m in sorted(client.get_metric_history(run.info.run_id, k),
                                            key=lambda m: m.step)]
                for k in ("val_acc", "best_val_acc", "train_loss")}
        assert run.info.run_name not in out, "one MLflow run per trial, also across pauses"
        out[run.info.run_name] = {**hist, "status": run.data.tags["trial_status"],
                                  "tid": run.data.tags.get("ray_trial_id")}
    return out


def test_rung_epochs():
    assert rung_epochs(1, 3, 5) == [1, 3, 5]  # the full preset: as ASHA's rungs
    assert rung_epochs(1, 2, 4) == [1, 2, 4]
    assert rung_epochs(2, 3, 2) == [2]  # grace = max: no halving, every trial runs to the end
    assert rung_epochs(1, 3, 27) == [1, 3, 9, 27]
    assert rung_epochs(2, 2.0, 9) == [2, 4, 8, 9]  # a whole number written as a float


@pytest.mark.parametrize("rf", [1, 0.5, 1.5, 2.5, -3])
def test_rung_epochs_refuse_a_factor_that_is_not_a_whole_number_of_2_or_more(rf):
    """At 1 or below the rungs never reach max_t (the loop would not end); a fraction rounds
    two rungs onto one epoch (1.5: 1, 1, 2, 3)."""
    with pytest.raises(ValueError, match="expected a whole number of 2 or more"):
        rung_epochs(1, rf, 5)


@pytest.fixture(scope="module")
def sha_and_fifo(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("sha")
    sha, sha_uri = _sweep(tmp, "sha", "--scheduler", "sha")
    assert sha.returncode == 0, sha.stderr[-3000:]
    fifo, fifo_uri = _sweep(tmp, "fifo", "--scheduler", "fifo")
    assert fifo.returncode == 0, fifo.stderr[-3000:]
    return tmp, _trials(sha_uri), _trials(fifo_uri), sha_uri


@pytest.fixture(scope="module")
def asha(sha_and_fifo):
    tmp = sha_and_fifo[0]
    proc, uri = _sweep(tmp, "asha", "--scheduler", "asha")
    assert proc.returncode == 0, proc.stderr[-3000:]
    folder = next((tmp / "ray-asha").glob("compound_scaling-*"))
    state = json.loads((tmp / "ray-asha" / ".rnn_sweeps" / folder.name / "asha_rungs.json")
                       .read_text())
    return _trials(uri), state


@pytest.mark.slow
def test_sha_halves_at_every_rung_on_best_validation_accuracy(sha_and_fifo):
    _, sha, fifo, _ = sha_and_fifo
    assert set(sha) == set(fifo) and len(sha) == 6
    rungs = rung_epochs(1, 2, 4)
    alive = set(sha)
    for k, rung in enumerate(rungs[:-1]):
        # every trial still alive reached this rung; ceil(n / rf**(k+1)) trained past it,
        # and none of them had a lower best_val_acc at the rung (the one quantity the
        # scheduler, searcher and pick rank by) than a trial that stopped there
        assert all(len(sha[n]["val_acc"]) >= rung for n in alive)
        on = {n for n in alive if len(sha[n]["val_acc"]) > rung}
        assert len(on) == math.ceil(len(sha) / 2 ** (k + 1))
        worst_kept = min(sha[n]["best_val_acc"][rung - 1] for n in on)
        assert all(sha[n]["best_val_acc"][rung - 1] <= worst_kept for n in alive - on)
        assert all(sha[n]["status"] == "stopped_early" for n in alive - on)
        alive = on
    assert all(len(sha[n]["val_acc"]) == rungs[-1] and sha[n]["status"] == "finished"
               for n in alive)
    assert sum(len(t["val_acc"]) for t in sha.values()) == 6 + 3 + 2 * 2


@pytest.mark.slow
def test_paused_trials_resume_exactly_where_they_stopped(sha_and_fifo):
    """Paused at rungs 1 and 2 and resumed from checkpoints (often in another worker), the
    surviving trials match the uninterrupted FIFO run epoch for epoch."""
    _, sha, fifo, _ = sha_and_fifo
    for name, trial in sha.items():
        n = len(trial["val_acc"])
        assert trial["val_acc"] == fifo[name]["val_acc"][:n], name
        assert trial["train_loss"] == pytest.approx(fifo[name]["train_loss"][:n], rel=1e-6)


@pytest.mark.slow
def test_resuming_an_sha_sweep_is_refused_before_any_work(sha_and_fifo):
    tmp, sha, _, uri = sha_and_fifo
    folder = next((tmp / "ray-sha").glob("compound_scaling-*"))
    proc, _ = _sweep(tmp, "sha", "--scheduler", "sha", "--resume", str(folder))
    assert proc.returncode == 2
    assert "ran with --scheduler sha" in proc.stderr and "start it again" in proc.stderr
    assert _trials(uri) == sha  # nothing recorded is lost


def _replay(state: dict, rf: int) -> None:
    """Every promotion in the scheduler's log went to the best trial then waiting at its rung
    (equal objectives: the earlier arrival), within the rung's cap (``check_log``); each rung
    gave exactly the promotions synchronous halving gives."""
    assert check_log(state, rf) == []
    promoted = {m: sum(1 for e, r, _ in state["log"] if str(r) == m and e in CERTAIN)
                for m in state["rungs"]}
    assert promoted == {m: math.ceil(len(r) / rf) for m, r in state["rungs"].items()}


@pytest.mark.slow
def test_asha_spends_the_budget_of_synchronous_halving(sha_and_fifo, asha):
    """6 trials, rf 2: 3 promoted past epoch 1, 2 past epoch 2 (6 + 3 + 2 x 2 epochs, as SHA),
    each promotion the best trial waiting at its rung (the scheduler's own log, replayed).
    Slots the rules leave free go to speculative promotions: such a trial, if no promotion
    is left for it, stops by the next rung, and its epochs past its rung are the only ones
    beyond synchronous halving's."""
    _, _, fifo, _ = sha_and_fifo
    trials, state = asha
    assert set(trials) == set(fifo)
    name = {t["tid"]: n for n, t in trials.items()}
    certain = {int(m): {name[t] for e, r, t in state["log"] if str(r) == m and e in CERTAIN}
               for m in state["rungs"]}
    unspec = {name[t]: int(r) for e, r, t in state["log"] if e == "unspeculate"}
    alive, nxt = set(trials), {1: 2, 2: 4}
    for rung, n_on in ((1, 3), (2, 2)):
        on = certain[rung]
        assert on <= alive and len(on) == n_on, (rung, on)
        for n in alive - on:
            epochs = len(trials[n]["val_acc"])
            assert trials[n]["status"] == "stopped_early", n
            assert epochs == rung or (unspec.get(n) == rung and epochs <= nxt[rung]), n
        alive = on
    assert all(trials[n]["status"] == "finished" for n in alive)
    extra = sum(len(trials[n]["val_acc"]) - rung for n, rung in unspec.items())
    assert sum(len(t["val_acc"]) for t in trials.values()) == 6 + 3 + 2 * 2 + extra
    assert not state["waiting"] and not state["speculative"]
    assert sorted(state["rungs"]["1"].values()) == sorted(t["val_acc"][0] for t in fifo.values())
    _replay(state, rf=2)


@pytest.mark.slow
def test_asha_trials_resume_exactly_where_they_paused(sha_and_fifo, asha):
    _, _, fifo, _ = sha_and_fifo
    for name, trial in asha[0].items():
        n = len(trial["val_acc"])
        assert trial["val_acc"] == fifo[name]["val_acc"][:n], name
        assert trial["train_loss"] == pytest.approx(fifo[name]["train_loss"][:n], rel=1e-6)
