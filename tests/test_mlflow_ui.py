"""The MLflow UI seen for real: a finished smoke sweep, the real `mlflow server` on 127.0.0.1 with
one worker, and headless Debian Chromium opening the experiment page, the runs-comparison view
and the plotly report. Screenshots land in the test's tmp folder (ui-*.png)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from browser import body_text, chromium, require, stop_session, wait_for
from mlflow.tracking import MlflowClient

from tests._sweeps import shared_sweep

ROOT = Path(__file__).resolve().parents[1]
VENV = Path(sys.executable).parent.parent

pytestmark = pytest.mark.slow

# What `make mlflow-ui` sets too: no Huey job runner (8 extra processes, ~250 MB each) and one
# uvicorn worker, so the server is up in seconds on a small machine.
SERVER_ENV = {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false", "MLFLOW_DISABLE_TELEMETRY": "true"}


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    """The shared smoke sweep (its report in report/), with a folder of this module's own for
    the server's log and the screenshots: (that folder, uri, experiment, parent, children,
    the sweep's stdout)."""
    require()  # before the sweep: no point running it without a browser
    shared = shared_sweep("compound_smoke")
    tmp, uri = tmp_path_factory.mktemp("ui"), shared.uri
    (tmp / "report").symlink_to(shared.folder / "report")
    client = MlflowClient(uri)
    exp = client.get_experiment_by_name("rnn-sweeps")
    runs = client.search_runs([exp.experiment_id])
    (parent,) = [r for r in runs if r.data.tags.get("sweep") == "parent"]
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert len(children) >= 4
    return tmp, uri, exp, parent, children, shared.proc.stdout


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str, timeout: float = 5) -> tuple[int, bytes]:
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        return resp.status, resp.read()


def printed_ui_command(stdout: str, port: int) -> str:
    """The command the sweep printed to open the MLflow UI on its store, on ``port``."""
    (line,) = [ln for ln in stdout.splitlines() if ln.startswith("compare the trials in the")]
    cmd = line.split(": ", 1)[1].split("  (then ")[0]
    if cmd.startswith("make "):  # the venv counts as installed: no pip run from a test
        return f"{cmd} MLFLOW_PORT={port} VENV={VENV} -o {VENV}/.installed"
    assert " --port 5000 " in cmd, cmd
    return cmd.replace(" --port 5000 ", f" --port {port} ")


@pytest.fixture(scope="module")
def server(sweep):
    """The MLflow UI started by the very command the sweep printed, from another folder."""
    tmp, uri, *_, stdout = sweep
    port = _free_port()
    log = (tmp / "mlflow-server.log").open("wb")
    cmd = printed_ui_command(stdout, port)
    assert uri.removeprefix("sqlite:///") in cmd
    proc = subprocess.Popen(
        ["bash", "-c", cmd],
        cwd=tmp,
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, **SERVER_ENV},
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:

        def healthy():
            if proc.poll() is not None:
                tail = (tmp / "mlflow-server.log").read_text(errors="replace")[-3000:]
                raise AssertionError(f"mlflow server exited with {proc.returncode}:\n{tail}")
            try:
                return _get(f"{base}/health", timeout=2)[0] == 200
            except OSError:
                return False

        wait_for(healthy, timeout=180, what=f"{base}/health")
        yield base
    finally:
        stop_session(proc, term_grace=30)  # the CLI, its server and workers
        log.close()


@pytest.fixture(scope="module")
def browser(sweep):
    tmp = sweep[0]
    with chromium(tmp) as driver:
        yield driver


def test_server_is_local_and_serves_the_report_artifact(sweep, server):
    _, _, _, parent, *_ = sweep
    assert server.startswith("http://127.0.0.1:")
    query = urllib.parse.urlencode({"path": "report/report.html", "run_uuid": parent.info.run_id})
    status, body = _get(f"{server}/get-artifact?{query}", timeout=30)
    assert status == 200 and b'id="pareto"' in body


def test_experiment_page_lists_the_child_runs(sweep, server, browser):
    tmp, _, exp, parent, children, _ = sweep
    browser.get(f"{server}/#/experiments/{exp.experiment_id}/runs?workflowType=machine_learning")
    parent_link = f'a[href$="/runs/{parent.info.run_id}"]'
    wait_for(lambda: browser.find_elements("css selector", parent_link), what="the parent run row")
    assert parent.info.run_name in body_text(browser)
    # The children are nested under the parent: press the expander in the parent's name cell.
    browser.execute_script(
        "arguments[0].closest('[role=gridcell]').querySelector('button').click()",
        browser.find_element("css selector", parent_link),
    )
    names = {c.info.run_name for c in children}

    def all_children():
        links = _run_links(browser)
        return links if names <= set(links) else None

    shown = wait_for(all_children, what=f"child runs {sorted(names)} in the runs table")
    for child in children:  # each name is a visible link to its own run
        assert shown[child.info.run_name] == child.info.run_id
    browser.save_screenshot(str(tmp / "ui-experiment.png"))


