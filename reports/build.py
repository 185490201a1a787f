"""Write a sweep's report: ``report.html``, ``study_table.csv``/``.md``, ``trials.csv``."""

from __future__ import annotations

import html
from pathlib import Path

import pandas as pd

from reports.frames import pareto_frame, study_table, to_markdown, trials_frame
from reports.plots import plot_curves, plot_pareto
from rnn_core.tasks import SENTIMENT, Task

__all__ = ["build_report", "read_sweep", "write_page", "write_report"]


def write_page(path: Path, title: str, parts: list[str]) -> None:
    """One self-contained HTML page from pre-rendered fragments."""
    path.write_text("<!doctype html><html><head><meta charset='utf-8'><title>"
                    f"{html.escape(title)}</title></head><body>" + "\n".join(parts)
                    + "</body></html>")


def write_report(runs: pd.DataFrame, history: pd.DataFrame, out: str | Path,
                 title: str = "sweep", task: Task = SENTIMENT) -> str:
    """Write the report files into ``out``; returns a short text summary.

    The task decides the objective (and whether lower is better) the Pareto front, curves
    and table rank by; its test metric stands beside it.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    best, test = task.best_metric, task.test_metric
    trials = trials_frame(runs, task)
    front = pareto_frame(trials, y=best, mode=task.mode)
    table = study_table(trials, task)
    trials.to_csv(out / "trials.csv", index=False)
    table.to_csv(out / "study_table.csv", index=False)
    (out / "study_table.md").write_text(to_markdown(table))
    named = front[front["on_front"]]
    failed = trials[trials["status"] == "failed"]
    fewest = "fewest parameters for their validation " + task.measure
    parts = [
        f"<h1>{html.escape(title)}</h1>",
        f"<p>{len(trials)} trials: {html.escape(str(trials['status'].value_counts().to_dict()))}"
        "</p>",
        plot_pareto(front, best, task.mode).to_html(full_html=False, include_plotlyjs=True,
                                                    div_id="pareto"),
        f"<h2>Pareto front ({fewest})</h2>",
        named[["run_name", "n_params", best, test, "status"]].to_html(index=False, na_rep=""),
        plot_curves(history, trials, task.objective).to_html(
            full_html=False, include_plotlyjs=False, div_id="curves"),
        "<h2>Study table</h2>", table.to_html(index=False, na_rep=""),
    ]
    if len(failed):
        parts += ["<h2>Failed trials</h2>",
                  failed[["run_name", "error"]].to_html(index=False, na_rep="")]
    write_page(out / "report.html", title, parts)
    lines = [f"report written to {out}",
             f"Pareto front (params -> {best.replace('_', ' ', 1)}, {test}):"]
    lines += [f"  {r['run_name']}: {r['n_params']:,} -> {r[best]:.4f}, "
              f"test {r[test] if pd.notna(r[test]) else 'n/a'}"
              for _, r in named.iterrows()]
    if len(failed):
        lines.append(f"failed trials: {', '.join(failed['run_name'])}")
    return "\n".join(lines)


def read_sweep(tracking_uri: str, parent_run_id: str | None,
               experiment_name: str | None = None):
    """A finished sweep from MLflow (``tuning.SweepRecord``); refuses an empty one."""
    from rnn_core.tuning import fetch_sweep

    record = fetch_sweep(tracking_uri, parent_run_id, experiment_name)
    if record.runs.empty:
        raise ValueError(f"sweep {record.parent_run_id} has no trial runs")
    return record


def build_report(tracking_uri: str, parent_run_id: str | None, out: str | Path,
                 experiment_name: str | None = None) -> str:
    """Read a finished sweep from MLflow and write its report into ``out``."""
    record = read_sweep(tracking_uri, parent_run_id, experiment_name)
    title = f"{record.study or 'sweep'} {record.parent_run_id}"
    return write_report(record.runs, record.history, out, title=title, task=record.task)
