"""One page with the Pareto fronts of several sweeps of one MLflow experiment: each sweep's
front in its own colour, and the front of all their trials together.

    python -m reports --fronts --experiment-name NAME     # -> reports/fronts-NAME/report.html

Each sweep's share of the combined front's hypervolume (log10 parameters against the
validation objective; the reference corner is the largest model and the worst objective of
all the trials) says how much of the best trade-off found anywhere that sweep found alone.
"""

from __future__ import annotations

import html
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from reports.build import figure_html, findings_html
from reports.frames import hypervolume, pareto_frame, trials_frame
from reports.page import finish_report, table_html
from rnn_core.errors import ConfigError
from rnn_core.statuses import ENDED
from rnn_core.tasks import Task

__all__ = ["fronts_frame", "front_shares", "plot_fronts", "build_fronts_report"]

_COLOURS = ("#0969da", "#cf222e", "#1a7f37", "#8250df", "#bf8700", "#0a7ea4", "#d1247a",
            "#57606a")


def fronts_frame(sweeps: dict[str, pd.DataFrame], task: Task) -> pd.DataFrame:
    """Every reported trial of every sweep (``{label: trials_frame}``) with its ``sweep``,
    ``on_front`` (its own sweep's front) and ``on_combined`` (the front of all of them)."""
    y = task.best_metric
    parts = []
    for label, trials in sweeps.items():
        ok = trials[trials["status"].isin(ENDED) & trials[y].notna()
                    & trials["n_params"].notna()]
        if not ok.empty:
            parts.append(pareto_frame(ok, y=y, mode=task.mode).assign(sweep=label))
    if not parts:
        return pd.DataFrame(columns=["sweep", "run_name", "n_params", y, "on_front",
                                     "on_combined"])
    frame = pd.concat(parts, ignore_index=True)
    combined = pareto_frame(frame.drop(columns="on_front"), y=y, mode=task.mode)
    # pareto_frame sorts its rows by size; line the two up by (sweep, run id)
    on = set(zip(combined.loc[combined["on_front"], "sweep"],
                 combined.loc[combined["on_front"], "run_id"], strict=True))
    frame["on_combined"] = [(s, r) in on for s, r in zip(frame["sweep"], frame["run_id"],
                                                         strict=True)]
    return frame


def front_shares(frame: pd.DataFrame, task: Task) -> pd.DataFrame:
    """Per sweep: its trials, its front's size and hypervolume as a share of the combined
    front's (log10 parameters; reference: the largest model and the worst objective of all
    the trials)."""
    y = task.best_metric
    pts = lambda df: np.column_stack([np.log10(df["n_params"].astype(float)),  # noqa: E731
                                      df[y].astype(float)])
    worst = frame[y].min() if task.mode == "max" else frame[y].max()
    ref = (float(np.log10(frame["n_params"].astype(float).max())) + 1e-9, float(worst))
    total = hypervolume(pts(frame[frame["on_combined"]]), ref, task.mode)
    rows = []
    for label, g in frame.groupby("sweep", sort=False):
        hv = hypervolume(pts(g[g["on_front"]]), ref, task.mode)
        rows.append({"sweep": label, "trials": len(g), "front": int(g["on_front"].sum()),
                     "on_combined_front": int(g["on_combined"].sum()),
                     "hypervolume_share": hv / total if total > 0 else float("nan")})
    return pd.DataFrame(rows)


