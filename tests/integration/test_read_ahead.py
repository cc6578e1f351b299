"""Reading one page ahead (``engine.prefetch``): while a page is applied, the next one is
already asked for, and no page is read that the last one did not announce."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from contextlib import closing
from typing import Any

import pytest

from ledgerbridge.connectors.base import Page
from ledgerbridge.connectors.uniconta.connector import UnicontaConnector
from ledgerbridge.engine.prefetch import call_booked, read_ahead
from ledgerbridge.runtime.system import System
from tests.integration.conftest import (
    COMPANY,
    PASSWORD,
    USER,
    Tenant,
    Uniconta,
    connect,
    import_all,
    seed,
)


def _wait_for(condition: Callable[[], bool], seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return condition()


def test_the_next_page_is_asked_for_while_the_last_is_applied(uniconta: Uniconta) -> None:
    seed(uniconta, 250)
    booked: list[int] = []

    def meter(calls: int) -> None:
        booked.append(calls)
        call_booked()

    connector = UnicontaConnector(
        {"company_id": COMPANY, "username": USER, "base_url": uniconta.url},
        {"password": PASSWORD},
        meter,
    )
    try:
        connector.prepare(["customers"])
        start = uniconta.calls()
        pages = []
        prepared_in: list[str] = []

        def prepare(page: Page) -> int:
            prepared_in.append(threading.current_thread().name)
            return len(page.records)

        with closing(read_ahead(connector, "customers", None, 100, prepare)) as reader:
            for number, (page, prepared) in enumerate(reader, start=1):
                pages.append(len(page.records))
                assert prepared == len(page.records)
                if page.more:
                    # Still "applying" this page: the next one is on its way already.
                    assert _wait_for(lambda n=number: uniconta.calls() - start == n + 1)
        assert pages == [100, 100, 50]
        # Each page is worked out beside the caller, in a thread apart from the reads.
        assert len(prepared_in) == 3 and all(name.startswith("prepare") for name in prepared_in)
        # Nothing read beyond the page that said it was the last.
        assert uniconta.calls() - start == 3
        assert sum(booked) == 3
    finally:
        connector.close()


def test_an_import_read_ahead_costs_the_same_calls_and_keeps_every_record(
    system: System, tenant: Tenant, uniconta: Uniconta
) -> None:
    accounts = seed(uniconta, 350)
    connection = connect(tenant, uniconta, settings={"page_size": 100})
    before = uniconta.calls()
    import_all(system, tenant, connection["id"])
    # A count for the progress bar, then pages of 100, 100, 100 and 50.
    assert uniconta.calls() - before == 5
    parties = tenant.api.get("/parties", params={"limit": 1000}).json()["items"]
    assert sorted(p["data"]["debtor_number"] for p in parties) == sorted(accounts)


def test_a_count_that_comes_back_after_the_last_page_is_still_shown(
    system: System, tenant: Tenant, uniconta: Uniconta, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The streams are counted beside the pages, so the count may come back after the last
    page's progress was written: the run's end writes it. The count is held (a spy around the
    real one) until every page was applied, which a slow API makes happen by itself."""
    seed(uniconta, 150)
    connection = connect(tenant, uniconta, settings={"page_size": 100})
    pages_done = threading.Event()
    scan, count = system.engine.inbound.scan, UnicontaConnector.count

    def scan_then_say(*args: Any, **kwargs: Any) -> None:
        scan(*args, **kwargs)
        pages_done.set()

    def count_after_the_pages(self: UnicontaConnector, stream: str) -> int | None:
        assert pages_done.wait(30), "the pages were not applied"
        return count(self, stream)

    monkeypatch.setattr(system.engine.inbound, "scan", scan_then_say)
    monkeypatch.setattr(UnicontaConnector, "count", count_after_the_pages)
    import_all(system, tenant, connection["id"])

    progress = tenant.api.get(f"/connections/{connection['id']}").json()["import_progress"]
    assert progress["streams"] == {"customers": {"created": 150, "total": 150}}
    assert (progress["records_done"], progress["records_total"]) == (150, 150)
