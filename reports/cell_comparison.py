"""The cell-comparison study's report: frames (pure) -> plotly figures -> HTML, CSV, Markdown.

One row per trial: cell, backend, direction, inputs, test accuracy of the best-on-validation
state, parameters (trainable and total) and seconds per epoch.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from reports.build import findings_html, read_sweep, run_outputs
from reports.compare import Outputs, pick_comparisons
from reports.findings import study_meta, subtitle
from reports.frames import to_markdown, trials_frame, validation_pick
from reports.intervals import test_interval
from reports.page import finish_report, table_html
from rnn_core.tasks import SENTIMENT

__all__ = ["COLUMNS", "build_cell_report", "comparison_frame", "plot_accuracy",
           "plot_speed", "write_cell_report"]

# a study of the sentiment task: its test metric and best validation objective
TEST, BEST = SENTIMENT.test_metric, SENTIMENT.best_metric
COLUMNS = ("cell", "backend", "direction", "inputs", TEST, "test_95ci", "test_n", BEST,
           "n_trainable_params", "n_params", "sec_per_epoch", "vocab_coverage",
           "token_coverage", "epochs_run", "status", "run_name")


def _inputs(embedding: object, frozen: object) -> str:
    emb = "learned" if embedding is None or pd.isna(embedding) else str(embedding)
    if emb == "learned":
        return "learned"
    name = Path(emb).stem if ("/" in emb or "." in emb) else emb
    return f"{name} {'frozen' if str(frozen).lower() == 'true' else 'tuned'}"


def comparison_frame(runs: pd.DataFrame) -> pd.DataFrame:
    """One typed row per trial (``COLUMNS``), best validation accuracy first (ties: fewer
    parameters; test accuracy never ranks).

    Args:
        runs: child runs as read from MLflow (``param.*`` columns, metrics, ``status``,
            ``epochs_run``, ``run_name``); ``param.variant`` is ``"cell/backend"``, or
            ``param.cell``/``param.backend`` are used.
    """
    n = len(runs)

    def col(name: str, default=np.nan) -> pd.Series:
        return runs[name] if name in runs else pd.Series([default] * n, index=runs.index)

    if "param.variant" in runs:
        parts = runs["param.variant"].astype(str).str.partition("/")
        cell, backend = parts[0], parts[2]
    else:
        cell, backend = col("param.cell", "lstm"), col("param.backend", "native")
    df = pd.DataFrame({
        "cell": cell.astype(str), "backend": backend.astype(str),
        "direction": np.where(col("param.bidirectional", "False").astype(str).str.lower()
                              == "true", "bi", "uni"),
        "inputs": [_inputs(e, f) for e, f in zip(col("param.embedding", "learned"),
                                                 col("param.freeze_embedding", "False"),
                                                 strict=True)],
    }, index=runs.index)
    for key in (TEST, BEST, "vocab_coverage", "token_coverage"):
        df[key] = pd.to_numeric(col(key), errors="coerce").astype(float).round(4)
    for key in ("n_trainable_params", "n_params", "epochs_run"):
        df[key] = pd.to_numeric(col(key), errors="coerce").round().astype("Int64")
    df["sec_per_epoch"] = pd.to_numeric(col("epoch_seconds"), errors="coerce").round(2)
    df["status"] = col("status", "")
    df["run_name"] = col("run_name", "")
    intervals = [test_interval(r, SENTIMENT) for _, r in runs.iterrows()]
    df["test_95ci"] = [f"{iv.low:.4f}-{iv.high:.4f}" if iv else "" for iv in intervals]
    df["test_n"] = pd.array([iv.n if iv else pd.NA for iv in intervals], dtype="Int64")
    df = df[list(COLUMNS)]
    return df.sort_values([BEST, "n_params"], ascending=[False, True],
                          na_position="last").reset_index(drop=True)


def plot_accuracy(frame: pd.DataFrame) -> go.Figure:
    """Test accuracy per cell/backend/direction, one bar group per input kind."""
    fig = go.Figure()
    x = frame["cell"] + "/" + frame["backend"] + " " + frame["direction"]
    order = sorted(x.unique())
    for inputs, idx in frame.groupby("inputs").groups.items():
        g = frame.loc[idx]
        fig.add_trace(go.Bar(x=x.loc[idx], y=g[TEST], name=str(inputs),
                             text=g["run_name"],
                             hovertemplate="%{text}<br>" + TEST + " %{y:.4f}<extra></extra>"))
    fig.update_layout(barmode="group", title="test accuracy by cell, backend, direction, inputs",
                      xaxis={"categoryorder": "array", "categoryarray": order},
                      yaxis_title=TEST, template="plotly_white")
    return fig


def plot_speed(frame: pd.DataFrame) -> go.Figure:
    """Test accuracy against seconds per epoch; marker size grows with trainable parameters."""
    fig = go.Figure()
    size = frame["n_trainable_params"].astype(float).fillna(0)
    scale = 30 / max(float(np.sqrt(size.max())), 1.0)
    for backend, idx in frame.groupby("backend").groups.items():
        g = frame.loc[idx]
        fig.add_trace(go.Scatter(
            x=g["sec_per_epoch"], y=g[TEST], mode="markers", name=str(backend),
            marker={"size": 6 + np.sqrt(size.loc[idx]) * scale,
                    "symbol": "circle" if backend == "native" else "diamond"},
            text=g["run_name"] + "<br>trainable " + g["n_trainable_params"].astype(str),
            hovertemplate="%{text}<br>%{x:.2f} s/epoch<br>" + TEST + " %{y:.4f}<extra></extra>"))
    fig.update_layout(title="test accuracy vs seconds per epoch (size: trainable parameters)",
                      xaxis_title="seconds per epoch", yaxis_title=TEST,
                      template="plotly_white")
    return fig


def _test_text(row: pd.Series) -> str:
    """The test accuracy with the interval the frame carries (``test_95ci``, ``test_n``)."""
    if pd.isna(row[TEST]):
        return "test acc not measured"
    if not row["test_95ci"] or pd.isna(row["test_n"]):
        return f"test acc {row[TEST]:.4f} (no interval: n not logged)"
    low, high = row["test_95ci"].split("-")
    return f"test acc {row[TEST]:.4f} (95 % CI {low}-{high}, n = {int(row['test_n']):,})"


def cell_findings(frame: pd.DataFrame, reference: dict | None = None) -> list[str]:
    """Counts, the validation pick with its test accuracy, the best of each cell, and the
    published figure (other data: read as a bar, not a like-for-like comparison)."""
    counts = frame["status"].value_counts()
    out = [f"{len(frame)} trials: " + ", ".join(f"{int(n)} {str(s).replace('_', ' ')}"
                                                for s, n in counts.items()) + "."]
    ok = frame[frame[BEST].notna()]
    if ok.empty:
        return [*out, "No trial reported a validation accuracy."]
    pick = validation_pick(ok, SENTIMENT)
    if pick is None:
        return [*out, "No trial that ended reported a validation accuracy."]
    out.append(f"The validation pick is {pick['run_name']} ({int(pick['n_params']):,} "
               f"parameters): validation acc {pick[BEST]:.4f}, "
               f"{_test_text(pick)}.")
    per_cell = ok.drop_duplicates("cell")
    out.append("Best of each cell on validation: " + "; ".join(
        f"{r['cell']} {r[BEST]:.4f} ({r['run_name']})" for _, r in per_cell.iterrows()) + ".")
    if reference and pd.notna(pick[TEST]):
        out.append(f"Published reference: {reference['source']}, test acc "
                   f"{reference['value']:.4f}; the validation pick here: {pick[TEST]:.4f}.")
    return out


def write_cell_report(runs: pd.DataFrame, out: str | Path, title: str = "cell comparison",
                      subtitle: str = "", reference: dict | None = None, pngs: bool = True,
                      outputs: Outputs | None = None) -> str:
    """Write ``report.html`` (+ PNGs), ``cell_comparison.csv``/``.md`` into ``out``; returns a
    summary."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    frame = comparison_frame(runs)
    frame.to_csv(out / "cell_comparison.csv", index=False)
    (out / "cell_comparison.md").write_text(to_markdown(frame))
    done = frame[frame[TEST].notna()]
    sentences = cell_findings(frame, reference)
    if outputs is not None:  # the pick against the runner-up and each other cell's pick
        sentences += pick_comparisons(trials_frame(runs, SENTIMENT), SENTIMENT, outputs)
    figures = {"accuracy": plot_accuracy(done), "speed": plot_speed(done)}
    picked = validation_pick(frame[frame[BEST].notna()], SENTIMENT)
    pick = None if picked is None else picked["run_name"]
    parts = [findings_html(sentences),
             figures["accuracy"].to_html(full_html=False, include_plotlyjs=True,
                                         div_id="accuracy"),
             figures["speed"].to_html(full_html=False, include_plotlyjs=False, div_id="speed"),
             "<h2>All trials (ranked by validation accuracy; the pick highlighted)</h2>",
             table_html(frame, pick)]
    return finish_report(out, title, parts, subtitle, figures, sentences, pngs)


def build_cell_report(tracking_uri: str, parent_run_id: str | None, out: str | Path,
                      experiment_name: str | None = None, record=None, pngs: bool = True) -> str:
    """Read a finished cell-comparison sweep from MLflow and write its report into ``out``."""
    record = record or read_sweep(tracking_uri, parent_run_id, experiment_name)
    title, reference = study_meta(record.study or "cell_comparison")
    return write_cell_report(record.runs, out, title=title, reference=reference,
                             subtitle=subtitle(record.params, record.started,
                                               record.parent_run_id),
                             outputs=run_outputs(tracking_uri), pngs=pngs)
