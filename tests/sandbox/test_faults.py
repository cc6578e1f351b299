"""Fault injection in the sandboxes, over real HTTP on loopback: every kind, the vendors' own
error shapes, the control API, filters, seeds and the command-line options."""

from __future__ import annotations

import argparse
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from lxml import etree

from ledgerbridge.sandbox.faults import (
    CONTROL_PATH,
    FaultKind,
    FaultPlan,
    FaultSpecError,
    add_fault_options,
    fault_plan,
)
from ledgerbridge.sandbox.qonto import app as qonto_app
from ledgerbridge.sandbox.qonto.state import QontoSandbox
from ledgerbridge.sandbox.tripletex import app as tripletex_app
from ledgerbridge.sandbox.tripletex.seed import seed_accounting_firm
from ledgerbridge.sandbox.tripletex.state import TripletexSandbox
from ledgerbridge.sandbox.uniconta import SandboxServer, UnicontaSandbox
from ledgerbridge.sandbox.yuki import app as yuki_app
from ledgerbridge.sandbox.yuki.seed import seed_demo
from ledgerbridge.sandbox.yuki.state import YukiSandbox
from tests.sandbox.test_yuki_sandbox import SOAP11, raw_call

COMPANY = 7
AUTH = (f"00{COMPANY}/api", "secret")
CONNECTION_LOST = (httpx.ReadError, httpx.RemoteProtocolError)
"""What a client sees when the connection is reset instead of answered."""


@pytest.fixture(scope="module")
def uniconta() -> Iterator[SandboxServer]:
    """One served Uniconta sandbox for the module; each test sets its own plan."""
    box = UnicontaSandbox()
    box.add_company(COMPANY, "Fejl ApS")
    box.add_user(COMPANY, "api", "secret", user_type="Server")
    with SandboxServer(box) as server:
        yield server
    box.close()


def _configure(base_url: str, **plan: Any) -> dict[str, Any]:
    response = httpx.put(f"{base_url}{CONTROL_PATH}", json=plan)
    assert response.status_code == 200, response.text
    counters: dict[str, Any] = response.json()
    return counters


def _counters(base_url: str) -> dict[str, Any]:
    response = httpx.get(f"{base_url}{CONTROL_PATH}")
    assert response.status_code == 200, response.text
    counters: dict[str, Any] = response.json()
    return counters


def _insert_debtor(server: SandboxServer, account: str) -> httpx.Response:
    with httpx.Client(base_url=server.base_url, auth=AUTH, timeout=10) as client:
        return client.post(
            "/api/Entities/Insert/DebtorClient", json={"Account": account, "Name": account}
        )


def _debtor_exists(server: SandboxServer, account: str) -> bool:
    return server.sandbox.get(COMPANY, "DebtorClient", account) is not None


# ----------------------------------------------------------------------------- the plan


def test_spec_string_and_json_give_the_same_plan() -> None:
    text = FaultPlan.parse("rate=0.1, seed=7, kinds=5xx+lost, methods=writes, slow-ms=50")
    same = FaultPlan.parse(
        '{"rate": 0.1, "seed": 7, "kinds": ["5xx", "lost"], "methods": ["writes"], "slow_ms": 50}'
    )
    assert text == same
    assert text.kinds == (FaultKind.ERROR, FaultKind.LOST)
    assert text.methods == frozenset({"POST", "PUT", "PATCH", "DELETE"})
    assert FaultPlan.parse("") == FaultPlan()


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ("rate=2", "rate"),
        ("rate=often", "rate"),
        ("kinds=5xx+boom", "kinds"),
        ("methods=G3T", "methods"),
        ("path=(", "path"),
        ("speed=3", "speed"),
        ("sessions=maybe", "sessions"),
        ("rate", "rate"),
        ("[1]", "[1]"),
        ('{"rate": true}', "rate"),
    ],
)
def test_a_bad_setting_is_named(spec: str, field: str) -> None:
    with pytest.raises(FaultSpecError) as caught:
        FaultPlan.parse(spec)
    assert caught.value.field == field


def test_command_line_options_build_the_plan_or_stop_naming_the_setting() -> None:
    parser = argparse.ArgumentParser()
    add_fault_options(parser)
    plan = fault_plan(parser, parser.parse_args(["--faults", "rate=0.2", "--latency-ms", "15"]))
    assert (plan.rate, plan.latency_ms) == (0.2, 15)
    with pytest.raises(SystemExit):
        fault_plan(parser, parser.parse_args(["--faults", "rate=-1"]))


# ----------------------------------------------------------------------- the control API


