"""``ledgerbridge demo --flow webshop``: a WooCommerce shop booked into Uniconta, on one machine,
with its Stripe payouts matched in the cash journal and its café's Zettle till booked too.

It plays three users: the shop owner (orders arrive, some are refunded, a renewal fails and is
paid later; Stripe pays the card payments out; the till rings up a day of sales), the accountant
in Uniconta (counting stock) and the person setting up the integration, who does everything
through the hub's REST API as any user would.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table

from ledgerbridge.api.app import create_app
from ledgerbridge.cli.demo import (
    DB_FILE,
    KEY_FILE,
    default_data_dir,
    fresh_files,
    hub_port,
    wait_for,
)
from ledgerbridge.cli.demo_payments import all_records, prepare_till, stripe_payout, zettle_day
from ledgerbridge.connectors.registry import streams_only
from ledgerbridge.runtime.http import ServerThread
from ledgerbridge.runtime.system import System
from ledgerbridge.sandbox.smtp import SmtpSink
from ledgerbridge.sandbox.stripe import SandboxServer as StripeServer
from ledgerbridge.sandbox.stripe import StripeSandbox
from ledgerbridge.sandbox.uniconta import BookingServer, UnicontaSandbox, seed_webshop
from ledgerbridge.sandbox.uniconta import SandboxServer as UnicontaServer
from ledgerbridge.sandbox.woocommerce import SandboxServer as ShopServer
from ledgerbridge.sandbox.woocommerce import Settings as ShopSettings
from ledgerbridge.sandbox.woocommerce import WooSandbox, seed_shop
from ledgerbridge.sandbox.zettle import SandboxServer as ZettleServer
from ledgerbridge.sandbox.zettle import ZettleSandbox
from ledgerbridge.settings import Settings

COMPANY_ID = 48213
USER, PASSWORD = "ledgerbridge", "demo-password"
WAREHOUSE = "01"
POLICY: dict[str, Any] = {
    # Uniconta's own codes, as seed_webshop sets them up (docs/commerce.md, "The policy").
    "rounding_account": "AFRUND",
    "refund_item": "REFUSION",
    "service_items": {"shipping": "FRAGT", "fee": "GEBYR"},
    # Each booked invoice is mailed to its customer from the shop's own SMTP server.
    "email_invoices": True,
}


def run_webshop_demo(*, once: bool, port: int, orders: int, data_dir: Path | None = None) -> int:
    console = Console(soft_wrap=True)
    workdir = (data_dir or default_data_dir()).resolve()
    fresh_files(workdir)

    # The shop: Danish and EU consumers, a business with a VAT number, an EAN customer,
    # refunds, subscription renewals, per-line tax rounding; each save delivered 1 to 3 times.
    shop = WooSandbox(settings=ShopSettings(webhook_repeats=(1, 3)))
    seeded = seed_shop(shop, orders=orders, customers=max(12, orders // 5))
    shop_server = ShopServer(shop)
    shop_server.start()

    # Uniconta: a company set up for a webshop (payment terms, debtor groups, VAT codes with
    # OSS, service items), and the booking service that books its invoices.
    uniconta = UnicontaSandbox()
    uniconta.add_company(company_id=COMPANY_ID, name="Kaffeklubben ApS")
    uniconta.add_user(COMPANY_ID, USER, PASSWORD, user_type="Server", roles=("Reseller",))
    seed_webshop(uniconta, COMPANY_ID)
    uniconta.load(COMPANY_ID, "InvWarehouseClient", [{"Warehouse": WAREHOUSE, "Name": "Lager"}])
    uniconta_server = UnicontaServer(uniconta)
    uniconta_server.start()
    booking = BookingServer(uniconta)
    booking.start()
    prepare_till(uniconta, COMPANY_ID)
    # The acquirer paying out the shop's card payments, and the café's till.
    stripe = StripeSandbox()
    stripe_server = StripeServer(stripe)
    stripe_server.start()
    zettle = ZettleSandbox()
    zettle_server = ZettleServer(zettle)
    zettle_server.start()
    # The shop's mail server: here a local sink keeping each message as an .eml file.
    mailbox = SmtpSink(workdir / "mail").start()

    port = hub_port(port, console)
    hub_url = f"http://127.0.0.1:{port}"
    system = System(
        Settings(
            database_url=f"sqlite:///{workdir / DB_FILE}",
            secret_key_file=workdir / KEY_FILE,
            public_url=hub_url,
            poll_interval=0.2,
        )
    )
    system.start_background()
    server = ServerThread(create_app(system), port=port).start()
    console.print(f"[bold]ledgerbridge[/] on {hub_url} (SQLite: {workdir / DB_FILE})")
    console.print(f"WooCommerce sandbox on {shop_server.base_url}: {len(seeded['orders'])} orders")
    console.print(
        f"Uniconta sandbox on {uniconta_server.base_url}, booking service on {booking.base_url}"
    )
    try:
        issued = system.tenancy.create_tenant("Kaffeklubben", "owner@kaffeklubben.example")
        api = httpx.Client(
            base_url=f"{hub_url}/api/v1",
            headers={"Authorization": f"Bearer {issued.api_key}"},
            timeout=60,
        )
        key = shop.default_key
        webshop = _post(api, "/connections", {
            "system": "woocommerce", "name": "Kaffeklubben webshop",
            "settings": {"base_url": shop_server.base_url,
                         "entities": {"orders": {"enabled": True}, "refunds": {"enabled": True},
                                      "products": {"enabled": True, "direction": "inbound"},
                                      "stock": {"enabled": True}}},
            "secrets": {"consumer_key": key.consumer_key, "consumer_secret": key.consumer_secret},
        })  # fmt: skip
        accounting = _post(api, "/connections", {
            "system": "uniconta", "name": "Uniconta",
            "settings": {"company_id": COMPANY_ID, "username": USER,
                         "base_url": uniconta_server.base_url, "booking_url": booking.base_url,
                         "post_invoices": True, "products_master": "app",
                         "entities": streams_only("uniconta", "customers", "products",
                                                  "stock_levels", "invoices", "payment_status",
                                                  "cash_journal"),
                         "invoice_mail": {
                             "enabled": True, "smtp_host": mailbox.host,
                             "smtp_port": mailbox.port, "smtp_security": "none",
                             "from_address": "faktura@kaffeklubben.example",
                             "from_name": "Kaffeklubben",
                             "company": {"name": "Kaffeklubben ApS",
                                         "address": "Jægergårdsgade 12, 8000 Aarhus C",
                                         "vat_number": "DK12345674"}}},
            "secrets": {"password": PASSWORD},
        })  # fmt: skip
        shop_id, uniconta_id = webshop["id"], accounting["id"]
        uniconta.set_change_url(COMPANY_ID, accounting["change_url"])
        # Orders, refunds and products go from the shop to Uniconta; stock comes back.
        _post(api, "/routes", {
            "source": shop_id, "target": uniconta_id, "entities": ["product"],
            "commerce": {"policy": POLICY,
                         "rules": {"adjustments": [
                             {"target": "note", "template": "Webordre {{ number }}"}]}},
        })  # fmt: skip
        _post(api, "/routes", {"source": uniconta_id, "target": shop_id,
                               "entities": ["stock_level"]})  # fmt: skip

        started = time.monotonic()
        for cid in (uniconta_id, shop_id):
            api.post(f"/connections/{cid}/import").raise_for_status()
            wait_for(partial(_imported, api, cid), 300, "the initial import")
        console.print("Initial imports done; orders are being booked…")
        _settle(system)

        # The accountant counts stock in Uniconta; the shop shows it after the stock pull.
        product = shop.product_json(seeded["products"][0])
        uniconta.set_stock(COMPANY_ID, product["sku"], WAREHOUSE, 42)
        _post(api, f"/connections/{uniconta_id}/jobs/stock", {})
        after = wait_for(
            lambda: (lambda p: p if p.get("stock_quantity") == 42 else None)(
                shop.product_json(seeded["products"][0])
            ),
            60, "the stock count to reach the shop",
        )  # fmt: skip

        # A renewal that failed is paid now: it is booked once, at its first paid state.
        renewal = seeded["failed_then_paid_renewal"]
        shop.pay_order(renewal, transaction_id="ch_demo_renewal")
        _settle(system)
        # The nightly read of open amounts, run now: card sales were paid at booking.
        _post(api, f"/connections/{uniconta_id}/jobs/payments", {})
        _settle(system)
        elapsed = time.monotonic() - started

        _report(console, uniconta, api, shop_id, uniconta_id)
        _cases(console, api, seeded)
        console.print(
            f"Stock: {product['sku']} counted to 42 in Uniconta; the shop now shows "
            f"{after.get('stock_quantity')} (was {product.get('stock_quantity')})"
        )
        _mails(console, api, uniconta_id, mailbox)
        settle = partial(_settle, system)
        stripe_payout(console, api, _post, settle, stripe, stripe_server.base_url,
                      uniconta, COMPANY_ID, uniconta_id)  # fmt: skip
        zettle_day(console, api, _post, settle, zettle, zettle_server.base_url,
                   uniconta, COMPANY_ID, uniconta_id)  # fmt: skip
        status = api.get(f"/connections/{uniconta_id}").json()
        console.print(
            f"{elapsed:.0f} s from the first import to the last booking, "
            f"{status['calls_used_today']} of {status['daily_call_limit']} Uniconta calls today"
        )
        console.print()
        login = system.sign_in.login_link(issued.tenant_id)
        console.print(f"Web UI:     {hub_url}/ui/login/{login}  (one-time sign-in link)")
        console.print(f"API docs:   {hub_url}/docs")
        console.print(f"Issues:     {hub_url}/api/v1/connections/{shop_id}/issues")
        console.print(f"Invoices:   {hub_url}/api/v1/invoices")
        console.print(f"API key:    {issued.api_key}")
        if once:
            return 0
        console.print("\nServing; press Ctrl-C to stop.")
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            console.print("stopping")
        return 0
    finally:
        server.stop()
        system.close()
        for sandbox_server in (booking, uniconta_server, shop_server, stripe_server, zettle_server):
            sandbox_server.stop()
        uniconta.close()
        shop.close()
        stripe.close()
        zettle.close()
        mailbox.stop()


def _imported(api: httpx.Client, connection_id: str) -> bool:
    return bool(api.get(f"/connections/{connection_id}").json()["import_state"] == "done")


def _post(api: httpx.Client, path: str, body: dict[str, Any]) -> dict[str, Any]:
    answer = api.post(path, json=body)
    if answer.is_error:
        raise RuntimeError(f"POST {path} answered {answer.status_code}: {answer.text}")
    result: dict[str, Any] = answer.json()
    return result


def _settle(system: System, patience: float = 180.0) -> None:
    """Until no job is left: webhooks, flows and pushes each queue the next. The background
    worker may be running one when we look (a slow machine), so it waits until, three looks
    in a row, none runs and none is due within seconds (a scheduled pull is not waited for)."""
    deadline = time.monotonic() + patience
    quiet = 0
    while quiet < 3 and time.monotonic() < deadline:
        system.run_until_idle()
        time.sleep(0.5)
        soon = system.clock.now() + timedelta(seconds=5)
        busy = any(
            job.status == "running" or job.run_after is None or job.run_after <= soon
            for job in system.queue.list(statuses=("queued", "running"), limit=1000)
        )
        quiet = 0 if busy else quiet + 1


def _report(
    console: Console,
    uniconta: UnicontaSandbox,
    api: httpx.Client,
    shop_id: str,
    uniconta_id: str,
) -> None:
    invoices = [r["data"] for r in all_records(api, "/invoices")]
    kinds = Counter((i["kind"], i["status"]) for i in invoices)
    posted = uniconta.all(COMPANY_ID, "DebtorInvoiceClient")
    orders_left = uniconta.all(COMPANY_ID, "DebtorOrderClient")
    table = Table(title="What the shop's orders became")
    table.add_column("in the hub")
    table.add_column("count", justify="right")
    for (kind, status), count in sorted(kinds.items()):
        table.add_row(f"{kind.replace('_', ' ')}, {status}", str(count))
    console.print(table)
    open_amounts = Counter(
        "paid at booking (card term)" if not row.get("AmountOpen") else "open (Netto 8 / 30)"
        for row in uniconta.all(COMPANY_ID, "DebtorTransOpenClient")
    )
    console.print(
        f"In Uniconta: {len(posted)} booked invoices and credit notes, "
        f"{len(orders_left)} orders left as drafts; open items: {dict(open_amounts)}"
    )
    rounded = sum(1 for i in invoices if any(ln.get("sku") == POLICY["rounding_account"]
                                               for ln in i["lines"]))  # fmt: skip
    console.print(
        f"Rounding: {rounded} invoices got a line on {POLICY['rounding_account']} for the shop's "
        f"1-cent VAT rounding gap (tolerance 0.05)"
    )
    for cid, side in ((shop_id, "shop"), (uniconta_id, "Uniconta")):
        issues = api.get(f"/connections/{cid}/issues").json()
        reasons = Counter(i["reason"] for i in issues)
        if not reasons:
            continue
        console.print(f"Issues on the {side} connection, by reason:")
        for reason, count in reasons.most_common():
            example = next(i for i in issues if i["reason"] == reason)
            console.print(f"  {reason:<28} {count:>4}  e.g. {example['message']}")


def _mails(console: Console, api: httpx.Client, uniconta_id: str, mailbox: SmtpSink) -> None:
    """What the invoice mail did: mailed, skipped with a reason, and where the mails are."""
    mails = api.get(f"/connections/{uniconta_id}/invoice-mails", params={"limit": 1000}).json()
    states = Counter(m["state"] for m in mails)
    reasons = Counter(m.get("reason") for m in mails if m["state"] == "skipped")
    received = mailbox.received()
    console.print(
        f"Invoice mail: {states.get('sent', 0)} booked invoices mailed from the shop's SMTP "
        f"server with their PDF, {len(received)} messages in {mailbox.directory}"
        + (f"; not mailed: {dict(reasons)}" if reasons else "")
    )
    if received:
        first = received[0].message()
        attached = [part.get_filename() for part in first.iter_attachments()]
        console.print(f'  e.g. to {first["To"]}: "{first["Subject"]}", attached {attached}')


CASES = (
    ("oss_order", "German consumer (OSS)"),
    ("b2b_order", "company, no VAT number"),
    ("reverse_charge_order", "EU business, VAT number"),
    ("ean_order", "public body with EAN"),
    ("full_refund_order", "refunded in full"),
    ("partial_refund_order", "refunded in part"),
    ("amount_refund_order", "money back, no goods"),
    ("failed_then_paid_renewal", "renewal: failed, then paid"),
)


def _cases(console: Console, api: httpx.Client, seeded: dict[str, Any]) -> None:
    """The seed's special orders, each as it was booked."""
    invoices = [{**r["data"], "id": r["id"]} for r in all_records(api, "/invoices")]
    parties = {r["id"]: r["data"] for r in all_records(api, "/parties")}
    by_reference: dict[str, list[dict[str, Any]]] = {}
    for invoice in invoices:
        by_reference.setdefault(str(invoice.get("reference")), []).append(invoice)
    credited = Counter(i.get("credits_invoice_id") for i in invoices if i["kind"] == "credit_note")
    console.print("Orders worth a look:")
    for key, label in CASES:
        order = str(seeded[key])
        booked = [i for i in by_reference.get(order, []) if i["kind"] == "invoice"]
        if not booked:
            console.print(f"  {order:>6}  {label}: not booked (see the issues)")
            continue
        invoice = booked[0]
        party = parties.get(invoice["party_id"], {})
        profile = ", ".join(
            str(value) for value in (party.get("customer_group"), party.get("vat_zone")) if value
        )
        codes = ", ".join(sorted({str(line.get("vat_code")) for line in invoice["lines"]}))
        credit_notes = credited.get(invoice["id"], 0)
        console.print(
            f"  {order:>6}  {label}: invoice {invoice.get('number') or '-'} {invoice['status']}, "
            f"debtor {party.get('debtor_number')} ({profile}), term {invoice.get('payment_term')}, "
            f"VAT {codes}" + (f", {credit_notes} credit note" if credit_notes else "")
        )
