"""Write a sweep's report: ``report.html`` with PNGs of its figures, ``study_table.csv``/``.md``,
``trials.csv``."""

from __future__ import annotations

import html
from pathlib import Path

import pandas as pd

from reports.baselines import kn_baseline, kn_row, kn_sentence
from reports.compare import Outputs, pick_comparisons
from reports.findings import (
    findings,
    search_sentence,
    seed_sentence,
    seed_spread,
    spread_sentence,
    stuck_sentence,
    stuck_trials,
    study_meta,
    subtitle,
    validation_pick,
)
from reports.frames import pareto_frame, spread_by, study_table, to_markdown, trials_frame
from reports.optuna_figures import optuna_section, section_html
from reports.page import finish_report, table_html, write_page
from reports.plots import plot_curves, plot_heatmap, plot_pareto
from reports.progress import best_so_far, best_so_far_sentence, plot_best_so_far
from rnn_core.statuses import FAILED
from rnn_core.tasks import Task

__all__ = ["build_report", "read_sweep", "write_page", "write_report", "figure_html"]


def figure_html(fig, div_id: str, first: bool) -> str:
    """A figure for the page; the first one carries plotly.js (the page stays offline)."""
    return fig.to_html(full_html=False, include_plotlyjs=first, div_id=div_id)


def findings_html(sentences: list[str]) -> str:
    items = "".join(f"<li>{html.escape(s)}</li>" for s in sentences)
    return f'<div class="findings" id="findings"><h2>Findings</h2><ul>{items}</ul></div>'


