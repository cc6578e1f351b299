"""Operating a connection through the UI over HTTP: the overview's last error with what to
do, Sync now and Test connection, issues with their retry and dismissal, activity, usage and
records; and the API endpoints those pages brought (runs, usage, stats, retry by reason or
issue)."""

from __future__ import annotations

from typing import Any

from ledgerbridge.connectors.uniconta.client import CREDENTIALS_REFUSED
from ledgerbridge.runtime.system import System
from ledgerbridge.services.connections.explain import fix_for
from tests.integration.conftest import (
    COMPANY,
    PASSWORD,
    USER,
    Tenant,
    Uniconta,
    connect,
    import_all,
    latest_run,
    seed,
)
from tests.integration.test_woocommerce import Shop, pull, shop  # noqa: F401 (a fixture)
from tests.integration.test_woocommerce import connect as connect_shop
from tests.integration.ui.conftest import Web, sign_in, text_of


def _with_an_issue(system: System, tenant: Tenant, uniconta: Uniconta) -> tuple[str, list[str]]:
    """A Uniconta connection imported, then one debtor made invalid and read again: an open
    inbound issue on a record the hub already has."""
    accounts = seed(uniconta, 3)
    connection = connect(tenant, uniconta)
    import_all(system, tenant, connection["id"])
    uniconta.sandbox.update(COMPANY, "DebtorClient", accounts[1], {"VatNumber": "DK11111111"})
    assert tenant.api.post(f"/connections/{connection['id']}/jobs/pull").status_code == 202
    system.run_until_idle()
    return connection["id"], accounts


def test_known_failures_map_to_the_page_that_fixes_them() -> None:
    cases = {
        CREDENTIALS_REFUSED: "credentials",
        "the Qonto login is older than 90 days and has expired; log in again": "credentials",
        "daily API quota of 5000 calls used up; resumes at 2026-12-04T00:00:00+01:00": "usage",
        "Yuki's daily call limit for this domain is reached (Every domain has 1000 free "
        "webservice calls a day.); resumes at 2026-12-08T00:00:00+01:00": "usage",
        "Yuki is rate limiting these calls (HTTP 429); it resets in 1 s": "activity",
        "Qonto is rate limiting these calls (HTTP 429); it resets in 9 s": "activity",
        "VAT code 'U25' is not mapped (vat_code_unmapped)": "mappings",
        "Tripletex is unreachable: [Errno 111] Connection refused": "credentials",  # as stored
        "could not reach Tripletex at tripletex.no: the name tripletex.no was not found; check "
        "the address for typing errors": "credentials",
        "internal error: KeyError (see the log)": "activity",
        "Yuki answered 400 to POST /Sales": "issues",
    }
    for message, page in cases.items():
        fix = fix_for(message)
        assert fix is not None and fix.page == page, (message, fix)
    assert fix_for(None) is None


def test_a_failed_run_shows_its_error_what_to_do_and_where(
    system: System, tenant: Tenant, uniconta: Uniconta, web: Web
) -> None:
    seed(uniconta, 2)
    connection = connect(tenant, uniconta)
    import_all(system, tenant, connection["id"])
    cid = connection["id"]
    overview = web.get(f"/ui/connections/{cid}/")
    assert overview.status_code == 200
    assert "Last error" not in overview.text
    assert f'action="/ui/connections/{cid}/jobs/pull"' in overview.text

    uniconta.sandbox.add_user(COMPANY, USER, "changed-on-the-uniconta-side")
    queued = web.post(f"/ui/connections/{cid}/jobs/pull")
    assert queued.status_code == 303
    assert queued.headers["location"] == f"/ui/connections/{cid}/activity"
    system.run_until_idle()
    # A push with nothing to send (the 5-minute schedule) reaches nothing: the advice stays.
    assert tenant.api.post(f"/connections/{cid}/jobs/push").status_code == 202
    system.run_until_idle()

    status = tenant.api.get(f"/connections/{cid}").json()
    assert latest_run(tenant, cid, "push")["calls"] == 0
    assert latest_run(tenant, cid, "pull")["calls"] == 1
    assert status["last_error"] == CREDENTIALS_REFUSED
    assert status["last_error_fix"]["page"] == "credentials"
    page = text_of(web.get(f"/ui/connections/{cid}/").text)
    assert "Uniconta refused the credentials" in page
    assert "What to do: The system no longer accepts the saved credentials" in page
    assert f'href="/ui/connections/{cid}/credentials"' in web.get(f"/ui/connections/{cid}/").text
    activity = text_of(web.get(f"/ui/connections/{cid}/activity").text)
    assert "failed" in activity and "Uniconta refused the credentials" in activity

    # The password is right again: the next run succeeds and the advice goes away.
    uniconta.sandbox.add_user(COMPANY, USER, PASSWORD)
    web.post(f"/ui/connections/{cid}/jobs/pull")
    system.run_until_idle()
    assert tenant.api.get(f"/connections/{cid}").json()["last_error_fix"] is None


