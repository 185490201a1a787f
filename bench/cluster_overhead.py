"""The smoke sweep on one local node with local files, and on two nodes that share no disk
with S3 storage and an MLflow tracking server, side by side.

    python bench/cluster_overhead.py --repeats 2 --json overhead.json   # ~10 min on 2 cores

``local``: ``sweeps/compound_scaling.py --smoke-test`` as a user runs it on a laptop: a Ray
instance of its own (every CPU of the machine), ``--storage-path`` a folder, an SQLite MLflow
store. ``node``: the same, joining a one-node Ray cluster already up with the machine's CPUs
(``--address``): local files, without the start of Ray. ``cluster``: the same sweep joining a
two-node Ray cluster on this machine (one CPU a node, so every kind has the machine's CPUs)
whose worker node shares no disk with the head (tests/_cluster.py: a mount namespace of its
own; root only), ``--storage-path s3://...`` on SeaweedFS and ``--tracking-uri http://...``,
an MLflow server on PostgreSQL whose artifacts go to S3 (tests/_servers.py). The servers and
the clusters are started once, before the runs, and their start is not counted. The kinds
alternate; each run prints its process wall time, the time the sweep reports for its trials
("sweep finished in"), and the load average. The record names the commit and the CPU's
vector flags.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.figures.processes import sweep_cmd  # noqa: E402
from bench.storage import commit, cpu_flags, save_record, timed_sweep  # noqa: E402

SMOKE = ("--smoke-test", "--precision", "fp32")
KINDS = ("local", "node", "cluster")


def _servers(tmp: Path):
    """(S3 server, PostgreSQL, MLflow server with its artifacts in S3), started."""
    from tests._servers import BUCKET, MlflowServer, Postgres, pg_bin, start_s3_server

    (tmp / "seaweedfs").mkdir()
    s3 = start_s3_server(tmp / "seaweedfs")
    pg = Postgres(pg_bin()).start()
    mlflow = MlflowServer(pg.new_database("mlflow"), f"s3://{BUCKET}/mlartifacts",
                          tmp / "mlflow.log", env=s3.mlflow_env).start()
    return s3, pg, mlflow


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeats", type=int, default=2, help="runs of each kind (default 2)")
    p.add_argument("--json", help="write the runs here")
    args = p.parse_args(argv)
    from tests._cluster import end_cluster, private_mounts_missing, start_cluster
    from tests._servers import pg_bin

    missing = private_mounts_missing() or (None if pg_bin() else "PostgreSQL is not installed")
    if missing:
        print(f"bench/cluster_overhead.py: {missing}", file=sys.stderr)
        return 2
    runs = []
    with tempfile.TemporaryDirectory(prefix="bench-overhead-") as name:
        tmp = Path(name)
        s3, pg, mlflow = _servers(tmp)
        clusters = []
        try:
            clusters.append(start_cluster(head_only=os.cpu_count() or 1))
            clusters.append(start_cluster(env=s3.env, private=True))
            node, cluster = clusters
            print(f"servers and clusters up (the two nodes in {cluster.start_seconds:.0f} s)",
                  flush=True)
            for i in range(args.repeats):
                for kind in KINDS:
                    tag = f"{kind}-{i}"
                    if kind == "local":
                        cmd, env = sweep_cmd(tmp, tag, *SMOKE), None
                    elif kind == "node":
                        cmd = sweep_cmd(tmp, tag, *SMOKE, "--address", node.address)
                        env = node.env
                    else:
                        cmd = [sys.executable, "sweeps/compound_scaling.py", *SMOKE,
                               "--storage-path", f"s3://rnn-sweeps/bench-{i}", "--tracking-uri",
                               mlflow.uri, "--experiment-name", f"bench-{i}", "--address",
                               cluster.address, "--report-dir", str(tmp / f"report-{tag}")]
                        env = cluster.env
                    run = timed_sweep(cmd, env, tag, kind=kind)
                    if run is None:
                        return 1
                    runs.append(run)
        finally:
            for c in clusters:
                end_cluster(c)
            mlflow.stop()
            pg.stop()
            s3.stop()
    walls = {k: statistics.median(r["wall_s"] for r in runs if r["kind"] == k) for k in KINDS}
    save_record({"commit": commit(), "cpu_flags": cpu_flags(), "cores": os.cpu_count(),
                 "median_wall_s": walls,
                 "cluster_over_local": round(walls["cluster"] / walls["local"], 2),
                 "cluster_over_node": round(walls["cluster"] / walls["node"], 2),
                 "runs": runs}, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
