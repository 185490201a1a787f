"""The same sweep with its storage in a local folder and in an S3 bucket, side by side.

    python bench/storage.py --repeats 2 --json storage.json     # ~5 min on 2 CPU cores

Runs the compound-scaling smoke sweep (4 trials, ASHA, 2 epochs) as a subprocess, alternately
with ``--storage-path`` a local folder and ``s3://rnn-sweeps/bench-N`` (checkpoints, Ray's
experiment state and the sweep's own state through pyarrow's S3 filesystem), each with its own
MLflow store, and prints each run's process wall time and the time the sweep itself reports.
The S3 server is the one the environment names (``AWS_ENDPOINT_URL`` and its credentials), else
a SeaweedFS on 127.0.0.1 started as the tests start it (``tests/_servers.py``). The record
names the commit and the CPU's vector flags, as docs/performance.md's figures do.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.figures.processes import run_tree, sweep_cmd, sweep_seconds  # noqa: E402


def cpu_flags() -> list[str]:
    """The CPU's AVX2, AVX-512 and AMX flags (/proc/cpuinfo)."""
    text = Path("/proc/cpuinfo").read_text()
    return sorted(set(re.findall(r"\b(avx2|avx512\w*|amx\w*)\b", text)))


def commit() -> str:
    out = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                         capture_output=True, text=True)
    return out.stdout.strip() or "unknown"


def _s3_env(tmp: Path):
    """(the environment that reaches an S3 server, the server this started or None)."""
    if os.environ.get("AWS_ENDPOINT_URL"):
        return dict(os.environ), None
    from tests._servers import start_s3_server

    server = start_s3_server(tmp / "seaweedfs")
    return {**os.environ, **server.env}, server


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeats", type=int, default=2, help="runs of each storage (default 2)")
    p.add_argument("--json", help="write the runs here")
    args = p.parse_args(argv)
    runs = []
    with tempfile.TemporaryDirectory(prefix="bench-storage-") as name:
        tmp = Path(name)
        (tmp / "seaweedfs").mkdir()
        env, server = _s3_env(tmp)
        try:
            for i in range(args.repeats):
                for kind in ("local", "s3"):
                    tag = f"{kind}-{i}"
                    cmd = sweep_cmd(tmp, tag, "--smoke-test")
                    if kind == "s3":
                        cmd[cmd.index("--storage-path") + 1] = f"s3://rnn-sweeps/bench-{i}"
                    r = run_tree(cmd, env=env, timeout=900)
                    if r["rc"] != 0:
                        print(r["out"][-3000:], file=sys.stderr)
                        return 1
                    # the machine's load over the last minute: what else shared the cores
                    runs.append({"storage": kind, "wall_s": round(r["wall"], 1),
                                 "sweep_s": sweep_seconds(r["out"]),
                                 "load_1min": round(os.getloadavg()[0], 1)})
                    print(f"{tag:8} wall {r['wall']:6.1f} s   sweep {runs[-1]['sweep_s']} s   "
                          f"load {runs[-1]['load_1min']}", flush=True)
        finally:
            if server is not None:
                server.stop()
    record = {"commit": commit(), "cpu_flags": cpu_flags(), "cores": os.cpu_count(),
              "runs": runs}
    print(json.dumps({k: v for k, v in record.items() if k != "runs"}))
    if args.json:
        Path(args.json).write_text(json.dumps(record, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
