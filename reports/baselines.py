"""A language model read against a count baseline on its own split: the interpolated Kneser-Ney
trigram the task scored while preparing the corpus (``kn3_*`` params of the parent run,
``rnn_core.tasks.language_model.kn_baseline``), as a sentence and a row of the study table.

A published perplexity rests on another corpus encoding and vocabulary; the ratio of a model's
perplexity to a trigram's on the same split is the figure that travels. Bengio et al. 2003
measured their neural model at 252 against 312 for their best smoothed trigram.
"""

from __future__ import annotations

import math

import pandas as pd

from rnn_core.tasks import Task

__all__ = ["BENGIO_RATIO", "kn_baseline", "kn_row", "kn_sentence"]

BENGIO = (252.0, 312.0)  # Bengio et al. 2003 on Brown: neural model, best smoothed trigram
BENGIO_RATIO = BENGIO[0] / BENGIO[1]
KN_NAME = "KN trigram (same split)"


def _float(params: dict, key: str) -> float:
    try:
        return float(params.get(key, math.nan))
    except (TypeError, ValueError):
        return math.nan


def kn_baseline(params: dict | None) -> dict | None:
    """The trigram's figures from a parent run's params (MLflow keeps them as text); None
    where the sweep has none (another task, or logged before the baseline existed)."""
    params = params or {}
    base = {k: _float(params, f"kn3_{k}") for k in ("val_ppl", "test_ppl", "test_ppl_ci_low",
                                                      "test_ppl_ci_high", "test_n",
                                                      "train_tokens", "discount")}
    return base if math.isfinite(base["test_ppl"]) else None


def _interval(base: dict) -> str:
    if not (math.isfinite(base["test_ppl_ci_low"]) and math.isfinite(base["test_n"])):
        return ""
    return (f" (95 % CI {base['test_ppl_ci_low']:.1f}-{base['test_ppl_ci_high']:.1f}, "
            f"n = {int(base['test_n']):,} sentences)")


def kn_sentence(pick: pd.Series | None, task: Task, base: dict) -> str:
    """``Same-split interpolated Kneser-Ney trigram ...: test perplexity X (95 % CI ...); the
    validation pick is Y % below it (ratio Z; Bengio et al. 2003: 252 / 312 = 0.81).``"""
    counted = (f", counted on the {int(base['train_tokens']):,} training tokens the trials "
               "train on" if math.isfinite(base["train_tokens"]) else "")
    discount = f"D = {base['discount']:g}" if math.isfinite(base["discount"]) else "fixed D"
    head = (f"Same-split interpolated Kneser-Ney trigram ({discount}{counted}): test perplexity "
            f"{base['test_ppl']:.1f}{_interval(base)}, validation {base['val_ppl']:.1f}")
    got = math.nan if pick is None else _float(pick, task.test_metric)
    if not math.isfinite(got):
        return f"{head}; no validation pick with a test perplexity to set beside it."
    ratio = got / base["test_ppl"]
    side = "below" if ratio < 1 else "above"
    return (f"{head}; the validation pick's test perplexity {got:.1f} is "
            f"{abs(1 - ratio) * 100:.0f} % {side} it (ratio {ratio:.2f}; Bengio et al. 2003: "
            f"{BENGIO[0]:.0f} / {BENGIO[1]:.0f} = {BENGIO_RATIO:.2f}).")


def kn_row(table: pd.DataFrame, task: Task, base: dict) -> pd.DataFrame:
    """The report's study table with the trigram as a last row (no parameters, no epochs)."""
    row = {c: "" for c in table.columns}
    row.update({"run_name": KN_NAME, task.test_metric: round(base["test_ppl"], 2),
                task.best_metric: round(base["val_ppl"], 2), "status": "baseline"})
    if "test_95ci" in table and math.isfinite(base["test_ppl_ci_low"]):
        row["test_95ci"] = f"{base['test_ppl_ci_low']:.2f}-{base['test_ppl_ci_high']:.2f}"
    if "test_n" in table and math.isfinite(base["test_n"]):
        row["test_n"] = int(base["test_n"])
    # object columns: an int column stays printed as ints beside the row's blanks
    return pd.concat([table.astype(object), pd.DataFrame([row], columns=table.columns,
                                                         dtype=object)], ignore_index=True)
