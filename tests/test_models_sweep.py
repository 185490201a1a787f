"""The smoke sweep's winners as MLflow models: registered, loaded in a fresh process with an
empty data cache and no Ray, and predicting on raw reviews as the trial itself does."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests._serving import trial_probabilities
from tests._sweeps import ROOT, shared_sweep, sweep_runs

REVIEWS = [
    "What a wonderful, moving film.<br /><br />The acting was superb and I loved the ending.",
    "Dull, predictable and far too long. The plot made no sense at all.",
    # longer than the training truncation (256 words once stop words are left out)
    "An honest, funny, sad, brilliant story about growing up. " * 60,
]
LOAD = """
import json, sys, time
import mlflow.pyfunc, pandas as pd
t0 = time.perf_counter()
model = mlflow.pyfunc.load_model(sys.argv[1])
t1 = time.perf_counter()
out = model.predict(pd.DataFrame({"review": json.loads(sys.argv[2])}))
t2 = time.perf_counter()
odd = model.predict(pd.DataFrame({"review": ["", None, 42, ["a list"]]}))
print(json.dumps({"probs": out[["p_negative", "p_positive"]].values.tolist(),
                  "notes": list(out["note"]) + list(odd["note"]), "odd": list(odd["label"]),
                  "ray": "ray" in sys.modules, "load_s": t1 - t0, "predict_s": t2 - t1}))
"""


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    """The shared smoke sweep, and a folder of this module's own for what the tests write."""
    shared = shared_sweep("compound_smoke")
    return tmp_path_factory.mktemp("models"), shared.uri, shared.proc


def _fresh_env(tmp, uri: str) -> dict:
    """No checkout on the path (the model brings its code), an empty data cache."""
    (tmp / "empty-cache").mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return {**env, "MLFLOW_TRACKING_URI": uri, "RNN_SWEEPS_DATA": str(tmp / "empty-cache")}


@pytest.mark.slow
def test_the_validation_pick_is_registered_under_the_study(sweep):
    tmp, uri, proc = sweep
    client, parent, children = sweep_runs(uri)
    version = client.get_model_version("compound_scaling-smoke", "1")
    best = max(
        children, key=lambda r: (r.data.metrics["best_val_acc"], -r.data.metrics["n_params"])
    )
    assert version.run_id == best.info.run_id
    assert version.tags["sweep"] == parent.info.run_id
    assert float(version.tags["best_val_acc"]) == best.data.metrics["best_val_acc"]
    assert parent.data.tags["registered_model"] == "compound_scaling-smoke/1"
    models = client.search_logged_models(
        [parent.info.experiment_id], filter_string=f"tags.sweep = '{parent.info.run_id}'"
    )
    assert [m.tags["role"] for m in models].count("validation_pick") == 1
    assert "registered model compound_scaling-smoke version 1: " in proc.stdout
    assert "(alias champion)" in proc.stdout
    usage = subprocess.run(
        [sys.executable, "-m", "reports", "--models", "--tracking-uri", uri],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert usage.returncode == 0, usage.stderr
    assert (
        "mlflow models predict -m models:/compound_scaling-smoke@champion -i reviews.csv -t csv "
        "--env-manager local" in usage.stdout
    )


@pytest.mark.slow
def test_registered_model_predicts_as_the_trial_in_a_fresh_process(sweep, imdb):
    import torch
    from mlflow.tracking import MlflowClient

    tmp, uri, _ = sweep
    proc = subprocess.run(
        [sys.executable, "-c", LOAD, "models:/compound_scaling-smoke@champion",
         json.dumps(REVIEWS)],
        capture_output=True,
        text=True,
        cwd=tmp,
        env=_fresh_env(tmp, uri),
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    assert not got["ray"] and not any((tmp / "empty-cache").iterdir())
    version = MlflowClient(uri).get_model_version("compound_scaling-smoke", "1")
    path = MlflowClient(uri).download_artifacts(version.run_id, "checkpoint/best.pt", str(tmp))
    ckpt = torch.load(path, weights_only=True)
    expected = trial_probabilities(ckpt, imdb.itos, REVIEWS, imdb.stats["options"]["max_length"])
    np.testing.assert_allclose(np.array(got["probs"]), expected, rtol=0, atol=1e-6)
    assert got["notes"][:2] == ["", ""]
    assert got["notes"][2].startswith("row 2: read the first 256 of its ")
    assert got["notes"][3:] == [
        "row 0: the review is empty",
        "row 1: the review is empty (missing)",
        "row 2: expected a review's text, got int '42'",
        "row 3: expected a review's text, got list \"['a list']\"",
    ]
    assert got["odd"] == [None] * 4


@pytest.mark.slow
def test_mlflow_models_predict_on_a_csv_of_raw_reviews(sweep):
    tmp, uri, _ = sweep
    csv = tmp / "reviews.csv"
    csv.write_text(
        "review,sentiment\n"
        f'"{REVIEWS[0]}",positive\n"{REVIEWS[2]}",positive\n,negative\n'
        "12345,negative\n"
    )
    out = tmp / "predictions.json"
    proc = subprocess.run(
        [
            str(Path(sys.executable).with_name("mlflow")),
            "models",
            "predict",
            "-m",
            "models:/compound_scaling-smoke@champion",
            "-i",
            str(csv),
            "-t",
            "csv",
            "-o",
            str(out),
            "--env-manager",
            "local",
        ],
        capture_output=True,
        text=True,
        cwd=tmp,
        env=_fresh_env(tmp, uri),
        timeout=300,
    )
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    rows = json.loads(out.read_text())["predictions"]
    # MLflow writes a missing label as NaN
    assert [isinstance(r["label"], str) for r in rows] == [True, True, False, True]
    assert rows[1]["note"].startswith("row 1: read the first 256 of its ")
    assert rows[2]["note"] == "row 2: the review is empty (missing)"
    assert rows[3]["note"] == "row 3: none of its words is in the model's vocabulary"
