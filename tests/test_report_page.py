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
    write_report(_runs(), history, out, title="Compound scaling (study S3)", task=SENTIMENT,
                 subtitle="quick preset · 2026-12-03 10:00 UTC · sweep 1a2b3c4d",
                 reference={"metric": "test_acc", "value": 0.8806, "source": "study S3"},
                 preset="quick")
    # plotly's static export through kaleido and the same Chromium
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
