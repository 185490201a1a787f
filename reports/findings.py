"""The report's findings in words, generated from the trials (pure: frames in, sentences out).

The winner is the validation pick: the trial with the best validation objective. Test
metrics are quoted beside it and never used to choose.
"""

from __future__ import annotations

import importlib
from datetime import UTC, datetime

import pandas as pd

from reports.frames import validation_pick
from reports.intervals import test_interval, test_text
from rnn_core.statuses import FAILED, FINISHED, STOPPED_BY_BUDGET, STOPPED_EARLY
from rnn_core.tasks import Task

__all__ = ["study_meta", "validation_pick", "findings", "search_sentence", "spread_sentence",
           "stuck_trials", "stuck_sentence", "subtitle"]

# a final training loss this close to the task's chance loss (``Task.chance``) means the trial
# never left chance (S3 saw SGD at 0.695 against ln 2 = 0.6931)
STUCK_WITHIN = 0.01


def study_meta(study: str) -> tuple[str, dict | None]:
    """A study's title and published reference (``search_spaces.<study>``); plain defaults
    for a study this checkout does not define."""
    try:
        space = importlib.import_module(f"search_spaces.{study}")
    except ImportError:
        return (study or "sweep").replace("_", " ").capitalize(), None
    return getattr(space, "TITLE", study), getattr(space, "REFERENCE", None)


def subtitle(params: dict, started: float, parent_run_id: str) -> str:
    """``quick preset · 2026-12-03 14:05 UTC · sweep 1a2b3c4d``."""
    parts = []
    if params.get("preset"):
        parts.append(f"{params['preset']} preset")
    if started:
        parts.append(datetime.fromtimestamp(started, UTC).strftime("%Y-%m-%d %H:%M UTC"))
    parts.append(f"sweep {parent_run_id[:8]}")
    return " · ".join(parts)


def search_sentence(search: str | None, n_trials: int, task: Task,
                    optuna_study: str | None = None) -> str | None:
    """How the trials were chosen, for a sampled search (None for the grid)."""
    study = f" (Optuna study {optuna_study})" if optuna_study else ""
    if search == "random":
        return f"{n_trials} configurations drawn at random from the space."
    if search == "tpe":
        return (f"Optuna's TPE proposed the {n_trials} configurations, the first third at "
                f"random and then each from the results so far{study}.")
    if search == "nsga2":
        return (f"NSGA-II searched validation {task.measure} and parameter count together over "
                f"{n_trials} trials{study}; the Pareto front below is that two-objective "
                "front.")
    return None


def spread_sentence(spread: pd.DataFrame, key: str, task: Task) -> str | None:
    """``spread_by``'s ranking in words (None when there is nothing to compare)."""
    if len(spread) < 2:
        return None
    parts = []
    for _, r in spread.iterrows():
        sd = "" if pd.isna(r["sd"]) else f" ± {_num(r['sd'], task)}"
        n = int(r["trials"])
        parts.append(f"{r[key]} {_num(r['mean'], task)}{sd} ({n} trial{'s' * (n != 1)})")
    return (f"By {key}, mean best validation {task.measure} ± its standard deviation over its "
            f"trials (whatever else they vary): {'; '.join(parts)}.")


def stuck_trials(runs: pd.DataFrame, trials: pd.DataFrame, chance: tuple[str, float]
                 ) -> pd.DataFrame:
    """The trials whose last training loss is within ``STUCK_WITHIN`` of ``chance`` (the
    task's ``(words, loss)``), with that loss; empty where the runs log no ``train_loss``."""
    if "train_loss" not in runs:
        return trials.iloc[:0].assign(train_loss=[])
    loss = dict(zip(runs["run_id"], pd.to_numeric(runs["train_loss"]), strict=True))
    out = trials.assign(train_loss=trials["run_id"].map(loss))
    return out[(out["train_loss"] - chance[1]).abs() <= STUCK_WITHIN]


def stuck_sentence(stuck: pd.DataFrame, trials: pd.DataFrame, chance: tuple[str, float],
                   key: str = "optimizer") -> str | None:
    """The stuck trials in words, counted per ``key`` value (None when there are none)."""
    if stuck.empty:
        return None
    if key in stuck:
        total = trials[key].value_counts()
        parts = [f"{v} {n} of {int(total[v])}" for v, n in stuck[key].value_counts().items()]
        where = f" ({'; '.join(parts)})"
    else:
        where = ""
    losses = ", ".join(f"{v:.3f}" for v in stuck["train_loss"].sort_values())
    return (f"{len(stuck)} trial{'s' * (len(stuck) != 1)} stayed at chance: last training loss "
            f"within {STUCK_WITHIN} of {chance[0]} = {chance[1]}{where}: {losses}.")


