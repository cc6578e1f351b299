"""The clients' shared failure handling: what is repeated in place, what goes up, and how long
a throttled system asked us to wait.

The calls go to the Uniconta and Yuki sandboxes on loopback behind their fault injection (real
429s, 500s, connection resets and answers lost after the write was applied); stamina's testing
mode takes the waits out, not the repeats.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from email.utils import format_datetime

import httpx
import pytest
import stamina

from ledgerbridge.clock import SystemClock
from ledgerbridge.connectors.base import AmbiguousWrite, RemoteRejected
from ledgerbridge.connectors.kit.credentials import counter_key, host_of
from ledgerbridge.connectors.kit.http import (
    LONGEST_WAIT_IN_PLACE,
    TransientFailure,
    decoded,
    error_json,
    rate_limited,
    retry_after,
    status_failure,
    transport_failure,
)
from ledgerbridge.connectors.uniconta.client import UnicontaClient
from ledgerbridge.connectors.yuki.client import YukiClient
from ledgerbridge.runtime.http import free_port
from ledgerbridge.sandbox.faults import FaultKind, FaultPlan
from ledgerbridge.sandbox.uniconta import UnicontaSandbox
from ledgerbridge.sandbox.uniconta.app import SandboxServer
from ledgerbridge.sandbox.yuki import SandboxServer as YukiServer
from ledgerbridge.sandbox.yuki import YukiSandbox, seed_demo

COMPANY = 48213
USER = "ledgerbridge"
PASSWORD = "s3cret-Pa55word"


class Meter:
    """Counts the calls a client announces, as the quota ledger would."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, calls: int) -> None:
        self.calls += calls


@pytest.fixture
def server() -> Iterator[SandboxServer]:
    sandbox = UnicontaSandbox(throttle_delay=0.0)
    sandbox.add_company(company_id=COMPANY, name="Nordlys Handel ApS")
    sandbox.add_user(COMPANY, USER, PASSWORD, user_type="Server", roles=("Reseller",))
    served = SandboxServer(sandbox)
    served.start()
    yield served
    served.stop()
    sandbox.close()


def client(base_url: str, meter: Meter) -> UnicontaClient:
    return UnicontaClient(
        base_url=base_url, company_id=COMPANY, username=USER, password=PASSWORD, meter=meter
    )


def faults(server: SandboxServer, **plan: object) -> None:
    assert server.faults is not None
    server.faults.configure(FaultPlan.from_mapping(plan))


def injected(server: SandboxServer) -> dict[str, int]:
    assert server.faults is not None
    counts: dict[str, int] = server.faults.counters()["injected"]
    return counts


def debtors(server: SandboxServer) -> list[str]:
    return [row["Account"] for row in server.sandbox.all(COMPANY, "DebtorClient")]


# ---------------------------------------------------------------------------- the wire


def test_reads_are_repeated_through_throttling_errors_and_resets(server: SandboxServer) -> None:
    faults(server, rate=0.3, seed=11, kinds=["5xx", "429", "reset"])
    meter = Meter()
    api = client(server.base_url, meter)
    with stamina.set_testing(True, attempts=6):
        for _ in range(30):
            assert api.query("DebtorClient", top=10) == []
    api.close()
    counts = injected(server)
    total = sum(counts.values())
    assert counts["5xx"] and counts["429"] and counts["reset"]
    # Every fault cost exactly one more call, and every call was announced to the meter.
    assert meter.calls == 30 + total


def test_a_write_refused_with_429_is_sent_again_and_applied_once(server: SandboxServer) -> None:
    faults(server, rate=0.5, seed=3, kinds=["429"], methods=["writes"])
    meter = Meter()
    api = client(server.base_url, meter)
    with stamina.set_testing(True, attempts=8):
        for number in range(10):
            api.insert("DebtorClient", [{"Account": f"7{number:04d}", "Name": f"Kunde {number}"}])
    api.close()
    throttled = injected(server)["429"]
    assert throttled > 0
    assert sorted(debtors(server)) == [f"7{n:04d}" for n in range(10)]
    assert meter.calls == 10 + throttled


