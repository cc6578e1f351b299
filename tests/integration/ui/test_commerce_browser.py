"""The commerce screens in a real browser, driven through the pages alone: a shop's route
with its policy and a historical import that books the shop's orders in the Uniconta
sandbox; a PayMatch route whose Stripe payout is posted in Uniconta's cash journal and shown
on the payouts tab; the invoice mail settings with a test mail; a files connection's column
mapping and upload. axe and the 360 px check on every page these screens have."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ledgerbridge.runtime.system import System
from ledgerbridge.sandbox.smtp import SmtpSink
from ledgerbridge.sandbox.stripe import StripeSandbox
from ledgerbridge.sandbox.zettle import ZettleSandbox
from tests.integration.conftest import COMPANY, Tenant, Uniconta, connect, import_all
from tests.integration.test_acquirers_paymatch import CENTS, journal, place, shop, stripe
from tests.integration.test_commerce_flow import order_body
from tests.integration.test_file_import import ORDERS_CSV
from tests.integration.test_zettle import SHARED_DEBTOR, Till, prepare_uniconta, ring_up
from tests.integration.ui.commerce_fixtures import books_day, shop_and_books
from tests.integration.ui.conftest import (
    Web,
    assert_accessible,
    assert_fits_360,
    browser_sign_in,
    screenshot,
)
from tests.integration.ui.test_commerce_mail import books, sink, smtp_form
from tests.integration.webshop_fixtures import Webshop, woo

__all__ = ["books", "shop", "shop_and_books", "sink", "stripe", "woo"]
PAYMATCH_FORM = {
    "Journal": "PAYMATCH", "Receivable account": "5820", "Fee account": "7220",
    "Bank account": "5900", "Error account": "5990", "Wait for an invoice (hours)": "0",
}  # fmt: skip


def checked(page: Any, name: str) -> None:
    """axe and the 360 px check on the page as it stands, and its screenshot when named."""
    assert_accessible(page)
    assert_fits_360(page)
    if name:
        screenshot(page, name)


def test_a_shops_route_and_historical_import_book_its_orders(
    page: Any, system: System, ui_url: str, shop_and_books: Webshop
) -> None:
    setup = shop_and_books
    orders = [setup.order("mette", [("KAF-500", 1)]), setup.order("anna", [("KOP-01", 2)])]
    today = books_day()  # the orders' day where they are booked
    setup.settle()
    browser_sign_in(page, system, ui_url, setup.tenant.tenant_id)
    page.get_by_role("link", name="Routes", exact=True).first.click()
    page.get_by_role("heading", name="Routes").wait_for()
    checked(page, "")
    page.get_by_role("button", name="New route").click()
    page.get_by_label("From (source)").select_option(label="Webshop (WooCommerce)")
    page.get_by_label("To (target)").select_option(label="Uniconta (Uniconta)")
    page.get_by_label("product", exact=True).check()
    page.get_by_label("Book this source's orders and refunds in the target").check()
    page.locator("summary", has_text="Commerce policy").click()
    page.locator("#commerce-policy-start_date").fill(books_day(1))
    page.get_by_label("Rounding item").fill("AFRUND")
    page.get_by_label("Refund item").fill("REFUSION")
    page.get_by_role("button", name="Add row to order states").click()
    page.get_by_role("group", name="Order state 4").wait_for()  # open again, one row more
    page.locator("#commerce-policy-states-2-name").fill("on-hold")
    page.locator("#commerce-policy-states-2-action").select_option("ignore")
    checked(page, "routes-edit")
    page.get_by_role("button", name="Save the route").last.click()
    page.get_by_text("The route is saved.").wait_for()
    (route,) = setup.tenant.api.get("/routes").json()
    assert route["commerce"]["policy"]["states"]["on-hold"] == "ignore"
    setup.settle()
    assert setup.invoices(orders[0]) == [], "before the start date"

    page.get_by_role("link", name="Historical import").click()
    page.get_by_label("From (order date)").fill(today)
    page.get_by_label("To (included)").fill(today)
    page.get_by_role("button", name="Preview").click()
    page.get_by_text("Orders to transfer").wait_for()
    assert page.locator("dl.facts dd").first.inner_text() == "2 (2 booked as invoices)"
    checked(page, "routes-history")
    page.get_by_role("button", name="Import", exact=True).click()
    page.get_by_text("The historical import is queued.").wait_for()
    setup.settle()
    page.locator("#history-progress .badge.done").wait_for()  # the page polled itself
    checked(page, "")
    for order in orders:
        assert setup.invoice(order)["TotalAmount"]
    assert len(setup.uniconta.sandbox.all(COMPANY, "DebtorInvoiceClient")) == 2


def test_a_paymatch_route_posts_a_stripe_payout_shown_on_the_payouts_tab(
    page: Any,
    system: System,
    ui_url: str,
    tenant: Tenant,
    uniconta: Uniconta,
    shop: dict[str, Any],
    stripe: tuple[StripeSandbox, str],
) -> None:
    sandbox, url = stripe
    invoice = place(system, tenant, shop, "7001", "ch_7001")
    made = tenant.api.post("/connections", json={
        "system": "stripe", "name": "Stripe", "settings": {"base_url": url},
        "secrets": {"secret_key": sandbox.default_key}})  # fmt: skip
    assert made.status_code == 201, made.text
    cid = made.json()["id"]
    browser_sign_in(page, system, ui_url, tenant.tenant_id)
    page.goto(f"{ui_url}/connections/{cid}/routes")
    checked(page, "")
    page.get_by_role("link", name="create one").click()
    page.get_by_label("To (target)").select_option(label="Uniconta (Uniconta)")
    page.get_by_label("Post this acquirer's payouts in the target's cash journal").check()
    page.locator("summary", has_text="PayMatch accounts").click()
    for label, value in PAYMATCH_FORM.items():
        page.get_by_label(label, exact=True).fill(value)
    page.locator("#paymatch-start_date").fill("2026-01-01")
    page.get_by_role("button", name="Save the route").last.click()
    page.get_by_text("The route is saved.").wait_for()
    import_all(system, tenant, cid)

    sandbox.create_charge({"amount": CENTS, "order_id": "7001", "fee": 448})
    sandbox.create_charge({"amount": 19900, "order_id": "99001", "fee": 300})
    payout = sandbox.create_payout({})
    sandbox.set_payout_status(payout["id"], {"status": "paid"})
    sandbox.wait_for_webhooks(timeout=30)
    system.run_until_idle()
    assert journal(uniconta, payout["id"])[0] == ("5820", "-298.75", invoice)

    page.goto(f"{ui_url}/connections/{cid}/")
    page.get_by_role("link", name="Payouts").click()
    page.get_by_text("Unmatched lines").wait_for()
    page.get_by_text(f"Posting {payout['id']} in journal PAYMATCH").click()
    page.get_by_text("In Uniconta").wait_for()
    assert page.get_by_role("row", name="99001").filter(has_text="no match").count() == 1
    checked(page, "payouts")


def test_invoice_mail_settings_and_a_test_mail(
    page: Any, system: System, ui_url: str, shop_and_books: Webshop, sink: SmtpSink
) -> None:
    setup = shop_and_books
    browser_sign_in(page, system, ui_url, setup.tenant.tenant_id)
    page.goto(f"{ui_url}/connections/{setup.uniconta_id}/")
    page.get_by_role("link", name="Invoice mail").click()
    page.get_by_label("Enabled").check()
    page.get_by_label("SMTP host").fill("127.0.0.1")
    page.get_by_label("SMTP port").fill(str(sink.port))
    page.get_by_label("SMTP security").select_option("none")
    page.get_by_label("From address").fill("faktura@nordlys.dk")
    page.locator("#settings-invoice_mail-company-name").fill("Nordlys Handel ApS")
    page.get_by_role("button", name="Save the SMTP settings").click()
    page.get_by_text("The invoice mail settings are saved.").wait_for()
    page.get_by_label("Send to").fill("ejer@nordlys.dk")
    page.get_by_role("button", name="Send test mail").click()
    page.get_by_text("The server took the test mail for ejer@nordlys.dk").wait_for()
    assert [r.rcpt_to for r in sink.received()] == [["ejer@nordlys.dk"]]
    checked(page, "invoice-mail")


def test_the_list_of_invoice_mails_fits_a_phone(
    page: Any,
    web: Web,
    system: System,
    ui_url: str,
    tenant: Tenant,
    books: dict[str, Any],
    sink: SmtpSink,
) -> None:
    """The mails' table scrolls inside its own scroller at 360 px: its hidden column heading
    does not widen the page."""
    cid = books["cid"]
    assert web.post(f"/ui/connections/{cid}/mail", smtp_form(web, cid, sink)).status_code == 303
    posted = tenant.api.post(
        "/orders", json=order_body(books["sku"], source_id="7101", number="7101")
    )
    assert posted.status_code == 201, posted.text
    system.run_until_idle()
    browser_sign_in(page, system, ui_url, tenant.tenant_id)
    page.goto(f"{ui_url}/connections/{cid}/mail")
    page.get_by_role("cell", name="karen@kunde.dk").wait_for()
    checked(page, "")


def test_a_files_connection_maps_a_sample_and_imports_an_upload(
    page: Any, system: System, ui_url: str, tenant: Tenant, tmp_path: Path
) -> None:
    made = tenant.api.post("/connections", json={"system": "files", "name": "Filer",
                                                 "settings": {}, "secrets": {}})  # fmt: skip
    cid = made.json()["id"]
    sample = tmp_path / "orders.csv"
    sample.write_text(ORDERS_CSV)
    browser_sign_in(page, system, ui_url, tenant.tenant_id)
    page.goto(f"{ui_url}/connections/{cid}/")
    page.get_by_role("link", name="Files").click()
    page.get_by_label("Sample file").set_input_files(str(sample))
    page.get_by_role("button", name="Map its columns").click()
    page.get_by_role("heading", name="Map the columns of orders.csv").wait_for()
    page.get_by_label("Rows", exact=True).select_option("line_per_row")
    page.get_by_label("Decimal separator").select_option(",")
    page.get_by_label("Thousands separator").select_option(".")
    page.get_by_label("Date format").fill("%d-%m-%Y %H:%M")
    page.locator("#fixed-fields-order-currency").fill("DKK")
    page.get_by_role("button", name="Read the rows again").last.click()
    page.get_by_role("cell", name="1002").first.wait_for()
    checked(page, "files-map")
    page.get_by_role("button", name="Save the mapping").click()
    page.get_by_text("The mapping of orders files is saved").wait_for()
    page.get_by_label("File", exact=True).set_input_files(str(sample))
    page.get_by_role("button", name="Upload and import").click()
    page.get_by_text("is received and imported in the background").wait_for()
    system.run_until_idle()
    page.locator("#file-state .badge.imported").wait_for()  # the page polled itself
    checked(page, "files-upload")


def test_a_zettle_till_route_made_in_the_form_books_its_sales(
    page: Any,
    system: System,
    ui_url: str,
    tenant: Tenant,
    uniconta: Uniconta,
    zettle: tuple[ZettleSandbox, str],
) -> None:
    sandbox, url = zettle
    prepare_uniconta(uniconta)
    till = Till(system, tenant, sandbox, uniconta, url)
    made = tenant.api.post("/connections", json={
        "system": "zettle", "name": "Butikken",
        "settings": {"base_url": url, "contact_email": "kasse@example.dk"},
        "secrets": {"api_key": sandbox.default_key.key}})  # fmt: skip
    assert made.status_code == 201, made.text
    till.zettle_id = made.json()["id"]
    till.uniconta_id = connect(tenant, uniconta, settings={
        "post_invoices": True,
        "entities": {s: {"enabled": True} for s in ("customers", "invoices", "payment_status")},
    })["id"]  # fmt: skip
    browser_sign_in(page, system, ui_url, tenant.tenant_id)
    page.goto(f"{ui_url}/routes/new?source={till.zettle_id}")
    page.get_by_label("To (target)").select_option(label="Uniconta (Uniconta)")
    page.get_by_label("Book this source's orders and refunds in the target").check()
    page.locator("summary", has_text="Commerce policy").click()
    page.locator("#commerce-policy-payment_methods-6-method").fill("IZETTLE_CARD")
    page.locator("#commerce-policy-payment_methods-6-payment_term").fill("Kort")
    page.locator("#commerce-policy-payment_methods-6-registered_as_paid").check()
    page.get_by_role("button", name="Add row to payment methods").click()
    page.locator("#commerce-policy-payment_methods-7-method").fill("IZETTLE_CASH")
    page.locator("#commerce-policy-payment_methods-7-payment_term").fill("Kontant")
    page.locator("#commerce-policy-payment_methods-7-registered_as_paid").check()
    page.get_by_label("Shared consumer account").fill(SHARED_DEBTOR)
    page.locator("#commerce-policy-vat-domestic_codes-2-rate").fill("12")
    page.locator("#commerce-policy-vat-domestic_codes-2-code").fill("U12")
    page.get_by_label("Rounding item").fill("AFRUND")
    page.get_by_label("Refund item").fill("REFUSION")
    page.get_by_role("button", name="Save the route").last.click()
    page.get_by_text("The route is saved.").wait_for()
    for cid in (till.uniconta_id, till.zettle_id):
        import_all(system, tenant, cid)
    till.settle()

    cash = ring_up(till, {"products": [
        {"sku": "KAF-01", "name": "Cappuccino", "unit_price": 4200, "quantity": 2}],
        "payments": [{"type": "IZETTLE_CASH"}]})  # fmt: skip
    till.settle()
    invoice = till.invoice(cash)
    assert (invoice["Account"], invoice["Payment"]) == (SHARED_DEBTOR, "Kontant")
    assert till.issues() == []
