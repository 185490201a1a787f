"""The spoken-words study's report (S5): frames (pure) -> plotly figure -> HTML, CSV, Markdown.

One row per trial (cell, direction, dataset, validation and test accuracy, the clips behind
each test figure), the accuracy table per cell and direction on each test split, and the
per-class recall of the validation pick with its confusion matrix on human speech.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from reports.build import findings_html, read_sweep, run_outputs
from reports.compare import Outputs, pick_comparisons
from reports.findings import study_meta, subtitle
from reports.frames import group_picks, to_markdown, trials_frame, validation_pick
from reports.page import finish_report, table_html
from rnn_core.data.speech_commands import WORD_SETS
from rnn_core.stats import wilson
from rnn_core.tasks import AUDIO

__all__ = ["COLUMNS", "accuracy_table", "build_speech_report", "confusion_frame",
           "recall_frame", "speech_frame", "speech_findings", "write_speech_report"]

TEST, BEST = AUDIO.test_metric, AUDIO.best_metric
# each test split: (its accuracy metric, its clip count metric, the label in tables)
TEST_SPLITS = ((TEST, "test_n", "test"), ("test_human_acc", "test_human_n", "human test"),
               ("test_human_aug_acc", "test_human_aug_n", "human aug test"))
# the human splits' metric prefixes and labels: their confusion matrices
HUMAN_SPLITS = (("test_human_", "human test"), ("test_human_aug_", "human aug test"))
# 20 recordings (and 100 variations of them): each clip moves the accuracy by 5 points, so
# these figures are printed as clips right of clips, with the interval, never as a bare share
COUNTED = {label for _, label in HUMAN_SPLITS}
COLUMNS = ("cell", "backend", "direction", "dataset", BEST, "best_val_loss", TEST, "test_n",
           "test_human_acc", "test_human_n", "test_human_aug_acc", "test_human_aug_n",
           "n_params", "sec_per_epoch", "epochs_run", "status", "run_name")
_OPTIONAL = ("best_val_loss", "test_human_acc", "test_human_n", "test_human_aug_acc",
             "test_human_aug_n")  # left out of the trial table where no trial has them


def speech_frame(runs: pd.DataFrame) -> pd.DataFrame:
    """One typed row per trial (``COLUMNS``), in the validation pick's order
    (``reports.frames.validation_pick``: best validation accuracy, then lower validation loss,
    then fewer parameters; test accuracy never ranks)."""
    n = len(runs)

    def col(name: str, default=np.nan) -> pd.Series:
        return runs[name] if name in runs else pd.Series([default] * n, index=runs.index)

    dataset = col("param.dataset", "").astype(str)
    df = pd.DataFrame({
        "cell": col("param.cell", "").astype(str),
        "backend": col("param.backend", "").astype(str),
        "direction": np.where(col("param.bidirectional", "False").astype(str).str.lower()
                              == "true", "bi", "uni"),
        "dataset": [Path(d).name if "/" in d else d for d in dataset],
    }, index=runs.index)
    for key in (BEST, "best_val_loss", TEST, "test_human_acc", "test_human_aug_acc"):
        df[key] = pd.to_numeric(col(key), errors="coerce").astype(float).round(4)
    for key in ("test_n", "test_human_n", "test_human_aug_n", "n_params", "epochs_run"):
        df[key] = pd.to_numeric(col(key), errors="coerce").round().astype("Int64")
    df["sec_per_epoch"] = pd.to_numeric(col("epoch_seconds"), errors="coerce").round(2)
    df["status"] = col("status", "")
    df["run_name"] = col("run_name", "")
    return df[list(COLUMNS)].sort_values([BEST, "best_val_loss", "n_params", "run_name"],
                                         ascending=[False, True, True, True],
                                         na_position="last").reset_index(drop=True)


def accuracy_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Test accuracy per cell (rows, in the study's order) and direction (columns) of each
    cell's validation pick, with its Wilson 95 % interval, for every test split the sweep
    measured; the clip count behind each in the header."""
    cells = list(dict.fromkeys(c for c in ("rnn_tanh", "rnn_relu", "lstm", "gru", "mgu")
                               if c in set(frame["cell"])))
    cells += sorted(set(frame["cell"]) - set(cells))
    out = pd.DataFrame({"cell": cells})
    for acc, count, label in TEST_SPLITS:
        if frame[acc].notna().sum() == 0:
            continue
        clips = frame[count].dropna()
        n = f" (n={int(clips.max())})" if len(clips) else ""
        for direction in ("uni", "bi"):
            g = frame[frame["direction"] == direction]
            if g.empty:
                continue
            # each cell's validation pick, its test figures beside it (a max over the
            # cell's trials would pick on test)
            picks = group_picks(g, AUDIO, "cell").set_index("cell")
            show = _right_of if label in COUNTED else (lambda a, _: a)
            out[f"{label} {direction}{n}"] = [
                show(picks[acc].get(c, np.nan), picks[count].get(c, np.nan)) for c in cells]
            out[f"{label} {direction} 95 % CI"] = [
                _ci(picks[acc].get(c, np.nan), picks[count].get(c, np.nan)) for c in cells]
    return out


