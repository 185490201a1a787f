"""The direction study: where its configuration comes from (a finished sweep's validation
pick) and its report, bidirectional minus unidirectional paired by seed."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import plotly.graph_objects as go

from reports.build import figure_html, findings_html, read_sweep
from reports.findings import findings, study_meta, subtitle
from reports.frames import pareto_frame, study_table, to_markdown, trials_frame, validation_pick
from reports.page import finish_report, table_html
from rnn_core.errors import ConfigError
from rnn_core.statuses import FINISHED
from rnn_core.tasks import Task

__all__ = ["build_bidirectional_report", "paired_differences", "source_config"]


def _typed(text: str):
    """An MLflow param (a string) as the value it was logged from."""
    if text in ("True", "False"):
        return text == "True"
    if text == "None":
        return None
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def source_config(tracking_uri: str, parent_run_id: str | None, experiment_name: str | None,
                  keys: tuple[str, ...], skip_study: str, task_name: str) -> tuple[dict, dict]:
    """The validation pick among the trials of a finished sweep that ran to the end: its
    ``keys`` (typed) and where it came from. ConfigError (one sentence) when the sweep does not
    exist, trains another task, or has no trial that ran to the end."""
    from rnn_core.tuning import find_sweeps

    if parent_run_id is None:
        found = find_sweeps(tracking_uri, experiment_name, skip_study=skip_study)
        if not found:
            raise ConfigError(f"--from-experiment {experiment_name}: no finished sweep in it "
                              f"(other than a {skip_study} one)")
        parent_run_id = found[0]
    record = read_sweep(tracking_uri, parent_run_id)
    if record.task.name != task_name:
        raise ConfigError(f"sweep {parent_run_id} trained the {record.task.name} task; this "
                          f"study needs a {task_name} sweep")
    trials = trials_frame(record.runs, record.task)
    pick = validation_pick(trials[trials["status"] == FINISHED], record.task)
    if pick is None:
        raise ConfigError(f"sweep {parent_run_id} has no trial that ran to the end with a "
                          f"validation {record.task.measure}; pick another sweep")
    row = record.runs[record.runs["run_id"] == pick["run_id"]].iloc[0]
    config = {k: _typed(str(row[f"param.{k}"])) for k in keys
              if f"param.{k}" in row and pd.notna(row[f"param.{k}"])}
    config = {k: v for k, v in config.items() if v is not None}
    return config, {"source_run": parent_run_id, "source_study": record.study,
                    "source_pick": pick["run_name"],
                    f"source_{record.task.best_metric}": float(pick[record.task.best_metric])}


def paired_differences(runs: pd.DataFrame, task: Task) -> pd.DataFrame:
    """One row per seed that trained both directions: each direction's validation objective
    and test metric, and bidirectional minus unidirectional of both."""
    seeds = dict(zip(runs["run_id"], pd.to_numeric(runs["param.seed"]), strict=True))
    trials = trials_frame(runs, task)
    trials["seed"] = trials["run_id"].map(seeds)
    out = []
    for seed, g in trials.groupby("seed"):
        by = {bool(d): r for d, r in zip(g["bidirectional"], g.itertuples(), strict=True)}
        if set(by) != {False, True}:
            continue
        uni, bi = by[False], by[True]
        row = {"seed": int(seed)}
        for kind, col in (("val", task.best_metric), ("test", task.test_metric)):
            u, b = float(getattr(uni, col)), float(getattr(bi, col))
            row |= {f"uni_{kind}": u, f"bi_{kind}": b, f"diff_{kind}": b - u}
        out.append(row)
    return pd.DataFrame(out, columns=["seed", "uni_val", "bi_val", "diff_val", "uni_test",
                                      "bi_test", "diff_test"])


def _summary(pairs: pd.DataFrame, task: Task) -> pd.DataFrame:
    rows = []
    for kind, name in (("val", f"best validation {task.measure}"),
                       ("test", f"test {task.measure}")):
        d = pairs[f"diff_{kind}"].dropna()
        rows.append({"metric": name, "seeds": len(d), "uni_mean": pairs[f"uni_{kind}"].mean(),
                     "bi_mean": pairs[f"bi_{kind}"].mean(), "diff_mean": d.mean(),
                     "diff_sd": d.std(ddof=1), "bi_better": int((d > 0).sum()) if
                     task.mode == "max" else int((d < 0).sum())})
    return pd.DataFrame(rows)


def _plot(pairs: pd.DataFrame, task: Task) -> go.Figure:
    fig = go.Figure()
    for kind, name, colour in (("val", "validation", "#0969da"), ("test", "test", "#bf3989")):
        fig.add_trace(go.Bar(x=[f"seed {s}" for s in pairs["seed"]], y=pairs[f"diff_{kind}"],
                             name=f"{name} {task.measure}: bi - uni", marker_color=colour))
        mean = pairs[f"diff_{kind}"].mean()
        fig.add_hline(y=mean, line_dash="dash", line_color=colour,
                      annotation_text=f"mean {name} {mean:+.4f}")
    fig.update_layout(title=f"Bidirectional minus unidirectional, per seed ({task.measure})",
                      yaxis_title=f"bi - uni {task.measure}", barmode="group",
                      template="plotly_white")
    return fig


def build_bidirectional_report(tracking_uri: str, parent_run_id: str | None,
                               out: str | Path, experiment_name: str | None = None,
                               record=None, pngs: bool = True) -> str:
    """Read the direction study from MLflow and write its report into ``out``."""
    record = record or read_sweep(tracking_uri, parent_run_id, experiment_name)
    task, out = record.task, Path(out)
    out.mkdir(parents=True, exist_ok=True)
    trials = trials_frame(record.runs, task)
    pairs = paired_differences(record.runs, task)
    summary = _summary(pairs, task)
    trials.to_csv(out / "trials.csv", index=False)
    pairs.to_csv(out / "paired.csv", index=False)
    (out / "paired.md").write_text(to_markdown(pairs.round(4)))
    sentences = findings(trials, pareto_frame(trials, y=task.best_metric, mode=task.mode), task)
    source = record.params.get("source_pick")
    if source:
        sentences.insert(0, f"The configuration is {source}, the validation pick of sweep "
                            f"{str(record.params.get('source_run'))[:8]} "
                            f"({record.params.get('source_study')}), trained both ways.")
    for _, r in summary.iterrows():
        if r["seeds"]:
            sd = "" if pd.isna(r["diff_sd"]) else f" ± {r['diff_sd']:.4f}"
            per = ", ".join(f"{d:+.4f}" for d in pairs[
                "diff_val" if "validation" in r["metric"] else "diff_test"])
            sentences.append(f"Bidirectional minus unidirectional, {r['metric']}: "
                             f"{r['diff_mean']:+.4f}{sd} (mean ± sd over {int(r['seeds'])} "
                             f"seeds; per seed {per}); bidirectional better on "
                             f"{int(r['bi_better'])} of {int(r['seeds'])}.")
    if pairs.empty:
        sentences.append("No seed trained both directions to a result: no difference.")
    title, _ = study_meta(record.study)
    figures = {"paired": _plot(pairs, task)} if len(pairs) else {}
    parts = [findings_html(sentences)]
    parts += [figure_html(f, n, first=i == 0) for i, (n, f) in enumerate(figures.items())]
    parts += ["<h2>The difference (bi - uni) over seeds</h2>", table_html(summary.round(4)),
              "<h2>Per seed</h2>", table_html(pairs.round(4)),
              f"<h2>Every trial (ranked by validation {task.measure})</h2>",
              table_html(study_table(trials, task, names=True))]
    return finish_report(out, title, parts, subtitle(record.params, record.started,
                                                     record.parent_run_id),
                         figures, sentences, pngs)
