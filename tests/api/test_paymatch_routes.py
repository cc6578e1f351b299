"""A PayMatch route against Uniconta: the codes it names are looked up when it is saved (a
422 naming each wrong field, or a warning when Uniconta cannot be reached), postings Uniconta
refused for a journal it lacks go again with the corrected route, and lines deleted from the
cash journal are not made again. The hub API, a real database, and the Uniconta sandbox
behind its fault injector on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from ledgerbridge.runtime.system import System
from ledgerbridge.sandbox.uniconta import BookingServer, UnicontaSandbox
from ledgerbridge.sandbox.uniconta.app import SandboxServer
from tests.integration.conftest import COMPANY, PASSWORD, USER, Tenant, Uniconta
from tests.integration.test_commerce_flow import POLICY, items
from tests.integration.test_paymatch import (
    PAYMATCH,
    TOTAL,
    charge,
    journal,
    pay_out,
    place,
    shop,
)

__all__ = ["shop"]


@pytest.fixture
def uniconta() -> Iterator[Uniconta]:
    """The Uniconta sandbox behind its fault injector (``/_sandbox/faults``), so a test can
    make it unreachable, and the booking service that books its invoices."""
    sandbox = UnicontaSandbox(throttle_delay=0.0)
    sandbox.add_company(company_id=COMPANY, name="Nordlys Handel ApS")
    sandbox.add_user(COMPANY, USER, PASSWORD, user_type="Server", roles=("Reseller",))
    with SandboxServer(sandbox) as server, BookingServer(sandbox) as booking:
        yield Uniconta(sandbox, server.base_url, booking.base_url)
    sandbox.close()


def faults(uniconta: Uniconta, **plan: Any) -> None:
    httpx.put(f"{uniconta.url}/_sandbox/faults", json=plan).raise_for_status()


def route_body(shop: dict[str, Any], **paymatch: Any) -> dict[str, Any]:
    return {"source": "app", "target": shop["cid"], "entities": ["party"],
            "commerce": {"policy": POLICY, "rules": {}},
            "paymatch": {**PAYMATCH, **paymatch}}  # fmt: skip


def save(tenant: Tenant, shop: dict[str, Any], body: dict[str, Any]) -> httpx.Response:
    return tenant.api.put(f"/routes/{shop['route']['id']}", json=body)


def save_unchecked(
    tenant: Tenant, uniconta: Uniconta, shop: dict[str, Any], **paymatch: Any
) -> dict[str, Any]:
    """Save the route while Uniconta answers every call with a server error."""
    faults(uniconta, rate=1, kinds=["5xx"])
    try:
        saved = save(tenant, shop, route_body(shop, **paymatch))
    finally:
        faults(uniconta)
    assert saved.status_code == 200, saved.text
    answer: dict[str, Any] = saved.json()
    return answer


def cash_journal_issues(tenant: Tenant, cid: str) -> list[dict[str, Any]]:
    found = tenant.api.get(f"/connections/{cid}/issues").json()
    return [i for i in found if i["stream"] == "cash_journal"]


def test_the_codes_a_route_names_are_looked_up_in_uniconta_when_it_is_saved(
    system: System, tenant: Tenant, uniconta: Uniconta, shop: dict[str, Any]
) -> None:
    body = route_body(shop, journal="PAYMTCH", fee_account="7221")
    body["commerce"]["policy"] = {**POLICY, "rounding_account": "AFRUNDX",
                                  "service_items": {"fee": "GEBYRX"},
                                  "default_payment_term": "Netto 9"}  # fmt: skip
    before = uniconta.calls()
    refused = save(tenant, shop, body)
    assert refused.status_code == 422, refused.text
    assert uniconta.calls() - before == 4, "one read per kind: journal, account, term, item"
    problems = {".".join(map(str, d["loc"][1:])): d["msg"] for d in refused.json()["detail"]}
    assert set(problems) == {
        "paymatch.journal", "paymatch.fee_account", "commerce.policy.rounding_account",
        "commerce.policy.service_items.fee", "commerce.policy.default_payment_term",
    }  # fmt: skip
    assert problems["paymatch.journal"].startswith(
        "journal 'PAYMTCH' does not exist in Uniconta: name one"
    ), "named as Uniconta's users name it, not by the API's class (GLDailyJournalClient)"
    assert "GL account '7221' does not exist" in problems["paymatch.fee_account"]
    assert "item 'AFRUNDX' does not exist" in problems["commerce.policy.rounding_account"]
    assert "item 'GEBYRX' does not exist" in problems["commerce.policy.service_items.fee"]
    assert "payment term 'Netto 9'" in problems["commerce.policy.default_payment_term"]
    assert tenant.api.get(f"/routes/{shop['route']['id']}").json()["paymatch"] == PAYMATCH

    fine = save(tenant, shop, route_body(shop, journal="PAYMATCH"))
    assert fine.status_code == 200, fine.text
    assert fine.json()["warnings"] == []

    assert tenant.api.delete(f"/routes/{shop['route']['id']}").status_code == 204
    new = {"source": "app", "target": shop["cid"], "entities": ["party"]}
    created = tenant.api.post(
        "/routes", json={**new, "paymatch": {**PAYMATCH, "bank_account": "5901"}}
    )
    assert created.status_code == 422, created.text
    (detail,) = created.json()["detail"]
    assert detail["loc"][1:] == ["paymatch", "bank_account"]
    assert tenant.api.get("/routes").json() == []
    created = tenant.api.post("/routes", json={**new, "paymatch": PAYMATCH})
    assert created.status_code == 201, created.text


def test_a_paymatch_block_without_a_start_date_says_which_day_to_give(
    tenant: Tenant, shop: dict[str, Any]
) -> None:
    """Without a start every payout the acquirer still lists would be posted, those booked
    by hand before too: the refusal says what the day is for, for a null as for none."""
    body = route_body(shop)
    del body["paymatch"]["start_date"]
    for paymatch in (body["paymatch"], {**body["paymatch"], "start_date": None}):
        refused = save(tenant, shop, {**body, "paymatch": paymatch})
        assert refused.status_code == 422, refused.text
        [detail] = refused.json()["detail"]
        assert detail["loc"][1:] == ["paymatch", "start_date"]
        assert detail["msg"] == (
            "Field required: the first day whose payouts are posted; payouts that arrived "
            "before it are not, so give the day after the last payout booked by hand"
        )


def test_a_route_read_changed_and_sent_back_is_saved(
    system: System, tenant: Tenant, shop: dict[str, Any]
) -> None:
    """Pausing a route is `GET`, `"active": false`, `PUT`: what the answer carries of its own
    (id, times, warnings, the rules' hash) is taken back as read, and the rules keep their
    version; only an id of another route is refused."""
    route_id = shop["route"]["id"]
    body = route_body(shop)
    body["commerce"]["rules"] = {"adjustments": [{"target": "note", "template": "W {{ number }}"}]}
    saved = save(tenant, shop, body).json()
    read = tenant.api.get(f"/routes/{route_id}").json()
    assert {"id", "created_at", "updated_at", "warnings"} <= set(read)
    assert read["commerce"]["rules"]["content_hash"]

    paused = tenant.api.put(f"/routes/{route_id}", json={**read, "active": False})

    assert paused.status_code == 200, paused.text
    assert paused.json()["active"] is False
    assert paused.json()["commerce"] == saved["commerce"]  # same rules, version and hash
    assert paused.json()["paymatch"] == saved["paymatch"]
    other = tenant.api.put(f"/routes/{route_id}", json={**read, "id": "another-route"})
    assert other.status_code == 422
    assert other.json()["detail"][0]["loc"] == ["body", "id"]
    assert "another-route" in other.json()["detail"][0]["msg"]
    rules = {**read["commerce"]["rules"], "content_hash": "0" * 64, "adjustments": []}
    changed = tenant.api.put(
        f"/routes/{route_id}", json={**read, "commerce": {**read["commerce"], "rules": rules}}
    )
    assert changed.status_code == 200, changed.text
    kept = changed.json()["commerce"]["rules"]
    assert kept["adjustments"] == [] and kept["content_hash"] != "0" * 64
    assert kept["version"] == saved["commerce"]["rules"]["version"] + 1


def test_a_route_sent_back_as_read_is_not_refused_for_a_default_it_never_named(
    system: System, tenant: Tenant, uniconta: Uniconta, shop: dict[str, Any]
) -> None:
    """The answer to `GET` lists the policy's defaults (debtor groups PRIV, ERHVERV, EAN):
    sent back to pause the route, they are the codes the route ran with, not codes it newly
    names, so a company without one of them can still pause it. A code changed is looked up."""
    route_id = shop["route"]["id"]
    assert save(tenant, shop, route_body(shop)).status_code == 200
    groups = {row["Group"] for row in uniconta.sandbox.all(COMPANY, "DebtorGroupClient")}
    for group in {"PRIV", "ERHVERV", "EAN"} & groups:
        uniconta.sandbox.delete(COMPANY, "DebtorGroupClient", group)
    read = tenant.api.get(f"/routes/{route_id}").json()
    assert read["commerce"]["policy"]["customers"]["profiles"]["ean"]["debtor_group"] == "EAN"

    paused = tenant.api.put(f"/routes/{route_id}", json={**read, "active": False})

    assert paused.status_code == 200, paused.text
    policy = read["commerce"]["policy"]
    profiles = {
        **policy["customers"]["profiles"],
        "ean": {**policy["customers"]["profiles"]["ean"], "debtor_group": "OFFENTLIG"},
    }
    changed = {**read, "commerce": {**read["commerce"], "policy": {
        **policy, "customers": {**policy["customers"], "profiles": profiles}}}}  # fmt: skip
    refused = tenant.api.put(f"/routes/{route_id}", json=changed)
    assert refused.status_code == 422, refused.text
    [problem] = refused.json()["detail"]
    assert problem["loc"][-3:] == ["profiles", "ean", "debtor_group"]
    assert "'OFFENTLIG' does not exist in Uniconta" in problem["msg"]


def test_a_route_saved_while_uniconta_is_unreachable_warns_that_its_codes_were_not_checked(
    system: System, tenant: Tenant, uniconta: Uniconta, shop: dict[str, Any]
) -> None:
    saved = save_unchecked(tenant, uniconta, shop, fee_account="7221")
    (warning,) = saved["warnings"]
    assert "were not checked" in warning and "Uniconta could not be reached" in warning
    assert saved["paymatch"]["fee_account"] == "7221"
    assert tenant.api.get(f"/routes/{shop['route']['id']}").json()["warnings"] == []


def test_postings_refused_for_a_journal_uniconta_lacks_go_once_the_route_is_corrected(
    system: System, tenant: Tenant, uniconta: Uniconta, shop: dict[str, Any]
) -> None:
    route_id = shop["route"]["id"]
    place(system, tenant, shop, "6101")
    pay_out(tenant, "po_ok", charge("t1", TOTAL, "4.48", order_ref="6101"))
    system.run_until_idle()
    assert len(journal(uniconta, "po_ok")) == 3

    invoice = place(system, tenant, shop, "6103")
    save_unchecked(tenant, uniconta, shop, journal="PAYMTCH")
    pay_out(tenant, "po_typo", charge("t1", TOTAL, "4.48", order_ref="6103"))
    system.run_until_idle()
    assert journal(uniconta, "po_typo") == []
    (issue,) = cash_journal_issues(tenant, shop["cid"])
    assert issue["reason"] == "paymatch_code_missing"
    assert "journal 'PAYMTCH' does not exist in Uniconta" in issue["message"]
    assert f"correct paymatch.journal of route {route_id}" in issue["message"]
    assert "on its page under Routes" in issue["message"]

    corrected = save(tenant, shop, route_body(shop, journal="PAYMATCH"))
    assert corrected.status_code == 200, corrected.text
    system.run_until_idle()
    assert journal(uniconta, "po_typo") == [
        ("5820", "-298.75", invoice),
        ("7220", "4.48", None),
        ("5900", "294.27", None),
    ]
    assert len(journal(uniconta, "po_ok")) == 3, "what was posted is not posted again"
    assert cash_journal_issues(tenant, shop["cid"]) == []
    postings = {p["data"]["reference"]: p["data"] for p in items(tenant, "/journal-postings")}
    assert postings["po_typo"]["journal"] == "PAYMATCH"
    assert postings["po_typo"]["route_id"] == route_id

    assert save(tenant, shop, route_body(shop, journal="PAYMATCH")).status_code == 200
    system.run_until_idle()
    assert len(journal(uniconta, "po_typo")) == 3
    assert len(items(tenant, "/journal-postings")) == 2


def test_lines_deleted_from_the_cash_journal_are_not_made_again(
    system: System, tenant: Tenant, uniconta: Uniconta, shop: dict[str, Any]
) -> None:
    place(system, tenant, shop, "6102")
    pay_out(tenant, "po_gone", charge("t1", TOTAL, "4.48", order_ref="6102"))
    system.run_until_idle()
    rows = [r for r in uniconta.sandbox.all(COMPANY, "GLDailyJournalLineClient")
            if r.get("ReferenceNumber") == "po_gone"]  # fmt: skip
    assert len(rows) == 3
    for row in rows:
        uniconta.sandbox.delete(COMPANY, "GLDailyJournalLineClient", row["RowId"])

    assert save(tenant, shop, route_body(shop)).status_code == 200
    retried = tenant.api.post(f"/connections/{shop['cid']}/issues/retry", json={})
    assert retried.status_code == 202, retried.text
    system.run_until_idle()
    assert journal(uniconta, "po_gone") == [], "booked or deleted: the hub cannot tell"
    assert cash_journal_issues(tenant, shop["cid"]) == []
    assert [p["data"]["reference"] for p in items(tenant, "/journal-postings")] == ["po_gone"]
