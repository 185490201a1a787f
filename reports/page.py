"""The report page: styled self-contained HTML, readable tables, and PNG copies of figures."""

from __future__ import annotations

import html
import logging
import math
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from reports import png_browser

__all__ = ["fmt", "table_html", "write_page", "export_pngs", "finish_report"]

log = logging.getLogger(__name__)

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 2rem auto;
       max-width: 1200px; padding: 0 1rem; color: #1f2328; line-height: 1.45; }
h1 { font-size: 1.6rem; margin-bottom: .2rem; }
.subtitle { color: #59636e; margin-top: 0; }
.findings { background: #f6f8fa; border-left: 4px solid #0969da; padding: .6rem 1.2rem; }
.findings li { margin: .25rem 0; }
table { border-collapse: collapse; margin: .5rem 0 1.5rem; font-size: .9rem; }
th, td { padding: .3rem .7rem; border-bottom: 1px solid #d1d9e0; }
th { background: #f6f8fa; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.pick td { background: #dafbe1; font-weight: 600; }
"""


def fmt(value, digits: int = 4) -> str:
    """A cell as people read it: thousands separated, floats to ``digits``, blanks for NaN."""
    if value is None or value is pd.NA:
        return ""
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (int, np.integer)):
        return f"{int(value):,}"
    if isinstance(value, (float, np.floating)):
        if math.isnan(value):
            return ""
        if float(value).is_integer() and abs(value) >= 1000:
            return f"{int(value):,}"
        return f"{value:,.{digits}f}" if abs(value) < 1000 else f"{value:,.1f}"
    return str(value)


def table_html(df: pd.DataFrame, pick: str | None = None, digits: int = 4) -> str:
    """An HTML table; numbers right-aligned and formatted; the row whose ``run_name`` is
    ``pick`` (the validation pick) highlighted."""
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in df.columns)
    rows = []
    for _, row in df.iterrows():
        cls = " class='pick'" if pick is not None and row.get("run_name") == pick else ""
        cells = []
        for v in row:
            num = isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(
                v, (bool, np.bool_))
            cells.append(f"<td{' class=num' if num else ''}>{html.escape(fmt(v, digits))}</td>")
        rows.append(f"<tr{cls}>{''.join(cells)}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def write_page(path: Path, title: str, parts: list[str], subtitle: str = "") -> None:
    """One self-contained HTML page from pre-rendered fragments."""
    sub = f"<p class='subtitle'>{html.escape(subtitle)}</p>" if subtitle else ""
    path.write_text("<!doctype html><html><head><meta charset='utf-8'><title>"
                    f"{html.escape(title)}</title><style>{_CSS}</style></head><body>"
                    f"<h1>{html.escape(title)}</h1>{sub}" + "\n".join(parts) + "</body></html>")


def export_pngs(figures: dict, out: Path, width: int = 1100, height: int = 600) -> str | None:
    """Write ``<name>.png`` beside the page for each figure (plotly's static export through
    kaleido and a local Chromium, offline). Returns why none were written, or None: a machine
    without Chromium still gets the HTML report."""
    if not figures:
        return None
    import plotly.io as pio

    png_browser.quiet_browser_logs()
    names = list(figures)
    paths = [out / f"{n}.png" for n in names]
    for path in paths:  # a PNG of an earlier report in this folder is not this one's
        path.unlink(missing_ok=True)
    png_browser.ready()  # a browser started ahead (reports.png_browser), else plotly starts its own
    try:
        with warnings.catch_warnings():  # plotly's own options are the server's already
            warnings.filterwarnings("ignore", message="The kopts argument is ignored")
            pio.write_images([figures[n] for n in names], paths, width=width, height=height)
            # kaleido returns the error of a figure it failed to render in a batch (seen on a
            # loaded machine) instead of raising it, and plotly drops it: a figure left without
            # its file is exported again on its own, where kaleido raises what went wrong
            for name, path in zip(names, paths, strict=True):
                if not path.exists():
                    log.info("report figure %s was not exported with the others; again", name)
                    pio.write_image(figures[name], path, width=width, height=height)
    except Exception as exc:  # kaleido raises its own types for a missing or failing browser
        reason = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        log.warning("report figures not exported as PNG (%s)", reason)
        return reason
    return None


def finish_report(out: Path, title: str, parts: list[str], subtitle: str, figures: dict,
                  sentences: list[str], pngs: bool = True, extra: list[str] = ()) -> str:
    """Export the figures as PNG (when asked), write ``report.html`` with links to them, and
    return the console summary: the page's path, the findings, ``extra`` lines, and why no
    PNGs were written where that happened."""
    note = export_pngs(figures, out) if pngs else "not requested"
    if note is None:
        parts = [*parts, "<p class='subtitle'>Figures as PNG beside this page: "
                 + ", ".join(f"<a href='{n}.png'>{n}.png</a>" for n in figures) + "</p>"]
    write_page(out / "report.html", title, parts, subtitle)
    lines = [f"report: {(out / 'report.html').resolve()}", *sentences, *extra]
    if note is not None and pngs:
        lines.append(f"(figures not exported as PNG: {note})")
    return "\n".join(lines)
