"""The cell-comparison study: its grid, its run names, its report frames, and the real smoke
sweep (slow)."""

from __future__ import annotations

import itertools

import pandas as pd
import pytest

from reports.cell_comparison import COLUMNS, comparison_frame, write_cell_report
from rnn_core.cells import CELLS, layer_builder
from rnn_core.tuning import trial_name
from search_spaces import cell_comparison as space
from sweeps import cell_comparison as script
from tests._sweeps import printed_report, run_study, sweep_runs
from tests.browser import check_pngs


def test_grid_holds_only_valid_variants():
    assert len(space.VARIANTS) == 9 and "mgu/native" not in space.VARIANTS
    assert {v.split("/")[0] for v in space.VARIANTS} == set(CELLS)
    for variant in space.VARIANTS:
        layer_builder(*variant.split("/"))  # raises for a pair that does not exist
    n = 1
    for values in space.GRID.values():
        n *= len(values)
    assert n == 54
    smoke = space.PRESETS["smoke"]["grid"]
    assert {v.split("/")[0] for v in smoke["variant"]} == set(CELLS)
    assert set(smoke["variant"]) <= set(space.VARIANTS)


def test_run_names_identify_cell_backend_direction_inputs():
    names = {trial_name({"variant": v, "bidirectional": str(b), "embedding": e,
                              "freeze_embedding": "True", "embedding_dim": "64"})
             for v, b, e in itertools.product(space.VARIANTS, [False, True],
                                               space.GRID["embedding"])}
    assert len(names) == 54
    assert trial_name({"variant": "gru/native", "bidirectional": "True",
                            "embedding": "glove50", "freeze_embedding": "True"}) == \
        "gru-native-bi-glove50-frozen"
    assert trial_name({"variant": "mgu/scratch", "bidirectional": "False",
                            "embedding": "learned", "embedding_dim": "64"}) == \
        "mgu-scratch-uni-learned64"


@pytest.mark.parametrize("argv", [["--variants", "mgu/native"], ["--directions", "both"],
                                  ["--inputs", "fasttext"]])
def test_bad_axis_values_exit_2(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        script.main(argv)
    assert exc.value.code == 2
    assert f"argument {argv[0]}" in capsys.readouterr().err


def _runs() -> pd.DataFrame:
    return pd.DataFrame([
        {"run_id": "a", "run_name": "lstm-native-uni-learned64", "status": "finished",
         "epochs_run": 2, "param.variant": "lstm/native", "param.bidirectional": "False",
         "param.embedding": "learned", "param.freeze_embedding": "True", "test_acc": 0.71,
         "best_val_acc": 0.7, "n_params": 1000.0, "n_trainable_params": 1000.0,
         "epoch_seconds": 3.456},
        {"run_id": "b", "run_name": "mgu-scratch-bi-glove50-frozen", "status": "finished",
         "epochs_run": 2, "param.variant": "mgu/scratch", "param.bidirectional": "True",
         "param.embedding": "glove50", "param.freeze_embedding": "True", "test_acc": 0.8,
         "best_val_acc": 0.79, "n_params": 5000.0, "n_trainable_params": 400.0,
         "epoch_seconds": 9.0, "vocab_coverage": 0.93, "token_coverage": 0.95},
        {"run_id": "c", "run_name": "gru-scratch-uni-vec-tuned", "status": "stopped_early",
         "epochs_run": 1, "param.variant": "gru/scratch", "param.bidirectional": "False",
         "param.embedding": "/x/my.vec", "param.freeze_embedding": "False",
         "best_val_acc": 0.6, "n_params": 2000.0, "n_trainable_params": 2000.0,
         "epoch_seconds": 5.0},
    ])


def test_comparison_frame():
    frame = comparison_frame(_runs())
    assert tuple(frame.columns) == COLUMNS
    assert frame["run_name"].tolist() == ["mgu-scratch-bi-glove50-frozen",
                                          "lstm-native-uni-learned64",
                                          "gru-scratch-uni-vec-tuned"]  # best validation first
    first = frame.iloc[0]
    assert (first.cell, first.backend, first.direction, first.inputs) == \
        ("mgu", "scratch", "bi", "glove50 frozen")
    assert (first.n_trainable_params, first.n_params) == (400, 5000)
    assert frame["inputs"].tolist()[1:] == ["learned", "my tuned"]
    assert frame["sec_per_epoch"].tolist()[1] == 3.46
    assert pd.isna(frame.iloc[2]["test_acc"]) and pd.isna(frame.iloc[1]["vocab_coverage"])
    # validation ranks; a better test score never moves a trial up
    flipped = comparison_frame(_runs().assign(test_acc=[0.9, 0.8, None]))
    assert flipped["run_name"].tolist() == frame["run_name"].tolist()


def test_comparison_frame_without_variant_uses_cell_and_backend():
    runs = _runs().drop(columns=["param.variant"]).assign(**{"param.cell": "gru",
                                                             "param.backend": "native"})
    frame = comparison_frame(runs)
    assert set(frame["cell"]) == {"gru"} and set(frame["backend"]) == {"native"}


def test_write_cell_report(tmp_path):
    summary = write_cell_report(_runs(), tmp_path)
    assert {"report.html", "cell_comparison.csv", "cell_comparison.md"} <= {
        p.name for p in tmp_path.iterdir()}
    page = (tmp_path / "report.html").read_text()
    assert 'id="accuracy"' in page and 'id="speed"' in page
    assert pd.read_csv(tmp_path / "cell_comparison.csv").shape == (3, len(COLUMNS))
    assert ("The validation pick is mgu-scratch-bi-glove50-frozen" in summary
            and "validation acc 0.7900, test acc 0.8000 (no interval: n not logged)." in summary)


@pytest.mark.slow
def test_smoke_sweep_has_a_child_run_for_every_cell(tmp_path):
    uri = f"sqlite:///{tmp_path}/m.db"
    proc = run_study("cell_comparison", "--smoke-test", "--tracking-uri", uri,
                     "--storage-path", str(tmp_path / "ray"), timeout=300, cwd=tmp_path,
                     own="the one cell-comparison sweep", png=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    client, parent, children = sweep_runs(uri)
    # the default report folder, named by the study and the parent run, outlives the command
    page = printed_report(proc.stdout)
    assert page == tmp_path / "reports" / f"cell_comparison-{parent.info.run_id[:8]}" / \
        "report.html"
    assert page.exists()
    check_pngs([page.parent / "accuracy.png"], proc.stdout)
    assert len(children) == 10
    assert {c.data.params["variant"].split("/")[0] for c in children} == set(CELLS)
    names = {c.info.run_name for c in children}
    assert "mgu-scratch-uni-glove50-frozen" in names and "lstm-native-uni-learned16" in names
    for child in children:
        m = child.data.metrics
        assert child.data.tags["trial_status"] == "finished" and "test_acc" in m
        pretrained = child.data.params["embedding"] == "glove50"
        assert (m["n_params"] > m["n_trainable_params"]) is pretrained
        assert ("vocab_coverage" in m and "token_coverage" in m) is pretrained
    report = {a.path for a in client.list_artifacts(parent.info.run_id, "report")}
    assert {"report/report.html", "report/cell_comparison.csv",
            "report/cell_comparison.md"} <= report
    # the pick against the runner-up and every other cell's pick, on the same 64 test reviews
    paired = [ln for ln in proc.stdout.splitlines() if "Paired test comparison" in ln]
    assert any("with the runner-up on validation" in ln for ln in paired), proc.stdout[-3000:]
    assert len(paired) >= 4 and all("(McNemar exact, n = 64)" in ln for ln in paired)
