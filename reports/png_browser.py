"""kaleido's browser started ahead of a report, so its PNG figures take a fraction of a second.

Exporting a report's figures starts a headless Chromium for each export (~3 s of a smoke sweep's
~20 s). A sweep calls ``warm()`` as its trials end; the browser comes up while the models are
logged, and ``export_pngs`` uses it when it is ``ready``. Where no Chromium is found nothing is
started; where the browser does not answer in time, it is stopped and the export starts its own
as before, so a report never waits on a browser that died. ``stop()`` before the process exits
(a study ends with ``os._exit``, which would leave the browser running).
"""

from __future__ import annotations

import logging
import threading

__all__ = ["quiet_browser_logs", "ready", "stop", "warm"]

log = logging.getLogger(__name__)

_ANSWER_S = 60.0  # how long a starting browser may take to render a first, empty figure
_answered = threading.Event()
_decided = threading.Event()
_state = {"started": False}


def quiet_browser_logs() -> None:
    """kaleido and the browser driver it starts log each tab and temporary folder at INFO."""
    for name in ("kaleido", "choreographer", "logistro"):
        logging.getLogger(name).setLevel(logging.WARNING)


def warm() -> None:
    """Start kaleido's browser in the background, where a Chromium is installed."""
    if _state["started"]:
        return
    quiet_browser_logs()
    try:
        from choreographer.browsers.chromium import Chromium

        if Chromium.find_browser(skip_local=False) is None:
            return
    except Exception:  # no kaleido/choreographer, or a finder that fails: export as before
        return
    _state["started"] = True
    _answered.clear()
    _decided.clear()
    threading.Thread(target=_start, name="kaleido-warm", daemon=True).start()


def _start() -> None:
    import kaleido

    try:
        # no MathJax (no figure has LaTeX): kaleido's page would fetch it from a CDN each time
        kaleido.start_sync_server(silence_warnings=True, mathjax=False)
        # a first render proves the browser answers; it runs in a thread of its own because
        # kaleido's call blocks for good if its server thread died
        probe = threading.Thread(target=_probe, name="kaleido-probe", daemon=True)
        probe.start()
        probe.join(_ANSWER_S)
    finally:
        _decided.set()


def _probe() -> None:
    import kaleido

    try:
        kaleido.calc_fig_sync({"data": [], "layout": {}},
                              opts={"format": "png", "width": 10, "height": 10})
        _answered.set()
    except Exception as exc:  # a browser that fails: the export starts its own
        log.info("kaleido's browser did not start (%s)", exc)


def ready(timeout: float = _ANSWER_S) -> bool:
    """Whether the browser ``warm`` started answers (waiting at most ``timeout`` seconds for
    it to come up); one that does not is stopped, so the caller's export starts its own."""
    if not _state["started"]:
        return False
    _decided.wait(timeout)
    if _answered.is_set():
        return True
    stop()
    return False


def stop() -> None:
    """Close the browser ``warm`` started, if any."""
    if not _state["started"]:
        return
    _state["started"] = False
    import kaleido

    kaleido.stop_sync_server(silence_warnings=True)
