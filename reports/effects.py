"""The depth/width/embedding study's report: each axis's effect with the others held at the
centre, the validation objective with the test metric beside it, mean and spread over seeds."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import plotly.graph_objects as go

from reports.build import figure_html, findings_html, read_sweep
from reports.findings import findings, study_meta, subtitle
from reports.frames import pareto_frame, study_table, to_markdown, trials_frame
from reports.page import finish_report, table_html
from rnn_core.tasks import Task

__all__ = ["AXES", "axis_effects", "build_effects_report", "centre", "effect_sentences",
           "plot_effects"]

AXES = ("num_layers", "hidden_size", "embedding_dim")


def centre(trials: pd.DataFrame, axes: tuple[str, ...] = AXES) -> dict:
    """The value each axis is held at while another varies: the one most of the distinct
    configurations share (every configuration off that axis has it)."""
    configs = trials[list(axes)].dropna().drop_duplicates()
    return {a: configs[a].mode().sort_values().iloc[0] for a in axes}


def axis_effects(trials: pd.DataFrame, task: Task, axes: tuple[str, ...] = AXES
                 ) -> pd.DataFrame:
    """One row per (axis, value) with the other axes at the centre: the seeds that reported,
    the mean and standard deviation over them of the validation objective (``best_val_*``)
    and of the test metric, and the parameter count."""
    best, test = task.best_metric, task.test_metric
    ok = trials[trials[best].notna()]
    mid = centre(ok, axes)
    rows = []
    for axis in axes:
        held = [a for a in axes if a != axis]
        on = ok[(ok[held] == pd.Series({a: mid[a] for a in held})).all(axis=1)]
        for value, g in on.groupby(axis):
            rows.append({"axis": axis, "value": int(value), "seeds": len(g),
                         "val_mean": g[best].astype(float).mean(),
                         "val_sd": g[best].astype(float).std(ddof=1),
                         "test_mean": g[test].astype(float).mean(),
                         "test_sd": g[test].astype(float).std(ddof=1),
                         "n_params": int(g["n_params"].max())})
    return pd.DataFrame(rows, columns=["axis", "value", "seeds", "val_mean", "val_sd",
                                       "test_mean", "test_sd", "n_params"])


def plot_effects(effects: pd.DataFrame, task: Task) -> go.Figure:
    """One panel per axis: validation and test against the axis's value (log x), mean over
    seeds with one standard deviation as error bars."""
    from plotly.subplots import make_subplots

    axes = list(dict.fromkeys(effects["axis"]))
    fig = make_subplots(rows=1, cols=len(axes), shared_yaxes=True, subplot_titles=axes)
    for i, axis in enumerate(axes, start=1):
        e = effects[effects["axis"] == axis].sort_values("value")
        for kind, colour in (("val", "#0969da"), ("test", "#bf3989")):
            name = f"validation {task.measure}" if kind == "val" else f"test {task.measure}"
            fig.add_trace(go.Scatter(
                x=e["value"], y=e[f"{kind}_mean"], mode="lines+markers", name=name,
                legendgroup=kind, showlegend=i == 1, line={"color": colour},
                error_y={"type": "data", "array": e[f"{kind}_sd"].fillna(0), "visible": True},
                customdata=e[["seeds", "n_params"]],
                hovertemplate=f"{axis} %{{x}}<br>{name} %{{y:.4f}}<br>%{{customdata[0]}} seeds"
                              "<br>%{customdata[1]:,} params<extra></extra>"), row=1, col=i)
        fig.update_xaxes(title_text=axis, type="log", tickvals=list(e["value"]), row=1, col=i)
    fig.update_yaxes(title_text=task.measure, row=1, col=1)
    fig.update_layout(title=f"Each axis with the others at the centre: mean {task.measure} over "
                            "seeds, error bars one standard deviation",
                      template="plotly_white")
    return fig


def effect_sentences(effects: pd.DataFrame, task: Task) -> list[str]:
    """Per axis, its values' mean validation objective and the value picked on it."""
    out, sign = [], 1 if task.mode == "max" else -1
    for axis, e in effects.groupby("axis", sort=False):
        picked = e.loc[(sign * e["val_mean"]).idxmax()]
        sd = 0.0 if pd.isna(picked["test_sd"]) else picked["test_sd"]
        steps = ", ".join(f"{int(r['value'])}: {r['val_mean']:.4f}" for _, r in
                          e.sort_values("value").iterrows())
        out.append(f"{axis} (others at the centre), mean best validation {task.measure} over "
                   f"seeds: {steps}; picked on validation: {int(picked['value'])} (test "
                   f"{picked['test_mean']:.4f} ± {sd:.4f}).")
    return out


def build_effects_report(tracking_uri: str, parent_run_id: str | None, out: str | Path,
                         experiment_name: str | None = None, record=None,
                             pngs: bool = True) -> str:
    """Read the study from MLflow and write its report into ``out``."""
    record = record or read_sweep(tracking_uri, parent_run_id, experiment_name)
    task = record.task
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    trials = trials_frame(record.runs, task)
    effects = axis_effects(trials, task)
    trials.to_csv(out / "trials.csv", index=False)
    effects.to_csv(out / "effects.csv", index=False)
    (out / "effects.md").write_text(to_markdown(effects.round(4)))
    front = pareto_frame(trials, y=task.best_metric, mode=task.mode)
    sentences = findings(trials, front, task) + effect_sentences(effects, task)
    title, _ = study_meta(record.study)
    figures = {"effects": plot_effects(effects, task)} if len(effects) else {}
    parts = [findings_html(sentences)]
    parts += [figure_html(fig, name, first=i == 0) for i, (name, fig) in enumerate(figures.items())]
    parts += [f"<h2>Per axis (others at the centre; mean and standard deviation over seeds; "
              f"picked on validation {task.measure})</h2>", table_html(effects.round(4)),
              f"<h2>Every trial (ranked by validation {task.measure})</h2>",
              table_html(study_table(trials, task, names=True))]
    return finish_report(out, title, parts, subtitle(record.params, record.started,
                                                     record.parent_run_id),
                         figures, sentences, pngs)
