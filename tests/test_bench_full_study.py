"""bench/full_study.py's summary of a finished study: read from the files a sweep leaves (its
report's trials.csv and study table, its log), so that an hour-long run does not end in a
traceback when a name it reads has moved."""

from __future__ import annotations

import pandas as pd

from bench.full_study import summarize

COLUMNS = ["run_name", "cell", "num_layers", "hidden_size", "embedding_dim", "status",
           "epochs_run", "n_params", "best_val_acc", "best_val_loss", "test_acc", "run_id"]


def test_the_summary_names_the_validation_pick_among_ended_trials(tmp_path):
    (tmp_path / "report").mkdir()
    rows = [  # a failed trial with the best validation figure is never the pick
        ["lstm-L3-H300-E128", "lstm", 3, 300, 128, "failed", 1, 900, 0.95, 0.2, None, "c"],
        ["lstm-L1-H100-E64", "lstm", 1, 100, 64, "finished", 5, 300, 0.89, 0.3, 0.88, "a"],
        ["lstm-L2-H100-E64", "lstm", 2, 100, 64, "stopped_early", 1, 400, 0.85, 0.4, None, "b"],
    ]
    pd.DataFrame(rows, columns=COLUMNS).to_csv(tmp_path / "report" / "trials.csv", index=False)
    (tmp_path / "report" / "study_table.md").write_text("| table |\n")
    (tmp_path / "sweep.log").write_text("sweep finished in 2 min 5 s\n")
    run = {"wall_s": 130.0, "rc": 0, "samples": [(0.0, 2**30, 3, 2**29), (2.0, 2**31, 5, 2**30)]}
    out = summarize(run, tmp_path, "compound_scaling")
    assert out["sweep_s"] == 125 and out["peak_rss_gib"] == 2.0 and out["peak_procs"] == 5
    assert out["trial_epochs"] == 7
    assert out["statuses"] == {"failed": 1, "finished": 1, "stopped_early": 1}
    assert out["best"] == {"num_layers": 1, "hidden_size": 100, "embedding_dim": 64,
                           "test_acc": 0.88, "best_val_acc": 0.89}
