"""MLflow's errors sorted and said briefly: whether another try may succeed, and why a request
got no answer. The outbox retries by them; the store checks before a sweep word their refusals
with them."""

from __future__ import annotations

__all__ = ["first_line", "transient", "unreachable"]


def transient(exc: BaseException) -> bool:
    """An error that another try may not meet: MLflow unreachable or timing out, or a server
    error (HTTP 5xx: its database down). A refusal of the request itself (HTTP 4xx: a bad
    value, a missing run) would meet it again."""
    import requests
    from mlflow.exceptions import MlflowException

    for e in _chain(exc):
        if isinstance(e, (requests.ConnectionError, requests.Timeout, ConnectionError,
                          TimeoutError)):
            return True
        if isinstance(e, requests.HTTPError) and e.response is not None:
            return e.response.status_code >= 500
    return isinstance(exc, MlflowException) and exc.get_http_status_code() >= 500


def _chain(exc: BaseException) -> list[BaseException]:
    seen, out, e = set(), [], exc
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        out.append(e)
        e = e.__cause__ or e.__context__
    return out


def unreachable(exc: BaseException) -> str:
    """Why a request got no answer, in a few words (MLflow's own message names a URL and
    three nested exceptions)."""
    text = " ".join(str(e) for e in _chain(exc)).lower()
    if "refused" in text:
        return "connection refused"
    if "timed out" in text or "timeout" in text:
        return "no answer in time"
    if "name or service not known" in text or "failed to resolve" in text:
        return "the host name is not known"
    status = next((e.response.status_code for e in _chain(exc)
                   if getattr(e, "response", None) is not None), None)
    return f"HTTP {status}" if status else first_line(exc)


def first_line(exc: BaseException) -> str:
    """An exception's message in one short line (its type where it has none)."""
    text = str(exc).strip()
    return text.splitlines()[0][:200] if text else type(exc).__name__
