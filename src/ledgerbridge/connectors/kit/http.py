"""What every client does with a failed call, in one place: which failures say the request took
no effect (and may be repeated at once), which leave a write of unknown outcome, how long the
system asked us to wait, and the retries in place.

A call is repeated here only when the failure proves it took no effect: the connection was
refused before anything was sent, the system answered 429 (throttled) or 503 (not processed),
or a read failed in any way. A write that was sent and not answered, or answered with another
5xx, is an ``AmbiguousWrite``: repeating it could apply it twice, so the engine looks the
record up by its business key instead.
"""

from __future__ import annotations

import email.utils
import math
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar

import httpx
import stamina

from ledgerbridge.connectors.base import (
    AmbiguousWrite,
    ConnectorError,
    RemoteRejected,
    RemoteUnavailable,
)
from ledgerbridge.network import failed_connection

T = TypeVar("T")

LONGEST_WAIT_IN_PLACE = 30.0
"""Seconds a call waits in place for a throttled system; when the system asks for longer,
the error goes up and the job is given back until then."""
ATTEMPTS = 4
"""Tries of one call (the first and three repeats) before the failure goes up."""
RETRY_TIMEOUT = 90.0
"""Seconds all tries of one call may take together."""
NOT_PROCESSED = 503
"""Service Unavailable: the server did not handle the request, so even a write took no effect."""


class TransientFailure(RemoteUnavailable):
    """The call took no effect and may well succeed if made again soon (network failure, 5xx
    on a read, 429, 503): ``with_retries`` repeats it. Other ``RemoteUnavailable`` errors (an
    answer in an unexpected shape) go up at once."""


class Unreachable(TransientFailure):
    """The system could not be reached at all (nothing was sent); the message says where,
    what happened and what to check, whole, as a set-up form shows it."""


def retry_after(headers: Mapping[str, str], now: datetime | None = None) -> float | None:
    """Seconds the system asked us to wait: ``Retry-After`` (seconds or an HTTP date), else
    ``X-Rate-Limit-Reset`` (Tripletex: seconds left in the rate-limit period)."""
    for name in ("Retry-After", "X-Rate-Limit-Reset"):
        value = headers.get(name)
        if value is None or not value.strip():
            continue
        seconds = _seconds(value, now)
        if seconds is not None and math.isfinite(seconds):
            return max(seconds, 0.0)
    return None


def _seconds(value: str, now: datetime | None) -> float | None:
    """A header's delay: a number of seconds, or an HTTP date to wait until."""
    try:
        return float(value)
    except ValueError:
        return _seconds_until(value, now)


def _seconds_until(http_date: str, now: datetime | None) -> float | None:
    try:
        moment = email.utils.parsedate_to_datetime(http_date)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - (now or datetime.now(UTC))).total_seconds()


def transport_failure(
    system: str, method: str, what: str, exc: Exception, *, sent: bool, write: bool
) -> ConnectorError:
    """A failure below HTTP. ``sent`` says whether the request may have reached the system:
    if not, nothing took effect; if so, a read is repeated and a write is ambiguous. The
    message says it in plain words (``in_plain_words``), never the HTTP library's."""
    if not sent:
        return Unreachable(f"could not reach {system}{in_plain_words(exc)}")
    message = f"no answer from {system} to {method} {what}{in_plain_words(exc)}"
    return AmbiguousWrite(message) if write else TransientFailure(message)


HTTPS_CHECK = (
    "check that the address starts with https:// only when the server speaks TLS, and the port"
)
"""What to check when TLS could not be set up with a system's HTTP address."""


def in_plain_words(exc: BaseException) -> str:
    """What a failed connection came to (``network.failed_connection``), as
    `` at <host>: <what>; <check>``. httpx and requests (Yuki's SOAP client) wrap the socket's
    error in their own wording; the host is the failed request's."""
    return failed_connection(
        exc,
        _host_of(exc),
        secure_check=HTTPS_CHECK,
        timed_out=isinstance(exc, httpx.TimeoutException),
        cut_off=isinstance(exc, httpx.RemoteProtocolError),
    )


def _host_of(exc: BaseException) -> str:
    """``host`` or ``host:port`` (a port other than the scheme's) of the failed request."""
    try:
        request = getattr(exc, "request", None)  # httpx raises when it has none
    except RuntimeError:
        return ""
    url = getattr(request, "url", None)
    if url is None:
        return ""
    try:
        parsed = httpx.URL(str(url))
    except httpx.InvalidURL:
        return ""
    return f"{parsed.host}:{parsed.port}" if parsed.port else parsed.host


