"""A trial's model on raw input: the predictor reads text as training encoded it, and a model
logged by ``rnn_core.tuning.log_models`` loads from the registry and predicts (no sweep; the
smoke sweep's end to end is tests/test_models_sweep.py)."""

from __future__ import annotations

import math
from importlib import metadata
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from rnn_core.data.text import PAD, UNK, EncodedCorpus, Split, TextOptions
from rnn_core.models import ModelConfig, SequenceClassifier
from rnn_core.tasks import SENTIMENT
from rnn_core.tasks._text_serve import TextPredictor
from tests._serving import trial_probabilities

WORDS = ["great", "film", "boring", "plot", "loved", "acting", "awful", "story"]
MAX_LENGTH = 6
LONG = "great film " * 20 + "awful awful"  # 42 words: read as training did, its first 6


def _corpus() -> EncodedCorpus:
    empty = Split(np.zeros(0, np.int32), np.zeros(1, np.int64), np.zeros(0, np.int64))
    opts = TextOptions(max_length=MAX_LENGTH)
    return EncodedCorpus(
        [PAD, UNK, *WORDS],
        {s: empty for s in ("train", "val", "test")},
        {"source": "test", "options": {"max_length": opts.max_length, "remove_stop_words": True}},
    )


def _checkpoint(vocab: int) -> dict:
    torch.manual_seed(0)
    cfg = ModelConfig(vocab_size=vocab, embedding_dim=8, hidden_size=8, num_layers=2)
    model = SequenceClassifier(cfg)
    return {
        "state_dict": model.state_dict(),
        "config": {"task": "sentiment"},
        "model_config": cfg.to_dict(),
    }


TEXTS = ["Great film.<br />I loved the acting!", LONG, "The plot was boring, the story awful."]


def test_predictor_reads_raw_text_as_training_encoded_it():
    corpus = _corpus()
    ckpt = _checkpoint(corpus.vocab_size)
    predictor = TextPredictor(SENTIMENT.serving.bundle(corpus), ckpt)
    rows = predictor.predict(TEXTS)
    expected = trial_probabilities(ckpt, corpus.itos, TEXTS, MAX_LENGTH)
    got = np.array([[r["p_negative"], r["p_positive"]] for r in rows])
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-6)
    assert [r["label"] for r in rows] == [["negative", "positive"][i] for i in expected.argmax(1)]
    assert rows[0]["note"] == "" and rows[0]["words"] == 4
    assert rows[1]["note"] == (
        "row 1: read the first 6 of its 42 words (stop words left out), as in training"
    )


@pytest.mark.parametrize(
    ("value", "note"),
    [
        ("", "row 0: the review is empty"),
        ("  <br /> ", "row 0: the review is empty"),
        (None, "row 0: the review is empty (missing)"),
        (42, "row 0: expected a review's text, got int '42'"),
        (b"great", "row 0: expected a review's text, got bytes \"b'great'\""),
        ("zzz qqq", "row 0: none of its words is in the model's vocabulary"),
        (
            "The! And?",
            "row 0: no word is left once stop words and punctuation are left out; "
            "predicted as an unknown word, as in training",
        ),
    ],
)
def test_unreadable_rows_get_one_sentence_and_the_rest_a_prediction(value, note):
    corpus = _corpus()
    predictor = TextPredictor(SENTIMENT.serving.bundle(corpus), _checkpoint(corpus.vocab_size))
    bad, good = predictor.predict([value, "great film"])
    assert bad["note"] == note
    predicted = not note.startswith(("row 0: the review", "row 0: expected"))
    assert (bad["label"] is not None) == predicted
    assert math.isnan(bad["probability"]) != predicted
    assert good["label"] in ("negative", "positive") and good["note"] == ""


