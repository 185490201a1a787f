"""The spoken-words study's report (S5): frames (pure) -> plotly figure -> HTML, CSV, Markdown.

One row per trial (cell, direction, dataset, validation and test accuracy, the clips behind
each test figure), the accuracy table per cell and direction on each test split, and the
per-class recall of the validation pick.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from reports.build import findings_html, read_sweep
from reports.findings import study_meta, subtitle
from reports.frames import to_markdown
from reports.page import finish_report, table_html
from rnn_core.tasks import AUDIO

__all__ = ["COLUMNS", "accuracy_table", "build_speech_report", "recall_frame", "speech_frame",
           "speech_findings", "write_speech_report"]

TEST, BEST = AUDIO.test_metric, AUDIO.best_metric
# each test split: (its accuracy metric, its clip count metric, the label in tables)
TEST_SPLITS = ((TEST, "test_n", "test"), ("test_human_acc", "test_human_n", "human test"))
COLUMNS = ("cell", "backend", "direction", "dataset", BEST, TEST, "test_n", "test_human_acc",
           "test_human_n", "n_params", "sec_per_epoch", "epochs_run", "status", "run_name")


def speech_frame(runs: pd.DataFrame) -> pd.DataFrame:
    """One typed row per trial (``COLUMNS``), best validation accuracy first (ties: fewer
    parameters; test accuracy never ranks)."""
    n = len(runs)

    def col(name: str, default=np.nan) -> pd.Series:
        return runs[name] if name in runs else pd.Series([default] * n, index=runs.index)

    dataset = col("param.dataset", "").astype(str)
    df = pd.DataFrame({
        "cell": col("param.cell", "").astype(str),
        "backend": col("param.backend", "").astype(str),
        "direction": np.where(col("param.bidirectional", "False").astype(str).str.lower()
                              == "true", "bi", "uni"),
        "dataset": [Path(d).name if "/" in d else d for d in dataset],
    }, index=runs.index)
    for key in (BEST, TEST, "test_human_acc"):
        df[key] = pd.to_numeric(col(key), errors="coerce").astype(float).round(4)
    for key in ("test_n", "test_human_n", "n_params", "epochs_run"):
        df[key] = pd.to_numeric(col(key), errors="coerce").round().astype("Int64")
    df["sec_per_epoch"] = pd.to_numeric(col("epoch_seconds"), errors="coerce").round(2)
    df["status"] = col("status", "")
    df["run_name"] = col("run_name", "")
    return df[list(COLUMNS)].sort_values([BEST, "n_params"], ascending=[False, True],
                                         na_position="last").reset_index(drop=True)


def accuracy_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Test accuracy per cell (rows, in the study's order) and direction (columns), one column
    pair per test split the sweep measured; the clip count behind each in the header."""
    cells = list(dict.fromkeys(c for c in ("rnn_tanh", "rnn_relu", "lstm", "gru", "mgu")
                               if c in set(frame["cell"])))
    cells += sorted(set(frame["cell"]) - set(cells))
    out = pd.DataFrame({"cell": cells})
    for acc, count, label in TEST_SPLITS:
        if frame[acc].notna().sum() == 0:
            continue
        clips = frame[count].dropna()
        n = f" (n={int(clips.max())})" if len(clips) else ""
        for direction in ("uni", "bi"):
            g = frame[frame["direction"] == direction]
            if g.empty:
                continue
            best = g.groupby("cell")[acc].max()
            out[f"{label} {direction}{n}"] = [best.get(c, np.nan) for c in cells]
    return out


def recall_frame(runs: pd.DataFrame, run_name: str) -> pd.DataFrame:
    """Per-class recall of one trial on each test split: rows are classes."""
    row = runs[runs["run_name"] == run_name].iloc[0]
    out: dict[str, dict[str, float]] = {}
    for prefix, label in (("test_recall_", "test"), ("test_human_recall_", "human test")):
        for key in row.index:
            if isinstance(key, str) and key.startswith(prefix) and pd.notna(row[key]):
                out.setdefault(key[len(prefix):], {})[label] = round(float(row[key]), 4)
    frame = pd.DataFrame.from_dict(out, orient="index")
    return frame.rename_axis("class").reset_index()