def httpx_failure(
    system: str, method: str, path: str, exc: httpx.TransportError, *, write: bool
) -> ConnectorError:
    """``transport_failure`` for httpx: only a refused or timed-out connection proves that
    nothing was sent."""
    sent = not isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout))
    return transport_failure(system, method, path, exc, sent=sent, write=write)


def status_failure(
    system: str,
    method: str,
    what: str,
    status: int,
    headers: Mapping[str, str],
    *,
    write: bool,
    detail: str = "",
) -> ConnectorError | None:
    """The error for a throttled or failed answer (429 or 5xx), None for any other status:
    the client then reads its system's own error body for the 4xx it knows."""
    suffix = f": {detail}" if detail else ""
    if status == 429:
        return rate_limited(system, headers, detail=detail)
    if status == NOT_PROCESSED:
        return TransientFailure(
            f"{system} answered {status} to {method} {what}{suffix}",
            retry_after=retry_after(headers),
        )
    if status >= 500:
        return server_error(system, method, what, status, write=write, detail=detail)
    return None


def rate_limited(system: str, headers: Mapping[str, str], *, detail: str = "") -> ConnectorError:
    """The failure a 429 always is (repeated after its ``Retry-After``, never a refusal), for
    a client that knows the status is 429: ``status_failure`` without the None to narrow."""
    delay = retry_after(headers)
    when = f"; it resets in {delay:g} s" if delay is not None else ""
    suffix = f": {detail}" if detail else ""
    return TransientFailure(
        f"{system} is rate limiting these calls (HTTP 429){when}{suffix}", retry_after=delay
    )


def server_error(
    system: str, method: str, what: str, status: int, *, write: bool, detail: str = ""
) -> ConnectorError:
    """The system failed while handling the request: a read is repeated; a write may have
    been applied before the failure, so it is ambiguous."""
    message = f"{system} answered {status} to {method} {what}" + (f": {detail}" if detail else "")
    return AmbiguousWrite(message) if write else TransientFailure(message)


def decoded(response: httpx.Response, refusal: Callable[[httpx.Response], str]) -> Any:
    """An answer the client has no case of its own for: a 4xx is the system refusing the
    request (``RemoteRejected``, in the words ``refusal`` reads from the body); anything else
    is its JSON, None when it is empty."""
    if response.status_code >= 400:
        raise RemoteRejected(refusal(response))
    if not response.content:
        return None
    return response.json()


def json_body(
    response: httpx.Response,
    system: str,
    method: str,
    path: str,
    refusal: Callable[[httpx.Response], str],
    *,
    hint: str = "",
    object_only: bool = False,
) -> Any:
    """An answer's JSON once the client's own cases are handled: a 4xx is the system refusing
    the request (in the words ``refusal`` reads); an empty body is None unless an object is
    expected; a body that is not JSON (a gateway's HTML page) or not the object expected is
    the system failing (``RemoteUnavailable``). ``hint`` follows that message (where to look)."""
    if response.status_code >= 400:
        raise RemoteRejected(f"{method} {path}: {refusal(response)}")
    if not response.content and not object_only:
        return None
    try:
        body = response.json()
    except ValueError as exc:
        raise RemoteUnavailable(
            f"{system} answered {method} {path} with something other than JSON{hint}"
        ) from exc
    if object_only and not isinstance(body, dict):
        raise RemoteUnavailable(f"{system} answered {method} {path} without an object")
    return body


def error_json(response: httpx.Response) -> Any:
    """An error answer's JSON, None when it is not JSON (a gateway's HTML page)."""
    try:
        return response.json()
    except ValueError:
        return None


def _backoff(exc: BaseException) -> bool | float:
    """stamina's hook: repeat transient failures, after the delay the system asked for when
    it names one we are willing to wait in place."""
    if not isinstance(exc, TransientFailure):
        return False
    if exc.retry_after is None:
        return True
    if exc.retry_after > LONGEST_WAIT_IN_PLACE:
        return False
    return exc.retry_after


_retrying = stamina.RetryingCaller(
    attempts=ATTEMPTS, timeout=RETRY_TIMEOUT, wait_initial=0.5, wait_max=5.0
).on(_backoff)


def with_retries(call: Callable[[], T]) -> T:
    """``call()``, made again while it fails with a ``TransientFailure`` (see the module
    docstring); each try goes through the call meter inside ``call``, so it is counted."""
    return _retrying(call)
