"""Pure frame computations for sweep reports (no plotting, no I/O)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from reports.intervals import interval_columns, test_interval
from rnn_core.statuses import ENDED
from rnn_core.tasks import Task

__all__ = ["HYPERPARAMS", "trials_frame", "pareto_frame", "validation_pick", "group_picks",
           "model_picks",
           "study_table", "to_markdown", "sweep_accounting", "hypervolume"]

HYPERPARAMS = ("cell", "variant", "num_layers", "hidden_size", "embedding_dim",
               "bidirectional", "dropout", "optimizer", "lr")
_INT_PARAMS = ("num_layers", "hidden_size", "embedding_dim")


def trials_frame(runs: pd.DataFrame, task: Task) -> pd.DataFrame:
    """One row per trial with typed hyperparameters and its key metrics, best first.

    Args:
        runs: child runs as read from MLflow (``param.*`` columns, metrics, ``status``).
        task: whose objective (``best_val_*``, ``test_*``) the frame carries and ranks by.
    """
    df = pd.DataFrame({"run_name": runs.get("run_name", pd.Series(dtype=str))})
    for key in HYPERPARAMS:
        col = runs.get(f"param.{key}")
        if col is None:
            continue
        if key in _INT_PARAMS:
            df[key] = pd.to_numeric(col, errors="coerce").astype("Int64")
        elif key in ("dropout", "lr"):
            df[key] = pd.to_numeric(col, errors="coerce")
        elif key == "bidirectional":
            df[key] = col.astype(str).str.lower().eq("true")
        else:
            df[key] = col
    for key in ("status", "epochs_run", "n_params", f"train_{task.measure}", task.best_metric,
                task.objective, task.test_metric, *interval_columns(task), "best_val_loss",
                "tokens_per_s", "seconds", "error", "run_id"):
        df[key] = runs[key] if key in runs else np.nan
    if "n_params" in df:
        df["n_params"] = pd.to_numeric(df["n_params"], errors="coerce").astype("Int64")
    return df.sort_values(["status", task.best_metric], ascending=[True, task.mode == "min"]
                          ).reset_index(drop=True)


def spread_by(trials: pd.DataFrame, key: str, value: str, mode: str = "max") -> pd.DataFrame:
    """Per value of ``key`` (e.g. each optimizer): its trials' count, mean, standard deviation
    and best of ``value``, the best mean first; trials without ``value`` are left out."""
    ok = trials.dropna(subset=[value])
    if key not in ok or ok.empty:
        return pd.DataFrame(columns=[key, "trials", "mean", "sd", "best"])
    g = ok.assign(**{value: ok[value].astype(float)}).groupby(key)[value]
    out = pd.DataFrame({"trials": g.size(), "mean": g.mean(), "sd": g.std(ddof=1),
                        "best": g.max() if mode == "max" else g.min()}).reset_index()
    return out.sort_values("mean", ascending=mode == "min").reset_index(drop=True)


def pareto_frame(df: pd.DataFrame, *, y: str, mode: str, x: str = "n_params"
                 ) -> pd.DataFrame:
    """Mark the trials no other trial beats on both axes (fewer ``x``, better ``y``: higher
    for ``mode`` max, lower for min).

    Returns a copy with a boolean ``on_front`` column, rows sorted by ``x``. Trials missing
    either value are never on the front.
    """
    out = df.copy()
    out["on_front"] = False
    ok = out[x].notna() & out[y].notna()
    sign = 1.0 if mode == "max" else -1.0
    cand = out[ok].assign(_score=sign * out.loc[ok, y].astype(float))
    cand = cand.sort_values([x, "_score"], ascending=[True, False])
    best = -np.inf
    front = []
    for idx, val in zip(cand.index, cand["_score"], strict=True):
        if val > best:  # strictly better than every smaller model
            front.append(idx)
            best = val
    out.loc[front, "on_front"] = True
    return out.sort_values(x, na_position="last").reset_index(drop=True)


def hypervolume(points: np.ndarray, ref: tuple[float, float], mode: str = "max") -> float:
    """The area a set of (size, objective) points dominates up to ``ref``: smaller size and a
    better objective (higher for ``mode`` max, lower for min) are better; ``ref`` is (the
    largest size, the worst objective) counted. Points beyond ``ref`` add nothing.

    Args:
        points: shape (n, 2): size (e.g. log10 parameters), objective.
        ref: (size, objective) of the reference corner.
    """
    pts = np.asarray(points, dtype=float).reshape(-1, 2)
    sign = 1.0 if mode == "max" else -1.0
    x, y = pts[:, 0], sign * pts[:, 1]
    x_ref, y_ref = ref[0], sign * ref[1]
    keep = (x < x_ref) & (y > y_ref) & np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    area = 0.0
    # each slice of size between two points is covered up to the best objective of the
    # points at or below it
    order = np.argsort(x)
    xs, ys = x[order], y[order]
    best_so_far = np.maximum.accumulate(ys) if len(ys) else ys
    edges = np.append(xs, x_ref)
    for i in range(len(xs)):
        area += (edges[i + 1] - edges[i]) * (best_so_far[i] - y_ref)
    return float(area)


def validation_pick(trials: pd.DataFrame, task: Task) -> pd.Series | None:
    """The ended trial (finished, or stopped by the scheduler or the time budget) with the
    best validation objective; ties: the lower validation loss of that best state
    (``best_val_loss``, where the task logs it: an accuracy on a small validation split ties
    often), then fewer parameters, then name. A failed trial is never the pick, whatever it
    reported before failing: its model was not kept.

    It ranks by ``best_val_*``, the best validation figure a trial reached: the state its
    checkpoint keeps, the one tested and registered, and what the searcher is told; the
    scheduler compares trials at a rung by the same figure.

    The one rule for the report's headline, every per-group row (``group_picks``) and the
    model a sweep registers."""
    ok = trials[trials[task.best_metric].notna()]
    if "status" in ok:
        ok = ok[ok["status"].isin(ENDED)]
    if ok.empty:
        return None
    keys = [task.best_metric, "best_val_loss", "n_params", "run_name"]
    ranked = ok.assign(best_val_loss=pd.to_numeric(ok.get("best_val_loss", np.nan),
                                                   errors="coerce")
                       ).sort_values(keys, ascending=[task.mode == "min", True, True, True],
                                     na_position="last")
    return trials.loc[ranked.index[0]]


def group_picks(trials: pd.DataFrame, task: Task, by: str | list[str]) -> pd.DataFrame:
    """The validation pick of each group (each cell, each direction, ...): one row per group,
    chosen by ``validation_pick``'s rule, its test figure beside it. A table that shows one
    figure per group shows this row's, never the best test over the group's trials (that
    would pick on test)."""
    rows = []
    for _, g in trials.groupby(by, sort=False, dropna=False):
        pick = validation_pick(g, task)
        if pick is not None:
            rows.append(pick)
    return pd.DataFrame(rows).reset_index(drop=True) if rows else trials.iloc[:0]


def model_picks(trials: pd.DataFrame, task: Task) -> list[str]:
    """Run ids of the trials a sweep keeps as models: the validation pick (the best
    objective; the fewest parameters among equals) first, then the rest of the Pareto front
    by size. Failed trials are left out.

    Args:
        trials: ``trials_frame(runs, task)``.
    """
    ok = trials[trials["status"].isin(ENDED)]
    front = pareto_frame(ok, y=task.best_metric, mode=task.mode)
    front = front[front["on_front"]]
    if front.empty:
        return []
    # over every trial: a tie broken by validation loss may go to one off the front
    pick = validation_pick(ok, task)["run_id"]
    return [pick, *(r for r in front["run_id"] if r != pick)]


def study_table(df: pd.DataFrame, task: Task, names: bool = False) -> pd.DataFrame:
    """The reference study's table: hyperparams, test_num_params, the test metric, ranked by
    the validation objective (the test metric stands beside it, never ranks). ``names``:
    the run names first (the report page; the CSV keeps the reference's columns)."""
    params = task.table_params or tuple(key for key, _ in task.name_keys)
    cols = [c for c in params if c in df]
    table = df[(["run_name"] if names else []) + cols].copy()
    table["test_num_params"] = df["n_params"]
    digits = 4 if task.mode == "max" else 2
    if task.table_train:
        table[f"train_{task.measure}"] = df[f"train_{task.measure}"].astype(float).round(digits)
    table[task.test_metric] = df[task.test_metric].astype(float).round(digits)
    intervals = [test_interval(r, task) for _, r in df.iterrows()]
    if any(iv is not None for iv in intervals):
        table["test_95ci"] = [f"{iv.low:.{digits}f}-{iv.high:.{digits}f}" if iv else ""
                              for iv in intervals]
        table["test_n"] = [iv.n if iv else pd.NA for iv in intervals]
    table[task.best_metric] = df[task.best_metric].astype(float).round(digits)
    table["epochs_run"] = df["epochs_run"]
    table["status"] = df["status"]
    return table.sort_values(task.best_metric, ascending=task.mode == "min",
                             na_position="last").reset_index(drop=True)


def to_markdown(df: pd.DataFrame) -> str:
    """A GitHub-flavoured Markdown table (empty cells for missing values)."""
    def cell(v) -> str:
        if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NA:
            return ""
        if isinstance(v, (int, np.integer)) and not isinstance(v, bool):
            return f"{v:,}"
        return str(v)

    lines = ["| " + " | ".join(df.columns) + " |", "|" + "---|" * len(df.columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |"
              for row in df.itertuples(index=False)]
    return "\n".join(lines) + "\n"


def sweep_accounting(runs: pd.DataFrame, history: pd.DataFrame, slots: int) -> dict:
    """Where a sweep's time went: trial compute vs a plain loop over the same trials.

    Each trial's compute is the sum of its epochs' ``epoch_seconds`` (training + validation,
    measured inside the trial) plus its ``test_seconds`` (the one test pass; counted as 0 where
    not logged). A plain loop over ``slots`` worker processes, given the same trials in the
    order they started and the epochs each ran, finishes at ``loop_makespan_s`` (greedy: the
    next trial goes to the first free worker). The sweep's wall minus that makespan is what the
    platform added (start-up, scheduling, reporting, checkpoints, tracking) plus any idle slot.
    A scheduler that pauses trials at rungs and fills slots with other trials' epochs can
    pack the work better than whole trials in start order; ``loop_longest_first_s``, the same
    loop with the longest trials first, is the stricter comparison.

    Args:
        runs: child runs (``run_id``, ``start_time``, optional ``test_seconds``).
        history: per-epoch rows (``run_id``, ``epoch_seconds``).
        slots: trials that ran at once (CPUs / CPUs per trial).
    """
    per_epoch = pd.to_numeric(history["epoch_seconds"], errors="coerce").fillna(0.0)
    compute = per_epoch.groupby(history["run_id"]).sum()
    test = (pd.to_numeric(runs["test_seconds"], errors="coerce").fillna(0.0)
            if "test_seconds" in runs else pd.Series(0.0, index=runs.index))
    order = runs.assign(test_s=test).sort_values("start_time")
    trial_s = [float(compute.get(row.run_id, 0.0)) + float(row.test_s)
               for row in order.itertuples()]
    return {"trials": len(trial_s), "slots": max(1, int(slots)),
            "compute_s": float(sum(trial_s)), "test_s": float(test.sum()),
            "loop_makespan_s": _greedy_makespan(trial_s, slots),
            # the same loop given the longest trials first (known only afterwards): within
            # 4/3 of the best any order can do, so what it leaves is not the loop's ordering
            "loop_longest_first_s": _greedy_makespan(sorted(trial_s, reverse=True), slots)}


def _greedy_makespan(seconds: list[float], slots: int) -> float:
    free = [0.0] * max(1, int(slots))
    for s in seconds:
        free[free.index(min(free))] += s
    return max(free)