def test_test_connection_answers_in_place_and_without_javascript(
    tenant: Tenant, uniconta: Uniconta, web: Web
) -> None:
    cid = connect(tenant, uniconta)["id"]
    fragment = web.fragment(f"/ui/connections/{cid}/test")
    assert fragment.status_code == 200
    assert "Test passed." in fragment.text and "<html" not in fragment.text
    plain = web.post(f"/ui/connections/{cid}/test")
    assert plain.status_code == 303
    assert "Test passed" in text_of(web.get(plain.headers["location"]).text)
    uniconta.sandbox.add_user(COMPANY, USER, "changed")
    assert "Test failed." in web.fragment(f"/ui/connections/{cid}/test").text


def test_issues_grouped_listed_linked_and_retried(
    system: System, tenant: Tenant, uniconta: Uniconta, web: Web
) -> None:
    cid, accounts = _with_an_issue(system, tenant, uniconta)
    [issue] = tenant.api.get(f"/connections/{cid}/issues").json()
    assert issue["key"] == accounts[1] and issue["reason"] == "invalid_remote_data"
    assert issue["record_id"] and issue["remote_id"] == accounts[1]
    assert issue["url"] is None  # Uniconta's app has no page address per record

    grouped = web.get(f"/ui/connections/{cid}/issues")
    assert grouped.status_code == 200
    assert f'href="/ui/connections/{cid}/issues?reason=invalid_remote_data"' in grouped.text
    listed = web.get(f"/ui/connections/{cid}/issues", params={"reason": "invalid_remote_data"})
    assert accounts[1] in text_of(listed.text)
    assert f'href="/ui/records/{issue["record_id"]}"' in listed.text
    record = web.get(f"/ui/records/{issue['record_id']}")
    assert record.status_code == 200 and accounts[1] in text_of(record.text)
    assert "Issue" in text_of(record.text) and "invalid_remote_data" in text_of(record.text)
    sync = tenant.api.get(f"/parties/{issue['record_id']}").json()["sync"]
    assert [s["issue"]["reason"] for s in sync if s["issue"]] == ["invalid_remote_data"]

    # Still wrong in Uniconta: a retry of this one issue keeps it open, one more attempt.
    retried = web.post(f"/ui/connections/{cid}/issues/retry", {"issue_id": issue["id"]})
    assert retried.status_code == 303
    system.run_until_idle()
    [again] = tenant.api.get(f"/connections/{cid}/issues").json()
    assert again["attempts"] == issue["attempts"] + 1

    uniconta.sandbox.update(COMPANY, "DebtorClient", accounts[1], {"VatNumber": "DK13585628"})
    by_reason = web.post(f"/ui/connections/{cid}/issues/retry", {"reason": "invalid_remote_data"})
    assert by_reason.status_code == 303
    assert "Retry of the invalid_remote_data issues queued" in text_of(
        web.get(by_reason.headers["location"]).text
    )
    system.run_until_idle()
    assert tenant.api.get(f"/connections/{cid}/issues").json() == []
    assert "No open issue" in text_of(web.get(f"/ui/connections/{cid}/issues").text)
    # A second click on a page shown before they cleared says so instead of queueing nothing.
    stale = web.post(f"/ui/connections/{cid}/issues/retry", {"reason": "invalid_remote_data"})
    assert stale.status_code == 303
    assert "there are no open issues" in text_of(web.get(stale.headers["location"]).text)