def _right_of(acc: float, n) -> str | float:
    """``k/n``: the clips right of the clips scored (the accuracy itself without a count)."""
    if pd.isna(acc) or pd.isna(n) or int(n) <= 0:
        return acc
    return f"{round(float(acc) * int(n))}/{int(n)}"


def _ci(acc: float, n) -> str:
    """``lo-hi``: the Wilson 95 % interval of an accuracy over ``n`` clips ("" without)."""
    if pd.isna(acc) or pd.isna(n) or int(n) <= 0:
        return ""
    iv = wilson(round(float(acc) * int(n)), int(n))
    return f"{iv.low:.2f}-{iv.high:.2f}"


_BOUNDS = ("_ci_low", "_ci_high")  # a metric's interval, logged beside it


def recall_frame(runs: pd.DataFrame, run_name: str) -> pd.DataFrame:
    """Per-class recall of one trial on each test split, with its Wilson 95 % interval where
    the run logged one: rows are classes."""
    row = runs[runs["run_name"] == run_name].iloc[0]
    out: dict[str, dict[str, float | str]] = {}
    for prefix, label in (("test_recall_", "test"), ("test_human_recall_", "human test"),
                          ("test_human_aug_recall_", "human aug test")):
        for key in row.index:
            if not (isinstance(key, str) and key.startswith(prefix) and pd.notna(row[key])) \
                    or key.endswith(_BOUNDS):
                continue
            cls = out.setdefault(key[len(prefix):], {})
            support = row.get(key.replace("recall_", "support_", 1))
            cls[label] = (_right_of(float(row[key]), support)
                          if label in COUNTED and support is not None and pd.notna(support)
                          else round(float(row[key]), 4))
            low, high = row.get(f"{key}_ci_low"), row.get(f"{key}_ci_high")
            if low is not None and high is not None and pd.notna(low) and pd.notna(high):
                cls[f"{label} 95 % CI"] = f"{float(low):.2f}-{float(high):.2f}"
    frame = pd.DataFrame.from_dict(out, orient="index")
    return frame.rename_axis("class").reset_index()


def _class_order(names) -> list[str]:
    """Digits in spoken order, then any other class alphabetically."""
    order = {w: i for i, w in enumerate(WORD_SETS["digits"])}
    return sorted(set(names), key=lambda n: (order.get(n, len(order)), n))


def confusion_frame(runs: pd.DataFrame, run_name: str, prefix: str = "test_human_"
                    ) -> pd.DataFrame:
    """One trial's confusion counts on a test split (``<prefix>confusion_<true>__<pred>``):
    rows the true class, columns the predicted one; empty if the trial logged none."""
    row = runs[runs["run_name"] == run_name].iloc[0]
    key = f"{prefix}confusion_"
    counts = {tuple(k[len(key):].split("__", 1)): int(row[k]) for k in row.index
              if isinstance(k, str) and k.startswith(key) and pd.notna(row[k])}
    if not counts:
        return pd.DataFrame()
    recalls = [k[len(f"{prefix}recall_"):] for k in row.index if isinstance(k, str)
               and k.startswith(f"{prefix}recall_") and pd.notna(row[k])
               and not k.endswith(_BOUNDS)]
    classes = _class_order([*recalls, *(c for pair in counts for c in pair)])
    frame = pd.DataFrame(0, index=classes, columns=classes)
    for (t, p), n in counts.items():
        frame.loc[t, p] = n
    return frame.rename_axis("true \\ predicted").reset_index()