def test_control_api_sets_reads_and_refuses_bad_plans(uniconta: SandboxServer) -> None:
    counters = _configure(uniconta.base_url, rate=1, kinds=["5xx"], seed=3)
    assert counters["plan"]["rate"] == 1 and counters["total"] == 0
    bad = httpx.put(f"{uniconta.base_url}{CONTROL_PATH}", json={"rate": "lots"})
    assert bad.status_code == 422 and bad.json()["field"] == "rate"
    for garbage in (b"{", b"\xff\xfe", b"[1]"):
        refused = httpx.put(f"{uniconta.base_url}{CONTROL_PATH}", content=garbage)
        assert refused.status_code == 422 and refused.json()["field"] == "body"
    assert httpx.delete(f"{uniconta.base_url}{CONTROL_PATH}").status_code == 405
    # The control API and the rest of /_sandbox/ stay reachable at rate 1.
    assert httpx.get(f"{uniconta.base_url}/_sandbox/health").status_code == 200
    assert _counters(uniconta.base_url)["total"] == 0
    _configure(uniconta.base_url)


# ------------------------------------------------------------------------------ the kinds


def test_5xx_is_answered_before_anything_is_applied(uniconta: SandboxServer) -> None:
    _configure(uniconta.base_url, rate=1, kinds=["5xx"])
    response = _insert_debtor(uniconta, "E500")
    assert response.status_code == 500
    assert response.json()["ErrorCode"] == "InternalServerError"
    assert not _debtor_exists(uniconta, "E500")
    assert _counters(uniconta.base_url)["injected"]["5xx"] == 1
    _configure(uniconta.base_url)


def test_429_carries_retry_after_and_applies_nothing(uniconta: SandboxServer) -> None:
    _configure(uniconta.base_url, rate=1, kinds=["429"], retry_after=4)
    response = _insert_debtor(uniconta, "E429")
    assert response.status_code == 429 and response.headers["Retry-After"] == "4"
    assert not _debtor_exists(uniconta, "E429")
    _configure(uniconta.base_url)


def test_reset_drops_the_connection_before_processing(uniconta: SandboxServer) -> None:
    _configure(uniconta.base_url, rate=1, kinds=["reset"])
    with pytest.raises(CONNECTION_LOST):
        _insert_debtor(uniconta, "RESET")
    assert not _debtor_exists(uniconta, "RESET")
    assert _counters(uniconta.base_url)["injected"]["reset"] == 1
    _configure(uniconta.base_url)


def test_lost_answer_drops_the_connection_after_the_write_committed(
    uniconta: SandboxServer,
) -> None:
    _configure(uniconta.base_url, rate=1, kinds=["lost"])
    with pytest.raises(CONNECTION_LOST):
        _insert_debtor(uniconta, "LOST")
    assert _debtor_exists(uniconta, "LOST")
    _configure(uniconta.base_url)
    # The server keeps serving new connections after a reset.
    assert _insert_debtor(uniconta, "AFTER").status_code in (200, 201)


def test_slow_answers_and_latency_delay_but_succeed(uniconta: SandboxServer) -> None:
    _configure(uniconta.base_url, rate=1, kinds=["slow"], slow_ms=300)
    started = time.monotonic()
    assert _insert_debtor(uniconta, "SLOW").status_code in (200, 201)
    assert time.monotonic() - started >= 0.3
    _configure(uniconta.base_url, latency_ms=200)
    started = time.monotonic()
    with httpx.Client(base_url=uniconta.base_url, auth=AUTH) as client:
        assert client.get("/api/Entities/DebtorClient").status_code == 200
    assert time.monotonic() - started >= 0.2
    assert _counters(uniconta.base_url)["total"] == 0
    _configure(uniconta.base_url)


# ------------------------------------------------------------------- mixing and filters


def _kinds_seen(server: SandboxServer, plan: dict[str, Any], requests: int) -> list[str]:
    """The outcome of each of ``requests`` sequential reads under ``plan``."""
    _configure(server.base_url, **plan)
    seen: list[str] = []
    with httpx.Client(base_url=server.base_url, auth=AUTH, timeout=10) as client:
        for _ in range(requests):
            try:
                seen.append(str(client.get("/api/Entities/DebtorClient").status_code))
            except CONNECTION_LOST:
                seen.append("dropped")
    return seen


