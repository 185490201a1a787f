"""Commands measured as whole processes: wall time and the peak memory of the process tree
(read from /proc: Linux; psutil is not a dependency), the sweep command the figures run, and
the memory figure over those sweeps."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

from bench.figures.common import ROOT, figure

__all__ = ["memory_figure", "run_tree", "sweep_cmd", "sweep_seconds", "tree_memory"]


def _tree_pids(root: int) -> set[int]:
    """``root`` and all its descendants."""
    parent: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
                parent[int(entry)] = int(stat[stat.rindex(")") + 2:].split()[1])
            except (OSError, ValueError, IndexError):
                pass
    tree, frontier = {root}, [root]
    while frontier:
        kids = [p for p, pp in parent.items() if pp in frontier and p not in tree]
        tree.update(kids)
        frontier = kids
    return tree


def tree_memory(root: int) -> tuple[int, int, int]:
    """(summed RSS, summed PSS, process count) of ``root`` and its descendants, in bytes, from
    one read of each process's ``smaps_rollup`` (PSS splits shared pages between their users;
    RSS counts them once per process)."""
    rss = pss = n = 0
    for pid in _tree_pids(root):
        try:
            fields = dict(line.split(":", 1) for line in
                          Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:])
            rss += int(fields["Rss"].split()[0]) * 1024
            pss += int(fields["Pss"].split()[0]) * 1024
            n += 1
        except (OSError, ValueError, KeyError):
            pass
    return rss, pss, n


def run_tree(cmd: list[str], env: dict | None = None, timeout: float = 900) -> dict:
    """Run ``cmd``; wall time, output, and the peak summed RSS and PSS of its process tree
    (0.5 s samples)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    peak = {"rss": 0, "procs": 0, "pss": 0}
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            rss, pss, n = tree_memory(proc.pid)
            if rss > peak["rss"]:
                peak.update(rss=rss, procs=n)
            peak["pss"] = max(peak["pss"], pss)
            done.wait(0.5)

    th = threading.Thread(target=sample, daemon=True)
    th.start()
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
    done.set()
    th.join()
    return {"wall": time.perf_counter() - t0, "rc": proc.returncode, "out": out,
            "peak_rss": peak["rss"], "peak_procs": peak["procs"], "peak_pss": peak["pss"]}


def sweep_cmd(tmp: Path, tag: str, *extra: str) -> list[str]:
    """The compound-scaling sweep, its MLflow store, Ray folder and report under ``tmp``."""
    return [sys.executable, "sweeps/compound_scaling.py", "--tracking-uri",
            f"sqlite:///{tmp / tag}.db", "--storage-path", str(tmp / f"ray-{tag}"),
            "--report-dir", str(tmp / f"report-{tag}"), *extra]


def sweep_seconds(out: str) -> float | None:
    """The seconds a sweep's output says it took (``42 s``, ``1 min 5 s``)."""
    m = re.search(r"sweep finished in (?:(\d+) min )?(\d+) s", out)
    return 60 * float(m.group(1) or 0) + float(m.group(2)) if m else None


def memory_figure(sweeps: list[dict], which: str) -> dict:
    """Peak memory over the sweeps of this run: summed PSS (the goal) and summed RSS."""
    peak = max(sweeps, key=lambda r: r["peak_pss"])
    gib, rss = peak["peak_pss"] / 2**30, max(r["peak_rss"] for r in sweeps) / 2**30
    return figure("sweep_peak_memory", round(gib, 3), "GiB resident in all (peak summed PSS)",
                  "< 4 GiB", bool(gib < 4),
                  f"peak of the summed PSS (shared pages split between the processes that map "
                  f"them) of the sweep subprocess and all its descendants (Ray GCS/raylet/API "
                  f"server/workers, MLflow in the driver, 2 concurrent trials), sampled every "
                  f"0.5 s from /proc over {len(sweeps)} sweeps ({which}); {peak['peak_procs']} "
                  f"processes. Summed RSS (shared pages once per process: an upper bound) "
                  f"peaked at {rss:.2f} GiB", peak_rss_gib=rss)