def speech_findings(frame: pd.DataFrame, reference: dict | None = None) -> list[str]:
    """Counts, the validation pick with its test accuracy on each split, the best of each cell
    on validation, and the published figure."""
    counts = frame["status"].value_counts()
    out = [f"{len(frame)} trials: " + ", ".join(f"{int(n)} {str(s).replace('_', ' ')}"
                                                for s, n in counts.items()) + "."]
    ok = frame[frame[BEST].notna()]
    if ok.empty:
        return [*out, "No trial reported a validation accuracy."]
    pick = validation_pick(ok, AUDIO)
    tests = [_test_text(label, pick[acc], pick[n]) for acc, n, label in TEST_SPLITS
             if pd.notna(pick[acc])]
    loss = f" (loss {pick['best_val_loss']:.4f})" if pd.notna(pick["best_val_loss"]) else ""
    out.append(f"The validation pick is {pick['run_name']} on {pick['dataset']} "
               f"({int(pick['n_params']):,} parameters): validation acc {pick[BEST]:.4f}{loss}, "
               + (", ".join(tests) or "test not measured") + ".")
    per_cell = ok.drop_duplicates("cell")
    out.append("Best of each cell on validation: " + "; ".join(
        f"{r['cell']} {r[BEST]:.4f} ({r['run_name']})" for _, r in per_cell.iterrows()) + ".")
    if reference and pd.notna(pick[TEST]) and str(pick["dataset"]) == "japanese_vowels":
        out.append(f"Published reference: {reference['source']}, test acc "
                   f"{reference['value']:.4f}; the validation pick here: {pick[TEST]:.4f} "
                   f"(interval above).")
    return out


def _test_text(label: str, acc: float, n) -> str:
    """``test acc 0.9796 (95 % CI ..., n = 540)``; a human split as ``human test 17 of 20
    right (95 % CI 0.64-0.95)``."""
    if pd.isna(n):
        return f"{label} acc {acc:.4f}"
    iv = wilson(round(acc * int(n)), int(n))
    if label in COUNTED:
        return (f"{label} {round(acc * int(n))} of {int(n)} right (95 % CI "
                f"{iv.low:.2f}-{iv.high:.2f})")
    return f"{label} acc {iv.text()}"


def plot_accuracy(frame: pd.DataFrame) -> go.Figure:
    """Test accuracy per cell, one bar per direction and test split."""
    fig = go.Figure()
    for acc, count, label in TEST_SPLITS:
        for direction in ("uni", "bi"):
            g = frame[(frame["direction"] == direction) & frame[acc].notna()]
            if not g.empty:
                # the clip count in the legend: 20 human clips and 540 synthetic ones are not
                # read alike; run names only on hover (inside the bars they hid the heights)
                n = f" (n={int(g[count].max())})" if count in g and g[count].notna().any() else ""
                fig.add_trace(go.Bar(x=g["cell"], y=g[acc], name=f"{label} {direction}{n}",
                                     text=g["run_name"], textposition="none",
                                     hovertemplate="%{text}<br>%{y:.4f}<extra></extra>"))
    fig.update_layout(barmode="group", title="test accuracy by cell and direction",
                      yaxis_title="accuracy", template="plotly_white",
                      xaxis={"categoryorder": "array",
                             "categoryarray": ["rnn_tanh", "rnn_relu", "lstm", "gru", "mgu"]})
    return fig


