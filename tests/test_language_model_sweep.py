"""The language-model study end to end: a real Ray instance, a real SQLite MLflow store, the
real Brown corpus, ASHA ranking by validation perplexity (lower is better)."""

from __future__ import annotations

import re

import pytest

from tests._sweeps import run_study, sweep_runs


@pytest.fixture(scope="module")
def lm_smoke(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("lm")
    uri = f"sqlite:///{tmp}/m.db"
    proc = run_study("language_model", "--smoke-test", "--scheduler", "asha", "--tracking-uri",
                     uri, "--storage-path", str(tmp / "ray"), "--report-dir", str(tmp / "report"),
                     own="the one language-model sweep")
    assert proc.returncode == 0, proc.stderr[-3000:]
    return tmp, uri, proc, *sweep_runs(uri)


@pytest.mark.slow
def test_smoke_sweep_logs_perplexity_by_epoch_and_the_report(lm_smoke):
    tmp, uri, proc, client, parent, children = lm_smoke
    assert parent.data.tags["task"] == "language_model"
    assert parent.data.tags["objective"] == "val_ppl" and parent.data.tags["mode"] == "min"
    assert len(children) == 8  # lstm, gru x dropout 0, 0.5 x 1, 2 layers
    for child in children:
        hist = client.get_metric_history(child.info.run_id, "val_ppl")
        assert [m.step for m in hist] == list(range(1, len(hist) + 1))
        assert all(m.value > 1 for m in hist)
        assert "train_ppl" in child.data.metrics and "val_acc" not in child.data.metrics
        status = child.data.tags["trial_status"]
        assert ("test_ppl" in child.data.metrics) == (status == "finished")
        assert child.info.run_name.startswith(("lstm-L", "gru-L"))
        assert "-drop" in child.info.run_name
    report = {a.path for a in client.list_artifacts(parent.info.run_id, "report")}
    assert {"report/report.html", "report/study_table.csv"} <= report
    table = (tmp / "report" / "study_table.md").read_text().splitlines()[0]
    assert all(c in table for c in ("cell", "dropout", "train_ppl", "test_ppl",
                                    "best_val_ppl"))
    # the findings name the validation pick (lowest validation perplexity) and read it
    # against Bengio et al.'s Brown figure
    assert re.search(r"The validation pick is (lstm|gru)-L\d+-H\d+-drop[\d.]+ \([\d,]+ "
                     r"parameters\): best validation ppl [\d.]+, test ppl", proc.stdout)
    assert "Bengio et al. 2003" in proc.stdout


@pytest.mark.slow
def test_asha_ranks_by_perplexity_lower_is_better(lm_smoke):
    """ASHA keeps each trial's rung value signed so that higher is better: -val_ppl here. Its
    decision log, replayed, gave every promotion to the lowest perplexity then waiting, within
    the rung's cap (ceil(8 / 3) = 3 went on)."""
    import json

    from tests.test_scheduling import _replay

    tmp, _, _, client, _, children = lm_smoke
    state = json.loads(next((tmp / "ray").glob(".rnn_sweeps/*/asha_rungs.json")).read_text())
    for c in children:
        ppl = client.get_metric_history(c.info.run_id, "val_ppl")[0].value
        assert state["rungs"]["1"][c.data.tags["ray_trial_id"]] == pytest.approx(-ppl)
    assert sum(c.data.tags["trial_status"] == "finished" for c in children) == 3
    _replay(state, rf=3)


@pytest.mark.slow
def test_best_checkpoint_rebuilds_the_language_model(lm_smoke):
    import torch

    from rnn_core.language_model import LanguageModel, LMConfig

    tmp, _, _, client, _, children = lm_smoke
    child = next(c for c in children if c.data.tags["trial_status"] == "finished")
    path = client.download_artifacts(child.info.run_id, "checkpoint/best.pt", str(tmp))
    ckpt = torch.load(path, weights_only=True)
    model = LanguageModel(LMConfig(**ckpt["model_config"]))
    model.load_state_dict(ckpt["state_dict"])
    assert sum(p.numel() for p in model.parameters()) == child.data.metrics["n_params"]
    assert model.decoder.weight is model.embedding.weight  # tied, as trained
