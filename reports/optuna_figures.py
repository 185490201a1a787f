"""Optuna's own figures of a sampled search's study: optimisation history, parameter
importance (fANOVA), parallel coordinates and, for NSGA-II, the Pareto front.

The sweep's parent run names the study (``optuna_study``) and the SQLite file that holds it
(``optuna_storage``). The figures are ``optuna.visualization``'s, drawn on the study's
completed trials (a trial ASHA stopped is PRUNED in the study, as Ray tells Optuna); where a
figure cannot say anything (too few completed trials, nothing varied), the page gets a
sentence instead.
"""

from __future__ import annotations

import html
import logging
import warnings
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["OptunaSection", "open_study", "optuna_section", "section_html"]

log = logging.getLogger(__name__)

# fANOVA's random forest is seeded so a report rebuilt from the same study is the same page
_FANOVA_SEED = 0


@dataclass
class OptunaSection:
    """What the report shows of a study: Optuna's figures by name, and sentences saying why
    a figure is missing."""

    study: str
    storage: str
    figures: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def open_study(study_name: str, storage: str):
    """The Optuna study, read from its storage; ``(study, None)`` or ``(None, why not)``.

    A SQLite file that is not there is reported, not opened: Optuna would create an empty
    one."""
    import optuna

    if storage.startswith("sqlite:///"):
        path = Path(storage[len("sqlite:///"):])
        if not path.is_file():
            return None, f"the Optuna study file {path} is not there"
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        return optuna.load_study(study_name=study_name, storage=storage), None
    except (KeyError, ValueError, RuntimeError) as exc:
        return None, f"Optuna could not open study {study_name} in {storage} ({exc})"


def _varied_params(trials) -> list[str]:
    """Parameters that took more than one value over ``trials`` and appear in all of them
    (what fANOVA can rank)."""
    names = set.intersection(*(set(t.params) for t in trials)) if trials else set()
    return sorted(n for n in names if len({repr(t.params[n]) for t in trials}) > 1)


def optuna_section(study_name: str, storage: str, objective: str) -> OptunaSection:
    """Optuna's figures for a sweep's study, ``objective`` named on their axes; for a
    two-objective study (NSGA-II), the first objective's history, importance and parallel
    coordinates, and the front of both."""
    from optuna.importance import FanovaImportanceEvaluator
    from optuna.trial import TrialState
    from optuna.visualization import (
        plot_optimization_history,
        plot_parallel_coordinate,
        plot_param_importances,
        plot_pareto_front,
    )

    out = OptunaSection(study_name, storage)
    study, why = open_study(study_name, storage)
    if study is None:
        out.notes.append(f"No Optuna figures: {why}.")
        return out
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    pruned = len(study.get_trials(deepcopy=False, states=(TrialState.PRUNED,)))
    multi = len(study.directions) > 1
    names = study.metric_names or [objective] + ([] if not multi else ["n_params"])
    first = names[0]
    # a two-objective study's figures of one objective take it as ``target``
    target = {"target": (lambda t: t.values[0]), "target_name": first} if multi else {
        "target_name": first}
    stopped = (f" ({pruned} trial(s) stopped early by the scheduler are PRUNED in the study "
               "and left out)") if pruned else ""
    if not complete:
        out.notes.append(f"No Optuna figures: study {study_name} has no completed trial"
                         f"{stopped}.")
        return out
    with warnings.catch_warnings():  # Optuna flags its figures of few trials and fANOVA
        warnings.simplefilter("ignore")
        out.figures["optuna_history"] = plot_optimization_history(study, **target)
        varied = _varied_params(complete)
        if len(complete) < 2 or not varied:
            out.notes.append(
                f"No parameter importance: fANOVA needs at least 2 completed trials whose "
                f"parameters differ, and study {study_name} has {len(complete)} completed "
                f"trial(s){' with the same parameters' if len(complete) > 1 else ''}"
                f"{stopped}.")
        elif len({t.values[0] for t in complete}) == 1:
            # fANOVA explains the spread of the objective; with none it raises
            out.notes.append(
                f"No parameter importance: all {len(complete)} completed trials of study "
                f"{study_name} scored the same {first} ({complete[0].values[0]:g}), so no "
                f"parameter explains a difference{stopped}.")
        else:
            out.figures["optuna_importance"] = plot_param_importances(
                study, evaluator=FanovaImportanceEvaluator(seed=_FANOVA_SEED), params=varied,
                **target)
        if varied:
            out.figures["optuna_parallel"] = plot_parallel_coordinate(study, params=varied,
                                                                      **target)
        if multi:
            out.figures["optuna_pareto"] = plot_pareto_front(study, target_names=names)
    if stopped and len(complete) >= 2:
        out.notes.append(f"Optuna's figures use the study's {len(complete)} completed "
                         f"trials{stopped}.")
    return out


def section_html(section: OptunaSection, figure_html) -> list[str]:
    """The page's part for the study: a heading, the notes, then the figures
    (``figure_html(fig, div_id, first)`` renders one; plotly.js is already on the page)."""
    parts = [f"<h2>Optuna study {html.escape(section.study)}</h2>",
             f"<p class='subtitle'>Optuna's own figures "
             f"(optuna.visualization), read from {html.escape(section.storage)}</p>"]
    parts += [f"<p>{html.escape(n)}</p>" for n in section.notes]
    parts += [figure_html(fig, name, False) for name, fig in section.figures.items()]
    return parts
