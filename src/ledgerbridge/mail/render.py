"""The subject and body of an invoice mail: Jinja2 templates in a sandbox.

Templates are written by the shop's users, so they run in Jinja2's ``SandboxedEnvironment``
(no attribute of Python internals, no call of unsafe methods) with ``StrictUndefined`` (a
misspelt variable is an error, not an empty string in a customer's mail). A template is
checked when the settings are saved by rendering it against a sample invoice: a template that
does not compile, names a variable that does not exist or reaches for something the sandbox
forbids is refused then, not at the first invoice.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from jinja2 import StrictUndefined, TemplateError
from jinja2.sandbox import SandboxedEnvironment

from ledgerbridge.model.invoice import Invoice, VatRounding
from ledgerbridge.model.numbers import places

DEFAULT_SUBJECT = "Invoice {{ number }} from {{ company.name }}"
DEFAULT_BODY = (
    "Dear {{ customer_name }},\n\n"
    "Thank you for your order{% if order_number %} {{ order_number }}{% endif %}. "
    "Please find attached invoice {{ number }} of {{ date }} "
    "for {{ total }} {{ currency }}"
    "{% if due_date %}, due on {{ due_date }}{% endif %}.\n\n"
    "Kind regards,\n{{ company.name }}\n"
)

VARIABLES: dict[str, str] = {
    "number": "the invoice number the accounting system gave",
    "date": "the invoice date (YYYY-MM-DD)",
    "due_date": "the due date (YYYY-MM-DD), or empty",
    "customer_name": "the customer's name",
    "customer_email": "where the mail goes",
    "order_number": "the shop's order number, or empty",
    "reference": "the invoice's reference",
    "currency": "ISO currency code",
    "net_total": "total without VAT",
    "vat_total": "VAT",
    "total": "total with VAT",
    "lines": "the lines: description, sku, quantity, unit_price, vat_rate, net_amount",
    "company": "the seller: name, address, vat_number",
}
"""What a template may use; documented in docs/invoice-mail.md."""


class TemplateProblem(ValueError):
    """A template that cannot be rendered, in words a user can act on."""


def environment() -> SandboxedEnvironment:
    return SandboxedEnvironment(
        undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True
    )


def render(template: str, context: Mapping[str, Any]) -> str:
    """The template's text for one invoice; any failure (syntax, undefined variable, an
    operation the sandbox forbids) is a ``TemplateProblem``."""
    try:
        return environment().from_string(template).render(dict(context))
    except TemplateError as exc:  # SecurityError and UndefinedError are TemplateErrors
        raise TemplateProblem(_describe(exc)) from exc
    except (TypeError, ValueError, ArithmeticError, LookupError) as exc:
        raise TemplateProblem(f"{type(exc).__name__}: {exc}") from exc


def check(template: str) -> None:
    """Refuse a template that would fail on a real invoice (rendered against a sample)."""
    render(template, sample_context())


def _describe(exc: TemplateError) -> str:
    line = getattr(exc, "lineno", None)
    where = f" (line {line})" if line else ""
    return f"{type(exc).__name__}{where}: {exc.message or exc}"


def money(value: Decimal) -> str:
    return f"{value:.2f}"


def price(value: Decimal) -> str:
    """A unit price as precise as the line has it: two decimals at least, more where it has
    them (``3.333``), so that quantity × unit price can be checked against the line's amount,
    which is computed from the exact price."""
    return f"{value:.{max(2, places(value))}f}"


def invoice_context(
    invoice: Invoice,
    *,
    number: str,
    customer_name: str,
    customer_email: str,
    order_number: str | None,
    company: Mapping[str, Any],
    rounding: VatRounding = "per_line",
) -> dict[str, Any]:
    """The variables of ``VARIABLES`` for one invoice (plain strings and lists, so templates
    and the PDF layouts see the same values). The totals are the ones the accounting system
    booked, its VAT rounded as it does (``rounding``): what the customer owes there."""
    vat_total = sum((vat for _, vat in invoice.vat_by_code(rounding).values()), Decimal("0.00"))
    lines = [
        {
            "description": line.description or line.sku or "",
            "sku": line.sku or "",
            "quantity": _plain(line.quantity),
            "unit_price": price(line.unit_price),
            "vat_rate": _plain(line.vat_rate) if line.vat_rate is not None else "",
            "discount_percent": _plain(line.discount_percent),
            "net_amount": money(line.net_amount),
        }
        for line in invoice.lines_with_document_discount()
    ]
    return {
        "number": number,
        "date": invoice.date.isoformat(),
        "due_date": invoice.due_date.isoformat() if invoice.due_date else "",
        "customer_name": customer_name,
        "customer_email": customer_email,
        "order_number": order_number or "",
        "reference": invoice.reference or "",
        "currency": invoice.currency,
        "net_total": money(invoice.net_total),
        "vat_total": money(vat_total),
        "total": money(invoice.net_total + vat_total),
        "lines": lines,
        "company": {
            "name": str(company.get("name") or ""),
            "address": str(company.get("address") or ""),
            "vat_number": str(company.get("vat_number") or ""),
        },
    }


def _plain(value: Decimal) -> str:
    """A quantity or rate without trailing zeros (``2``, ``2.5``, ``25``)."""
    text = format(value.normalize(), "f")
    return text


def sample_context() -> dict[str, Any]:
    """A realistic invoice: what a template is checked against when it is saved."""
    invoice = Invoice.model_validate(
        {
            "kind": "invoice",
            "party_id": "sample",
            "date": dt.date(2026, 1, 15).isoformat(),
            "due_date": dt.date(2026, 1, 29).isoformat(),
            "currency": "DKK",
            "status": "booked",
            "reference": "1001",
            "lines": [
                {"description": "Mug", "sku": "MUG-1", "quantity": "2",
                 "unit_price": "80.00", "vat_rate": "25"},
            ],
        }
    )  # fmt: skip
    return invoice_context(
        invoice,
        number="5001",
        customer_name="Jane Doe",
        customer_email="jane@example.com",
        order_number="1001",
        company={"name": "Example Shop ApS", "address": "Main Street 1, 1000 Copenhagen",
                 "vat_number": "DK12345678"},
    )  # fmt: skip
