"""Plotly figures drawn from the frames in ``reports.frames``."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from rnn_core.statuses import FAILED, FINISHED, STOPPED_BY_BUDGET, STOPPED_EARLY

__all__ = ["plot_pareto", "plot_curves", "plot_heatmap"]

_SYMBOLS = {FINISHED: "circle", STOPPED_EARLY: "x", STOPPED_BY_BUDGET: "square",
            FAILED: "triangle-down"}


def plot_pareto(front: pd.DataFrame, y: str, mode: str) -> go.Figure:
    """The objective against parameter count (log x), the Pareto front drawn and its configs
    named (``mode`` min: lower is better, e.g. perplexity)."""
    fig = go.Figure()
    for status, group in front.groupby("status"):
        fig.add_trace(go.Scatter(
            x=group["n_params"].astype(float), y=group[y], mode="markers", name=str(status),
            marker={"symbol": _SYMBOLS.get(str(status), "circle"), "size": 10},
            text=group["run_name"],
            hovertemplate="%{text}<br>params %{x:,}<br>" + y + " %{y:.4f}<extra></extra>"))
    on = front[front["on_front"]].sort_values("n_params")
    fig.add_trace(go.Scatter(
        x=on["n_params"].astype(float), y=on[y], mode="lines+markers+text", name="Pareto front",
        line={"shape": "hv", "dash": "dash"}, text=on["run_name"],
        textposition="top center" if mode == "max" else "bottom center", cliponaxis=False))
    better = "higher" if mode == "max" else "lower"
    fig.update_layout(title=f"{y} vs parameter count ({better} is better)",
                      xaxis_title="parameters (log)", yaxis_title=y, xaxis_type="log",
                      template="plotly_white", margin={"l": 90, "r": 90})
    return fig


def plot_curves(history: pd.DataFrame, trials: pd.DataFrame, metric: str) -> go.Figure:
    """``metric`` by epoch per trial; trials stopped by the scheduler end in an ``x``."""
    fig = go.Figure()
    status = dict(zip(trials["run_id"], trials["status"], strict=False))
    for run_id, h in history.sort_values("epoch").groupby("run_id"):
        stopped = status.get(run_id) == STOPPED_EARLY
        fig.add_trace(go.Scatter(
            x=h["epoch"], y=h[metric], mode="lines+markers",
            name=f"{h['run_name'].iloc[0]}{' (stopped)' if stopped else ''}",
            line={"dash": "dot" if stopped else "solid"},
            marker={"symbol": ["circle"] * (len(h) - 1) + ["x" if stopped else "circle"],
                    "size": [6] * (len(h) - 1) + [12 if stopped else 6]}))
    fig.update_layout(title=f"{metric} by epoch (dotted, x: stopped early by the scheduler)",
                      xaxis_title="epoch", yaxis_title=metric, template="plotly_white")
    return fig


def plot_heatmap(trials: pd.DataFrame, value: str, mode: str = "max", x: str = "hidden_size",
                 y: str = "num_layers", facet: str = "embedding_dim") -> go.Figure | None:
    """``value`` over ``y`` x ``x``, one panel per ``facet`` value, on one colour scale
    (the better end dark); None when the trials do not span both axes."""
    from plotly.subplots import make_subplots

    if not {x, y, facet, value} <= set(trials) or trials[value].notna().sum() == 0:
        return None
    df = trials.dropna(subset=[x, y, facet])
    if df[x].nunique() < 2 and df[y].nunique() < 2:
        return None
    panels = sorted(df[facet].unique())
    xs, ys = sorted(df[x].unique()), sorted(df[y].unique())
    fig = make_subplots(rows=1, cols=len(panels), shared_yaxes=True,
                        subplot_titles=[f"{facet} {p}" for p in panels])
    lo, hi = df[value].min(), df[value].max()
    for i, p in enumerate(panels, start=1):
        grid = (df[df[facet] == p].pivot_table(index=y, columns=x, values=value, aggfunc="max")
                .reindex(index=ys, columns=xs))
        text = [[("" if pd.isna(v) else f"{v:.4g}") for v in row] for row in grid.to_numpy()]
        fig.add_trace(go.Heatmap(
            z=grid.to_numpy(dtype=float), x=[str(v) for v in xs], y=[str(v) for v in ys],
            text=text, texttemplate="%{text}", coloraxis="coloraxis",
            hovertemplate=f"{x} %{{x}}<br>{y} %{{y}}<br>{value} %{{z:.4f}}<extra></extra>"),
            row=1, col=i)
        fig.update_xaxes(title_text=x, type="category", row=1, col=i)
    fig.update_yaxes(title_text=y, type="category", row=1, col=1)
    fig.update_layout(title=f"{value} by {y} x {x} (blank: no value)", template="plotly_white",
                      coloraxis={"colorscale": "Viridis" if mode == "max" else "Viridis_r",
                                 "cmin": lo, "cmax": hi, "colorbar": {"title": value}})
    return fig
