"""Invoice mail end to end: orders through the hub API, a commerce route to the Uniconta
sandbox and its booking service, and a real SMTP server (aiosmtpd) on loopback that keeps
what it accepts and misbehaves on request. The job queue runs on a manual clock, so an hour
of a server being down passes in a moment."""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from ledgerbridge.api.app import create_app
from ledgerbridge.clock import ManualClock
from ledgerbridge.mail import smtp
from ledgerbridge.runtime.http import ServerThread
from ledgerbridge.runtime.system import System
from ledgerbridge.sandbox.smtp import SmtpSink
from ledgerbridge.sandbox.uniconta import seed_products
from ledgerbridge.sandbox.uniconta.seed_commerce import DEBTOR_GROUPS
from ledgerbridge.settings import Settings
from ledgerbridge.store.tables.mail import MailIntent
from ledgerbridge.store.tables.tenancy import Connection
from tests.integration.conftest import COMPANY, Tenant, Uniconta, connect, import_all, new_tenant
from tests.integration.test_commerce_flow import (
    POLICY,
    STREAMS,
    VAT,
    order_body,
    with_card_term,
)
from tests.integration.test_write_steps_uniconta import StepFaults

SUBJECT = "Faktura {{ number }} fra {{ company.name }}"
BODY = (
    "Kære {{ customer_name }}\n\nTak for ordre {{ order_number }}. Faktura {{ number }} af "
    "{{ date }}, forfald {{ due_date }}: {{ total }} {{ currency }} (moms {{ vat_total }}).\n"
    "{% for line in lines %}- {{ line.quantity }} x {{ line.description }}: "
    "{{ line.net_amount }}\n{% endfor %}"
)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime(2026, 11, 20, 12, 0, tzinfo=UTC))


@pytest.fixture
def sink(tmp_path: Path) -> Iterator[SmtpSink]:
    server = SmtpSink(tmp_path / "mail").start()
    yield server
    server.stop()


@pytest.fixture
def mail_system(settings: Settings, clock: ManualClock) -> Iterator[System]:
    built = System(settings, clock=clock)
    yield built
    built.close()


@pytest.fixture
def mail_tenant(mail_system: System, hub_port: int) -> Iterator[Tenant]:
    server = ServerThread(create_app(mail_system), port=hub_port).start()
    tenant = new_tenant(mail_system, f"{server.url}/api/v1")
    yield tenant
    tenant.api.close()
    server.stop()


def mail_settings(sink: SmtpSink, **changes: Any) -> dict[str, Any]:
    return {
        "enabled": True,
        "smtp_host": "127.0.0.1",
        "smtp_port": sink.port,
        "smtp_security": "none",
        "from_address": "faktura@nordlys.dk",
        "from_name": "Nordlys Handel",
        "reply_to": "kundeservice@nordlys.dk",
        "subject_template": SUBJECT,
        "body_template": BODY,
        "company": {"name": "Nordlys Handel ApS", "address": "Havnegade 1, 8000 Aarhus C",
                    "vat_number": "DK12345678"},
        **changes,
    }  # fmt: skip


