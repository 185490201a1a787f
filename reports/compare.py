"""Two trials on the same test examples, compared paired: is the difference real?

Each finished trial keeps its per-example test results (``rnn_core.tuning``'s ``TEST_OUTPUTS``:
``correct`` per example of a classifier, ``nll`` and ``tokens`` per sentence of a language
model). Two trials of one sweep were tested on the same examples, so their difference is read
example by example (``rnn_core.stats``): McNemar's exact test for accuracy, a paired bootstrap
for perplexity. The findings compare the validation pick with the runner-up on validation and
with the validation pick of every other cell (or arm) of the study;
``python -m reports --compare RUN_A RUN_B`` does it for any two child runs.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from reports.frames import group_picks, validation_pick
from rnn_core.stats import PairedComparison, paired_accuracy, paired_ppl
from rnn_core.statuses import ENDED
from rnn_core.tasks import Task

__all__ = ["compare_outputs", "comparison_sentence", "pick_comparisons"]

Outputs = Callable[[str], dict | None]  # run id -> its per-example test results, or None


def compare_outputs(a: dict, b: dict) -> PairedComparison:
    """A minus B: accuracy points for classifiers, perplexity for language models."""
    if "correct" in a and "correct" in b:
        if "label" in a and "label" in b and not np.array_equal(a["label"], b["label"]):
            raise ValueError("the two runs were tested on different examples (their labels "
                             "differ); a paired comparison needs the same test split")
        return paired_accuracy(a["correct"], b["correct"])
    if "nll" in a and "nll" in b:
        if not np.array_equal(a["tokens"], b["tokens"]):
            raise ValueError("the two runs were scored on different sentences (their token "
                             "counts differ); a paired comparison needs the same test split")
        return paired_ppl(a["nll"], b["nll"], a["tokens"])
    raise ValueError(f"cannot pair test outputs with keys {sorted(a)} and {sorted(b)}")


def comparison_sentence(name_a: str, name_b: str, cmp: PairedComparison) -> str:
    """``a vs b: +0.9 points, 95 % CI -0.2..+2.0, p = 0.11 (McNemar exact, n = 9,917): not
    distinguishable on this test set``."""
    text = (cmp.text() if cmp.test.startswith("McNemar")
            else cmp.text(unit="perplexity", scale=1.0, digits=2))
    verdict = ("a real difference on this test set (p < 0.05)" if cmp.distinguishable()
               else "not distinguishable on this test set")
    return f"{name_a} vs {name_b}: {text}: {verdict}"


def _group_key(trials: pd.DataFrame) -> str | None:
    """The study's arm: the cell where the trials span several (the cell comparison names
    them by ``variant``, cell and backend), else None."""
    for key in ("cell", "variant"):
        if key in trials and trials[key].nunique(dropna=True) > 1:
            return key
    return None


def pick_comparisons(trials: pd.DataFrame, task: Task, outputs: Outputs) -> list[str]:
    """Sentences comparing the validation pick with the runner-up on validation and with the
    validation pick of each other cell, on the test examples both were scored on."""
    ended = trials[trials["status"].isin(ENDED)] if "status" in trials else trials
    pick = validation_pick(ended, task)
    if pick is None or pd.isna(pick.get(task.test_metric)):
        return []
    mine = outputs(pick["run_id"])
    if mine is None:
        return []
    rivals: list[tuple[str, pd.Series]] = []
    rest = ended[(ended["run_id"] != pick["run_id"]) & ended[task.test_metric].notna()]
    runner = validation_pick(rest, task)
    if runner is not None:
        rivals.append(("the runner-up on validation", runner))
    if (key := _group_key(ended)) is not None:
        others = group_picks(rest[rest[key] != pick[key]], task, key)
        rivals += [(f"the best {key} {r[key]} on validation", r) for _, r in others.iterrows()
                   if runner is None or r["run_id"] != runner["run_id"]]
    out = []
    for role, rival in rivals:
        theirs = outputs(rival["run_id"])
        if theirs is None:
            continue
        try:
            cmp = compare_outputs(mine, theirs)
        except ValueError:
            continue  # another test split (a subset): nothing to pair
        out.append(f"Paired test comparison with {role}: "
                   + comparison_sentence(pick["run_name"], rival["run_name"], cmp) + ".")
    return out
