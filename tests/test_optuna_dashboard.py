"""Optuna's dashboard seen for real: a `--search nsga2` smoke sweep's study file, served by
`make optuna-dashboard` on 127.0.0.1, opened in headless Debian Chromium: the study, its trials
and both objectives (best_val_acc, n_params) with the values the study holds. Screenshots land
in the test's tmp folder (dashboard-*.png)."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import optuna
import pytest
from browser import body_text, chromium, require, stop_session, wait_for

from tests._sweeps import shared_sweep

ROOT = Path(__file__).resolve().parents[1]
VENV = Path(sys.executable).parent.parent

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """The shared NSGA-II smoke sweep's study (its file holds the TPE sweep's study too), and
    a folder of this module's own for logs and screenshots: (folder, study file, study)."""
    require()  # before the sweep: no point running it without a browser
    shared = shared_sweep("searches")
    db = shared.folder / "optuna.db"
    (line,) = [ln for ln in shared.procs[1].stdout.splitlines()
               if ln.startswith("Optuna study ")]
    # the command the sweep printed opens this very file
    assert f"OPTUNA_DB={db}" in line or f"sqlite:///{db}" in line, line
    name = line.split()[2].rstrip(":")
    return (tmp_path_factory.mktemp("dashboard"), db,
            optuna.load_study(study_name=name, storage=f"sqlite:///{db}"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=5) as resp:
        return resp.read()


@pytest.fixture(scope="module")
def dashboard(study):
    tmp, db, _ = study
    port = _free_port()
    log = (tmp / "dashboard.log").open("wb")
    # the Makefile's own target; -o: the venv counts as installed (no pip run from a test)
    cmd = ["make", "--no-print-directory", "-C", str(ROOT), f"VENV={VENV}", "-o",
           f"{VENV}/.installed", f"OPTUNA_DB={db}", f"OPTUNA_PORT={port}", "optuna-dashboard"]
    proc = subprocess.Popen(cmd, cwd=tmp, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        def up():
            if proc.poll() is not None:
                tail = (tmp / "dashboard.log").read_text(errors="replace")[-3000:]
                raise AssertionError(f"make optuna-dashboard exited with {proc.returncode}:"
                                     f"\n{tail}")
            try:
                return json.loads(_get(f"{base}/api/studies"))
            except OSError:
                return None

        summaries = wait_for(up, timeout=120, what=f"{base}/api/studies")
        yield base, summaries
    finally:
        stop_session(proc, term_grace=20)  # the CLI, its server and workers
        log.close()


def test_make_refuses_a_study_file_that_is_not_there(tmp_path):
    done = subprocess.run(["make", "--no-print-directory", "-C", str(ROOT), f"VENV={VENV}",
                           "-o", f"{VENV}/.installed", f"OPTUNA_DB={tmp_path}/none.db",
                           "optuna-dashboard"], capture_output=True, text=True, timeout=60)
    assert done.returncode != 0 and "none.db not found" in done.stderr
    assert not (tmp_path / "none.db").exists()


def test_the_dashboard_serves_the_study_on_localhost(study, dashboard):
    _, _, st = study
    base, summaries = dashboard
    assert base.startswith("http://127.0.0.1:")
    (found,) = [s for s in summaries["study_summaries"] if s["study_name"] == st.study_name]
    assert found["directions"] == ["maximize", "minimize"]


def test_the_browser_finds_the_study_its_trials_and_both_objectives(study, dashboard):
    tmp, _, st = study
    base, summaries = dashboard
    (sid,) = [s["study_id"] for s in summaries["study_summaries"]
              if s["study_name"] == st.study_name]
    with chromium(tmp) as browser:
        browser.get(f"{base}/dashboard")
        wait_for(lambda: st.study_name in body_text(browser), what="the study in the list")
        assert "MAXIMIZE, MINIMIZE" in body_text(browser)
        browser.save_screenshot(str(tmp / "dashboard-home.png"))

        browser.get(f"{base}/dashboard/studies/{sid}")
        text = wait_for(lambda: (t := body_text(browser)) and "Objective Y:" in t and t,
                        what="the study's Pareto front")
        assert re.search(r"Objective X:\s*best_val_acc", text)
        assert re.search(r"Objective Y:\s*n_params", text)
        browser.save_screenshot(str(tmp / "dashboard-study.png"))

        browser.get(f"{base}/dashboard/studies/{sid}/trials")
        wait_for(lambda: f"{len(st.trials)} Trials" in body_text(browser), what="the trials")
        for trial in st.trials:  # each trial's own page shows both of its values
            item = wait_for(lambda n=trial.number: next(
                (e for e in browser.find_elements("css selector", "li")
                 if e.text.strip().startswith(f"Trial {n}\n")), None), what=f"Trial {trial.number}")
            item.click()
            shown = wait_for(lambda n=trial.number: re.search(
                rf"Trial {n} \(trial_id=\d+\).*?Value\s+([-\d.e+]+), ([-\d.e+]+)",
                body_text(browser), re.S), what=f"trial {trial.number}'s values")
            assert [float(v) for v in shown.groups()] == pytest.approx(trial.values)
        browser.save_screenshot(str(tmp / "dashboard-trials.png"))
