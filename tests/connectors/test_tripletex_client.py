"""The Tripletex wire against scripted answers: sessions and their renewal, Basic auth, rate
limits, stale versions, and a message per troubleshooting case."""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from ledgerbridge.clock import ManualClock
from ledgerbridge.connectors.base import AmbiguousWrite, RemoteUnavailable
from ledgerbridge.connectors.tripletex.client import (
    StaleVersion,
    TokenRefused,
    TripletexClient,
    base_url,
    explain,
)

Responder = Callable[[httpx.Request], httpx.Response]


def error(status: int, code: int, message: str, validation: str | None = None) -> httpx.Response:
    messages = [{"field": "arg:employeeToken", "message": validation}] if validation else []
    return httpx.Response(
        status,
        json={"status": status, "code": code, "message": message, "validationMessages": messages},
    )


class Script:
    """A fake Tripletex that hands out numbered sessions and records every request."""

    def __init__(self, answer: Responder | None = None) -> None:
        self.requests: list[httpx.Request] = []
        self.sessions = 0
        self.answer = answer or (lambda r: httpx.Response(200, json={"values": []}))

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.url.path.endswith("/token/session/:create"):
            self.sessions += 1
            body = json.loads(request.content)
            return httpx.Response(
                201, json={"value": {"token": f"session-{self.sessions}", **body}}
            )
        return self.answer(request)


def client(script: Script, clock: ManualClock, company_id: int = 0, **kw: str) -> TripletexClient:
    calls: list[int] = []
    return TripletexClient(
        base_url="https://tripletex.test/v2",
        environment="production",
        consumer_token=kw.get("consumer", "consumer"),
        employee_token=kw.get("employee", "employee"),
        meter=calls.append,
        clock=clock,
        company_id=company_id,
        transport=httpx.MockTransport(script),
    )


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime(2026, 11, 20, 10, 0, tzinfo=UTC))


def basic(request: httpx.Request) -> str:
    encoded = request.headers["Authorization"].removeprefix("Basic ")
    return base64.b64decode(encoded).decode()


def test_session_is_created_once_used_as_basic_password_and_renewed_before_expiry(
    clock: ManualClock,
) -> None:
    script = Script()
    api = client(script, clock, company_id=4711, employee="  employee\n")
    api.list_page("/customer")
    api.list_page("/customer")
    create = json.loads(script.requests[0].content)
    assert create == {
        "consumerToken": "consumer", "employeeToken": "employee", "expirationDate": "2026-11-22",
    }  # fmt: skip
    assert basic(script.requests[1]) == "4711:session-1"
    assert script.sessions == 1
    clock.advance(timedelta(days=1))  # the day before the session's expiration date
    api.list_page("/customer")
    assert script.sessions == 2 and basic(script.requests[-1]) == "4711:session-2"


def test_every_request_is_metered_first(clock: ManualClock) -> None:
    calls: list[int] = []
    script = Script()
    api = TripletexClient(
        base_url="https://tripletex.test/v2", environment="production", consumer_token="c",
        employee_token="e", meter=calls.append, clock=clock,
        transport=httpx.MockTransport(script),
    )  # fmt: skip
    api.list_page("/product")
    assert sum(calls) == len(script.requests) == 2


def test_a_session_refused_mid_run_is_created_again_once(clock: ManualClock) -> None:
    answers = iter([error(401, 3000, "The session token expired on 2026-11-20.")])

    def answer(request: httpx.Request) -> httpx.Response:
        return next(answers, httpx.Response(200, json={"values": [{"id": 1}]}))

    script = Script(answer)
    assert client(script, clock).list_page("/customer") == [{"id": 1}]
    assert script.sessions == 2


@pytest.mark.parametrize(
    ("validation", "field", "words"),
    [
        ("The employee token expired on 2026-11-01.", "secrets.employee_token",
         "expired on 2026-11-01"),
        ("The employee who owns the token is deactivated.", "secrets.employee_token",
         "deactivated"),
        ("The employee token is invalid or does not exist.", "secrets.employee_token",
         "production environment"),
    ],
)  # fmt: skip
def test_each_refusal_at_session_creation_says_what_to_fix(
    clock: ManualClock, validation: str, field: str, words: str
) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        return error(422, 18000, "Validering feilet.", validation)

    api = TripletexClient(
        base_url="https://tripletex.test/v2", environment="production", consumer_token="c",
        employee_token="e", meter=lambda n: None, clock=clock,
        transport=httpx.MockTransport(refuse),
    )  # fmt: skip
    with pytest.raises(TokenRefused) as caught:
        api.list_page("/customer")
    assert caught.value.field == field and words in str(caught.value)


def test_rate_limit_is_retryable_and_remaining_calls_are_logged(
    clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    limited = iter([
        httpx.Response(200, json={"values": []}, headers={"X-Rate-Limit-Remaining": "1"}),
        httpx.Response(429, json={"status": 429, "code": 0, "message": "Too many"},
                       headers={"X-Rate-Limit-Remaining": "0", "X-Rate-Limit-Reset": "42"}),
    ])  # fmt: skip
    api = client(Script(lambda r: next(limited)), clock)
    with caplog.at_level(logging.DEBUG, logger="ledgerbridge.connectors.tripletex.client"):
        api.list_page("/customer")
        assert api.rate_remaining == 1
        with pytest.raises(RemoteUnavailable, match="resets in 42 s"):
            api.list_page("/customer")
    assert any("calls left" in r.getMessage() for r in caplog.records)
    assert not any("session-" in r.getMessage() for r in caplog.records)


def test_a_stale_version_is_its_own_error_and_a_lost_write_is_ambiguous(
    clock: ManualClock,
) -> None:
    stale = client(Script(lambda r: error(409, 8000, "Revision mismatch")), clock)
    with pytest.raises(StaleVersion):
        stale.request("PUT", "/customer/1", json={"version": 0})

    def drop(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("lost", request=request)

    lost = client(Script(drop), clock)
    with pytest.raises(AmbiguousWrite):
        lost.request("PUT", "/order/1/:invoice")
    with pytest.raises(RemoteUnavailable):
        lost.list_page("/order")


def test_environment_roots_and_overrides() -> None:
    assert base_url({"environment": "test"}) == "https://api-test.tripletex.tech/v2"
    assert base_url({}) == "https://tripletex.no/v2"
    assert base_url({"base_urls": {"test": "http://x/test/v2/"}}, "test") == "http://x/test/v2"
    message, field = explain("The consumer token is invalid or does not exist.", "test")
    assert field == "settings.environment" and "consumer token" in message