def test_an_issue_dismissed_from_the_page_leaves_the_list_and_shows_in_activity(
    system: System, tenant: Tenant, uniconta: Uniconta, web: Web
) -> None:
    cid, accounts = _with_an_issue(system, tenant, uniconta)
    [issue] = tenant.api.get(f"/connections/{cid}/issues").json()
    listed = web.get(f"/ui/connections/{cid}/issues", params={"reason": "invalid_remote_data"})
    assert f'action="/ui/connections/{cid}/issues/{issue["id"]}/dismiss"' in listed.text
    assert f"Dismiss {accounts[1]}" in listed.text

    url = f"/ui/connections/{cid}/issues/{issue['id']}/dismiss"
    dismissed = web.post(url, {"reason": "invalid_remote_data"})
    assert dismissed.status_code == 303
    assert dismissed.headers["location"].endswith("/issues?reason=invalid_remote_data")
    shown = text_of(web.get(dismissed.headers["location"]).text)
    assert "Issue dismissed" in shown and "No open issue" in shown
    # A second click on a page shown before says so instead of an error page.
    again = web.post(url)
    assert again.status_code == 303
    assert "no longer open" in text_of(web.get(again.headers["location"]).text)

    activity = web.get(f"/ui/connections/{cid}/activity", params={"outcome": "dismissed"})
    assert activity.status_code == 200
    assert "dismissed by owner@nordlyshandel.example" in text_of(activity.text)


def test_a_debtor_deleted_in_uniconta_is_made_again_from_its_issue(
    system: System, tenant: Tenant, uniconta: Uniconta, web: Web
) -> None:
    accounts = seed(uniconta, 2)
    connection = connect(tenant, uniconta)
    cid = connection["id"]
    import_all(system, tenant, cid)
    [party] = tenant.api.get("/parties", params={"q": accounts[0]}).json()["items"]
    uniconta.sandbox.delete(COMPANY, "DebtorClient", accounts[0])
    tenant.api.patch(f"/parties/{party['id']}", json={"phone": "+45 70 11 22 33"})
    system.run_until_idle()
    [issue] = tenant.api.get(f"/connections/{cid}/issues").json()
    assert issue["reason"] == "remote_record_missing"

    listed = web.get(f"/ui/connections/{cid}/issues")
    assert f"Make {issue['key']} again" in listed.text
    # Make again is for one issue, or one reason meaning the record is gone there: said so.
    refused = web.post(f"/ui/connections/{cid}/issues/retry", {"recreate": "yes"})
    assert refused.status_code == 303
    assert "make again one issue" in text_of(web.get(refused.headers["location"]).text)

    made = web.post(
        f"/ui/connections/{cid}/issues/retry", {"issue_id": issue["id"], "recreate": "yes"}
    )
    assert made.status_code == 303
    assert "will be made again" in text_of(web.get(made.headers["location"]).text)
    system.run_until_idle()
    again = uniconta.debtor(accounts[0])
    assert again is not None and again["Phone"] == "+45 70 11 22 33"
    assert tenant.api.get(f"/connections/{cid}/issues").json() == []
    activity = web.get(f"/ui/connections/{cid}/activity", params={"outcome": "created"})
    assert accounts[0] in text_of(activity.text)


def test_every_issue_of_a_reason_is_dismissed_at_once_from_its_list(
    system: System, tenant: Tenant, uniconta: Uniconta, web: Web
) -> None:
    cid, _accounts = _with_an_issue(system, tenant, uniconta)
    listed = web.get(f"/ui/connections/{cid}/issues", params={"reason": "invalid_remote_data"})
    assert f'action="/ui/connections/{cid}/issues/dismiss"' in listed.text
    assert "Dismiss all 1" in text_of(listed.text)
    assert (
        'action="/ui/connections/' + cid + '/issues/dismiss"'
        not in web.get(f"/ui/connections/{cid}/issues").text
    ), "offered only on one reason's list"

    dismissed = web.post(f"/ui/connections/{cid}/issues/dismiss", {"reason": "invalid_remote_data"})
    assert dismissed.status_code == 303
    shown = text_of(web.get(dismissed.headers["location"]).text)
    assert "1 invalid_remote_data issue dismissed" in shown and "No open issue" in shown
    assert tenant.api.get(f"/connections/{cid}/issues").json() == []
    # Clicked again on a page shown before: the reason has no open issue any more, said so.
    again = web.post(f"/ui/connections/{cid}/issues/dismiss", {"reason": "invalid_remote_data"})
    assert again.status_code == 303
    assert "no open issues" in text_of(web.get(again.headers["location"]).text)
    assert web.post(f"/ui/connections/{cid}/issues/dismiss", {"reason": ""}).status_code == 422