def plot_confusion(confusion: pd.DataFrame, title: str) -> go.Figure:
    """A confusion matrix as a heatmap: true class down, predicted across."""
    counts = confusion.set_index(confusion.columns[0])
    fig = go.Figure(go.Heatmap(z=counts.values, x=list(counts.columns), y=list(counts.index),
                               colorscale="Blues", text=counts.values, texttemplate="%{text}",
                               hovertemplate="true %{y}<br>predicted %{x}<br>%{z} clips"
                                             "<extra></extra>"))
    fig.update_layout(title=title, xaxis_title="predicted", yaxis_title="true",
                      yaxis={"autorange": "reversed"}, template="plotly_white")
    return fig


def write_speech_report(runs: pd.DataFrame, out: str | Path, title: str = "spoken words",
                        subtitle: str = "", reference: dict | None = None, pngs: bool = True,
                        outputs: Outputs | None = None) -> str:
    """Write ``report.html`` (+ PNG), ``speech.csv``/``.md``, ``accuracy_table.csv``/``.md``
    and the validation pick's ``pick_recall.csv`` and ``confusion_<split>.csv`` into ``out``;
    returns a summary."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    frame = speech_frame(runs)
    table = accuracy_table(frame)
    # a dataset without a human test split leaves those columns empty: not shown
    shown = frame.drop(columns=[c for c in _OPTIONAL if frame[c].isna().all()])
    shown.to_csv(out / "speech.csv", index=False)
    (out / "speech.md").write_text(to_markdown(shown))
    table.to_csv(out / "accuracy_table.csv", index=False)
    (out / "accuracy_table.md").write_text(to_markdown(table))
    sentences = speech_findings(frame, reference)
    if outputs is not None:  # the pick against the runner-up and each other cell's pick
        sentences += pick_comparisons(trials_frame(runs, AUDIO), AUDIO, outputs)
    figures = {"accuracy": plot_accuracy(frame)}
    picked = validation_pick(frame, AUDIO)
    pick = None if picked is None else picked["run_name"]
    parts = [findings_html(sentences),
             figures["accuracy"].to_html(full_html=False, include_plotlyjs=True,
                                         div_id="accuracy"),
             "<h2>Test accuracy per cell and direction (each one's validation pick, with "
             "its 95 % interval)</h2>",
             table_html(table)]
    summary_extra = []
    if pick is not None:
        recall = recall_frame(runs, pick)
        if not recall.empty:
            recall.to_csv(out / "pick_recall.csv", index=False)
            parts += [f"<h2>Per-class recall of the validation pick ({pick})</h2>",
                      table_html(recall)]
        for prefix, label in HUMAN_SPLITS:
            confusion = confusion_frame(runs, pick, prefix)
            if confusion.empty:
                continue
            name = prefix.removeprefix("test_").rstrip("_")
            confusion.to_csv(out / f"confusion_{name}.csv", index=False)
            n = int(confusion.iloc[:, 1:].to_numpy().sum())
            heading = f"Confusion matrix of the validation pick ({pick}) on the {label} ({n} clips)"
            figures[f"confusion_{name}"] = plot_confusion(confusion, heading)
            parts += [f"<h2>{heading}</h2>",
                      figures[f"confusion_{name}"].to_html(full_html=False,
                                                           include_plotlyjs=False,
                                                           div_id=f"confusion_{name}"),
                      table_html(confusion)]
            summary_extra += [f"{heading}:", to_markdown(confusion).rstrip()]
    parts += ["<h2>All trials (the validation pick's order; the pick highlighted)</h2>",
              table_html(shown, pick)]
    return finish_report(out, title, parts, subtitle, figures, sentences, pngs,
                         ["test accuracy per cell and direction:", to_markdown(table).rstrip(),
                          *summary_extra])


def build_speech_report(tracking_uri: str, parent_run_id: str | None, out: str | Path,
                        experiment_name: str | None = None, record=None, pngs: bool = True) -> str:
    """Read a finished spoken-words sweep from MLflow and write its report into ``out``."""
    record = record or read_sweep(tracking_uri, parent_run_id, experiment_name)
    title, reference = study_meta(record.study or "speech_commands")
    return write_speech_report(record.runs, out, title=title, reference=reference,
                               subtitle=subtitle(record.params, record.started,
                                                 record.parent_run_id),
                               outputs=run_outputs(tracking_uri), pngs=pngs)
