"""Conflict rules and held conflicts in the UI, over HTTP: the rules are set as rows (Add row,
Remove, a refusal on its row), a held conflict shows both values with a Keep button for each
side, and keeping one applies it."""

from __future__ import annotations

from html import unescape

from ledgerbridge.runtime.system import System
from tests.integration.conftest import Tenant, Uniconta, connect, import_all, seed
from tests.integration.test_conflict_rules import HUB_PHONE, REMOTE_PHONE, _both_change, _phones
from tests.integration.ui.conftest import Web, sign_in, text_of


def words(html: str) -> str:
    """What a person reads, apostrophes included."""
    return unescape(text_of(html))


def _connection(system: System, tenant: Tenant, uniconta: Uniconta) -> tuple[str, list[str]]:
    accounts = seed(uniconta, 3)
    connection = connect(tenant, uniconta)
    import_all(system, tenant, connection["id"])
    return connection["id"], accounts


def test_rules_are_added_saved_refused_on_their_row_and_removed(
    system: System, tenant: Tenant, uniconta: Uniconta, web: Web
) -> None:
    cid, _accounts = _connection(system, tenant, uniconta)
    base = f"/ui/connections/{cid}/conflicts"
    page = web.get(base)
    assert page.status_code == 200
    assert "Without a rule, a read from Uniconta takes its value" in words(page.text)
    assert 'name="rule-0-entity"' in page.text and 'name="rule-1-entity"' not in page.text

    # Add row keeps what was chosen and offers one more row, saving nothing.
    added = web.post(
        base,
        {"rule-0-entity": "party", "rule-0-field": "phone", "rule-0-rule": "hold", "action": "add"},
    )
    assert added.status_code == 200 and 'name="rule-1-entity"' in added.text
    assert tenant.api.get(f"/connections/{cid}").json()["settings"].get("conflicts") is None

    saved = web.post(
        base,
        {
            "rule-0-entity": "party", "rule-0-field": "phone", "rule-0-rule": "hold",
            "rule-1-entity": "party", "rule-1-field": "*", "rule-1-rule": "accounting",
            "rule-2-entity": "", "rule-2-field": "*", "rule-2-rule": "hold",
            "action": "save",
        },
        follow_redirects=True,
    )  # fmt: skip
    assert saved.status_code == 200 and "Saved 2 conflict rules." in words(saved.text)
    settings = tenant.api.get(f"/connections/{cid}").json()["settings"]
    assert settings["conflicts"] == {"party": {"phone": "hold", "*": "accounting"}}

    refused = web.post(
        base,
        {
            "rule-0-entity": "party", "rule-0-field": "phone", "rule-0-rule": "hold",
            "rule-1-entity": "party", "rule-1-field": "phone", "rule-1-rule": "app",
        },
    )  # fmt: skip
    assert refused.status_code == 422
    assert "Row 1: settings.conflicts.party.phone: two rules for one field" in words(refused.text)
    assert 'aria-invalid="true" aria-describedby="rules-error"' in refused.text

    removed = web.post(
        base,
        {
            "rule-0-entity": "party", "rule-0-field": "phone", "rule-0-rule": "hold",
            "rule-0-remove": "on",
            "rule-1-entity": "party", "rule-1-field": "*", "rule-1-rule": "accounting",
        },
        follow_redirects=True,
    )  # fmt: skip
    assert "Saved 1 conflict rule." in words(removed.text)
    settings = tenant.api.get(f"/connections/{cid}").json()["settings"]
    assert settings["conflicts"] == {"party": {"*": "accounting"}}


def test_a_held_conflict_shows_both_values_and_is_kept_from_the_issues_page(
    system: System, tenant: Tenant, uniconta: Uniconta, web: Web, ui_url: str
) -> None:
    cid, accounts = _connection(system, tenant, uniconta)
    tenant.api.patch(
        f"/connections/{cid}", json={"settings": {"conflicts": {"party": {"phone": "hold"}}}}
    )
    parties = tenant.api.get("/parties").json()["items"]
    record_id = next(p["id"] for p in parties if p["data"]["debtor_number"] == accounts[0])
    _both_change(tenant, uniconta, accounts[0], record_id, remote_first=True)
    system.run_until_idle()

    page = web.get(f"/ui/connections/{cid}/issues")
    text = words(page.text)
    assert "Held conflicts" in text
    assert f"phone {HUB_PHONE} {REMOTE_PHONE}" in text
    assert "Keep Uniconta's" in text and "Keep the app's" in text
    # A member sees the values, not the buttons.
    assert tenant.api.post(
        "/users", json={"email": "m@nordlys.example", "role": "member"}
    ).is_success
    viewer = sign_in(system, ui_url, tenant.tenant_id, "m@nordlys.example")
    seen = viewer.get(f"/ui/connections/{cid}/issues")
    assert HUB_PHONE in seen.text and "Keep Uniconta" not in seen.text
    viewer.client.close()

    issue = tenant.api.get(f"/connections/{cid}/issues", params={"reason": "conflict_held"}).json()[
        0
    ]
    bad = web.post(f"/ui/connections/{cid}/issues/{issue['id']}/resolve", {"keep": "neither"})
    assert bad.status_code == 422 and "keep must be one of accounting, app" in words(bad.text)
    kept = web.post(
        f"/ui/connections/{cid}/issues/{issue['id']}/resolve",
        {"keep": "accounting", "field": "phone"},
        follow_redirects=True,
    )
    assert "Keeping Uniconta's value of phone" in words(kept.text)
    system.run_until_idle()
    assert _phones(tenant, uniconta, accounts[0], record_id) == (REMOTE_PHONE, REMOTE_PHONE)
    after = words(web.get(f"/ui/connections/{cid}/issues").text)
    assert "Held conflicts" not in after
