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


def test_a_grid_axis_beyond_the_name_keys_is_in_the_run_names():
    """Two grid trials that differ only in an axis the task's names leave out (the speech
    study's --feature-norm) get two names; one-value axes and named keys add nothing."""
    from rnn_core.tasks import get_task
    from rnn_core.tuning._spec import SweepSpec
    from rnn_core.tuning._sweep_setup import _name_extra
    from rnn_core.tuning._tracking import trial_name

    space = {"cell": ["gru", "lstm"], "bidirectional": [True], "dataset": ["digits"],
             "feature_norm": ["global", "utterance"]}
    spec = SweepSpec(study="speech_commands", task="audio", param_space=space,
                     base_config={}, max_epochs=1)
    extra = _name_extra(spec, get_task("audio"))
    assert extra == ("feature_norm",)
    base = {"task": "audio", "num_layers": 3, "hidden_size": 32, "bidirectional": True}
    names = {trial_name({**base, "cell": "gru", "feature_norm": v}, extra)
             for v in ("global", "utterance")}
    assert names == {"gru-L3-H32-bi-global", "gru-L3-H32-bi-utterance"}
