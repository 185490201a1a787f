"""A smoke sweep's fixed cost: the time and CPU it spends outside its trials, by process.

    python bench/fixed_cost.py --runs 3                      # this checkout's smoke sweep
    python bench/fixed_cost.py --runs 3 --checkout /tmp/base # ... alternating with another one

Each run is ``sweeps/compound_scaling.py --smoke-test --precision fp32`` from a checkout (its own
store, Ray results and report in a temporary folder; the data cache warm), timed from the
process start: ``start`` until the first trial is reported started, ``end`` from the sweep's
"sweep finished" line to the process's exit, and the CPU seconds of every process it started
(read from /proc every 0.1 s, by kind: the driver, Ray's own processes, the trials' workers,
the report's browser; this process is their subreaper, so the last reading of each is its
total as it exited).
Checkouts alternate run by run, so both see the same machine; the machine's load average is
printed with each run. Linux only.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HZ = os.sysconf("SC_CLK_TCK")
RAY_KINDS = ("gcs_server", "raylet", "dashboard/agent.py", "runtime_env/agent", "dashboard.py",
             "log_monitor.py", "monitor.py")


def _kind(comm: str, cmd: str) -> str:
    if comm.startswith("ray::"):
        # (a name is cut at 15 characters)
        return "ray agents" if comm.startswith(("ray::DashboardA", "ray::RuntimeEnv")) \
            else "workers (trials)"
    if "chrom" in comm or "chrom" in cmd.split(" ", 1)[0]:
        return "browser (report PNGs)"
    for name in RAY_KINDS:
        if name in cmd:
            return f"ray {name}"
    return "driver" if "sweeps/" in cmd else comm


def _sample(seen: dict) -> bool:
    """Read the CPU seconds of this process's descendants, by pid, into ``seen``; whether any
    of them is still running (not a zombie)."""
    parent, info = {}, {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            cmd = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode(
                errors="replace")
        except OSError:
            continue
        rest = stat[stat.rindex(")") + 2:].split()
        parent[int(entry)] = int(rest[1])
        info[int(entry)] = (stat[stat.index("(") + 1:stat.rindex(")")], cmd,
                            (int(rest[11]) + int(rest[12])) / HZ, rest[0])
    tree, frontier = set(), [os.getpid()]
    while frontier:
        kids = [p for p, pp in parent.items() if pp in frontier and p not in tree]
        tree.update(kids)
        frontier = kids
    for pid in tree:
        comm, cmd, cpu, _ = info[pid]
        # a worker's name changes with its task; an exited process has no command line
        seen[pid] = (_kind(comm, cmd) if cmd else seen.get(pid, ("?",))[0], cpu)
    return any(info[pid][3] != "Z" for pid in tree)


def one_run(checkout: Path) -> dict:
    """One smoke sweep from ``checkout``: phases (s), CPU by kind (s), total CPU (s)."""
    with tempfile.TemporaryDirectory(prefix="fixed-cost-") as tmp:
        cmd = [sys.executable, str(checkout / "sweeps" / "compound_scaling.py"), "--smoke-test",
               "--precision", "fp32", "--tracking-uri", f"sqlite:///{tmp}/m.db",
               "--storage-path", f"{tmp}/ray", "--report-dir", f"{tmp}/report"]
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=tmp, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True, env={**os.environ, "PYTHONPATH": str(checkout)})
        marks: dict[str, float] = {}
        reader = threading.Thread(target=_read_marks, args=(proc, t0, marks))
        reader.start()
        seen: dict = {}
        while proc.poll() is None:
            _sample(seen)
            time.sleep(0.1)
        wall = time.perf_counter() - t0
        reader.join()
        # the processes it left (Ray's die with the driver) are this one's: their last
        # reading, as zombies, is their whole CPU time
        deadline = time.monotonic() + 30
        while _sample(seen) and time.monotonic() < deadline:
            time.sleep(0.1)
        _reap()
    if proc.returncode != 0 or len(marks) != 2:
        raise SystemExit(f"{checkout}: the smoke sweep failed (exit {proc.returncode})")
    cpu: dict[str, float] = defaultdict(float)
    for kind, seconds in seen.values():
        cpu[kind] += seconds
    return {"wall_s": wall, "start_s": marks["first_trial"],
            "end_s": wall - marks["finished"],
            "fixed_s": marks["first_trial"] + wall - marks["finished"],
            "cpu_total_s": sum(cpu.values()), "cpu_s": dict(cpu), "load": os.getloadavg()[0]}


def _read_marks(proc: subprocess.Popen, t0: float, marks: dict) -> None:
    for line in proc.stdout:
        now = time.perf_counter() - t0
        if ": started" in line:
            marks.setdefault("first_trial", now)
        if line.startswith("sweep finished in"):
            marks["finished"] = now


def _reap() -> None:
    while True:
        try:
            if os.waitpid(-1, os.WNOHANG)[0] == 0:
                return
        except ChildProcessError:
            return


def _commit(checkout: Path) -> str:
    out = subprocess.run(["git", "-C", str(checkout), "rev-parse", "--short", "HEAD"],
                         capture_output=True, text=True)
    return out.stdout.strip() or "(not a git checkout)"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--runs", type=int, default=3, help="runs per checkout (default 3)")
    p.add_argument("--checkout", type=Path, action="append", default=[],
                   help="another checkout to run alternately with this one (repeatable)")
    p.add_argument("--json", type=Path, help="write every run here")
    args = p.parse_args()
    ctypes.CDLL(None).prctl(36, 1)  # PR_SET_CHILD_SUBREAPER: Ray's orphans are reaped here
    flags = sorted(set(re.findall(r"\b(avx2|avx512\w*|amx\w*)\b",
                                  Path("/proc/cpuinfo").read_text())))
    print(f"CPU flags: {' '.join(flags)}; {os.cpu_count()} CPUs")
    checkouts = [ROOT, *args.checkout]
    runs: dict[str, list[dict]] = {str(c): [] for c in checkouts}
    for i in range(args.runs):
        for c in checkouts:
            r = one_run(c)
            runs[str(c)].append(r)
            print(f"{c} ({_commit(c)}) run {i + 1}: wall {r['wall_s']:.1f} s, start "
                  f"{r['start_s']:.1f} s, end {r['end_s']:.1f} s, CPU {r['cpu_total_s']:.1f} s, "
                  f"load {r['load']:.1f}", flush=True)
    for c, rs in runs.items():
        print(f"\n{c} ({_commit(Path(c))}), medians of {len(rs)}:")
        for key in ("wall_s", "start_s", "end_s", "fixed_s", "cpu_total_s"):
            print(f"  {key:12s} {statistics.median(r[key] for r in rs):6.1f}")
        kinds = sorted({k for r in rs for k in r["cpu_s"]})
        for k in sorted(kinds, key=lambda k: -statistics.median(r["cpu_s"].get(k, 0) for r in rs)):
            print(f"  CPU {k:28s} {statistics.median(r['cpu_s'].get(k, 0) for r in rs):6.2f} s")
    if args.json:
        args.json.write_text(json.dumps(runs, indent=1))


if __name__ == "__main__":
    main()