def test_retry_api_by_reason_and_an_unknown_issue(
    system: System, tenant: Tenant, uniconta: Uniconta
) -> None:
    cid, _accounts = _with_an_issue(system, tenant, uniconta)
    ok = tenant.api.post(f"/connections/{cid}/issues/retry", json={"reason": "invalid_remote_data"})
    assert ok.status_code == 202 and ok.json()["status"] == "queued"
    missing = tenant.api.post(f"/connections/{cid}/issues/retry", json={"issue_id": "nope"})
    assert missing.status_code == 404
    # A reason no open issue has would queue a job that does nothing: a 422 naming the open ones.
    typo = tenant.api.post(f"/connections/{cid}/issues/retry", json={"reason": "invalid_data"})
    assert typo.status_code == 422, typo.text
    assert "invalid_data" in typo.text and "invalid_remote_data (1)" in typo.text
    assert "reason" in typo.text
    assert tenant.api.post(f"/connections/{cid}/issues/retry", json={"x": 1}).status_code == 422
    paged = tenant.api.get(f"/connections/{cid}/issues", params={"limit": 1, "offset": 1})
    assert paged.status_code == 200 and paged.json() == []


def test_runs_usage_and_stats_in_the_api_and_the_pages(
    system: System, tenant: Tenant, uniconta: Uniconta, web: Web
) -> None:
    seed(uniconta, 3)
    cid = connect(tenant, uniconta)["id"]
    import_all(system, tenant, cid)
    runs = tenant.api.get(f"/connections/{cid}/runs", params={"kind": "import"}).json()
    assert [r["kind"] for r in runs] == ["import"]
    assert runs[0]["status"] == "succeeded" and runs[0]["duration_seconds"] is not None
    every = tenant.api.get(f"/connections/{cid}/runs", params={"limit": 2}).json()
    assert len(every) == 2 and every[0]["started_at"] >= every[1]["started_at"]
    run: dict[str, Any] = tenant.api.get(f"/connections/{cid}/runs/{runs[0]['id']}").json()
    assert run["counts"]["customers.created"] == 3
    assert tenant.api.get(f"/connections/{cid}/runs/nope").status_code == 404

    usage = tenant.api.get(f"/connections/{cid}/usage", params={"days": 30}).json()
    assert len(usage["days"]) == 30 and usage["limit"] == 5000
    assert (
        usage["days"][-1]["calls"]
        == tenant.api.get(f"/connections/{cid}").json()["calls_used_today"]
    )
    stats = tenant.api.get(f"/connections/{cid}/stats", params={"days": 7}).json()
    assert len(stats["days"]) == 7
    assert stats["days"][-1]["outcomes"] == {"created": 3}
    assert {(g["stream"], g["direction"]) for g in stats["groups"]} == {("customers", "inbound")}
    assert tenant.api.get(f"/connections/{cid}/stats", params={"days": 0}).status_code == 422

    activity = web.get(f"/ui/connections/{cid}/activity")
    assert activity.status_code == 200
    assert f'href="/ui/connections/{cid}/activity/runs/{run["id"]}"' in activity.text
    detail = text_of(web.get(f"/ui/connections/{cid}/activity/runs/{run['id']}").text)
    assert "customers" in detail and "created 3" in detail
    created = web.get(f"/ui/connections/{cid}/activity", params={"outcome": "created"})
    assert text_of(created.text).count("created") >= 3
    none = web.get(f"/ui/connections/{cid}/activity", params={"outcome": "failed"})
    assert "No entry matches these filters." in text_of(none.text)
    assert web.get(f"/ui/connections/{cid}/activity", params={"outcome": "x"}).status_code == 422
    assert web.get(f"/ui/connections/{cid}/activity/runs/nope").status_code == 404
    assert web.get("/ui/connections/nope/activity/live").status_code == 404
    # After a reconnect from before the first entry, the tail sends every entry since.
    resumed = {"Last-Event-ID": "0"}
    with web.client.stream("GET", f"/ui/connections/{cid}/activity/live", headers=resumed) as tail:
        assert tail.headers["content-type"].startswith("text/event-stream")
        lines = tail.iter_lines()
        first = [next(lines) for _ in range(3)]
    assert first[0] == "event: log" and first[1].startswith("data: <li>")
    assert "created" in first[1] and first[2].startswith("id: ")

    usage_page = web.get(f"/ui/connections/{cid}/usage")
    assert usage_page.status_code == 200
    assert 'data-chart="calls-data"' in usage_page.text
    assert usage["days"][-1]["day"] in usage_page.text


