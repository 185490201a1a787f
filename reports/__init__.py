"""Sweep reports: frames (pure) -> figures (plotly) -> HTML, CSV and Markdown."""

from reports.build import build_report, write_report
from reports.frames import pareto_frame, study_table, to_markdown, trials_frame

__all__ = ["build_report", "write_report", "pareto_frame", "study_table", "to_markdown",
           "trials_frame"]
