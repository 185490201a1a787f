"""Servers the tests start for real on 127.0.0.1, one of each kind per test session, shared by
the tests that need them and stopped by their process ids at its end: PostgreSQL (Debian's
``postgresql``), and an MLflow tracking server on it that proxies the artifacts.

``conftest.py`` imports its session fixtures, so they are the same servers in every test
module. Without PostgreSQL's programs the tests that need it skip, or fail where
``RNN_SWEEPS_REQUIRE_POSTGRES=1`` (CI sets it; ``make system-deps`` installs the package).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

PG_ROOT = Path("/usr/lib/postgresql")
# what `make mlflow-ui` sets too: no job runner (~8 processes), no telemetry
MLFLOW_ENV = {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false", "MLFLOW_DISABLE_TELEMETRY": "true"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(probe, timeout: float, what: str) -> None:
    end = time.monotonic() + timeout
    while not probe():
        if time.monotonic() > end:
            raise AssertionError(f"{what} did not come up within {timeout:.0f} s")
        time.sleep(0.2)


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def pg_bin() -> Path | None:
    """The newest installed PostgreSQL's programs (Debian keeps them out of PATH)."""
    found = sorted(PG_ROOT.glob("*/bin/initdb"), key=lambda p: int(p.parts[-3]))
    return found[-1].parent if found else None


class Postgres:
    """A PostgreSQL cluster of its own: data and socket folders in a temporary folder, a free
    port on 127.0.0.1, trust authentication, durability off (a test's data is thrown away)."""

    def __init__(self, bin_dir: Path) -> None:
        self.bin = bin_dir
        # PostgreSQL refuses to run as root: as root, its programs run as Debian's postgres
        # user, in a folder that user may enter (pytest's own tmp folders are root's alone)
        self.root = os.geteuid() == 0
        self.folder = Path(tempfile.mkdtemp(prefix="pg-", dir="/tmp"))
        if self.root:
            shutil.chown(self.folder, "postgres")
        self.port = free_port()
        self.pid: int | None = None

    def _run(self, *cmd: str) -> None:
        prefix = ("runuser", "-u", "postgres", "--") if self.root else ()
        subprocess.run([*prefix, *cmd], check=True, capture_output=True, timeout=120)

    def start(self) -> Postgres:
        data = self.folder / "data"
        self._run(str(self.bin / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust",
                  "--no-sync", "-E", "UTF8")
        opts = (f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 "
                "-c fsync=off -c synchronous_commit=off -c full_page_writes=off")
        self._run(str(self.bin / "pg_ctl"), "-D", str(data), "-w", "-s", "-l",
                  str(self.folder / "log"), "-o", opts, "start")
        self.pid = int((data / "postmaster.pid").read_text().split()[0])
        return self

    def url(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def new_database(self, name: str) -> str:
        """An empty database ``name``; its URL."""
        import psycopg

        with psycopg.connect(host="127.0.0.1", port=self.port, user="postgres",
                             dbname="postgres", autocommit=True) as con:
            con.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        if self.pid is not None:
            os.kill(self.pid, signal.SIGINT)  # PostgreSQL's fast shutdown
            end = time.monotonic() + 30
            while not _gone(self.pid) and time.monotonic() < end:
                time.sleep(0.1)
            if not _gone(self.pid):
                os.kill(self.pid, signal.SIGKILL)
        shutil.rmtree(self.folder, ignore_errors=True)


class MlflowServer:
    """``mlflow server`` on 127.0.0.1 with one worker, its runs in ``backend`` and the
    artifacts it proxies (``--serve-artifacts``) in ``artifacts`` (a folder, or any
    destination MLflow takes, such as s3://bucket/prefix). ``pause``/``cont`` freeze and thaw
    it (SIGSTOP, SIGCONT: it accepts connections and answers none), ``stop``/``start`` end it
    and start it again on the same port."""

    def __init__(self, backend: str, artifacts: str, log: Path) -> None:
        self.backend, self.artifacts, self.log = backend, artifacts, log
        self.port = free_port()
        self.uri = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None

    def start(self) -> MlflowServer:
        mlflow = Path(sys.executable).with_name("mlflow")
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [str(mlflow), "server", "--backend-store-uri", self.backend, "--serve-artifacts",
                 "--artifacts-destination", self.artifacts, "--host", "127.0.0.1",
                 "--port", str(self.port), "--workers", "1"],
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                env={**os.environ, **MLFLOW_ENV})
        _wait(self._healthy, 180, f"mlflow server at {self.uri}")
        return self

    def _healthy(self) -> bool:
        if self.proc.poll() is not None:
            tail = self.log.read_text(errors="replace")[-3000:]
            raise AssertionError(f"mlflow server exited with {self.proc.returncode}:\n{tail}")
        try:
            with urllib.request.urlopen(f"{self.uri}/health", timeout=2) as resp:
                return resp.status == 200
        except OSError:
            return False

    def _signal(self, sig: int) -> None:
        os.killpg(self.proc.pid, sig)  # the CLI and its uvicorn worker

    def pause(self) -> None:
        self._signal(signal.SIGSTOP)

    def cont(self) -> None:
        self._signal(signal.SIGCONT)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.cont()  # a frozen server takes no SIGTERM
        for sig, grace in ((signal.SIGTERM, 30), (signal.SIGKILL, 10)):
            try:
                self._signal(sig)
                self.proc.wait(timeout=grace)
                break
            except ProcessLookupError:
                break
            except subprocess.TimeoutExpired:
                continue


def require_postgres() -> Path:
    """PostgreSQL's programs, or skip (fail where RNN_SWEEPS_REQUIRE_POSTGRES=1)."""
    found = pg_bin()
    if found is not None:
        return found
    why = f"PostgreSQL is not installed (no {PG_ROOT}/*/bin/initdb; apt-get install postgresql)"
    if os.environ.get("RNN_SWEEPS_REQUIRE_POSTGRES") == "1":
        pytest.fail(f"RNN_SWEEPS_REQUIRE_POSTGRES=1 but {why}")
    pytest.skip(why)


@pytest.fixture(scope="session")
def postgres():
    """The session's PostgreSQL."""
    server = Postgres(require_postgres())
    try:
        yield server.start()
    finally:
        server.stop()


@pytest.fixture(scope="session")
def mlflow_server(postgres, tmp_path_factory):
    """The session's MLflow tracking server: runs in PostgreSQL, artifacts proxied to a local
    folder."""
    tmp = tmp_path_factory.mktemp("mlflow-server")
    server = MlflowServer(postgres.new_database("mlflow"), str(tmp / "artifacts"),
                          tmp / "server.log")
    try:
        yield server.start()
    finally:
        server.stop()