def open_shop(
    system: System,
    tenant: Tenant,
    uniconta: Uniconta,
    mail: dict[str, Any],
    secrets: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Uniconta with products and invoice mail, imported, and a route from the hub API (the
    shop) whose policy mails booked invoices."""
    items = seed_products(uniconta.sandbox, COMPANY, count=4, seed=5)
    with_card_term(uniconta)
    item = next(
        i for i in uniconta.sandbox.all(COMPANY, "InvItemClient")
        if i["Item"] in items and i.get("Vat") == "S25"
    )  # fmt: skip
    connection = connect(tenant, uniconta, settings={
        "entities": {s: {"enabled": True} for s in STREAMS}, "vat_mapping": VAT,
        "post_invoices": True, "invoice_mail": mail})  # fmt: skip
    if secrets:
        changed = tenant.api.patch(f"/connections/{connection['id']}", json={"secrets": secrets})
        assert changed.status_code == 200, changed.text
    import_all(system, tenant, connection["id"])
    policy = {**POLICY, "email_invoices": True}
    route = tenant.api.post(
        "/routes",
        json={"source": "app", "target": connection["id"], "entities": ["party"],
              "commerce": {"policy": policy, "rules": {}}},
    )  # fmt: skip
    assert route.status_code == 201, route.text
    return {"cid": connection["id"], "sku": item["Item"]}


def order(system: System, tenant: Tenant, sku: str, number: str, **fields: Any) -> None:
    body = order_body(sku, source_id=number, number=number, **fields)
    posted = tenant.api.post("/orders", json=body)
    assert posted.status_code == 201, posted.text
    system.run_until_idle()


def intents(system: System) -> list[MailIntent]:
    with system.sessions() as session:
        rows = session.scalars(sa.select(MailIntent).order_by(MailIntent.created_at)).all()
        session.expunge_all()
        return list(rows)


def mail_issues(tenant: Tenant, cid: str) -> list[dict[str, Any]]:
    found = tenant.api.get(f"/connections/{cid}/issues").json()
    return [i for i in found if i["direction"] == "mail"]


def wait(system: System, clock: ManualClock, minutes: int, step: int = 5) -> None:
    """Let ``minutes`` pass on the queue's clock, running what becomes due on the way."""
    for _ in range(0, minutes, step):
        clock.advance(timedelta(minutes=step))
        system.run_until_idle()


def test_a_booked_invoice_is_mailed_once_with_uniconta_pdf_and_the_rendered_template(
    mail_system: System, mail_tenant: Tenant, uniconta: Uniconta, sink: SmtpSink,
    clock: ManualClock,
) -> None:  # fmt: skip
    shop = open_shop(mail_system, mail_tenant, uniconta, mail_settings(sink))
    order(mail_system, mail_tenant, shop["sku"], "7001")

    (received,) = sink.received()
    assert received.rcpt_to == ["karen@kunde.dk"]
    message = received.message()
    (row,) = intents(mail_system)
    number = mail_tenant.api.get(f"/invoices/{row.invoice_id}").json()["data"]["number"]
    assert message["Subject"] == f"Faktura {number} fra Nordlys Handel ApS"
    assert message["From"] == "Nordlys Handel <faktura@nordlys.dk>"
    assert message["Reply-To"] == "kundeservice@nordlys.dk"
    body = message.get_body(("plain",))
    assert body is not None
    text = body.get_content().replace("\r\n", "\n")
    assert text.startswith("Kære Karen Kunde\n\nTak for ordre 7001.")
    assert "298.75 DKK (moms 59.75)" in text
    assert "- 2 x Kaffekrus: 200.00" in text
    (attachment,) = list(message.iter_attachments())
    assert attachment.get_content_type() == "application/pdf"
    assert attachment.get_filename() == f"invoice-{number}.pdf"
    document = attachment.get_content()
    assert document.startswith(b"%PDF") and f"Faktura {number}".encode() in document
    assert (row.state, row.attachment, row.attempts) == ("sent", "uniconta", 1)
    assert row.reply is not None and "queued as" in row.reply

    # The order changes again, the job runs again, time passes: still one mail.
    changed = order_body(shop["sku"], source_id="7001", number="7001", state="completed")
    mail_tenant.api.post("/orders", json=changed)
    wait(mail_system, clock, 60)
    assert len(sink.received()) == 1
    listed = mail_tenant.api.get(f"/connections/{shop['cid']}/invoice-mails").json()
    assert [(m["state"], m["recipient"]) for m in listed] == [("sent", "karen@kunde.dk")]
    assert mail_issues(mail_tenant, shop["cid"]) == []


def test_the_mailed_total_is_what_uniconta_booked_with_its_vat_rounded_per_code(
    mail_system: System, mail_tenant: Tenant, uniconta: Uniconta, sink: SmtpSink
) -> None:
    # Two lines of 10.01 at 25 %: Uniconta books 5.01 VAT on their 20.02 (once per code),
    # not 2 × 2.50; the customer is told what the books hold and owes 25.03.
    shop = open_shop(mail_system, mail_tenant, uniconta, mail_settings(sink))
    lines = [
        {"source_id": "1", "kind": "item", "sku": shop["sku"], "description": "Kaffekrus",
         "quantity": "1", "unit_price": "10.01", "tax_rate": "25", "net_amount": "10.01",
         "tax_amount": "2.50"},
        {"source_id": "2", "kind": "shipping", "description": "GLS", "quantity": "1",
         "unit_price": "10.01", "tax_rate": "25", "net_amount": "10.01", "tax_amount": "2.51"},
    ]  # fmt: skip
    order(mail_system, mail_tenant, shop["sku"], "7001", lines=lines, total="25.03",
          total_tax="5.01")  # fmt: skip

    [booked] = uniconta.sandbox.all(COMPANY, "DebtorInvoiceClient")
    assert (booked["VatAmount"], booked["TotalAmount"]) == (5.01, 25.03)
    (received,) = sink.received()
    body = received.message().get_body(("plain",))
    assert body is not None
    assert "25.03 DKK (moms 5.01)" in body.get_content()


def test_a_template_that_does_not_render_is_refused_when_saved(
    mail_system: System, mail_tenant: Tenant, uniconta: Uniconta, sink: SmtpSink
) -> None:
    shop = open_shop(mail_system, mail_tenant, uniconta, mail_settings(sink))
    bad = {
        "subject_template": "Faktura {{ nummer }}",  # misspelt: undefined
        "body_template": "{{ number.__class__.__mro__ }}",  # outside the sandbox
    }
    for field, template in bad.items():
        response = mail_tenant.api.patch(
            f"/connections/{shop['cid']}", json={"settings": {"invoice_mail": {field: template}}}
        )
        assert response.status_code == 422, response.text
        assert field in response.text and "invoice_mail" in response.text
    broken = mail_tenant.api.patch(
        f"/connections/{shop['cid']}",
        json={"settings": {"invoice_mail": {"body_template": "{% for x in lines %}"}}},
    )
    assert broken.status_code == 422 and "body_template" in broken.text
    kept = mail_tenant.api.get(f"/connections/{shop['cid']}").json()
    assert kept["settings"]["invoice_mail"]["subject_template"] == SUBJECT


def test_a_sender_name_with_a_line_break_is_refused_and_one_saved_before_is_one_line(
    mail_system: System, mail_tenant: Tenant, uniconta: Uniconta, sink: SmtpSink
) -> None:
    """A line break in the sender's name ended the From header: the test mail answered 500
    and every invoice mail failed with mail_render_failed. It is refused when saved; a name
    saved with one before is sent on one line."""
    shop = open_shop(mail_system, mail_tenant, uniconta, mail_settings(sink))
    refused = mail_tenant.api.patch(
        f"/connections/{shop['cid']}",
        json={"settings": {"invoice_mail": {"from_name": "Nordlys\r\nBcc: x@example.dk"}}},
    )
    assert refused.status_code == 422, refused.text
    (error,) = refused.json()["detail"]
    assert error["loc"][-1] == "from_name" and "one line" in error["msg"], error

    with mail_system.sessions.begin() as session:  # as a name saved before was stored
        stored = session.get(Connection, shop["cid"])
        assert stored is not None
        stored.settings = {**stored.settings, "invoice_mail": {
            **stored.settings["invoice_mail"], "from_name": "Nordlys\r\n Handel"}}  # fmt: skip
    tested = mail_tenant.api.post(
        f"/connections/{shop['cid']}/invoice-mails/test", json={"recipient": "ejer@nordlys.dk"}
    )
    assert tested.status_code == 200 and tested.json()["status"] == "sent", tested.text
    order(mail_system, mail_tenant, shop["sku"], "7001")
    test_mail, invoice_mail = sink.received()
    for received in (test_mail, invoice_mail):
        assert received.message()["From"] == "Nordlys Handel <faktura@nordlys.dk>"
    assert invoice_mail.rcpt_to == ["karen@kunde.dk"]
    assert mail_issues(mail_tenant, shop["cid"]) == []


def test_a_refusal_is_an_issue_on_the_invoice_and_is_not_retried(
    mail_system: System, mail_tenant: Tenant, uniconta: Uniconta, sink: SmtpSink,
    clock: ManualClock,
) -> None:  # fmt: skip
    shop = open_shop(mail_system, mail_tenant, uniconta, mail_settings(sink, layout="compact"))
    sink.faults.arm("refuse")
    order(mail_system, mail_tenant, shop["sku"], "7002")
    wait(mail_system, clock, 120, step=10)

    assert sink.received() == []
    (row,) = intents(mail_system)
    assert (row.state, row.reason, row.attempts) == ("refused", "mail_refused", 1)
    (issue,) = mail_issues(mail_tenant, shop["cid"])
    assert issue["reason"] == "mail_refused" and issue["key"] == row.invoice_id
    assert "550" in issue["message"] and "Relaying denied" in issue["message"]

    retried = mail_tenant.api.post(
        f"/connections/{shop['cid']}/invoice-mails/{row.invoice_id}/retry"
    )
    assert retried.status_code == 200, retried.text
    mail_system.run_until_idle()
    (received,) = sink.received()
    (attachment,) = list(received.message().iter_attachments())
    assert attachment.get_content().startswith(b"%PDF")
    (row,) = intents(mail_system)
    assert (row.state, row.attachment) == ("sent", "compact")
    assert mail_issues(mail_tenant, shop["cid"]) == []
    again = mail_tenant.api.post(f"/connections/{shop['cid']}/invoice-mails/{row.invoice_id}/retry")
    assert again.status_code == 409


def test_a_connection_dropped_in_the_middle_of_the_data_is_retried_and_delivered_once(
    mail_system: System, mail_tenant: Tenant, uniconta: Uniconta, sink: SmtpSink,
    clock: ManualClock,
) -> None:  # fmt: skip
    shop = open_shop(mail_system, mail_tenant, uniconta, mail_settings(sink))
    sink.faults.arm("drop_mid_data")
    sink.faults.arm("tempfail")
    order(mail_system, mail_tenant, shop["sku"], "7003")
    assert sink.received() == []
    (row,) = intents(mail_system)
    assert row.state == "retry" and row.attempts == 1

    wait(mail_system, clock, 10, step=1)
    assert sink.faults.seen["drop_mid_data"] == 1 and sink.faults.seen["tempfail"] == 1
    assert len(sink.received()) == 1
    (row,) = intents(mail_system)
    assert (row.state, row.attempts) == ("sent", 3)
    wait(mail_system, clock, 60)
    assert len(sink.received()) == 1


def test_a_server_down_for_an_hour_gets_the_mail_when_it_comes_back(
    mail_system: System, mail_tenant: Tenant, uniconta: Uniconta, sink: SmtpSink,
    clock: ManualClock,
) -> None:  # fmt: skip
    shop = open_shop(mail_system, mail_tenant, uniconta, mail_settings(sink))
    sink.stop()
    order(mail_system, mail_tenant, shop["sku"], "7004")
    order(mail_system, mail_tenant, shop["sku"], "7005", customer={
        "email": "ole@kunde.dk", "name": "Ole Olsen"})  # fmt: skip
    wait(mail_system, clock, 60)
    rows = intents(mail_system)
    assert [r.state for r in rows] == ["retry", "retry"]
    # One of them tries on and on; the other waits with it (the server is not there).
    assert max(r.attempts for r in rows) >= 4, "tried on and on while the server was away"
    assert rows[0].next_attempt_at == rows[1].next_attempt_at
    assert mail_issues(mail_tenant, shop["cid"]) == []

    sink.start()
    wait(mail_system, clock, 30)
    assert sorted(r.rcpt_to[0] for r in sink.received()) == ["karen@kunde.dk", "ole@kunde.dk"]
    assert [r.state for r in intents(mail_system)] == ["sent", "sent"]


def test_a_server_down_for_longer_than_the_limit_is_an_issue(
    mail_system: System, mail_tenant: Tenant, uniconta: Uniconta, sink: SmtpSink,
    clock: ManualClock,
) -> None:  # fmt: skip
    """Each attempt, the issue, the mail's list and the test mail say in plain words where,
    what happened and what to check, never the socket's ``[Errno 111] Connection refused``."""
    shop = open_shop(mail_system, mail_tenant, uniconta, mail_settings(sink, give_up_after_hours=2))
    sink.stop()
    order(mail_system, mail_tenant, shop["sku"], "7006")
    wait(mail_system, clock, 180, step=15)
    (row,) = intents(mail_system)
    assert (row.state, row.reason) == ("failed", "mail_delivery_failed")
    words = (
        f"could not reach the mail server at 127.0.0.1:{sink.port}: the connection was refused "
        "(nothing answers on that port); check the address and port, and that the service is "
        "running"
    )
    (issue,) = mail_issues(mail_tenant, shop["cid"])
    assert issue["message"].endswith(words) and "Errno" not in issue["message"]
    (listed,) = mail_tenant.api.get(f"/connections/{shop['cid']}/invoice-mails").json()
    assert listed["last_error"] == words
    log = mail_tenant.api.get(
        f"/connections/{shop['cid']}/sync-log", params={"reason": "mail_retry"}
    ).json()
    assert log and all(f"failed ({words}); next at" in e["message"] for e in log)
    tested = mail_tenant.api.post(
        f"/connections/{shop['cid']}/invoice-mails/test", json={"recipient": "ejer@nordlys.dk"}
    )
    assert tested.status_code == 200, tested.text
    assert tested.json() == {"status": "temporary", "reply": words, "stage": "connect"}


def test_a_run_that_died_after_started_leaves_an_unknown_mail_that_is_not_resent(
    mail_system: System, mail_tenant: Tenant, uniconta: Uniconta, sink: SmtpSink,
    clock: ManualClock,
) -> None:  # fmt: skip
    shop = open_shop(mail_system, mail_tenant, uniconta, mail_settings(sink))
    sent = mail_system.mails._send

    def dies(*args: Any) -> smtp.Outcome:
        raise RuntimeError("the worker died inside the SMTP transaction")

    mail_system.mails._send = dies
    order(mail_system, mail_tenant, shop["sku"], "7007")
    (row,) = intents(mail_system)
    assert row.state == "started"

    mail_system.mails._send = sent
    wait(mail_system, clock, 120, step=10)  # the job's retry runs after its backoff
    assert sink.received() == []
    (row,) = intents(mail_system)
    assert (row.state, row.reason, row.attempts) == ("unknown", "mail_delivery_unknown", 1)
    (issue,) = mail_issues(mail_tenant, shop["cid"])
    assert issue["reason"] == "mail_delivery_unknown" and issue["key"] == row.invoice_id

    # The server took the mail but its answer never came: unknown too, and not resent.
    sink.faults.arm("drop_after_data")
    order(mail_system, mail_tenant, shop["sku"], "7008", customer={
        "email": "ole@kunde.dk", "name": "Ole Olsen"})  # fmt: skip
    wait(mail_system, clock, 120, step=10)
    assert [r.rcpt_to for r in sink.received()] == [["ole@kunde.dk"]]
    assert [r.state for r in intents(mail_system)] == ["unknown", "unknown"]

    # A person checked: the first never arrived. Retried, it goes once.
    retried = mail_tenant.api.post(
        f"/connections/{shop['cid']}/invoice-mails/{row.invoice_id}/retry"
    )
    assert retried.status_code == 200, retried.text
    mail_system.run_until_idle()
    assert sorted(r.rcpt_to[0] for r in sink.received()) == ["karen@kunde.dk", "ole@kunde.dk"]
    (left,) = mail_issues(mail_tenant, shop["cid"])
    assert left["reason"] == "mail_delivery_unknown"
    assert (
        "closed the connection after the whole mail was sent, without confirming it: the "
        "mail may have been delivered, so it is not sent again by itself" in left["message"]
    )


def test_invoices_without_an_address_or_for_ean_customers_are_skipped_with_a_reason(
    mail_system: System, mail_tenant: Tenant, uniconta: Uniconta, sink: SmtpSink
) -> None:
    shop = open_shop(mail_system, mail_tenant, uniconta, mail_settings(sink))
    uniconta.sandbox.load(COMPANY, "DebtorGroupClient", DEBTOR_GROUPS)  # the policy names them
    policy = {
        **POLICY, "email_invoices": True,
        "customers": {"profiles": {
            "b2c": {"debtor_group": "PRIV", "match_by": "phone"},
            "b2b": {"debtor_group": "ERHVERV"},
            "ean": {"debtor_group": "EAN", "payment_term": "Netto 30"}}},
    }  # fmt: skip
    (route,) = mail_tenant.api.get("/routes").json()
    changed = mail_tenant.api.put(
        f"/routes/{route['id']}",
        json={"source": "app", "target": shop["cid"], "entities": ["party"],
              "commerce": {"policy": policy, "rules": {}}},
    )  # fmt: skip
    assert changed.status_code == 200, changed.text
    order(mail_system, mail_tenant, shop["sku"], "7009", customer={
        "phone": "+4512345678", "name": "Kassesalg"})  # fmt: skip
    public = {"email": "bogholderi@kommune.dk", "name": "Aarhus Kommune", "ean": "5790000123452"}
    order(mail_system, mail_tenant, shop["sku"], "7010", customer=public)

    rows = intents(mail_system)
    assert sorted((r.order_number, r.state, r.reason) for r in rows) == [
        ("7009", "skipped", "mail_address_missing"),
        ("7010", "skipped", "mail_ean_customer"),
    ]
    assert sink.received() == []
    log = mail_tenant.api.get(
        f"/connections/{shop['cid']}/sync-log", params={"outcome": "skipped", "stream": "invoices"}
    ).json()
    assert {e["reason"] for e in log} >= {"mail_address_missing", "mail_ean_customer"}
    listed = mail_tenant.api.get(
        f"/connections/{shop['cid']}/invoice-mails", params={"state": "skipped"}
    ).json()
    assert len(listed) == 2


def _self_signed(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(UTC)

    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "smtp.crt", directory / "smtp.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def test_starttls_with_a_self_signed_certificate_and_a_login(
    mail_system: System, mail_tenant: Tenant, uniconta: Uniconta, tmp_path: Path
) -> None:
    cert, key = _self_signed(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    secure = SmtpSink(
        tmp_path / "secure", tls_context=context, username="shop", password="smtp-Secret-1"
    ).start()
    try:
        mail = mail_settings(
            secure, smtp_security="starttls", smtp_user="shop", tls_ca_file=str(cert),
            layout="standard",
        )  # fmt: skip
        shop = open_shop(
            mail_system, mail_tenant, uniconta, mail, secrets={"smtp_password": "smtp-Secret-1"}
        )
        shown = mail_tenant.api.get(f"/connections/{shop['cid']}").text
        assert "smtp-Secret-1" not in shown
        order(mail_system, mail_tenant, shop["sku"], "7011")
        (received,) = secure.received()
        assert received.rcpt_to == ["karen@kunde.dk"]
        (row,) = intents(mail_system)
        assert (row.state, row.attachment) == ("sent", "standard")
        with mail_system.sessions() as session:
            stored = session.get(MailIntent, row.id)
            assert stored is not None and stored.pdf is None, "no Uniconta PDF was asked for"
    finally:
        secure.stop()


def test_a_booking_whose_pdf_answer_was_lost_is_found_once_and_mailed_in_our_layout(
    settings: Settings, hub_port: int, clock: ManualClock, uniconta: Uniconta, sink: SmtpSink
) -> None:
    """The booking asked for Uniconta's PDF and its answer was lost: the order is looked up
    by its OurRef (not booked twice), and the mail goes with ledgerbridge's own layout."""
    faults = StepFaults()
    system = System(settings, clock=clock, transport=faults)
    server = ServerThread(create_app(system), port=hub_port).start()
    tenant = new_tenant(system, f"{server.url}/api/v1")
    try:
        shop = open_shop(system, tenant, uniconta, mail_settings(sink))
        faults.inject("POST", "/Invoice/DebtorOrders/", "lose")
        order(system, tenant, shop["sku"], "7012")
        wait(system, clock, 10, step=1)
        assert faults.count("POST", "/Invoice/DebtorOrders/") == 1, "booked once"
        assert len(uniconta.sandbox.all(COMPANY, "DebtorInvoiceClient")) == 1
        (received,) = sink.received()
        (attachment,) = list(received.message().iter_attachments())
        assert attachment.get_content().startswith(b"%PDF")
        (row,) = intents(system)
        assert (row.state, row.attachment) == ("sent", "standard")
    finally:
        tenant.api.close()
        server.stop()
        system.close()


def test_turning_mail_on_mails_the_invoices_booked_from_then_on_only(
    mail_system: System, mail_tenant: Tenant, uniconta: Uniconta, sink: SmtpSink,
    clock: ManualClock,
) -> None:  # fmt: skip
    shop = open_shop(mail_system, mail_tenant, uniconta, mail_settings(sink, enabled=False))
    order(mail_system, mail_tenant, shop["sku"], "7013")
    assert intents(mail_system) == [] and sink.received() == []

    turned_on = mail_tenant.api.patch(
        f"/connections/{shop['cid']}", json={"settings": {"invoice_mail": {"enabled": True}}}
    )
    assert turned_on.status_code == 200, turned_on.text
    retried = mail_tenant.api.post(f"/connections/{shop['cid']}/jobs/retry")
    assert retried.status_code == 202, "a retry of every issue mails no old invoice"
    order(mail_system, mail_tenant, shop["sku"], "7014", customer={
        "email": "ole@kunde.dk", "name": "Ole Olsen"})  # fmt: skip
    wait(mail_system, clock, 30)
    assert [r.rcpt_to for r in sink.received()] == [["ole@kunde.dk"]]
    assert [r.order_number for r in intents(mail_system)] == ["7014"]


def test_a_route_that_mails_invoices_into_a_connection_whose_mail_is_off_says_so(
    mail_system: System, mail_tenant: Tenant, uniconta: Uniconta, sink: SmtpSink
) -> None:
    """The policy's email_invoices alone mails nothing: the route says so, at once and on
    its page, until the connection's invoice mail is on."""
    shop = open_shop(mail_system, mail_tenant, uniconta, mail_settings(sink, enabled=False))
    [route] = mail_tenant.api.get("/routes").json()
    [warning] = route["warnings"]
    assert warning.startswith(
        "commerce.policy.email_invoices is on, but the target connection's invoice mail is "
        "off: the invoices it books are not mailed, then or later, until settings.invoice_mail "
        "is enabled"
    )
    assert mail_tenant.api.get(f"/routes/{route['id']}").json()["warnings"] == [warning]
    saved = mail_tenant.api.put(f"/routes/{route['id']}", json=route)
    assert saved.status_code == 200, saved.text
    assert saved.json()["warnings"] == [warning]

    turned_on = mail_tenant.api.patch(
        f"/connections/{shop['cid']}", json={"settings": {"invoice_mail": {"enabled": True}}}
    )
    assert turned_on.status_code == 200, turned_on.text
    assert mail_tenant.api.get(f"/routes/{route['id']}").json()["warnings"] == []


def test_a_waiting_mail_is_sent_at_once_when_a_person_asks(
    mail_system: System, mail_tenant: Tenant, uniconta: Uniconta, sink: SmtpSink
) -> None:
    shop = open_shop(mail_system, mail_tenant, uniconta, mail_settings(sink))
    sink.stop()
    order(mail_system, mail_tenant, shop["sku"], "7015")
    (row,) = intents(mail_system)
    assert row.state == "retry" and row.next_attempt_at is not None
    sink.start()
    asked = mail_tenant.api.post(f"/connections/{shop['cid']}/invoice-mails/{row.invoice_id}/retry")
    assert asked.status_code == 200, asked.text
    mail_system.run_until_idle()  # the clock has not moved: sent because it was asked
    assert [r.rcpt_to for r in sink.received()] == [["karen@kunde.dk"]]
    again = mail_tenant.api.post(f"/connections/{shop['cid']}/invoice-mails/{row.invoice_id}/retry")
    assert again.status_code == 409
    missing = mail_tenant.api.post(f"/connections/{shop['cid']}/invoice-mails/nope/retry")
    assert missing.status_code == 404


def test_invoices_booked_in_one_batch_each_get_their_mail(
    mail_system: System, mail_tenant: Tenant, uniconta: Uniconta, sink: SmtpSink
) -> None:
    shop = open_shop(mail_system, mail_tenant, uniconta, mail_settings(sink))
    numbers = [f"72{n:02d}" for n in range(6)]
    for number in numbers:
        body = order_body(
            shop["sku"], source_id=number, number=number,
            customer={"email": f"kunde{number}@kunde.dk", "name": f"Kunde {number}"},
        )  # fmt: skip
        assert mail_tenant.api.post("/orders", json=body).status_code == 201
    mail_system.run_until_idle()  # one flow run, one push of all six
    assert sorted(r.rcpt_to[0] for r in sink.received()) == sorted(
        f"kunde{n}@kunde.dk" for n in numbers
    )
    assert {r.state for r in intents(mail_system)} == {"sent"}

    # Listed page by page (made in one transaction: one time, ties in a fixed order), every
    # mail once; a cursor of no mail of this connection is a 404.
    path = f"/connections/{shop['cid']}/invoice-mails"
    first = mail_tenant.api.get(path, params={"limit": 4}).json()
    rest = mail_tenant.api.get(path, params={"limit": 4, "after": first[-1]["invoice_id"]}).json()
    assert len(first) == 4 and len(rest) == 2
    assert sorted(m["recipient"] for m in first + rest) == sorted(
        f"kunde{n}@kunde.dk" for n in numbers
    )
    assert mail_tenant.api.get(path, params={"after": rest[-1]["invoice_id"]}).json() == []
    unknown = mail_tenant.api.get(path, params={"after": "no-such-invoice"})
    assert unknown.status_code == 404
    assert (
        unknown.json()["detail"] == "no invoice mail for invoice no-such-invoice on this connection"
    )


def test_a_mail_refused_for_a_misspelt_address_goes_to_the_corrected_one_when_retried(
    mail_system: System, mail_tenant: Tenant, uniconta: Uniconta, sink: SmtpSink,
    clock: ManualClock,
) -> None:  # fmt: skip
    """The customer's address is corrected in the shop after the server refused it: the
    retry a person asks for goes to the address the order has now."""
    shop = open_shop(mail_system, mail_tenant, uniconta, mail_settings(sink))
    sink.faults.arm("refuse")
    typo = {"email": "karen@kunde.dkk", "name": "Karen Kunde"}
    order(mail_system, mail_tenant, shop["sku"], "7012", customer=typo)
    wait(mail_system, clock, 20, step=10)
    (row,) = intents(mail_system)
    assert (row.state, row.recipient) == ("refused", "karen@kunde.dkk")

    (record,) = [r for r in mail_tenant.api.get("/orders").json()["items"]
                 if r["data"]["number"] == "7012"]  # fmt: skip
    fixed = order_body(shop["sku"], source_id="7012", number="7012",
                       customer={**typo, "email": "karen@kunde.dk"})  # fmt: skip
    saved = mail_tenant.api.put(f"/orders/{record['id']}", json=fixed)
    assert saved.status_code == 200, saved.text
    mail_system.run_until_idle()
    retried = mail_tenant.api.post(
        f"/connections/{shop['cid']}/invoice-mails/{row.invoice_id}/retry"
    )
    assert retried.status_code == 200, retried.text
    mail_system.run_until_idle()
    (received,) = sink.received()
    assert received.rcpt_to == ["karen@kunde.dk"]
    assert received.message()["To"] == "karen@kunde.dk"
    (row,) = intents(mail_system)
    assert (row.state, row.recipient) == ("sent", "karen@kunde.dk")
    assert mail_issues(mail_tenant, shop["cid"]) == []