def _run_links(driver) -> dict[str, str]:
    """Visible run-name links in the runs table: name -> run id."""
    return driver.execute_script("""
        const out = {};
        for (const a of document.querySelectorAll('[role=gridcell] a[href*="/runs/"]')) {
          if (a.offsetParent === null || !a.textContent.trim()) continue;
          out[a.textContent.trim()] = a.getAttribute('href').split('/runs/')[1];
        }
        return out;""")


METRIC_ROW = """
const label = [...document.querySelectorAll('a[title="Plot chart"]')]
  .find(a => a.textContent.trim() === arguments[0]);
if (!label) return null;
const row = label.closest('[style*="top"]'), own = row.closest('.ReactVirtualized__Grid');
let box = own;
while (box && box.querySelectorAll('.ReactVirtualized__Grid').length < 2) box = box.parentElement;
if (!box) return null;
const cells = [...box.querySelectorAll('.ReactVirtualized__Grid [style*="top"]')]
  .filter(d => !own.contains(d) && d.style.top === row.style.top);
cells.sort((a, b) => parseFloat(a.style.left) - parseFloat(b.style.left));
return cells.length ? cells.map(d => d.innerText.trim()) : null;
"""


def test_compare_view_shows_val_acc_for_each_child(sweep, server, browser):
    tmp, _, exp, _, children, _ = sweep
    ids = [c.info.run_id for c in children]
    runs = urllib.parse.quote(json.dumps(ids, separators=(",", ":")))
    exps = urllib.parse.quote(json.dumps([exp.experiment_id]))
    browser.get(f"{server}/#/compare-runs?runs={runs}&experiments={exps}")
    wait_for(lambda: f"Comparing {len(ids)} Runs" in body_text(browser), what="the compare view")
    names = wait_for(
        lambda: browser.execute_script("""
        const th = [...document.querySelectorAll('th')].find(e => e.textContent.trim() ===
                                                              'Run Name:');
        return th && [...th.parentElement.querySelectorAll('td')].map(td => td.innerText.trim());
        """),
        what="the Run Name row",
    )
    assert names == [c.info.run_name for c in children]
    # The Metrics section is two virtualized grids side by side, metric names and values, whose
    # rows are absolutely positioned: the val_acc cells are those at the val_acc label's offset.
    values = wait_for(lambda: browser.execute_script(METRIC_ROW, "val_acc"), what="the val_acc row")
    expected = [c.data.metrics["val_acc"] for c in children]  # the last epoch's value
    assert len(values) == len(children)
    assert [float(v) for v in values] == pytest.approx(expected, abs=6e-4), (values, expected)
    browser.execute_script(
        "arguments[0].scrollIntoView({block: 'center'})",
        browser.find_element("xpath", "//*[text()='Metrics']"),
    )
    browser.save_screenshot(str(tmp / "ui-compare.png"))


def test_report_renders_the_pareto_plot(sweep, browser):
    tmp, _, _, _, children, _ = sweep
    browser.get((tmp / "report" / "report.html").as_uri())
    state = wait_for(
        lambda: browser.execute_script("""
        const g = document.getElementById('pareto');
        if (!g || !g._fullData || !g.querySelector('.main-svg')) return null;
        return {traces: g.querySelectorAll('.scatterlayer .trace').length,
                points: g.querySelectorAll('.scatterlayer .trace .point').length,
                names: g._fullData.map(t => t.name),
                front: g._fullData.filter(t => t.name === 'Pareto front').map(t => t.x.length),
                legend: [...g.querySelectorAll('.legendtext')].map(e => e.textContent),
                curves: document.querySelectorAll('#curves .scatterlayer .trace').length};
        """),
        what="the plotly Pareto plot",
    )
    assert state["traces"] == len(state["names"]) > 0
    assert "Pareto front" in state["names"] and "Pareto front" in state["legend"]
    assert state["front"] and 1 <= state["front"][0] <= len(children)
    # every trial is a marker, plus the front's own markers (at least one)
    assert state["points"] > len(children)
    assert state["curves"] >= len(children)  # a val_acc-by-epoch curve per trial
    browser.execute_script("document.getElementById('pareto').scrollIntoView()")
    browser.save_screenshot(str(tmp / "ui-report.png"))
