"""The booking service's contract (UnicontaRest): its own app on its own port over the same
companies as the OData/REST app; HTTP Basic with the user's own name; 401/403/404; 200 with
the InvoicePostingResult or a PDF; 500 with the ErrorCodes value; simulate books nothing; card
terms register the payment at booking; faults like the other routes."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from ledgerbridge.sandbox.faults import FaultPlan
from ledgerbridge.sandbox.uniconta import BookingServer, UnicontaSandbox, seed_webshop
from tests.sandbox.uniconta.conftest import COMPANY, OTHER_COMPANY, PASSWORD, USER


@pytest.fixture
def booking(sandbox: UnicontaSandbox) -> Iterator[httpx.Client]:
    """A client of the booking service, logged in with the user's own name and password."""
    seed_webshop(sandbox, COMPANY)
    sandbox.insert(COMPANY, "DebtorClient", {"Account": "10000", "Name": "Hansen ApS"})
    sandbox.insert(COMPANY, "InvItemClient", {"Item": "P1", "Name": "Krus", "Vat": "U25"})
    with (
        BookingServer(sandbox) as server,
        httpx.Client(base_url=server.base_url, auth=(USER, PASSWORD)) as client,
    ):
        yield client


def _order(sandbox: UnicontaSandbox, *lines: dict[str, Any], **header: Any) -> int:
    order = sandbox.insert(COMPANY, "DebtorOrderClient", {"Account": "10000", **header})
    number: int = order["OrderNumber"]
    for line in lines:
        sandbox.insert(COMPANY, "DebtorOrderLineClient", {"OrderNumber": number, **line})
    return number


def _path(order: int, company: int = COMPANY, legacy: bool = False) -> str:
    return f"/Companies/{company}/Invoice/{'Orders' if legacy else 'DebtorOrders'}/{order}"


def test_a_booking_posts_the_order_and_answers_the_posting_result(
    sandbox: UnicontaSandbox, booking: httpx.Client
) -> None:
    number = _order(sandbox, {"Item": "P1", "Qty": 2, "Price": 100}, YourRef="#1001")
    calls = sandbox.calls_today(COMPANY, USER)
    answer = booking.post(_path(number), params=[("email", "a@x.dk"), ("email", "b@x.dk")])
    assert answer.status_code == 200
    result = answer.json()
    assert (result["Err"], result["InvoiceNumber"], result["Date"]) == (
        "Succes",
        5000,
        "2026-03-10",
    )
    assert (result["NetAmount"], result["VatAmount"], result["TotalAmount"]) == (200, 50, 250)
    assert result["Header"]["YourRef"] == "#1001" and result["OrderDeleted"] is True
    assert sandbox.get(COMPANY, "DebtorOrderClient", number) is None
    assert sandbox.get(COMPANY, "DebtorInvoiceClient", 5000)["TotalAmount"] == 250  # type: ignore[index]
    assert sandbox.calls_today(COMPANY, USER) == calls + 1, "one Uniconta call a booking"
    assert sandbox.mails(COMPANY) == [
        {"Invoice": 5000, "To": "a@x.dk;b@x.dk", "DocumentType": "Invoice"}
    ]
    # The legacy path books the same way; a booked order is gone: RecordNotFound.
    other = _order(sandbox, {"Item": "P1", "Qty": 1, "Price": 10})
    assert booking.post(_path(other, legacy=True)).json()["InvoiceNumber"] == 5001
    gone = booking.post(_path(other))
    assert (gone.status_code, gone.json()) == (500, "RecordNotFound")


def test_simulate_books_nothing_and_a_pdf_is_answered_when_asked_for(
    sandbox: UnicontaSandbox, booking: httpx.Client
) -> None:
    number = _order(sandbox, {"Item": "P1", "Qty": 1, "Price": 80})
    simulated = booking.post(_path(number), params={"simulate": "true"})
    assert simulated.status_code == 200 and simulated.json()["TotalAmount"] == 100
    assert simulated.json()["OrderDeleted"] is False
    assert sandbox.all(COMPANY, "DebtorInvoiceClient") == []
    assert sandbox.get(COMPANY, "DebtorOrderClient", number) is not None
    pdf = booking.post(_path(number), headers={"Accept": "application/pdf"})
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF-1.4") and pdf.content.rstrip().endswith(b"%%EOF")
    assert b"Faktura 5000" in pdf.content
    assert sandbox.get(COMPANY, "DebtorInvoiceClient", 5000) is not None
    bad = booking.post(_path(number), params={"simulate": "maybe"})
    assert bad.status_code == 400 and "simulate" in bad.json()["title"]
    layout = booking.post(_path(number), params={"documentType": "Poster"})
    assert layout.status_code == 400 and "documentType" in layout.json()["title"]


