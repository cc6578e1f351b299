"""Invoice PDFs ledgerbridge prints itself (fpdf2), for mail when the accounting system's own
layout is not available (no booking service that answers the PDF, a booking recovered by a
look-up after its answer was lost) or when the user prefers one of these.

Two layouts: ``standard`` (A4, the seller's block and optional logo at the top, one row per
line with quantity, unit price, VAT rate and amount) and ``compact`` (the same facts on fewer
lines, smaller type: a receipt-like page for shops with many small orders). Both take their
values from ``render.invoice_context``, so the mail and its attachment never disagree.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from fpdf import FPDF

Layout = Literal["standard", "compact"]
LAYOUTS: tuple[Layout, ...] = ("standard", "compact")


def _latin(text: Any) -> str:
    """The core PDF fonts speak Latin-1: other characters become ``?`` rather than failing
    the mail (Danish, German and French letters are Latin-1)."""
    return str(text).encode("latin-1", "replace").decode("latin-1")


def invoice_pdf(
    context: Mapping[str, Any], layout: Layout = "standard", logo: str | None = None
) -> bytes:
    """The invoice as a PDF document. A logo that cannot be read is left out (the invoice
    still goes), never an error."""
    pdf = FPDF(format="A4")
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.add_page()
    pdf.set_title(_latin(f"Invoice {context['number']}"))
    pdf.set_creator("ledgerbridge")
    if layout == "compact":
        _compact(pdf, context)
    else:
        _standard(pdf, context, logo)
    return bytes(pdf.output())


UNREADABLE_IMAGE = (OSError, ValueError, RuntimeError, SyntaxError)
"""What fpdf2 raises for a file it cannot place as an image."""


def _logo(pdf: FPDF, logo: str | None) -> None:
    if not logo or not Path(logo).is_file():
        return
    try:
        pdf.image(logo, x=150, y=10, w=45)
    except UNREADABLE_IMAGE:
        return  # not an image fpdf2 can read: the invoice goes without it


def image_unusable(path: str) -> bool:
    """Whether fpdf2 refuses the file as an image: tried on a page of its own, as the
    invoice would place it, when the setting naming it is saved."""
    pdf = FPDF(format="A4")
    pdf.add_page()
    try:
        pdf.image(path, x=150, y=10, w=45)
    except UNREADABLE_IMAGE:
        return True
    return False


def _standard(pdf: FPDF, c: Mapping[str, Any], logo: str | None) -> None:
    company = c["company"]
    _logo(pdf, logo)
    pdf.set_font("Helvetica", "B", 14)
    pdf.cell(0, 8, _latin(company["name"]), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 10)
    for text in (company["address"], f"VAT {company['vat_number']}" if company["vat_number"]
                 else ""):  # fmt: skip
        if text:
            pdf.cell(0, 5, _latin(text), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(10)
    pdf.set_font("Helvetica", "B", 18)
    pdf.cell(0, 10, _latin(f"Invoice {c['number']}"), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 10)
    facts = [
        ("Customer", c["customer_name"]),
        ("Invoice date", c["date"]),
        ("Due date", c["due_date"]),
        ("Order", c["order_number"]),
    ]
    for label, value in facts:
        if value:
            pdf.cell(35, 6, _latin(label))
            pdf.cell(0, 6, _latin(value), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(6)
    widths = (80, 20, 30, 20, 40)
    pdf.set_font("Helvetica", "B", 10)
    for width, title, align in zip(
        widths, ("Description", "Qty", "Unit price", "VAT %", "Amount"),
        ("L", "R", "R", "R", "R"), strict=True,
    ):  # fmt: skip
        pdf.cell(width, 7, title, border="B", align=align)
    pdf.ln()
    pdf.set_font("Helvetica", "", 10)
    for line in c["lines"]:
        cells = (line["description"], line["quantity"], line["unit_price"], line["vat_rate"],
                 line["net_amount"])  # fmt: skip
        for width, text, align in zip(widths, cells, ("L", "R", "R", "R", "R"), strict=True):
            pdf.cell(width, 6, _latin(text)[:48], align=align)
        pdf.ln()
    pdf.ln(4)
    for label, value, style in (
        ("Net", c["net_total"], ""), ("VAT", c["vat_total"], ""),
        (f"Total {c['currency']}", c["total"], "B"),
    ):  # fmt: skip
        pdf.set_font("Helvetica", style, 10)
        pdf.cell(150, 6, _latin(label), align="R")
        pdf.cell(40, 6, _latin(value), align="R", new_x="LMARGIN", new_y="NEXT")


def _compact(pdf: FPDF, c: Mapping[str, Any]) -> None:
    company = c["company"]
    pdf.set_font("Helvetica", "B", 11)
    seller = " - ".join(x for x in (company["name"], company["vat_number"]) if x)
    pdf.cell(0, 6, _latin(seller), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 8)
    if company["address"]:
        pdf.cell(0, 4, _latin(company["address"]), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(3)
    pdf.set_font("Helvetica", "B", 11)
    head = f"Invoice {c['number']}  {c['date']}"
    if c["due_date"]:
        head += f"  due {c['due_date']}"
    pdf.cell(0, 6, _latin(head), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 8)
    pdf.cell(0, 4, _latin(f"{c['customer_name']}  {c['order_number']}"), new_x="LMARGIN",
             new_y="NEXT")  # fmt: skip
    pdf.ln(2)
    for line in c["lines"]:
        text = f"{line['quantity']} x {line['description']} @ {line['unit_price']}"
        pdf.cell(150, 4, _latin(text)[:90])
        pdf.cell(30, 4, _latin(line["net_amount"]), align="R", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "B", 9)
    totals = f"Net {c['net_total']}  VAT {c['vat_total']}  Total {c['total']} {c['currency']}"
    pdf.cell(180, 6, _latin(totals), align="R", new_x="LMARGIN", new_y="NEXT")