def seed_spread(trials: pd.DataFrame, task: Task) -> pd.DataFrame:
    """Per config repeated over seeds (``--num-samples``: run names ending ``-s<seed>``): its
    seeds' count, mean, standard deviation and best of the best validation objective, the best
    mean first; empty when no config ran more than once."""
    from reports.frames import spread_by

    repeated = trials["run_name"].astype(str).str.contains(r"-s\d+$", regex=True)
    if not repeated.any():
        return pd.DataFrame(columns=["config", "trials", "mean", "sd", "best"])
    configs = trials[repeated].assign(
        config=trials.loc[repeated, "run_name"].str.replace(r"-s\d+$", "", regex=True))
    return spread_by(configs, "config", task.best_metric, task.mode)


def seed_sentence(spread: pd.DataFrame, task: Task, top: int = 3) -> str | None:
    """The best configs' mean over seeds with its spread, in words."""
    if spread.empty or spread["trials"].max() < 2:
        return None
    parts = [f"{r['config']} {_num(r['mean'], task)} ± {_num(r['sd'], task)} "
             f"({int(r['trials'])} seeds)" for _, r in spread.head(top).iterrows()
             if r["trials"] > 1]
    return (f"Over seeds, mean best validation {task.measure} ± its standard deviation: "
            f"{'; '.join(parts)}.")


def _num(v: float, task: Task) -> str:
    """Accuracies to 4 places; a lower-is-better measure (perplexity, an RMSE in the target's
    own units, which may be 0.004 or 4,000) to 4 significant digits, large ones to 0.1."""
    if task.mode == "max":
        return f"{v:.4f}"
    return f"{v:.1f}" if abs(v) >= 100 else f"{v:.4g}"


def findings(trials: pd.DataFrame, front: pd.DataFrame, task: Task,
             reference: dict | None = None, preset: str | None = None) -> list[str]:
    """A few sentences: counts, the validation pick with its test metric, the Pareto front,
    and the comparison with the study's published figure."""
    best, test, measure = task.best_metric, task.test_metric, task.measure
    counts = trials["status"].value_counts()
    said = {FINISHED: "finished", STOPPED_EARLY: "stopped early by the scheduler",
            STOPPED_BY_BUDGET: "stopped when the time budget ran out", FAILED: "failed"}
    parts = [f"{int(counts[s])} {w}" for s, w in said.items() if s in counts]
    parts += [f"{int(n)} {s}" for s, n in counts.items() if s not in said]
    out = [f"{len(trials)} trials: {', '.join(parts)}."]
    pick = validation_pick(trials, task)
    if pick is None:
        out.append(f"No trial reported a validation {measure}; see the failed trials below.")
        return out
    tested = pd.notna(pick[test])
    out.append(
        f"The validation pick is {pick['run_name']} ({int(pick['n_params']):,} parameters): "
        f"best validation {measure} {_num(pick[best], task)}, "
        + (test_text(pick, task) if tested else
           f"test {measure} not measured (it stopped after epoch {int(pick['epochs_run'])})")
        + ".")
    on = front[front["on_front"]].sort_values("n_params")
    if len(on) > 1:
        steps = "; ".join(f"{r['run_name']} {int(r['n_params']):,} -> {_num(r[best], task)}"
                          for _, r in on.iterrows())
        out.append(f"The Pareto front (fewest parameters for their validation {measure}) has "
                   f"{len(on)} configs: {steps}.")
    elif len(on) == 1:
        out.append(f"{on.iloc[0]['run_name']} is both the smallest and the best on validation "
                   "among the trials that reported: the front is one config.")
    if reference and tested and reference.get("metric") == test:
        ref, got = float(reference["value"]), float(pick[test])
        if task.mode == "max":
            diff = f"{(got - ref) * 100:+.1f} points"
        else:
            diff = f"{(got / ref - 1) * 100:+.0f} %"
        caveat = ("" if preset in (None, "full") else
                  f" This sweep ran the {preset} preset, so the comparison is indicative only.")
        iv = test_interval(pick, task)
        inside = ("" if iv is None else
                  f"; the reference lies {'inside' if iv.low <= ref <= iv.high else 'outside'} "
                  "its 95 % interval")
        out.append(f"Published reference: {reference['source']}, test {measure} "
                   f"{_num(ref, task)}; the validation pick here: "
                   f"{test_text(pick, task).removeprefix(f'test {measure} ')} "
                   f"({diff}{inside}).{caveat}")
    return out
