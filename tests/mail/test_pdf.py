"""The PDF layouts ledgerbridge prints: real documents with the invoice's values."""

from __future__ import annotations

import re
import zlib
from pathlib import Path

import pytest
from PIL import Image

from ledgerbridge.mail import pdf, render
from ledgerbridge.model.invoice import Invoice


def page_text(document: bytes) -> bytes:
    """The decompressed content streams of a PDF (fpdf2 deflates them)."""
    found = b""
    for match in re.finditer(rb"stream\r?\n(.*?)\r?\nendstream", document, re.S):
        try:
            found += zlib.decompress(match.group(1))
        except zlib.error:
            found += match.group(1)
    return found


@pytest.mark.parametrize("layout", pdf.LAYOUTS)
def test_each_layout_is_a_pdf_with_the_invoice(layout: pdf.Layout) -> None:
    context = render.sample_context()
    document = pdf.invoice_pdf(context, layout)
    assert document.startswith(b"%PDF-") and document.rstrip().endswith(b"%%EOF")
    text = page_text(document)
    for value in (b"Invoice 5001", b"Example Shop ApS", b"DK12345678", b"200.00", b"Mug"):
        assert value in text, (layout, value)


@pytest.mark.parametrize("layout", pdf.LAYOUTS)
def test_unit_prices_are_shown_as_precise_as_they_are(layout: pdf.Layout) -> None:
    """3 × 3.333 is booked as 10.00: the unit price shown must let a reader check that."""
    invoice = Invoice.model_validate({
        "kind": "invoice", "party_id": "p-1", "date": "2026-01-15", "currency": "DKK",
        "status": "booked",
        "lines": [
            {"description": "Screws", "quantity": "3", "unit_price": "3.333", "vat_rate": "25"},
            {"description": "Washers", "quantity": "10", "unit_price": "0.1234",
             "vat_rate": "25"},
            {"description": "Box", "quantity": "1", "unit_price": "12.5", "vat_rate": "25"},
        ],
    })  # fmt: skip
    context = render.invoice_context(
        invoice, number="5002", customer_name="Jane Doe", customer_email="jane@example.com",
        order_number=None, company={"name": "Example Shop ApS"},
    )  # fmt: skip
    text = page_text(pdf.invoice_pdf(context, layout))
    for value in (b"3.333", b"10.00", b"0.1234", b"1.23", b"12.50"):
        assert value in text, (layout, value)
    assert not re.search(rb"[( ]3\.33\)", text), "the rounded price is not shown"
    shown = [(line["unit_price"], line["net_amount"]) for line in context["lines"]]
    assert shown == [("3.333", "10.00"), ("0.1234", "1.23"), ("12.50", "12.50")]


def test_the_layouts_differ() -> None:
    context = render.sample_context()
    assert page_text(pdf.invoice_pdf(context, "standard")) != page_text(
        pdf.invoice_pdf(context, "compact")
    )


def test_a_logo_is_drawn_and_a_missing_or_broken_one_is_left_out(tmp_path: Path) -> None:
    logo = tmp_path / "logo.png"
    Image.new("RGB", (60, 20), (200, 30, 30)).save(logo)
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not an image")
    context = render.sample_context()
    with_logo = pdf.invoice_pdf(context, "standard", str(logo))
    assert b"/Subtype /Image" in with_logo
    for missing in (str(broken), str(tmp_path / "absent.png")):
        document = pdf.invoice_pdf(context, "standard", missing)
        assert b"/Subtype /Image" not in document and b"Invoice 5001" in page_text(document)


def test_characters_outside_latin_1_do_not_stop_the_pdf() -> None:
    context = {**render.sample_context(), "customer_name": "Łukasz Żółć ✓"}
    assert pdf.invoice_pdf(context, "standard").startswith(b"%PDF-")