def test_login_company_and_refusals(sandbox: UnicontaSandbox, booking: httpx.Client) -> None:
    number = _order(sandbox, {"Item": "P1", "Qty": 1, "Price": 10})
    base = str(booking.base_url)
    none = httpx.post(base + _path(number))
    assert none.status_code == 401 and none.headers["WWW-Authenticate"].startswith("Basic")
    assert httpx.post(base + _path(number), auth=(USER, "wrong")).status_code == 403
    assert httpx.post(base + _path(number), auth=("nobody", "x")).status_code == 403
    assert booking.post(_path(number, company=99999)).status_code == 404
    assert booking.post(_path(number, company=OTHER_COMPANY)).status_code == 404, "not the user's"
    # Refusals: 500 with the ErrorCodes value, and nothing changes.
    empty = _order(sandbox)
    refused = booking.post(_path(empty))
    assert (refused.status_code, refused.json()) == (500, "NoLinesToInvoice")
    sandbox.fail_next_postings(COMPANY, "Nummerserie mangler")
    failed = booking.post(_path(number))
    assert (failed.status_code, failed.json()) == (500, "InvoiceGenerationFailed")
    unknown_item = _order(sandbox)
    with pytest.raises(Exception, match="InvItemClient"):
        sandbox.insert(COMPANY, "DebtorOrderLineClient", {"OrderNumber": unknown_item,
                                                          "Item": "NOPE", "Qty": 1})  # fmt: skip
    assert sandbox.all(COMPANY, "DebtorInvoiceClient") == []
    assert booking.post(_path(number)).json()["InvoiceNumber"] == 5000


def test_card_term_is_paid_at_booking_and_a_credit_note_settles_the_invoice(
    sandbox: UnicontaSandbox, booking: httpx.Client
) -> None:
    card = _order(sandbox, {"Item": "P1", "Qty": 4, "Price": 100}, Payment="Kort")
    term = booking.post(_path(card)).json()
    assert term["Header"]["DueDate"] == term["Date"]
    (item,) = sandbox.all(COMPANY, "DebtorTransOpenClient")
    assert (item["Amount"], item["AmountOpen"], item["Paid"]) == (500, 0, True)
    assert sandbox.payments(COMPANY) == [{"Invoice": 5000, "Amount": 500, "Date": "2026-03-10"}]

    invoice = _order(sandbox, {"Item": "P1", "Qty": 4, "Price": 100}, Payment="Netto 8")
    assert booking.post(_path(invoice)).json()["Header"]["DueDate"] == "2026-03-18"
    credit = _order(
        sandbox, {"Item": "P1", "Qty": -1, "Price": 100}, Settlements="5001",
        DeliveryName="Jens Hansen", DeliveryCity="Aarhus",
    )  # fmt: skip
    posted = booking.post(_path(credit), params={"documentType": "Creditnote"}).json()
    assert posted["TotalAmount"] == -125 and posted["Header"]["Settlements"] == "5001"
    assert posted["Header"]["DeliveryCity"] == "Aarhus"
    items = {row["Invoice"]: row for row in sandbox.all(COMPANY, "DebtorTransOpenClient")}
    assert (items[5001]["AmountOpen"], items[5002]["AmountOpen"]) == (375, 0)


def test_the_webshop_set_up_is_fixed(sandbox: UnicontaSandbox, booking: httpx.Client) -> None:
    terms = {t["Payment"]: t for t in sandbox.all(COMPANY, "PaymentTermClient")}
    assert set(terms) >= {"Kort", "Kontant", "Netto 8", "Netto 30"}
    assert (terms["Kort"]["PaymentMethod"], terms["Kontant"]["PaymentMethod"]) == (
        "Creditcard", "NetCash")  # fmt: skip
    groups = [g["Group"] for g in sandbox.all(COMPANY, "DebtorGroupClient")]
    assert groups == ["EAN", "ERHVERV", "PRIV"]
    vat = {v["Vat"]: v for v in sandbox.all(COMPANY, "GLVatClient")}
    assert {"U25", "U0", "UEUV", "UEXP", "U_DE19", "U_DE07", "U_SE25", "U_FR20"} <= set(vat)
    assert (vat["U_DE19"]["Rate"], vat["U_DE19"]["VatCountry"]) == (19, "Germany")
    assert (vat["U_NL21"]["Rate"], vat["U_NL21"]["VatCountry"]) == (21, "Netherlands")
    items = {i["Item"] for i in sandbox.all(COMPANY, "InvItemClient")}
    assert {"FRAGT", "GEBYR", "AFRUND", "REFUSION"} <= items
    with pytest.raises(Exception, match="exists"):
        seed_webshop(sandbox, COMPANY)


def test_faults_hit_the_booking_service_like_the_other_routes(
    sandbox: UnicontaSandbox, booking: httpx.Client
) -> None:
    number = _order(sandbox, {"Item": "P1", "Qty": 1, "Price": 10})
    plan = FaultPlan.parse("rate=1,kinds=5xx,seed=3")
    with BookingServer(sandbox, faults=plan) as faulty:
        answer = httpx.post(faulty.base_url + _path(number), auth=(USER, PASSWORD))
    assert answer.status_code >= 500
    assert isinstance(answer.json(), dict), "a failure's body is never an ErrorCodes value"
    assert sandbox.get(COMPANY, "DebtorOrderClient", number) is not None
