"""The compound-coefficient study's report: the candidates at phi = 1, the coefficients picked
on validation, and their path phi = 0..3 on the accuracy-parameter plot beside the Pareto front
of the grid sweep of the same preset in the same experiment (where one exists)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import plotly.graph_objects as go

from reports.build import figure_html, findings_html, read_sweep
from reports.findings import findings, subtitle
from reports.frames import pareto_frame, study_table, to_markdown, trials_frame
from reports.page import finish_report, table_html
from rnn_core.tasks import Task

__all__ = ["build_coefficient_report", "coefficient_frame", "grid_front", "path_frame"]

TITLE = "Compound coefficients (study S3): EfficientNet's method for an LSTM on IMDB"
COEFFS = ("phi", "alpha", "beta", "gamma", "flops_ratio")


def coefficient_frame(runs: pd.DataFrame, task: Task) -> pd.DataFrame:
    """``trials_frame`` with each trial's phi, coefficients and FLOPs ratio."""
    trials = trials_frame(runs, task)
    for key in COEFFS:
        values = dict(zip(runs["run_id"], pd.to_numeric(runs.get(f"param.{key}")),
                          strict=True))
        trials[key] = trials["run_id"].map(values)
    return trials


def path_frame(trials: pd.DataFrame) -> pd.DataFrame:
    """The base and the chosen coefficients' configurations, phi = 0, 1, 2, ...: the phi = 1
    trial whose coefficients the phi >= 2 trials share (stage 2 scaled those)."""
    later = trials[trials["phi"] >= 2]
    base = trials[trials["phi"] == 0]
    if later.empty:
        return base
    chosen = later.iloc[0][["alpha", "beta", "gamma"]]
    same = (trials[["alpha", "beta", "gamma"]] == chosen).all(axis=1)
    return pd.concat([base, trials[same & (trials["phi"] >= 1)]]).sort_values("phi")


def grid_front(tracking_uri: str, record, task: Task):
    """(parent run id, Pareto frame) of the newest finished compound-scaling grid sweep of the
    same preset in the same experiment; None when there is none."""
    from rnn_core.tuning import fetch_sweep, find_sweeps

    for run_id in find_sweeps(tracking_uri, None, study="compound_scaling",
                              experiment_id=record.experiment_id):
        grid = fetch_sweep(tracking_uri, run_id)
        if (grid.params.get("search", "grid") == "grid" and not grid.runs.empty
                and grid.params.get("preset") == record.params.get("preset")):
            front = pareto_frame(trials_frame(grid.runs, task), y=task.best_metric,
                                 mode=task.mode)
            return run_id, front
    return None


def _plot(trials: pd.DataFrame, path: pd.DataFrame, grid, task: Task) -> go.Figure:
    y = task.best_metric
    fig = go.Figure()
    if grid is not None:
        run_id, front = grid
        ok = front[front[y].notna()]
        fig.add_trace(go.Scatter(x=ok["n_params"].astype(float), y=ok[y], mode="markers",
                                 name=f"grid sweep {run_id[:8]}", text=ok["run_name"],
                                 marker={"color": "#afb8c1", "size": 8}))
        on = front[front["on_front"]].sort_values("n_params")
        fig.add_trace(go.Scatter(x=on["n_params"].astype(float), y=on[y], text=on["run_name"],
                                 name="grid's Pareto front", mode="lines+markers",
                                 line={"shape": "hv", "dash": "dash", "color": "#57606a"}))
    cands = trials[trials["phi"] == 1]
    fig.add_trace(go.Scatter(
        x=cands["n_params"].astype(float), y=cands[y], mode="markers", name="candidates, phi 1",
        text=[f"{n} (a {a:g}, b {b:g}, g {g:g}, FLOPs x{r:.2f})" for n, a, b, g, r in
              zip(cands["run_name"], cands["alpha"], cands["beta"], cands["gamma"],
                  cands["flops_ratio"], strict=True)],
        marker={"color": "#0969da", "size": 9, "symbol": "diamond"}))
    fig.add_trace(go.Scatter(
        x=path["n_params"].astype(float), y=path[y], mode="lines+markers+text",
        name="coefficient path", text=[f"phi {int(p)}" for p in path["phi"]],
        textposition="top center", line={"color": "#cf222e", "width": 3}, cliponaxis=False))
    fig.update_layout(title=f"{y} vs parameter count: the coefficient path and the grid",
                      xaxis_title="parameters (log)", yaxis_title=y, xaxis_type="log",
                      template="plotly_white")
    return fig


def build_coefficient_report(tracking_uri: str, parent_run_id: str | None, out: str | Path,
                             experiment_name: str | None = None, record=None,
                             pngs: bool = True) -> str:
    """Read the coefficient study from MLflow and write its report into ``out``."""
    record = record or read_sweep(tracking_uri, parent_run_id, experiment_name)
    task, out = record.task, Path(out)
    out.mkdir(parents=True, exist_ok=True)
    trials = coefficient_frame(record.runs, task)
    path = path_frame(trials)
    grid = grid_front(tracking_uri, record, task)
    cols = ["run_name", "phi", "alpha", "beta", "gamma", "flops_ratio", "num_layers",
            "hidden_size", "embedding_dim", "n_params", task.best_metric, task.test_metric]
    trials.to_csv(out / "trials.csv", index=False)
    path[cols].to_csv(out / "path.csv", index=False)
    (out / "path.md").write_text(to_markdown(path[cols]))
    sentences = findings(trials, pareto_frame(trials, y=task.best_metric, mode=task.mode),
                         task)
    n_cand = int((trials["phi"] == 1).sum())
    if (path["phi"] >= 2).any():
        c = path[path["phi"] >= 2].iloc[0]
        steps = "; ".join(f"phi {int(r['phi'])} {r['run_name']} {int(r['n_params']):,} params "
                          f"(FLOPs x{r['flops_ratio']:.2f}) -> val {r[task.best_metric]:.4f}, "
                          f"test {r[task.test_metric]:.4f}" for _, r in path.iterrows())
        sentences.append(f"Of {n_cand} candidates at phi = 1, the best on validation has "
                         f"alpha {c['alpha']:g}, beta {c['beta']:g}, gamma {c['gamma']:g}; "
                         f"its path: {steps}.")
    else:
        sentences.append(f"{n_cand} candidates at phi = 1 and no path: no candidate reported a "
                         f"validation {task.measure}.")
    sentences.append(f"Beside it, the Pareto front of grid sweep {grid[0][:8]} (same preset, "
                     "same experiment)." if grid else "No finished compound-scaling grid sweep "
                     "of the same preset in this experiment: the path is drawn alone.")
    figures = {"coefficients": _plot(trials, path, grid, task)}
    parts = [findings_html(sentences), figure_html(figures["coefficients"], "coefficients", True),
             "<h2>The coefficient path (phi 0 is the base)</h2>", table_html(path[cols]),
             "<h2>Every trial</h2>", table_html(trials[cols].sort_values(["phi", "run_name"])),
             f"<h2>Study table (ranked by validation {task.measure})</h2>",
             table_html(study_table(trials, task, names=True))]
    return finish_report(out, TITLE, parts, subtitle(record.params, record.started,
                                                     record.parent_run_id),
                         figures, sentences, pngs)