def test_records_search_and_a_record_page(
    system: System, tenant: Tenant, uniconta: Uniconta, web: Web
) -> None:
    accounts = seed(uniconta, 3)
    cid = connect(tenant, uniconta)["id"]
    import_all(system, tenant, cid)
    listed = web.get("/ui/records")
    assert listed.status_code == 200
    assert text_of(listed.text).count("Linked") == 3
    party = tenant.api.get("/parties").json()["items"][0]
    found = web.get("/ui/records", params={"q": party["data"]["debtor_number"]})
    assert f'href="/ui/records/{party["id"]}"' in found.text
    assert text_of(found.text).count("Linked") == 1
    assert "No parties match" in text_of(web.get("/ui/records", params={"q": "zz%_q"}).text)
    api = tenant.api.get("/parties", params={"q": party["data"]["debtor_number"]}).json()
    assert [p["id"] for p in api["items"]] == [party["id"]]
    nordic = tenant.api.post(
        "/parties", json={"name": "Jakobsens Anlæg ApS", "is_customer": True}
    ).json()
    for typed in ("Anlæg", "anlæg", "ANLÆG", "Jakobsens Anlæg"):
        hits = tenant.api.get("/parties", params={"q": typed}).json()["items"]
        assert [p["id"] for p in hits] == [nordic["id"]], typed
    # values are searched, not field names
    assert tenant.api.get("/parties", params={"q": "debtor_number"}).json()["items"] == []
    page = web.get(f"/ui/records/{party['id']}")
    assert page.status_code == 200 and party["data"]["debtor_number"] in accounts
    assert web.get("/ui/records/nope").status_code == 404
    assert web.get("/ui/records", params={"entity": "nope"}).status_code == 422


def test_a_member_sees_operations_but_cannot_start_them(
    system: System, tenant: Tenant, uniconta: Uniconta, ui_url: str
) -> None:
    cid = connect(tenant, uniconta)["id"]
    added = tenant.api.post("/users", json={"email": "m@nordlys.example", "role": "member"})
    member = sign_in(system, ui_url, tenant.tenant_id, "m@nordlys.example")
    try:
        assert added.status_code == 201
        page = member.get(f"/ui/connections/{cid}/")
        assert page.status_code == 200
        assert "Test connection" not in page.text and "/jobs/" not in page.text
        assert "Retry" not in member.get(f"/ui/connections/{cid}/issues").text
        refused = member.post(f"/ui/connections/{cid}/jobs/pull")
        assert refused.status_code == 403
        assert member.post(f"/ui/connections/{cid}/issues/retry").status_code == 403
        assert member.post(f"/ui/connections/{cid}/issues/x/dismiss").status_code == 403
        refused_all = member.post(f"/ui/connections/{cid}/issues/dismiss", {"reason": "x"})
        assert refused_all.status_code == 403
    finally:
        member.client.close()


def test_an_issue_opens_its_record_in_the_system_s_own_app(
    system: System,
    tenant: Tenant,
    shop: Shop,  # noqa: F811 (the fixture imported above)
    web: Web,
) -> None:
    cid = connect_shop(tenant, shop)["id"]
    import_all(system, tenant, cid)
    held = str(shop.cases["reverse_charge_order"])
    shop.sandbox.update_order(
        int(held), {"meta_data": [{"key": "_billing_vat_number", "value": "DE123456789"}]}
    )
    pull(system, tenant, cid)
    [issue] = tenant.api.get(f"/connections/{cid}/issues").json()
    assert issue["key"] == held and issue["record_id"]
    assert issue["url"] == f"{shop.url}/wp-admin/post.php?post={held}&action=edit"
    listed = web.get(f"/ui/connections/{cid}/issues", params={"reason": issue["reason"]})
    assert f'href="{issue["url"]}"'.replace("&", "&amp;") in listed.text
    assert f"Open {held} in WooCommerce" in listed.text
    record = web.get(f"/ui/records/{issue['record_id']}")
    assert "invalid_remote_data" in text_of(record.text)


def test_a_search_too_long_is_refused_on_the_search_field(web: Web) -> None:
    """The records page stays, with the search kept and the reason on its field, instead of
    an error page that loses both."""
    page = web.get("/ui/records?entity=order")
    assert 'name="q" type="search" maxlength="200"' in page.text
    pasted = "Karen Hansen, Søndergade 12, 8000 Aarhus C " * 6
    refused = web.get("/ui/records", params={"entity": "order", "q": pasted})
    assert refused.status_code == 422
    words = text_of(refused.text)
    assert "Search orders" in words and "a search has at most 200 characters" in words
    assert 'aria-invalid="true"' in refused.text.split('id="q"', 1)[1].split(">", 1)[0]
    assert "Søndergade 12" in refused.text.split('id="q"', 1)[1].split(">", 1)[0]
