"""Running a study script as a user does, and reading its sweep back from MLflow."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_study(study: str, *args: str, timeout: int = 600, cwd: Path = ROOT,
              python: tuple[str, ...] = (), env: dict | None = None
              ) -> subprocess.CompletedProcess:
    """``python [PYTHON] sweeps/<study>.py ARGS`` from the checkout, run in ``cwd`` (where the
    default report folder goes) with ``env`` added; output captured."""
    return subprocess.run([sys.executable, *python, str(ROOT / "sweeps" / f"{study}.py"), *args],
                          capture_output=True, text=True, timeout=timeout, cwd=cwd,
                          env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})})


def sweep_runs(uri: str, experiment: str = "rnn-sweeps"):
    """(client, the one parent run, its child runs) of the sweep in a store."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri)
    exp = client.get_experiment_by_name(experiment)
    runs = client.search_runs([exp.experiment_id])
    parent, = [r for r in runs if r.data.tags.get("sweep") == "parent"]
    return client, parent, [r for r in runs
                            if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]


def printed_report(stdout: str) -> Path:
    """The report page a study printed (``report: /path/report.html``)."""
    lines = [ln for ln in stdout.splitlines() if ln.startswith("report: ")]
    assert len(lines) == 1, stdout[-3000:]
    return Path(lines[0].removeprefix("report: ").strip())


def interrupt_study(study: str, *args: str, cwd: Path, when: str = ": epoch 1/",
                    sig: int = 2) -> tuple[int, str, str]:
    """Start ``python sweeps/<study>.py ARGS``, send ``sig`` (SIGINT) once a line containing
    ``when`` is printed, and wait: (exit code, stdout, stderr)."""
    proc = subprocess.Popen([sys.executable, str(ROOT / "sweeps" / f"{study}.py"), *args],
                            cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    seen = []
    for line in proc.stdout:
        seen.append(line)
        if when in line:
            proc.send_signal(sig)
            break
    out, err = proc.communicate(timeout=180)
    return proc.returncode, "".join(seen) + out, err
