"""The invoice mail tab over HTTP: the SMTP settings form (refusals on their field, the
password never shown), a test mail through a real SMTP server on loopback, and the mails
with their state and Retry."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from ledgerbridge.runtime.system import System
from ledgerbridge.sandbox.smtp import SmtpSink
from ledgerbridge.sandbox.uniconta import seed_products
from ledgerbridge.store.tables.mail import MailIntent
from ledgerbridge.ui.mail import MAIL_PAGE
from tests.integration.conftest import COMPANY, Tenant, Uniconta, connect, import_all
from tests.integration.test_commerce_flow import (
    POLICY,
    STREAMS,
    VAT,
    order_body,
    with_card_term,
)
from tests.integration.ui.commerce_fixtures import form_of
from tests.integration.ui.conftest import Web, sign_in, text_of


@pytest.fixture
def sink(tmp_path: Path) -> Iterator[SmtpSink]:
    server = SmtpSink(tmp_path / "mail").start()
    yield server
    server.stop()


@pytest.fixture
def books(system: System, tenant: Tenant, uniconta: Uniconta) -> dict[str, Any]:
    """Uniconta with products, imported, and orders from the hub API booked in it."""
    items = seed_products(uniconta.sandbox, COMPANY, count=4, seed=5)
    with_card_term(uniconta)
    item = next(i for i in uniconta.sandbox.all(COMPANY, "InvItemClient")
                if i["Item"] in items and i.get("Vat") == "S25")  # fmt: skip
    connection = connect(tenant, uniconta, settings={
        "entities": {s: {"enabled": True} for s in STREAMS}, "vat_mapping": VAT,
        "post_invoices": True})  # fmt: skip
    import_all(system, tenant, connection["id"])
    route = tenant.api.post("/routes", json={
        "source": "app", "target": connection["id"], "entities": ["party"],
        "commerce": {"policy": {**POLICY, "email_invoices": True}, "rules": {}}})  # fmt: skip
    assert route.status_code == 201, route.text
    return {"cid": connection["id"], "sku": item["Item"]}


def smtp_form(web: Web, cid: str, sink: SmtpSink, **changes: str) -> dict[str, Any]:
    page = web.get(f"/ui/connections/{cid}/mail")
    assert page.status_code == 200, page.text
    form = form_of(page.text, f"/ui/connections/{cid}/mail")
    form.update({
        "settings.invoice_mail.enabled": "on", "settings.invoice_mail.smtp_host": "127.0.0.1",
        "settings.invoice_mail.smtp_port": str(sink.port),
        "settings.invoice_mail.smtp_security": "none",
        "settings.invoice_mail.from_address": "faktura@nordlys.dk",
        "settings.invoice_mail.company.name": "Nordlys Handel ApS", **changes,
    })  # fmt: skip
    return form


def test_smtp_settings_are_saved_and_checked_with_a_test_mail(
    web: Web, tenant: Tenant, books: dict[str, Any], sink: SmtpSink
) -> None:
    cid = books["cid"]
    bad = web.post(
        f"/ui/connections/{cid}/mail",
        smtp_form(web, cid, sink, **{"settings.invoice_mail.from_address": "nobody"}),
    )
    assert bad.status_code == 422
    assert 'id="settings-invoice_mail-from_address-error"' in bad.text
    assert "invoice_mail" not in tenant.api.get(f"/connections/{cid}").json().get("settings", {})

    off = web.post(f"/ui/connections/{cid}/mail/test", {"recipient": "ejer@nordlys.dk"})
    assert off.status_code == 409 and "invoice mail is off" in text_of(off.text)

    form = smtp_form(web, cid, sink, **{"secrets.smtp_password": "hemmelig"})
    saved = web.post(f"/ui/connections/{cid}/mail", form)
    assert saved.status_code == 303, text_of(saved.text)
    page = web.get(saved.headers["location"])
    assert "The invoice mail settings are saved." in text_of(page.text)
    assert "hemmelig" not in page.text, "the password is never shown"
    shown = form_of(page.text, f"/ui/connections/{cid}/mail")
    assert shown["settings.invoice_mail.smtp_port"] == str(sink.port)
    assert "{{ number }}" in shown["settings.invoice_mail.body_template"]
    assert "\n" in shown["settings.invoice_mail.body_template"], "the body keeps its lines"

    wrong = web.post(f"/ui/connections/{cid}/mail/test", {"recipient": "not an address"})
    assert wrong.status_code == 422 and 'id="recipient-error"' in wrong.text
    sent = web.post(f"/ui/connections/{cid}/mail/test", {"recipient": "ejer@nordlys.dk"})
    assert sent.status_code == 200
    assert "The server took the test mail for ejer@nordlys.dk" in text_of(sent.text)
    (received,) = sink.received()
    assert received.rcpt_to == ["ejer@nordlys.dk"]
    assert received.message()["Subject"] == "Test mail: invoice mail is set up"
    api = tenant.api.post(
        f"/connections/{cid}/invoice-mails/test", json={"recipient": "b@nordlys.dk"}
    )
    assert api.status_code == 200 and api.json()["status"] == "sent", api.text
    assert len(sink.received()) == 2

    sink.stop()
    down = web.post(f"/ui/connections/{cid}/mail/test", {"recipient": "ejer@nordlys.dk"})
    assert down.status_code == 200
    assert (
        "The test mail was not sent (temporary, at connect): could not reach the mail server "
        f"at 127.0.0.1:{sink.port}: the connection was refused (nothing answers on that port); "
        "check the address and port, and that the service is running"
    ) in text_of(down.text)


def test_a_required_setting_left_blank_is_called_required_on_its_field(
    web: Web, tenant: Tenant, books: dict[str, Any], sink: SmtpSink
) -> None:
    """Spaces pass the browser's required check and are read as an empty field: the field
    says it is required, in those words, and what was typed elsewhere stays."""
    cid = books["cid"]
    form = smtp_form(web, cid, sink, **{"settings.invoice_mail.smtp_host": "   "})
    blank = web.post(f"/ui/connections/{cid}/mail", form)
    assert blank.status_code == 422
    error = re.search(r'id="settings-invoice_mail-smtp_host-error"[^>]*>([^<]*)<', blank.text)
    assert error is not None and error.group(1).endswith(": required"), blank.text
    assert "Input should" not in blank.text
    assert (
        form_of(blank.text, f"/ui/connections/{cid}/mail")["settings.invoice_mail.from_address"]
        == "faktura@nordlys.dk"
    )


def test_a_member_sees_the_settings_but_cannot_change_or_send(
    system: System, ui_url: str, tenant: Tenant, books: dict[str, Any]
) -> None:
    added = tenant.api.post("/users", json={"email": "m@nordlys.example", "role": "member"})
    assert added.status_code == 201, added.text
    member = sign_in(system, ui_url, tenant.tenant_id, "m@nordlys.example")
    page = member.get(f"/ui/connections/{books['cid']}/mail")
    assert page.status_code == 200
    assert "<fieldset disabled>" in page.text and "Send test mail" not in page.text
    refused = member.post(f"/ui/connections/{books['cid']}/mail/test", {"recipient": "a@b.dk"})
    assert refused.status_code == 403


def test_a_refused_invoice_mail_is_listed_and_retried(
    web: Web, system: System, tenant: Tenant, books: dict[str, Any], sink: SmtpSink
) -> None:
    cid = books["cid"]
    assert web.post(f"/ui/connections/{cid}/mail", smtp_form(web, cid, sink)).status_code == 303
    sink.faults.arm("refuse")
    posted = tenant.api.post("/orders", json=order_body(books["sku"], source_id="7001",
                                                        number="7001"))  # fmt: skip
    assert posted.status_code == 201, posted.text
    system.run_until_idle()
    page = web.get(f"/ui/connections/{cid}/mail?state=refused")
    words = text_of(page.text)
    assert "7001" in words and "karen@kunde.dk" in words and "refused" in words
    (mail,) = tenant.api.get(f"/connections/{cid}/invoice-mails").json()
    retried = web.fragment(f"/ui/connections/{cid}/mail/{mail['invoice_id']}/retry")
    assert retried.status_code == 200
    assert retried.text.lstrip().startswith(f'<tr id="mail-{mail["invoice_id"]}">')
    assert "Sent again." in retried.text
    system.run_until_idle()
    (mail,) = tenant.api.get(f"/connections/{cid}/invoice-mails").json()
    assert mail["state"] == "sent"
    assert [r.rcpt_to for r in sink.received()] == [["karen@kunde.dk"]]
    again = web.post(f"/ui/connections/{cid}/mail/{mail['invoice_id']}/retry")
    assert again.status_code == 409, "a sent mail is not sent twice"
    assert "Retry" not in text_of(web.get(f"/ui/connections/{cid}/mail").text)


def test_mails_beyond_a_page_are_a_link_away(
    web: Web, system: System, tenant: Tenant, books: dict[str, Any]
) -> None:
    """A shop mails hundreds of invoices a month: the tab shows the newest page and links to
    the older ones, so none is out of reach. The mails are rows as the push makes them (a
    skipped one each: nothing to send), written straight into the database for speed."""
    cid = books["cid"]
    start = datetime(2026, 12, 1, tzinfo=UTC)
    with system.sessions.begin() as session:
        for n in range(MAIL_PAGE + 1):
            at = start + timedelta(minutes=n)
            session.add(MailIntent(
                tenant_id=tenant.tenant_id, connection_id=cid, invoice_id=f"invoice-{n:03d}",
                order_number=f"9{n:03d}", state="skipped", reason="mail_address_missing",
                created_at=at, updated_at=at,
            ))  # fmt: skip

    newest = web.get(f"/ui/connections/{cid}/mail")
    assert newest.status_code == 200
    assert "9100" in text_of(newest.text) and "9001" in text_of(newest.text)
    assert "9000" not in text_of(newest.text)
    link = f"/ui/connections/{cid}/mail?after=invoice-001"
    assert f'<a href="{link}">Older mails</a>' in newest.text
    oldest = web.get(link)
    assert oldest.status_code == 200
    assert "9000" in text_of(oldest.text) and "9001" not in text_of(oldest.text)
    assert "Older mails" not in oldest.text
    filtered = web.get(f"/ui/connections/{cid}/mail?state=skipped")
    assert "state=skipped&amp;after=invoice-001" in filtered.text


def test_the_tab_is_only_on_systems_that_mail(
    web: Web, tenant: Tenant, books: dict[str, Any]
) -> None:
    page = web.get(f"/ui/connections/{books['cid']}/")
    assert f'href="/ui/connections/{books["cid"]}/mail"' in page.text
    made = tenant.api.post("/connections", json={
        "system": "files", "name": "Filer", "settings": {}, "secrets": {}})  # fmt: skip
    assert made.status_code == 201, made.text
    files = made.json()["id"]
    assert "/mail" not in web.get(f"/ui/connections/{files}/").text
    assert web.get(f"/ui/connections/{files}/mail").status_code == 409