def write_report(runs: pd.DataFrame, history: pd.DataFrame, out: str | Path,
                 *, task: Task, title: str = "sweep", subtitle: str = "",
                 reference: dict | None = None, preset: str | None = None,
                 pngs: bool = True, search: str | None = None,
                 optuna_study: str | None = None, optuna_storage: str | None = None,
                 started: float = 0.0, outputs: Outputs | None = None,
                 baseline: dict | None = None) -> str:
    """Write the report files into ``out``; returns a short text summary.

    The task decides the objective (and whether lower is better) the pick, Pareto front,
    curves and table rank by; its test metric stands beside it. A sampled search's Optuna
    study (``optuna_study`` in ``optuna_storage``) adds Optuna's own figures; a random or
    TPE search the best-so-far curve (the pick as trials ended since ``started``).
    ``outputs`` (run id -> per-example test results) adds the pick's paired comparisons.
    ``baseline`` (``reports.baselines.kn_baseline``: a language model's same-split trigram)
    adds a sentence and a last row of the study table on the page.
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
    failed = trials[trials["status"] == FAILED]
    pick = validation_pick(trials, task)
    pick_name = None if pick is None else pick["run_name"]
    sentences = findings(trials, front, task, reference, preset)
    if baseline is not None:
        sentences.append(kn_sentence(pick, task, baseline))
    if outputs is not None:
        sentences += pick_comparisons(trials, task, outputs)
    if said := search_sentence(search, len(trials), task, optuna_study):
        sentences.insert(1, said)
    # a study across optimizers ranks them with their spread (study S3's comparison)
    spread = spread_by(trials, "optimizer", best, task.mode)
    if said := spread_sentence(spread, "optimizer", task):
        sentences.append(said)
    # a classifier stuck at chance shows as a training loss at ln 2 (S3's SGD: 0.695)
    stuck = stuck_trials(runs, trials, task.chance) if task.chance else trials.iloc[:0]
    if said := stuck_sentence(stuck, trials, task.chance):
        sentences.append(said)
    # a grid repeated over seeds (--num-samples): each config's spread
    seeds = seed_spread(trials, task)
    if said := seed_sentence(seeds, task):
        sentences.append(said)
    figures = {"pareto": plot_pareto(front, best, task.mode)}
    heat = plot_heatmap(trials, best, task.mode)
    if heat is not None:
        figures["heatmap"] = heat
    figures["curves"] = plot_curves(history, trials, task.objective)
    # how soon a search found its pick (a grid's order says nothing; NSGA-II has a front)
    curve = (best_so_far(trials, runs, history, started, task) if search in ("random", "tpe")
             else pd.DataFrame())
    if said := best_so_far_sentence(curve, task, reference):
        sentences.append(said)
        figures["best_so_far"] = plot_best_so_far(curve, task, reference)
        curve.to_csv(out / "best_so_far.csv", index=False)
    parts = [findings_html(sentences)]
    section = (optuna_section(optuna_study, optuna_storage, best)
               if optuna_study and optuna_storage else None)
    for i, (name, fig) in enumerate(figures.items()):
        parts.append(figure_html(fig, name, first=i == 0))
        if name == "pareto":
            parts += [f"<h2>Pareto front (fewest parameters for their validation "
                      f"{task.measure})</h2>",
                      table_html(named[["run_name", "n_params", best, test, "status"]],
                                 pick_name)]
        if name == "best_so_far":
            picks = curve[curve["new"]].drop(columns="new").round(4)
            parts += ["<h2>Best so far (each time the validation pick changed)</h2>",
                      table_html(picks, pick_name)]
    if section is not None:
        parts += section_html(section, figure_html)
        figures.update(section.figures)
    if len(spread) > 1:
        parts += [f"<h2>By optimizer (best validation {task.measure} over its trials)</h2>",
                  table_html(spread.round(4))]
    if not stuck.empty:
        cols = [c for c in ("run_name", "optimizer", "lr", "train_loss", best) if c in stuck]
        parts += ["<h2>Stuck at chance (last training loss near ln 2)</h2>",
                  table_html(stuck[cols])]
    if not seeds.empty:
        parts += [f"<h2>Spread over seeds (best validation {task.measure} per config)</h2>",
                  table_html(seeds.round(4))]
    shown = study_table(trials, task, names=True)
    if baseline is not None:
        shown = kn_row(shown, task, baseline)
    parts += [f"<h2>Study table (ranked by validation {task.measure}; the pick highlighted)"
              "</h2>", table_html(shown, pick_name)]
    if len(failed):
        parts += ["<h2>Failed trials</h2>", table_html(failed[["run_name", "error"]])]
    failed_line = [f"failed trials: {', '.join(failed['run_name'])}"] if len(failed) else []
    return finish_report(out, title, parts, subtitle, figures, sentences, pngs, failed_line)


def run_outputs(tracking_uri: str) -> Outputs:
    """Run id -> its per-example test results in ``tracking_uri`` (None: none kept)."""
    from rnn_core.tuning import fetch_test_outputs

    return lambda run_id: fetch_test_outputs(tracking_uri, run_id)


def read_sweep(tracking_uri: str, parent_run_id: str | None,
               experiment_name: str | None = None):
    """A finished sweep from MLflow (``tuning.SweepRecord``); refuses an empty one."""
    from rnn_core.tuning import fetch_sweep

    record = fetch_sweep(tracking_uri, parent_run_id, experiment_name)
    if record.runs.empty:
        raise ValueError(f"sweep {record.parent_run_id} has no trial runs")
    return record


def build_report(tracking_uri: str, parent_run_id: str | None, out: str | Path,
                 experiment_name: str | None = None, record=None, pngs: bool = True) -> str:
    """Read a finished sweep from MLflow and write its report into ``out``."""
    record = record or read_sweep(tracking_uri, parent_run_id, experiment_name)
    title, reference = study_meta(record.study)
    return write_report(record.runs, record.history, out, title=title, task=record.task,
                        subtitle=subtitle(record.params, record.started, record.parent_run_id),
                        reference=reference, preset=record.params.get("preset"),
                        search=record.params.get("search"), pngs=pngs,
                        optuna_study=record.params.get("optuna_study"),
                        optuna_storage=record.params.get("optuna_storage"),
                        started=record.started, outputs=run_outputs(tracking_uri),
                        baseline=kn_baseline(record.params))
