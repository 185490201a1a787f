"""The report page as a reader sees it, in a real headless Chromium: title, findings in words,
the heatmap drawn, tables readable; and its PNG copies written by plotly's static export."""

from __future__ import annotations

import pytest

from reports.build import write_report
from rnn_core.tasks import SENTIMENT
from tests import browser
from tests.test_reports import _runs


@pytest.mark.slow
def test_report_page_renders_findings_and_heatmap(tmp_path):
    browser.require()
    import pandas as pd

    history = pd.DataFrame({"run_id": ["id-a", "id-a", "id-d"], "run_name": ["a", "a", "d"],
                            "epoch": [1, 2, 1], "val_acc": [0.7, 0.8, 0.86]})
    out = tmp_path / "report"
    out.mkdir()
    (out / "pareto.png").write_bytes(b"an earlier report's figure")  # replaced, not kept
    summary = write_report(_runs(), history, out, title="Compound scaling (study S3)",
                           task=SENTIMENT,
                           subtitle="quick preset · 2026-12-03 10:00 UTC · sweep 1a2b3c4d",
                           reference={"metric": "test_acc", "value": 0.8806,
                                      "source": "study S3"}, preset="quick")
    # plotly's static export through kaleido and the same Chromium
    assert "not exported as PNG" not in summary, summary
    for name in ("pareto", "heatmap", "curves"):
        png = (out / f"{name}.png").read_bytes()
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000, name
    with browser.chromium(tmp_path) as driver:
        driver.get((out / "report.html").as_uri())
        assert driver.title == "Compound scaling (study S3)"
        text = browser.wait_for(lambda: browser.body_text(driver), what="the page text")
        assert "quick preset · 2026-12-03" in text
        assert "The validation pick is d (9,000 parameters)" in text
        assert "indicative only" in text  # a quick sweep read against the published figure
        # plotly draws a heatmap as an image inside its heatmap layer, one per panel
        cells = browser.wait_for(lambda: driver.execute_script(
            "return document.querySelectorAll('#heatmap .heatmaplayer image').length"),
            what="the heatmap drawn")
        assert cells == 3
        picked = driver.execute_script(
            "return getComputedStyle(document.querySelector('tr.pick td')).backgroundColor")
        assert picked == "rgb(218, 251, 225)"
        driver.save_screenshot(str(tmp_path / "report.png"))
    assert (tmp_path / "report.png").stat().st_size > 10_000


def _chromium_descendants() -> list[int]:
    """The running (not zombie) Chromium processes this process started, at any depth."""
    import os
    from pathlib import Path

    procs = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        name, rest = text.split("(", 1)[1].rsplit(")", 1)
        state, ppid = rest.split()[:2]
        procs[int(stat.parent.name)] = (name, state, int(ppid))

    def descends(pid: int) -> bool:
        while pid in procs and pid > 1:
            pid = procs[pid][2]
            if pid == os.getpid():
                return True
        return False

    return [pid for pid, (name, state, _) in procs.items()
            if "chrom" in name and state != "Z" and descends(pid)]


@pytest.mark.slow
def test_a_browser_started_ahead_exports_the_pngs_and_stops(tmp_path):
    """A sweep starts kaleido's browser as its trials end (reports.png_browser.warm); the report's
    export uses it, and stop() leaves no browser behind."""
    browser.require()
    import plotly.graph_objects as go

    from reports import png_browser
    from reports.page import export_pngs

    assert not png_browser.ready(0)  # not started: the export starts its own browser
    png_browser.warm()
    try:
        assert png_browser.ready()
        assert _chromium_descendants()
        figures = {f"f{i}": go.Figure(go.Scatter(x=[1, 2, 3], y=[i, 2, 1])) for i in range(2)}
        assert export_pngs(figures, tmp_path) is None
        for name in figures:
            assert (tmp_path / f"{name}.png").read_bytes()[:4] == b"\x89PNG"
    finally:
        png_browser.stop()
    assert not _chromium_descendants()
