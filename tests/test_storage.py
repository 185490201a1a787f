"""A sweep whose storage is S3, on a real server (SeaweedFS, tests/_servers.py): everything it
keeps lands in the bucket and is read back from there with pyarrow; a driver killed mid-sweep
is resumed from the URIs alone, in an empty working folder, as on another machine."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import pytest
from pyarrow import fs

from tests._servers import BUCKET
from tests._sweeps import check_resumed, kill_mid_sweep, run_study, sweep_runs

pytestmark = pytest.mark.slow


def _objects(s3, prefix: str) -> list[str]:
    return [i.path for i in s3.get_file_info(fs.FileSelector(prefix, recursive=True))
            if i.type == fs.FileType.File]


def _read(s3, path: str) -> bytes:
    with s3.open_input_stream(path) as f:
        return f.read()


def _trial_folders(s3, experiment: str) -> dict[str, str]:
    """Ray trial id -> its folder in the bucket (``trial_fn_<id>_<n>_<config>_<date>``)."""
    out = {}
    for info in s3.get_file_info(fs.FileSelector(experiment)):
        name = info.path.rsplit("/", 1)[1]
        if info.type == fs.FileType.Directory and name.startswith("trial_fn_"):
            out["_".join(name.split("_")[2:4])] = info.path
    return out


def test_a_sweep_on_s3_keeps_everything_in_the_bucket(s3_server, tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    uri = f"sqlite:///{tmp_path}/m.db"
    prefix = f"{BUCKET}/round-trip"
    proc = run_study("compound_scaling", "--smoke-test", "--tracking-uri", uri,
                     "--storage-path", f"s3://{prefix}", "--keep-checkpoints", cwd=work,
                     env=s3_server.env, timeout=600, own="its storage is an S3 bucket")
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    assert sorted(os.listdir(work)) == ["reports"]  # no Ray folder on this machine
    client, parent, children = sweep_runs(uri)
    name = f"compound_scaling-{parent.info.run_id[:8]}"
    assert parent.data.tags["ray_experiment_path"] == f"s3://{prefix}/{name}"
    s3 = s3_server.filesystem()
    objects = _objects(s3, prefix)
    # the sweep's own state, beside Ray's experiment folder
    state = json.loads(_read(s3, f"{prefix}/.rnn_sweeps/{name}/sweep.json"))
    assert state["status"] == "finished" and state["parent_run_id"] == parent.info.run_id
    asha = json.loads(_read(s3, f"{prefix}/.rnn_sweeps/{name}/asha_rungs.json"))
    assert len(asha["rungs"]["1"]) == 4
    assert any(p.startswith(f"{prefix}/{name}/experiment_state-") for p in objects)
    # each child run's checkpoint artifacts are its trial's last checkpoint in the bucket
    trials = _trial_folders(s3, f"{prefix}/{name}")
    assert sorted(trials) == sorted(c.data.tags["ray_trial_id"] for c in children)
    with tempfile.TemporaryDirectory() as tmp:
        for child in children:
            status = child.data.tags["trial_status"]
            assert status in {"finished", "stopped_early"}
            folder = trials[child.data.tags["ray_trial_id"]]
            last = max(p.rsplit("/", 1)[0] for p in objects
                       if p.startswith(f"{folder}/checkpoint_") and p.endswith("/best.pt"))
            logged = {a.path for a in client.list_artifacts(child.info.run_id, "checkpoint")}
            names = {"best.pt", "config.json"} | ({"test_outputs.npz"}
                                                  if status == "finished" else set())
            assert logged == {f"checkpoint/{n}" for n in names}
            for n in names:
                local = client.download_artifacts(child.info.run_id, f"checkpoint/{n}",
                                                  f"{tmp}/{child.info.run_id}")
                assert Path(local).read_bytes() == _read(s3, f"{last}/{n}"), (folder, n)


def test_a_driver_killed_mid_sweep_resumes_from_the_uris_alone(s3_server, tmp_path):
    db = tmp_path / "m.db"
    storage = f"s3://{BUCKET}/killed"
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    second.mkdir()
    own = "kills the sweep and resumes it from another folder"
    kill_mid_sweep("--tracking-uri", f"sqlite:///{db}", "--storage-path", storage, own=own,
                   cwd=first, db=db, env=s3_server.env)
    # an empty folder and the bucket's URI: the store and every option come from the bucket
    proc = run_study("compound_scaling", "--storage-path", storage, "--resume", cwd=second,
                     env=s3_server.env, timeout=300, own=own)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    s3 = s3_server.filesystem()
    prefix = storage.removeprefix("s3://")
    side, = [i.path for i in s3.get_file_info(fs.FileSelector(f"{prefix}/.rnn_sweeps"))]
    experiment = f"{prefix}/{side.rsplit('/', 1)[1]}"
    results = [p for p in _objects(s3, experiment) if p.endswith("/result.json")]
    epochs = [[json.loads(line)["epoch"] for line in _read(s3, p).splitlines()] for p in results]
    check_resumed(db, json.loads(_read(s3, f"{side}/asha_rungs.json")), epochs,
                  json.loads(_read(s3, f"{side}/sweep.json")))
    assert sorted(os.listdir(second)) == ["reports"]
    # the sweep removed its epoch checkpoints from the bucket once it finished
    assert not [p for p in _objects(s3, experiment) if "/checkpoint_" in p]