def test_same_seed_same_faults_and_rate_is_honoured(uniconta: SandboxServer) -> None:
    kinds = ["5xx", "429", "reset", "lost"]
    plan: dict[str, Any] = {"rate": 0.3, "seed": 11, "kinds": kinds}
    first = _kinds_seen(uniconta, plan, 200)
    counters = _counters(uniconta.base_url)
    assert first == _kinds_seen(uniconta, plan, 200)
    assert counters["in_scope"] == 200
    assert 30 <= counters["total"] <= 90, counters
    assert all(counters["injected"][kind] > 0 for kind in kinds)
    faulted = sum(outcome != "200" for outcome in first)
    assert faulted == counters["total"]
    assert first != _kinds_seen(uniconta, {**plan, "seed": 12}, 200)
    _configure(uniconta.base_url)


def test_method_and_path_filters_limit_the_scope(uniconta: SandboxServer) -> None:
    assert set(_kinds_seen(uniconta, {"rate": 1, "methods": "writes"}, 5)) == {"200"}
    assert set(_kinds_seen(uniconta, {"rate": 1, "path": "^/odata/"}, 5)) == {"200"}
    assert _counters(uniconta.base_url)["in_scope"] == 0
    _configure(uniconta.base_url, rate=1, kinds=["5xx"], methods=["POST"])
    assert _insert_debtor(uniconta, "FILTERED").status_code == 500
    _configure(uniconta.base_url)


# ------------------------------------------------------------ each vendor's own answers


def test_qonto_answers_in_its_error_shape_and_spares_oauth() -> None:
    box = QontoSandbox()
    box.add_oauth_app("app", "app-secret", ["http://127.0.0.1/cb"])
    plan = FaultPlan(rate=1, kinds=(FaultKind.THROTTLE,), retry_after=2)
    with qonto_app.SandboxServer(box, faults=plan) as server:
        response = httpx.get(
            f"{server.base_url}/v2/clients", headers={"Authorization": box.api_key}
        )
        assert response.status_code == 429 and response.headers["Retry-After"] == "2"
        body = response.json()
        assert body["errors"][0]["code"] == "too_many_requests" and body["trace_id"]
        token = httpx.post(f"{server.base_url}/oauth2/token", data={"grant_type": "nothing"})
        assert token.status_code != 429
        assert server.faults is not None
        server.faults.configure(FaultPlan(rate=1, kinds=(FaultKind.ERROR,)))
        failed = httpx.get(f"{server.base_url}/v2/clients", headers={"Authorization": box.api_key})
        assert failed.status_code == 500
        assert failed.json()["errors"][0]["code"] == "internal_server_error"


def test_tripletex_throttles_with_its_rate_limit_headers_and_spares_sessions() -> None:
    box = TripletexSandbox()
    firm = seed_accounting_firm(box, clients=1, seed=1)
    plan = FaultPlan(rate=1, kinds=(FaultKind.THROTTLE,), retry_after=3)
    with tripletex_app.SandboxServer(box, faults=plan) as server:
        session = httpx.put(
            f"{server.url()}/token/session/:create",
            params={
                "consumerToken": firm.consumer_token,
                "employeeToken": firm.employee_token,
                "expirationDate": "2099-01-01",
            },
        )
        assert session.status_code == 200, session.text
        token = session.json()["value"]["token"]
        response = httpx.get(f"{server.url()}/customer", auth=("0", token))
        assert response.status_code == 429
        assert response.headers["X-Rate-Limit-Reset"] == "3"
        assert response.headers["X-Rate-Limit-Remaining"] == "0"
        assert response.json()["status"] == 429 and response.json()["requestId"]
        assert server.faults is not None
        server.faults.configure(FaultPlan(rate=1, kinds=(FaultKind.ERROR,)))
        failed = httpx.get(f"{server.url()}/customer", auth=("0", token))
        assert failed.status_code == 500 and failed.json()["code"] == 1000


def test_yuki_fails_with_a_soap_fault_and_spares_authenticate() -> None:
    box = YukiSandbox()
    seeded = seed_demo(box, contacts=1, seed=1)
    plan = FaultPlan(rate=1, kinds=(FaultKind.ERROR,))
    with yuki_app.SandboxServer(box, faults=plan) as server:
        session = raw_call(
            server.base_url, "Contact", "Authenticate", [("accessKey", seeded.access_key)]
        )
        assert session.status_code == 200, session.text
        response = raw_call(server.base_url, "Contact", "Administrations", [("sessionID", "x")])
        assert response.status_code == 500
        fault = etree.fromstring(response.content).find(f"{{{SOAP11}}}Body/{{{SOAP11}}}Fault")
        assert fault is not None and fault.findtext("faultcode") == "soap:Server"
        assert server.faults is not None
        assert server.faults.counters()["injected"]["5xx"] == 1
