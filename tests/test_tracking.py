"""A new SQLite store starts from a cached copy of MLflow's empty schema: it must be the store
MLflow itself would have built."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from mlflow.tracking import MlflowClient

from rnn_core.tuning import check_tracking


def _content(db: Path) -> tuple[list, list]:
    """Schema (each statement's lines sorted) and every row, creation/update times left out."""
    con = sqlite3.connect(db)
    try:
        # lines sorted: MLflow's own builds list a table's CHECK constraints in varying order
        master = con.execute("SELECT type, name, sql FROM sqlite_master").fetchall()
        ddl = sorted((kind, name, sorted((sql or "").replace(", \n", "\n").splitlines()))
                     for kind, name, sql in master)
        rows = []
        for (table,) in con.execute("SELECT name FROM sqlite_master WHERE type = 'table' "
                                    "AND name != 'sqlite_sequence' ORDER BY name"):
            cur = con.execute(f"SELECT * FROM '{table}'")
            cols = [c[0] for c in cur.description]
            rows += sorted((table, tuple((c, v) for c, v in zip(cols, r, strict=True)
                                        if "time" not in c)) for r in cur)
        return ddl, rows
    finally:
        con.close()


def test_new_sqlite_store_is_the_one_mlflow_builds(tmp_path, monkeypatch):
    monkeypatch.setenv("RNN_SWEEPS_DATA", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)  # MLflow's Default experiment points at ./mlruns
    built = tmp_path / "built.db"
    client = MlflowClient(f"sqlite:///{built}")
    client.create_experiment("rnn-sweeps", artifact_location=(tmp_path / "mlartifacts").as_uri())
    for name in ("first.db", "second.db"):  # the first makes the cached schema, both copy it
        _, exp_id = check_tracking(f"sqlite:///{tmp_path / name}", "rnn-sweeps")
        assert exp_id == client.get_experiment_by_name("rnn-sweeps").experiment_id
        assert _content(tmp_path / name) == _content(built)
    assert len(list((tmp_path / "cache" / "mlflow-schema").glob("mlflow-*.db"))) == 1
    # an existing store is opened as it is
    MlflowClient(f"sqlite:///{tmp_path / 'first.db'}").create_experiment("other")
    check_tracking(f"sqlite:///{tmp_path / 'first.db'}", "rnn-sweeps")
    assert MlflowClient(f"sqlite:///{tmp_path / 'first.db'}").get_experiment_by_name("other")
