"""A search's best-so-far curve: the validation pick among the trials ended by each moment, its
test metric beside it, against the hours and trial-epochs spent.

It answers "how long would a shorter search have taken to find this?" from the one run: every
trial's end is a moment at which the search could have been stopped, and the pick then is the
one the report's rule (``frames.validation_pick``) would have made. Test values stand beside
the pick and never choose it.
"""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from reports.frames import validation_pick
from rnn_core.statuses import ENDED
from rnn_core.tasks import Task

__all__ = ["best_so_far", "best_so_far_sentence", "plot_best_so_far"]

def best_so_far(trials: pd.DataFrame, runs: pd.DataFrame, history: pd.DataFrame,
                started: float, task: Task) -> pd.DataFrame:
    """One row per ended trial, in the order they ended: ``hours`` since the sweep started,
    ``trials_ended``, ``trial_epochs`` and ``epoch_hours`` (the compute logged by then), and
    the pick then (``pick``, its validation and test metrics, ``new``: the pick changed).

    Args:
        trials: ``frames.trials_frame(runs, task)``.
        runs: the child runs as read from MLflow (``start_time``, ``seconds``).
        history: the objective by epoch with ``time`` (when it was logged) and
            ``epoch_seconds``.
        started: the sweep's start, seconds since the epoch.
    """
    best, test = task.best_metric, task.test_metric
    columns = ["hours", "trials_ended", "trial_epochs", "epoch_hours", "pick", best, test, "new"]
    if "start_time" not in runs or "time" not in history or not started:
        return pd.DataFrame(columns=columns)
    ends = dict(zip(runs["run_id"], runs["start_time"] + runs["seconds"], strict=False))
    ended = (trials[trials["status"].isin(ENDED)]
             .assign(ended=lambda d: d["run_id"].map(ends))
             .dropna(subset=["ended"]).sort_values("ended", kind="stable"))
    logged = history.dropna(subset=["time"])
    rows, last = [], None
    for i in range(len(ended)):
        t = float(ended["ended"].iloc[i])
        pick = validation_pick(ended.iloc[: i + 1], task)
        if pick is None:
            continue
        done = logged[logged["time"] <= t]
        rows.append({"hours": (t - started) / 3600, "trials_ended": i + 1,
                     "trial_epochs": len(done),
                     "epoch_hours": float(done["epoch_seconds"].sum()) / 3600,
                     "pick": pick["run_name"], best: pick[best], test: pick.get(test),
                     "new": pick["run_name"] != last})
        last = pick["run_name"]
    return pd.DataFrame(rows, columns=columns)


def plot_best_so_far(curve: pd.DataFrame, task: Task, reference: dict | None = None
                     ) -> go.Figure:
    """The pick's validation and test metric against hours since the start (steps: the pick
    holds until a better one ends); a published test reference as a dashed line."""
    best, test = task.best_metric, task.test_metric
    fig = go.Figure()
    text = [f"{p}<br>{n} trial-epochs, {k} trials ended"
            for p, n, k in zip(curve["pick"], curve["trial_epochs"], curve["trials_ended"],
                               strict=True)]
    for metric, dash in ((best, "solid"), (test, "dot")):
        fig.add_trace(go.Scatter(
            x=curve["hours"], y=curve[metric], mode="lines+markers", name=f"pick's {metric}",
            line={"shape": "hv", "dash": dash},
            marker={"size": [9 if n else 4 for n in curve["new"]]}, text=text,
            hovertemplate="%{x:.2f} h<br>%{text}<br>" + metric + " %{y:.4f}<extra></extra>"))
    if reference and reference.get("metric") == test and len(curve):
        fig.add_hline(y=float(reference["value"]), line_dash="dash", line_color="grey",
                      annotation_text=f"reference test {float(reference['value']):.4f}")
    fig.update_layout(title=f"Best so far: the validation pick as trials end ({best}; its "
                            f"{test} beside it)", xaxis_title="hours since the sweep started",
                      yaxis_title=task.measure, template="plotly_white")
    return fig


def best_so_far_sentence(curve: pd.DataFrame, task: Task, reference: dict | None = None
                         ) -> str | None:
    """When the final pick was first the pick, and when its test passed the reference."""
    if curve.empty:
        return None
    test = task.test_metric
    end = curve.iloc[-1]
    first = curve[curve["pick"] == end["pick"]].iloc[0]
    said = (f"Best so far: the final pick {end['pick']} was the pick from {first['hours']:.2f} h "
            f"of {end['hours']:.2f} h, after {int(first['trial_epochs'])} of "
            f"{int(end['trial_epochs'])} trial-epochs ({int(first['trials_ended'])} of "
            f"{int(end['trials_ended'])} trials ended)")
    if reference and reference.get("metric") == test:
        ref = float(reference["value"])
        better = curve[test] > ref if task.mode == "max" else curve[test] < ref
        if better.any():
            hit = curve[better].iloc[0]
            said += (f"; a pick above the reference's test {task.measure} {ref:.4f} first "
                     f"stood at {hit['hours']:.2f} h ({hit['pick']}, {hit[test]:.4f})")
        else:
            said += f"; no pick's test {task.measure} passed the reference's {ref:.4f}"
    return said + "."