def plot_fronts(frame: pd.DataFrame, task: Task) -> go.Figure:
    """The objective against parameter count (log x): each sweep's trials and front in its
    colour, the combined front in black."""
    y, fig = task.best_metric, go.Figure()
    for i, (label, g) in enumerate(frame.groupby("sweep", sort=False)):
        colour = _COLOURS[i % len(_COLOURS)]
        fig.add_trace(go.Scatter(
            x=g["n_params"].astype(float), y=g[y], mode="markers", name=f"{label} trials",
            legendgroup=label, marker={"color": colour, "size": 7, "opacity": 0.35},
            text=g["run_name"],
            hovertemplate="%{text}<br>params %{x:,}<br>" + y + " %{y:.4f}<extra></extra>"))
        on = g[g["on_front"]].sort_values("n_params")
        fig.add_trace(go.Scatter(
            x=on["n_params"].astype(float), y=on[y], mode="lines+markers",
            name=f"{label} front", legendgroup=label, line={"shape": "hv", "color": colour},
            marker={"color": colour, "size": 10}, text=on["run_name"],
            hovertemplate="%{text}<br>params %{x:,}<br>" + y + " %{y:.4f}<extra></extra>"))
    comb = frame[frame["on_combined"]].sort_values("n_params")
    fig.add_trace(go.Scatter(
        x=comb["n_params"].astype(float), y=comb[y], mode="lines+markers", name="combined front",
        marker={"symbol": "circle-open", "size": 16, "color": "black"},
        line={"shape": "hv", "dash": "dash", "color": "black", "width": 2}))
    better = "higher" if task.mode == "max" else "lower"
    fig.update_layout(title=f"{y} vs parameter count, each sweep's front and all together "
                            f"({better} is better)",
                      xaxis_title="parameters (log)", yaxis_title=y, xaxis_type="log",
                      template="plotly_white")
    return fig


def _label(record) -> str:
    search = record.params.get("search", "grid")
    return f"{record.study or 'sweep'}-{record.parent_run_id[:8]} ({search})"


def build_fronts_report(tracking_uri: str, experiment_name: str | None, out: str | Path,
                        pngs: bool = True) -> str:
    """Read every sweep of ``experiment_name`` from MLflow and write the fronts page into
    ``out``; sweeps of another task than the newest one's are named and left out."""
    from rnn_core.tuning import fetch_sweep, find_sweeps

    # oldest first: the newest sweep's task is the page's, and colours follow the sweeps' order
    ids = find_sweeps(tracking_uri, experiment_name or "rnn-sweeps", finished_only=False)[::-1]
    if not ids:
        raise ConfigError(f"no sweep found in experiment {experiment_name!r}")
    records = [fetch_sweep(tracking_uri, i) for i in ids]
    task = records[-1].task
    other = [_label(r) for r in records if r.task.name != task.name]
    records = [r for r in records if r.task.name == task.name and not r.runs.empty]
    frame = fronts_frame({_label(r): trials_frame(r.runs, r.task) for r in records}, task)
    if frame.empty:
        raise ConfigError(f"experiment {experiment_name!r} has no trial that reported "
                          f"{task.best_metric}")
    shares = front_shares(frame, task)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    y, test = task.best_metric, task.test_metric
    comb = frame[frame["on_combined"]].sort_values("n_params")
    frame.to_csv(out / "fronts.csv", index=False)
    sentences = [f"{len(shares)} sweeps of experiment {experiment_name or 'rnn-sweeps'} "
                 f"({task.name}, {y}); the combined front has {len(comb)} configs, from "
                 f"{', '.join(sorted(comb['sweep'].unique()))}."]
    for row in shares.itertuples():
        sentences.append(f"{row.sweep}: {row.trials} trials, a front of {row.front}, "
                         f"{row.hypervolume_share:.1%} of the combined front's hypervolume.")
    if other:
        sentences.append(f"Left out (another task than {task.name}): {', '.join(other)}.")
    figures = {"fronts": plot_fronts(frame, task)}
    parts = [findings_html(sentences), figure_html(figures["fronts"], "fronts", first=True),
             "<h2>Combined front</h2>",
             table_html(comb[["sweep", "run_name", "n_params", y, test]]),
             "<h2>Sweeps (hypervolume: log10 parameters against "
             f"{html.escape(y)}, reference the largest model and the worst value)</h2>",
             table_html(shares)]
    title = f"Pareto fronts of experiment {experiment_name or 'rnn-sweeps'}"
    return finish_report(out, title, parts, f"{len(shares)} sweeps", figures, sentences, pngs)