def speech_findings(frame: pd.DataFrame, reference: dict | None = None) -> list[str]:
    """Counts, the validation pick with its test accuracy on each split, the best of each cell
    on validation, and the published figure."""
    counts = frame["status"].value_counts()
    out = [f"{len(frame)} trials: " + ", ".join(f"{int(n)} {str(s).replace('_', ' ')}"
                                                for s, n in counts.items()) + "."]
    ok = frame[frame[BEST].notna()]
    if ok.empty:
        return [*out, "No trial reported a validation accuracy."]
    pick = ok.iloc[0]
    tests = [f"{label} acc {pick[acc]:.4f} on {int(pick[n])} clips"
             for acc, n, label in TEST_SPLITS if pd.notna(pick[acc])]
    out.append(f"The validation pick is {pick['run_name']} on {pick['dataset']} "
               f"({int(pick['n_params']):,} parameters): validation acc {pick[BEST]:.4f}, "
               + (", ".join(tests) or "test not measured") + ".")
    per_cell = ok.drop_duplicates("cell")
    out.append("Best of each cell on validation: " + "; ".join(
        f"{r['cell']} {r[BEST]:.4f} ({r['run_name']})" for _, r in per_cell.iterrows()) + ".")
    if reference and pd.notna(pick[TEST]) and str(pick["dataset"]) == "japanese_vowels":
        out.append(f"Published reference: {reference['source']}, test acc "
                   f"{reference['value']:.4f}; the validation pick here: {pick[TEST]:.4f}.")
    return out


def plot_accuracy(frame: pd.DataFrame) -> go.Figure:
    """Test accuracy per cell, one bar per direction and test split."""
    fig = go.Figure()
    for acc, _, label in TEST_SPLITS:
        for direction in ("uni", "bi"):
            g = frame[(frame["direction"] == direction) & frame[acc].notna()]
            if not g.empty:
                fig.add_trace(go.Bar(x=g["cell"], y=g[acc], name=f"{label} {direction}",
                                     text=g["run_name"], hovertemplate="%{text}<br>%{y:.4f}"
                                                                       "<extra></extra>"))
    fig.update_layout(barmode="group", title="test accuracy by cell and direction",
                      yaxis_title="accuracy", template="plotly_white",
                      xaxis={"categoryorder": "array",
                             "categoryarray": ["rnn_tanh", "rnn_relu", "lstm", "gru", "mgu"]})
    return fig


def write_speech_report(runs: pd.DataFrame, out: str | Path, title: str = "spoken words",
                        subtitle: str = "", reference: dict | None = None, pngs: bool = True
                        ) -> str:
    """Write ``report.html`` (+ PNG), ``speech.csv``/``.md`` and ``accuracy_table.csv``/``.md``
    into ``out``; returns a summary."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    frame = speech_frame(runs)
    table = accuracy_table(frame)
    # a dataset without a human test split leaves those columns empty: not shown
    shown = frame.drop(columns=[c for c in ("test_human_acc", "test_human_n")
                                if frame[c].isna().all()])
    shown.to_csv(out / "speech.csv", index=False)
    (out / "speech.md").write_text(to_markdown(shown))
    table.to_csv(out / "accuracy_table.csv", index=False)
    (out / "accuracy_table.md").write_text(to_markdown(table))
    sentences = speech_findings(frame, reference)
    figures = {"accuracy": plot_accuracy(frame)}
    pick = frame["run_name"].iloc[0] if frame[BEST].notna().any() else None
    parts = [findings_html(sentences),
             figures["accuracy"].to_html(full_html=False, include_plotlyjs=True,
                                         div_id="accuracy"),
             "<h2>Test accuracy per cell and direction (the best trial of each)</h2>",
             table_html(table)]
    if pick is not None:
        recall = recall_frame(runs, pick)
        if not recall.empty:
            recall.to_csv(out / "pick_recall.csv", index=False)
            parts += [f"<h2>Per-class recall of the validation pick ({pick})</h2>",
                      table_html(recall)]
    parts += ["<h2>All trials (ranked by validation accuracy; the pick highlighted)</h2>",
              table_html(shown, pick)]
    return finish_report(out, title, parts, subtitle, figures, sentences, pngs,
                         ["test accuracy per cell and direction:", to_markdown(table).rstrip()])


def build_speech_report(tracking_uri: str, parent_run_id: str | None, out: str | Path,
                        experiment_name: str | None = None, record=None) -> str:
    """Read a finished spoken-words sweep from MLflow and write its report into ``out``."""
    record = record or read_sweep(tracking_uri, parent_run_id, experiment_name)
    title, reference = study_meta(record.study or "speech_commands")
    return write_speech_report(record.runs, out, title=title, reference=reference,
                               subtitle=subtitle(record.params, record.started,
                                                 record.parent_run_id))