@pytest.mark.parametrize("kind", [FaultKind.LOST, FaultKind.RESET, FaultKind.ERROR])
def test_a_write_of_unknown_outcome_is_never_sent_again(
    server: SandboxServer, kind: FaultKind
) -> None:
    """A reset after sending and a 500 cannot tell "not applied" from "applied": the write
    goes up as ambiguous after one try, for the engine to look the record up."""
    faults(server, rate=1.0, kinds=[str(kind)], methods=["writes"])
    meter = Meter()
    api = client(server.base_url, meter)
    with pytest.raises(AmbiguousWrite):
        api.insert("DebtorClient", [{"Account": "70001", "Name": "Kvist ApS"}])
    api.close()
    assert meter.calls == 1
    assert injected(server)[str(kind)] == 1
    # The lost answer's write was applied; the others were not. Either way: sent once.
    assert debtors(server) == (["70001"] if kind is FaultKind.LOST else [])


def test_a_long_retry_after_goes_up_at_once_with_the_asked_delay(server: SandboxServer) -> None:
    faults(server, rate=1.0, kinds=["429"], retry_after=int(LONGEST_WAIT_IN_PLACE) + 30)
    meter = Meter()
    api = client(server.base_url, meter)
    with stamina.set_testing(True, attempts=5), pytest.raises(TransientFailure) as caught:
        api.query("DebtorClient")
    api.close()
    assert meter.calls == 1
    assert caught.value.retry_after == LONGEST_WAIT_IN_PLACE + 30
    assert "rate limiting" in str(caught.value)


def test_a_short_retry_after_is_waited_for_then_the_error_goes_up(server: SandboxServer) -> None:
    faults(server, rate=1.0, kinds=["429"], retry_after=2)
    meter = Meter()
    api = client(server.base_url, meter)
    with stamina.set_testing(True, attempts=4), pytest.raises(TransientFailure) as caught:
        api.query("DebtorClient")
    api.close()
    assert meter.calls == 4
    assert caught.value.retry_after == 2


def test_a_refused_connection_is_repeated_even_for_a_write() -> None:
    """Nothing listens on the port: nothing was sent, so the write is safe to repeat."""
    meter = Meter()
    api = client(f"http://127.0.0.1:{free_port()}", meter)
    with stamina.set_testing(True, attempts=3), pytest.raises(TransientFailure) as caught:
        api.insert("DebtorClient", [{"Account": "70001", "Name": "Kvist ApS"}])
    api.close()
    assert meter.calls == 3
    assert str(caught.value).startswith("could not reach Uniconta at 127.0.0.1:")


def test_a_refusal_of_the_record_is_not_repeated(server: SandboxServer) -> None:
    meter = Meter()
    api = client(server.base_url, meter)
    api.insert("DebtorClient", [{"Account": "70001", "Name": "Kvist ApS"}])
    with stamina.set_testing(True, attempts=5), pytest.raises(RemoteRejected):
        api.insert("DebtorClient", [{"Account": "70001", "Name": "Kvist ApS"}])
    api.close()
    assert meter.calls == 2


def test_yuki_soap_reads_are_repeated_through_server_faults_and_resets() -> None:
    """Yuki answers a failure of its own as a bare "Server was unable to process request."
    SOAP fault with HTTP 500: a read is repeated like any other server error."""
    sandbox = YukiSandbox()
    seeded = seed_demo(sandbox, contacts=3, seed=7)
    served = YukiServer(sandbox)
    served.start()
    try:
        assert served.faults is not None
        served.faults.configure(FaultPlan.from_mapping(
            {"rate": 0.3, "seed": 4, "kinds": ["5xx", "reset"]}))  # fmt: skip
        meter = Meter()
        api = YukiClient(
            base_url=served.base_url, access_key=seeded.access_key, meter=meter,
            clock=SystemClock(),
        )  # fmt: skip
        with stamina.set_testing(True, attempts=6):
            for _ in range(20):
                assert [d["ID"] for d in api.domains()] == [seeded.domain_id]
        api.close()
        counts = served.faults.counters()["injected"]
        assert counts["5xx"] and counts["reset"]
        assert meter.calls == 1 + 20 + counts["5xx"] + counts["reset"]  # 1: Authenticate
    finally:
        served.stop()


# ---------------------------------------------------------------------------- the rules