def test_logged_model_loads_from_the_registry_and_predicts(tmp_path, monkeypatch):
    import mlflow.pyfunc

    from rnn_core import tuning

    corpus = _corpus()
    ckpt = _checkpoint(corpus.vocab_size)
    uri = f"sqlite:///{tmp_path / 'm.db'}"
    client, exp_id = tuning.check_tracking(uri, "rnn-sweeps")
    parent = client.create_run(exp_id, tags={"sweep": "parent", "task": "sentiment"}).info
    client.log_param(parent.run_id, "preset", "smoke")
    child = client.create_run(
        exp_id,
        run_name="lstm-L2-H8-E8",
        tags={"mlflow.parentRunId": parent.run_id, "trial_status": "finished"},
    ).info
    client.log_metric(child.run_id, "best_val_acc", 0.75)
    torch.save(ckpt, tmp_path / "best.pt")
    client.log_artifact(child.run_id, str(tmp_path / "best.pt"), "checkpoint")

    # the requirements pin the versions installed here; MLflow checks them without mapping
    # every installed distribution to its modules first (seconds of a sweep's end)
    from mlflow.utils import requirements_utils

    scans = []
    real_scan = requirements_utils.importlib_metadata.packages_distributions
    monkeypatch.setattr(requirements_utils.importlib_metadata, "packages_distributions",
                        lambda: scans.append(1) or real_scan())
    logged = tuning.log_models(uri, parent.run_id, "study_x", corpus, [child.run_id])
    assert scans == []
    monkeypatch.undo()
    # the registry name carries the preset: a smoke model is never a version of the full study
    assert [(m["name"], m["version"]) for m in logged] == [("study_x-smoke", "1")]
    version = client.get_model_version("study_x-smoke", "1")
    assert version.tags["sweep"] == parent.run_id and version.tags["best_val_acc"] == "0.75"
    assert client.get_run(parent.run_id).data.tags["registered_model"] == "study_x-smoke/1"
    assert client.get_registered_model("study_x-smoke").aliases == {"champion": 1}

    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    requirements = Path(mlflow.pyfunc.get_model_dependencies("models:/study_x-smoke@champion"))
    assert requirements.read_text().split() == [
        f"{p}=={metadata.version(p).split('+')[0]}" for p in ("mlflow", "torch", "numpy", "pandas")]
    model = mlflow.pyfunc.load_model("models:/study_x-smoke@champion")
    assert model.metadata.get_input_schema().input_names() == ["review"]
    out = model.predict(pd.DataFrame({"review": [*TEXTS, None, 7]}))
    np.testing.assert_allclose(
        out[["p_negative", "p_positive"]].to_numpy()[:3],
        trial_probabilities(ckpt, corpus.itos, TEXTS, MAX_LENGTH),
        atol=1e-6,
    )
    assert list(out["note"][3:]) == [
        "row 3: the review is empty (missing)",
        "row 4: expected a review's text, got int '7'",
    ]
    numbers = model.predict(pd.DataFrame({"review": [1, 2]}))  # a column pandas read as int
    assert list(numbers["note"]) == [
        f"row {i}: expected a review's text, got int '{i + 1}'" for i in range(2)
    ]
    usage = tuning.model_usage(uri, parent.run_id)
    assert (
        "mlflow models predict -m models:/study_x-smoke@champion -i reviews.csv -t csv "
        "--env-manager local"
    ) in usage

    # a newer sweep's pick takes the alias; the first sweep's usage names its own version
    newer = client.create_run(exp_id, tags={"sweep": "parent", "task": "sentiment"}).info
    client.log_param(newer.run_id, "preset", "smoke")
    assert tuning.log_models(uri, newer.run_id, "study_x", corpus, [child.run_id])[0][
        "version"] == "2"
    assert client.get_registered_model("study_x-smoke").aliases == {"champion": 2}
    usage = tuning.model_usage(uri, parent.run_id)
    assert "-m models:/study_x-smoke/1 " in usage and "champion is now version 2" in usage


def test_a_task_without_a_raw_input_model_logs_none_and_says_so(tmp_path, monkeypatch):
    import dataclasses

    from rnn_core import tuning
    from rnn_core.errors import ConfigError
    from rnn_core.tasks import TASKS

    # a task with no raw-input model: a copy of one, whichever built-in tasks have one
    no_model = dataclasses.replace(SENTIMENT, name="no_model", serving=None)
    monkeypatch.setitem(TASKS, "no_model", no_model)
    uri = f"sqlite:///{tmp_path / 'm.db'}"
    client, exp_id = tuning.check_tracking(uri, "rnn-sweeps")
    parent = client.create_run(exp_id, tags={"sweep": "parent", "task": "no_model"}).info
    assert tuning.log_models(uri, parent.run_id, "no_model", None, ["any"]) == []
    with pytest.raises(ConfigError, match="registered no model: its task has no raw-input model"):
        tuning.model_usage(uri, parent.run_id)


def test_logged_model_names_are_run_names_mlflow_accepts():
    from rnn_core.tuning._models import model_name

    assert model_name("lstm-L2-H100-E32") == "lstm-L2-H100-E32"
    assert model_name("gru-L1-H16-E16-adagrad-lr0.071") == "gru-L1-H16-E16-adagrad-lr0p071"
    assert model_name("a/b:c%d\"e'f") == "a_b_c_d_e_f"
