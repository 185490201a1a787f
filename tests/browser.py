"""Headless Debian Chromium for tests, driven by Selenium through Debian's own chromedriver.

`missing()` says why no browser can run here (None when one can); `chromium(tmp)` opens one and
always quits it. Set RNN_SWEEPS_REQUIRE_BROWSER=1 (CI does) to turn the skip into a failure.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1600,1000",
)


def missing() -> str | None:
    """Why no headless browser can run here, or None."""
    for path, pkg in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if not path.exists():
            return f"{path} is missing (apt-get install {pkg})"
    if importlib.util.find_spec("selenium") is None:
        return "selenium is not installed (pip install -e '.[dev]')"
    return None


def require() -> None:
    """Skip the calling test when no browser can run, or fail where one is required (CI)."""
    why = missing()
    if why is None:
        return
    if os.environ.get("RNN_SWEEPS_REQUIRE_BROWSER") == "1":
        pytest.fail(f"RNN_SWEEPS_REQUIRE_BROWSER=1 but {why}")
    pytest.skip(why)


@contextlib.contextmanager
def chromium(tmp: Path, page_load_timeout: float = 90) -> Iterator[Any]:
    """A headless Chromium (selenium WebDriver) with its profile under `tmp`; quit on exit."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = str(CHROMIUM)
    for flag in (*FLAGS, f"--user-data-dir={tmp / 'chromium-profile'}"):
        opts.add_argument(flag)
    service = Service(str(CHROMEDRIVER), log_output=str(tmp / "chromedriver.log"))
    driver = webdriver.Chrome(service=service, options=opts)
    try:
        driver.set_page_load_timeout(page_load_timeout)
        yield driver
    finally:
        driver.quit()


def wait_for(probe: Callable[[], Any], timeout: float = 120, what: str = "condition") -> Any:
    """Poll `probe` until it returns something truthy; return that, or fail after `timeout` s.

    An AssertionError from `probe` fails at once; other errors (an element not there yet, a
    stale one) count as "not yet"."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = probe()
            if value:
                return value
        except AssertionError:
            raise
        except Exception as err:  # the page is still rendering: stale or absent elements
            last_error = err
        time.sleep(0.25)
    raise AssertionError(
        f"timed out after {timeout:.0f} s waiting for {what}"
        + (f" (last error: {last_error!r})" if last_error else "")
    )


def body_text(driver: Any) -> str:
    return driver.execute_script("return document.body ? document.body.innerText : ''")


def stop_session(proc, term_grace: float) -> None:
    """End a server a test started with ``start_new_session`` (make, its server and their
    workers): SIGTERM to the whole session, SIGKILL after ``term_grace`` seconds, so nothing
    outlives the test."""
    import signal
    import subprocess

    for sig, grace in ((signal.SIGTERM, term_grace), (signal.SIGKILL, 10)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=grace)
            return
        except subprocess.TimeoutExpired:
            continue


def check_pngs(paths: list[Path], printed: str | None = None) -> None:
    """A report's PNG figures: written where Chromium is installed (kaleido drives it), and
    always where CI requires a browser; without one, the report says why there are none."""
    required = os.environ.get("RNN_SWEEPS_REQUIRE_BROWSER") == "1"
    if CHROMIUM.exists() or required:
        missing = [str(p) for p in paths if not p.is_file()]
        assert not missing, f"report figures not written as PNG: {missing}"
    elif printed is not None:
        assert "(figures not exported as PNG" in printed, printed[-2000:]
