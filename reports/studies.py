"""The studies and the report each one's sweeps get: what a study script writes at the end of
its sweep (``sweeps._common.run_study``) and what ``python -m reports`` rebuilds from MLflow.

Builders are named as ``module:function`` and imported when asked for: each report module
loads plotly and pandas, and a study needs only its own.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

# study name (its script's, the MLflow parent run's ``study`` tag) -> its report builder,
# ``builder(tracking_uri, parent_run_id, folder, experiment_name=None, record=None,
# pngs=True)`` -> summary
STUDIES: dict[str, str] = {
    "compound_scaling": "reports.build:build_report",
    "compound_coefficients": "reports.coefficients:build_coefficient_report",
    "cell_comparison": "reports.cell_comparison:build_cell_report",
    "depth_width_embedding": "reports.effects:build_effects_report",
    "bidirectional": "reports.bidirectional:build_bidirectional_report",
    "optimizers": "reports.build:build_report",
    "sentiment_search": "reports.build:build_report",
    "language_model": "reports.build:build_report",
    "speech_commands": "reports.speech:build_speech_report",
}
# a sweep of a study not listed (run from code, or by another checkout): the general report
DEFAULT = "reports.build:build_report"


def report_builder(study: str | None) -> Callable[..., str]:
    """The function that writes ``study``'s report."""
    module, name = STUDIES.get(study or "", DEFAULT).split(":")
    return getattr(importlib.import_module(module), name)
