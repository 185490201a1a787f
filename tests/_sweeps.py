"""Running a study script as a user does, and reading its sweep back from MLflow.

Every test that runs a study goes through this module (tests/test_sweep_runner.py checks it):
- ``shared_sweep(name)``: one of the sweeps in ``SHARED``, run once per test session and read
  by every test module that needs it (a session's sweeps cost most of the suite's time);
  a test that adds runs to its store works on ``private_store`` copy;
- ``run_study(..., own="why")``: a sweep of the test's own, where the test interrupts, resumes,
  breaks or times the sweep, or needs options no shared sweep has; the reason is required.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# A test's own sweep writes its report without the PNG copies unless it checks them: their
# browser costs ~3 CPU-s a sweep, and the shared sweeps, the cell comparison's and
# tests/test_report_page.py check the export
NO_PNG = ("--no-png",)


def run_study(study: str, *args: str, own: str, cwd: Path, timeout: int = 600,
              python: tuple[str, ...] = (), env: dict | None = None,
              base_env: dict | None = None, png: bool = False) -> subprocess.CompletedProcess:
    """``python [PYTHON] sweeps/<study>.py ARGS`` from the checkout, run in ``cwd`` (where the
    default report folder goes: the test's own folder, so that no report is left in the
    checkout) with ``env`` added to ``base_env`` (this process's
    environment by default); output captured. ``own``: why this test cannot read a shared
    sweep (``shared_sweep``). With ``--no-png`` unless ``png``: ``NO_PNG``."""
    assert own.strip(), "say why the test needs a sweep of its own"
    base = os.environ if base_env is None else base_env
    return subprocess.run([sys.executable, *python, str(ROOT / "sweeps" / f"{study}.py"), *args,
                           *(() if png else NO_PNG)],
                          capture_output=True, text=True, timeout=timeout, cwd=cwd,
                          env={**base, "PYTHONPATH": str(ROOT), **(env or {})})


@dataclass(frozen=True)
class Sweep:
    """A finished shared sweep: its folder (store ``m.db``, Ray results ``ray/``, the report
    ``report/`` where asked), the store's URI, the experiment and the processes' output."""

    folder: Path
    uri: str
    experiment: str
    procs: tuple[subprocess.CompletedProcess, ...]
    ray_tmp: Path | None = None

    @property
    def proc(self) -> subprocess.CompletedProcess:
        """The (last) study process."""
        return self.procs[-1]

    def private_store(self, dest: Path) -> str:
        """A copy of the store in ``dest`` for a test that adds runs (the artifacts stay where
        they are, read through the runs' absolute artifact URIs)."""
        dest.mkdir(parents=True, exist_ok=True)
        with sqlite3.connect(self.folder / "m.db") as src, \
                sqlite3.connect(dest / "m.db") as dst:
            src.backup(dst)
        return f"sqlite:///{dest}/m.db"


# name -> (study, args) per process, run in order in one folder, and how they run. Each
# sweep's store is m.db in its folder and its Ray results are under ray/.
SHARED: dict[str, dict] = {
    # the main job's smoke run as a user runs it; its Ray instance keeps its files in a folder
    # of its own (RAY_TMPDIR, short: Ray's socket paths must stay under 108 bytes), and the
    # driver lists its imports on stderr (-X importtime). In float32: its metrics are compared
    # with float32's recorded ones, and auto takes bf16 on a CPU with AVX-512 BF16 or AMX.
    "compound_smoke": {
        "runs": [("compound_scaling", ("--smoke-test", "--precision", "fp32",
                                       "--report-dir", "{folder}/report"))],
        "python": ("-X", "importtime"), "ray_tmp": True, "experiment": "rnn-sweeps"},
    # a TPE and an NSGA-II search, in one store and experiment (the fronts page reads both)
    "searches": {
        "runs": [("compound_scaling", ("--smoke-test", "--search", s, "--num-samples", "4",
                                       "--experiment-name", "searches"))
                 for s in ("tpe", "nsga2")],
        "experiment": "searches"},
}
_done: dict[str, Sweep] = {}
# Under pytest-xdist the controller names a folder for the whole run (conftest.py), so a shared
# sweep runs once however many workers read it: the first to need it runs it under a lock,
# the others wait and read what it left
SHARED_DIR = "RNN_SWEEPS_TEST_SHARED"


def shared_sweep(name: str) -> Sweep:
    """The shared sweep ``name`` (``SHARED``), run on first use in this test session."""
    if name in _done:
        return _done[name]
    run_wide = os.environ.get(SHARED_DIR)
    if run_wide is None:
        _done[name] = _run_shared(name, Path(tempfile.mkdtemp(prefix=f"shared-{name}-")))
        return _done[name]
    folder = Path(run_wide) / name
    with open(Path(run_wide) / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        record = folder / "sweep.json"
        if not record.exists():
            # what a worker whose run of it failed left (its error is that worker's to show)
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir()
            sweep = _run_shared(name, folder)
            record.write_text(json.dumps({
                "ray_tmp": None if sweep.ray_tmp is None else str(sweep.ray_tmp),
                "procs": [[p.args, p.returncode, p.stdout, p.stderr] for p in sweep.procs]}))
        saved = json.loads(record.read_text())
    spec = SHARED[name]
    _done[name] = Sweep(folder, f"sqlite:///{folder}/m.db", spec["experiment"],
                        tuple(subprocess.CompletedProcess(*p) for p in saved["procs"]),
                        None if saved["ray_tmp"] is None else Path(saved["ray_tmp"]))
    return _done[name]


def _run_shared(name: str, folder: Path) -> Sweep:
    spec = SHARED[name]
    uri = f"sqlite:///{folder}/m.db"
    ray_tmp = Path(tempfile.mkdtemp(prefix="rs-", dir="/tmp")) if spec.get("ray_tmp") else None
    procs = []
    for study, args in spec["runs"]:
        args = [a.format(folder=folder) for a in args]
        proc = subprocess.run(
            [sys.executable, *spec.get("python", ()), str(ROOT / "sweeps" / f"{study}.py"),
             *args, "--tracking-uri", uri, "--storage-path", str(folder / "ray")],
            capture_output=True, text=True, timeout=600, cwd=folder,
            env={**os.environ, "PYTHONPATH": str(ROOT),
                 **({"RAY_TMPDIR": str(ray_tmp)} if ray_tmp else {})})
        assert proc.returncode == 0, f"shared sweep {name}: {proc.stderr[-3000:]}"
        procs.append(proc)
    return Sweep(folder, uri, spec["experiment"], tuple(procs), ray_tmp)


def remove_shared() -> None:
    """Delete the shared sweeps' folders (the end of the test session; under pytest-xdist the
    controller does, once every worker has ended: ``remove_run_wide``)."""
    if os.environ.get(SHARED_DIR) is None:
        for sweep in _done.values():
            shutil.rmtree(sweep.folder, ignore_errors=True)
            if sweep.ray_tmp is not None:
                shutil.rmtree(sweep.ray_tmp, ignore_errors=True)
    _done.clear()


def remove_run_wide(run_wide: Path) -> None:
    """Delete the run's shared sweeps under pytest-xdist, each one's Ray folder included."""
    for record in run_wide.glob("*/sweep.json"):
        ray_tmp = json.loads(record.read_text())["ray_tmp"]
        if ray_tmp is not None:
            shutil.rmtree(ray_tmp, ignore_errors=True)
    shutil.rmtree(run_wide, ignore_errors=True)


def sweep_runs(uri: str, experiment: str = "rnn-sweeps", search: str | None = None):
    """(client, the one parent run, its child runs) of the sweep in a store (of ``search``,
    where an experiment holds sweeps of several searches)."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri)
    exp = client.get_experiment_by_name(experiment)
    runs = client.search_runs([exp.experiment_id])
    parent, = [r for r in runs if r.data.tags.get("sweep") == "parent"
               and (search is None or r.data.params.get("search") == search)]
    return client, parent, [r for r in runs
                            if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]


# what Ray adds to a trial's results: not the trial's metrics
RAY_KEYS = {"epoch", "training_iteration", "timestamp", "time_this_iter_s", "time_total_s",
            "pid", "time_since_restore", "iterations_since_restore", "done", "date",
            "trial_id", "hostname", "node_ip", "config", "checkpoint_dir_name",
            "should_checkpoint"}


def lost_metrics(client, children, results) -> tuple[int, int]:
    """(metric values the trials reported to Ray, those of them MLflow lacks): every epoch's
    every number in each trial's result.json (``results``: each file's rows), against its
    child run's history."""
    by_trial = {c.data.tags["ray_trial_id"]: c.info.run_id for c in children}
    reported = lost = 0
    for rows in results:
        run_id = by_trial[rows[0]["trial_id"]]
        history: dict[str, set] = {}
        for row in rows:
            for key, value in row.items():
                if key in RAY_KEYS or not isinstance(value, int | float) or isinstance(
                        value, bool):
                    continue
                if key not in history:
                    history[key] = {m.step for m in client.get_metric_history(run_id, key)}
                reported += 1
                lost += row["epoch"] not in history[key]
    return reported, lost


def node_of(client, experiment: str, trial: str) -> str:
    """The Ray node a trial last reported from (its child run's tag, written with the epoch,
    which reaches MLflow a moment after the driver prints it)."""
    exp = client.get_experiment_by_name(experiment)
    for _ in range(100):
        runs = client.search_runs([exp.experiment_id], f"attributes.run_name = '{trial}'")
        if runs and "ray_node_id" in runs[0].data.tags:
            return runs[0].data.tags["ray_node_id"]
        time.sleep(0.1)
    raise AssertionError(f"no ray_node_id on {trial}'s run")


def printed_report(stdout: str) -> Path:
    """The report page a study printed (``report: /path/report.html``)."""
    lines = [ln for ln in stdout.splitlines() if ln.startswith("report: ")]
    assert len(lines) == 1, stdout[-3000:]
    return Path(lines[0].removeprefix("report: ").strip())


def start_study(study: str, *args: str, own: str, cwd: Path, env: dict | None = None,
                base_env: dict | None = None, **popen) -> subprocess.Popen:
    """``python sweeps/<study>.py ARGS`` started in the background (for a test that signals or
    kills it); ``own``, ``env`` and ``base_env`` as for ``run_study``, without PNGs."""
    assert own.strip(), "say why the test needs a sweep of its own"
    base = os.environ if base_env is None else base_env
    return subprocess.Popen([sys.executable, str(ROOT / "sweeps" / f"{study}.py"), *args,
                             *NO_PNG],
                            cwd=cwd, env={**base, "PYTHONPATH": str(ROOT), **(env or {})},
                            **popen)


def interrupt_study(study: str, *args: str, own: str, cwd: Path, when: str = ": epoch 1/",
                    sig: int = 2, nth: int = 1) -> tuple[int, str, str]:
    """Start ``python sweeps/<study>.py ARGS``, send ``sig`` (SIGINT) once the ``nth`` line
    containing ``when`` is printed, and wait: (exit code, stdout, stderr)."""
    proc = start_study(study, *args, own=own, cwd=cwd, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True)
    seen = []
    for line in proc.stdout:
        seen.append(line)
        nth -= when in line
        if nth == 0:
            proc.send_signal(sig)
            break
    out, err = proc.communicate(timeout=180)
    return proc.returncode, "".join(seen) + out, err


# A sweep to kill mid-way and resume: 4 trials, ASHA with rungs at epochs 1 and 2 of 4
KILL_ARGS = ("--smoke-test", "--layers", "1", "--hidden", "16,32", "--embedding", "16,32",
             "--train-subset", "2000", "--max-epochs", "4", "--reduction-factor", "2")


def child_statuses(db: Path) -> list[tuple[str, str]]:
    """(run status, trial_status tag) of child runs, read straight from SQLite."""
    if not db.exists():
        return []
    try:
        with sqlite3.connect(db, timeout=1) as con:
            return con.execute(
                "SELECT r.status, t.value FROM runs r JOIN tags t ON t.run_uuid = r.run_uuid "
                "AND t.key = 'trial_status' WHERE r.run_uuid IN (SELECT run_uuid FROM tags "
                "WHERE key = 'mlflow.parentRunId')").fetchall()
    except sqlite3.OperationalError:
        return []


def epochs_logged(db: Path) -> int:
    try:
        with sqlite3.connect(db, timeout=1) as con:
            return con.execute("SELECT COUNT(*) FROM metrics WHERE key = 'val_acc'").fetchone()[0]
    except sqlite3.OperationalError:
        return 0


def kill_mid_sweep(*args: str, own: str, cwd: Path, db: Path, env: dict | None = None) -> None:
    """Start compound scaling with ``KILL_ARGS`` and ``args`` (its MLflow store ``db``), and
    SIGKILL the driver and everything it started once three epochs are in the store; asserts
    that some trials had not ended."""
    driver = start_study("compound_scaling", *KILL_ARGS, *args, own=own, cwd=cwd, env=env,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         start_new_session=True)
    deadline = time.time() + 240
    while epochs_logged(db) < 3 and time.time() < deadline and driver.poll() is None:
        time.sleep(0.2)
    os.killpg(driver.pid, signal.SIGKILL)
    driver.wait()
    before = child_statuses(db)
    assert before and sum(s != "running" for _, s in before) < 4, "killed too late to test"


def check_resumed(db: Path, asha: dict, epochs: list[list[int]], state: dict) -> None:
    """What a ``kill_mid_sweep`` sweep holds once resumed: one child run per trial, each
    ended, each epoch logged once; one parent, resumed once; no finished epoch ran twice
    (``epochs``: the reported epochs in each result.json Ray's storage holds: the driver
    writes them and uploads them every few seconds, so a trial that reported nothing after
    the restart may have none); ASHA's rungs (``asha``) kept across the restart; the sweep's
    state (``state``) finished."""
    from mlflow.tracking import MlflowClient

    after = child_statuses(db)
    assert len(after) == 4  # no duplicate child runs
    assert all(s in {"finished", "stopped_early"} for _, s in after)
    client = MlflowClient(f"sqlite:///{db}")
    exp = client.get_experiment_by_name("rnn-sweeps")
    parents = client.search_runs([exp.experiment_id], "tags.sweep = 'parent'")
    assert len(parents) == 1 and parents[0].data.tags["resumed"] == "1"
    assert parents[0].info.status == "FINISHED"
    for r in client.search_runs([exp.experiment_id], "tags.sweep != 'parent'"):
        steps = [m.step for m in client.get_metric_history(r.info.run_id, "val_acc")]
        assert steps == list(range(1, len(steps) + 1))  # each epoch logged once
    assert 1 <= len(epochs) <= 4
    for reported in epochs:
        assert reported == sorted(set(reported)), epochs
    assert len(asha["rungs"]["1"]) == 4  # every trial's epoch-1 result kept across the restart
    assert not asha["waiting"]  # every trial paused at a rung went on or stopped
    # 4 trials, rf 2: 2 go past epoch 1 and 1 past epoch 2, however the restart fell
    assert [len(asha["promoted"][m]) for m in ("1", "2")] == [2, 1]
    # one trial trains to the last epoch by promotion; another may get there speculatively,
    # in a slot left free while its rival had not reached epoch 2, and still be dropped
    # then: it trained every epoch, so it is finished too
    went_on = {tid for event, m, tid in asha["log"] if event == "speculate" and m == 2}
    with sqlite3.connect(db) as con:
        finished = {tid for (tid,) in con.execute(
            "SELECT i.value FROM tags i JOIN tags t ON t.run_uuid = i.run_uuid "
            "AND t.key = 'trial_status' WHERE i.key = 'ray_trial_id' AND t.value = 'finished'")}
    assert set(asha["promoted"]["2"]) <= finished <= set(asha["promoted"]["2"]) | went_on
    assert state["status"] == "finished"