def test_retry_after_reads_seconds_dates_and_the_tripletex_reset() -> None:
    now = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
    later = format_datetime(datetime(2026, 12, 2, 12, 0, 42, tzinfo=UTC), usegmt=True)
    assert retry_after({"Retry-After": "7"}) == 7.0
    assert retry_after({"Retry-After": later}, now) == 42.0
    assert retry_after({"X-Rate-Limit-Reset": "42"}) == 42.0
    assert retry_after({"Retry-After": "-3"}) == 0.0
    for unusable in ("soon", "inf", "nan", ""):
        assert retry_after({"Retry-After": unusable}) is None
    assert retry_after({}) is None


@pytest.mark.parametrize(
    ("status", "write", "expected"),
    [
        (429, True, TransientFailure),
        (429, False, TransientFailure),
        (503, True, TransientFailure),
        (500, False, TransientFailure),
        (502, False, TransientFailure),
        (500, True, AmbiguousWrite),
        (502, True, AmbiguousWrite),
        (504, True, AmbiguousWrite),
    ],
)
def test_which_answers_prove_nothing_was_applied(
    status: int, write: bool, expected: type[Exception]
) -> None:
    failure = status_failure("Uniconta", "POST", "/x", status, {"Retry-After": "3"}, write=write)
    assert type(failure) is expected


def test_a_known_429_is_the_same_failure_with_nothing_to_narrow() -> None:
    headers = {"Retry-After": "3"}
    failure = rate_limited("Yuki", headers, detail="Too many requests.")
    assert isinstance(failure, TransientFailure) and failure.retry_after == 3.0
    same = status_failure(
        "Yuki", "SOAP", "X", 429, headers, write=True, detail="Too many requests."
    )
    assert type(same) is type(failure) and str(same) == str(failure)
    assert (
        str(failure)
        == "Yuki is rate limiting these calls (HTTP 429); it resets in 3 s: Too many requests."
    )
    assert str(rate_limited("Yuki", {})) == "Yuki is rate limiting these calls (HTTP 429)"


def test_other_statuses_are_left_to_the_client() -> None:
    for status in (200, 400, 401, 404, 409, 422):
        assert status_failure("Qonto", "GET", "/x", status, {}, write=False) is None


def test_a_failure_below_http_is_ambiguous_only_for_a_sent_write() -> None:
    error = OSError("reset")
    assert isinstance(transport_failure("Yuki", "SOAP", "X", error, sent=True, write=True),
                      AmbiguousWrite)  # fmt: skip
    for sent, write in ((True, False), (False, True), (False, False)):
        failure = transport_failure("Yuki", "SOAP", "X", error, sent=sent, write=write)
        assert isinstance(failure, TransientFailure)


@pytest.mark.parametrize(
    ("url", "host"),
    [
        ("https://odata.uniconta.com", "odata.uniconta.com"),
        ("https://odata.uniconta.com/", "odata.uniconta.com"),
        ("HTTPS://ODATA.Uniconta.com:443/", "odata.uniconta.com"),
        ("http://odata.uniconta.com:80", "odata.uniconta.com"),
        ("odata.uniconta.com", "odata.uniconta.com"),
        ("http://127.0.0.1:8765/", "127.0.0.1:8765"),
        ("https://tripletex.no/v2", "tripletex.no"),
    ],
)
def test_a_base_url_names_its_host_however_it_is_spelt(url: str, host: str) -> None:
    assert host_of(url) == host


def test_a_counter_key_ignores_case_and_spaces_of_the_identity() -> None:
    assert counter_key("uniconta", "https://odata.uniconta.com/", " Bob ") == counter_key(
        "uniconta", "https://odata.uniconta.com", "bob"
    )
    assert counter_key("uniconta", "http://127.0.0.1:1", "bob") != counter_key(
        "uniconta", "http://127.0.0.1:2", "bob"
    )


def test_an_answer_without_a_case_of_its_own_is_json_or_a_refusal_in_the_systems_words() -> None:
    assert decoded(httpx.Response(200, json={"a": 1}), str) == {"a": 1}
    assert decoded(httpx.Response(204), str) is None
    with pytest.raises(RemoteRejected, match="name: can't be blank"):
        decoded(httpx.Response(422, json={"m": "name: can't be blank"}), lambda r: r.json()["m"])


def test_an_error_body_is_read_as_json_only_when_it_is() -> None:
    assert error_json(httpx.Response(400, json={"code": 8000})) == {"code": 8000}
    assert error_json(httpx.Response(502, text="<html>Bad gateway</html>")) is None
