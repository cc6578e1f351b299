"""Tripletex wire ⇄ canonical records: pure functions, table-tested.

Tripletex is master of clients, products and VAT types: these streams are one way (inbound).
Invoices and credit notes go the other way, once issued in the app.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from types import MappingProxyType
from typing import Any

from ledgerbridge.connectors.base import JSON, EntityMapping, LinkedBy, RemoteRef, SkipRecord
from ledgerbridge.connectors.kit.records import (
    booked_then_withdrawn,
    booked_with_lines,
    written_once,
)
from ledgerbridge.connectors.kit.references import linked, target_of
from ledgerbridge.connectors.kit.values import dec, decimal, named, text, texts
from ledgerbridge.model.invoice import fold_document_discount

CUSTOMER_FIELDS = (
    "*,postalAddress(*,country(isoAlpha2Code)),physicalAddress(*,country(isoAlpha2Code))"
)
"""``fields`` for customers: addresses expanded, otherwise they are only ``{id, url}``, and
their country's ISO code with them (a country is only an id otherwise), in the same call."""


def number(value: Any) -> int | float:
    """A JSON number, as the spec types amounts: whole numbers stay exact integers, others
    go through the shortest float that prints back as the same decimal."""
    amount = Decimal(str(value))
    return int(amount) if amount == amount.to_integral_value() else float(amount)


def ref_id(value: Any) -> str | None:
    """The id of a nested reference ``{"id": 5, "url": …}``."""
    if isinstance(value, dict) and value.get("id") is not None:
        return str(value["id"])
    return None


def address(value: Any) -> JSON | None:
    """An expanded Tripletex ``Address``; None when it holds nothing but its country
    (Tripletex gives every address one, Norway unless changed)."""
    if not isinstance(value, dict):
        return None
    result = {
        "line1": text(value.get("addressLine1")),
        "line2": text(value.get("addressLine2")),
        "postal_code": text(value.get("postalCode")),
        "city": text(value.get("city")),
    }
    if all(v is None for v in result.values()):
        return None
    country = value.get("country")
    code = text(country.get("isoAlpha2Code")) if isinstance(country, dict) else None
    return {**result, "country": code.upper() if code else None}


CUSTOMER_TEXTS: dict[str, str] = {
    "debtor_number": "customerNumber",
    "organisation_number": "organizationNumber",
    "email": "email",
    "invoice_email": "invoiceEmail",
    "phone": "phoneNumber",
    "mobile_phone": "phoneNumberMobile",
    "website": "website",
}
"""A customer's text fields: hub field → Tripletex property."""


class CustomerMapping(EntityMapping):
    """Tripletex customers (the firm's clients) → parties, read with ``changedSince``. A
    client the app already has is recognised by its debtor number, else its organisation
    number, else its e-mail address."""

    entity = "party"
    remote_entity = "customer"
    business_key_field = "debtor_number"
    match_fields = ("organisation_number", "email")
    fields = frozenset(
        {"kind", "name", "is_customer", "debtor_number", "organisation_number", "email",
         "invoice_email", "phone", "mobile_phone", "website", "postal_address",
         "visiting_address", "payment_term_days", "locale", "active"}
    )  # fmt: skip
    incremental = True
    outbound = False
    read_only_reason = "client_master_is_tripletex"

    def remote_id(self, remote: JSON) -> str:
        return str(remote["id"])

    def to_canonical(self, remote: JSON, refs: Mapping[str, str | None]) -> JSON:
        name = named(remote.get("name"), f"Tripletex customer {remote.get('id')}")
        due_in = remote.get("invoicesDueIn")
        return {
            "kind": "person" if remote.get("isPrivateIndividual") else "organisation",
            "name": name,
            "is_customer": True,
            **texts(remote, CUSTOMER_TEXTS),
            "postal_address": address(remote.get("postalAddress")),
            "visiting_address": address(remote.get("physicalAddress")),
            "payment_term_days": (
                int(due_in)
                if isinstance(due_in, int) and remote.get("invoicesDueInType", "DAYS") == "DAYS"
                else None
            ),
            "locale": "en" if remote.get("language") == "EN" else "nb",
            "active": not bool(remote.get("isInactive", False)),
        }

    def defaults(self) -> JSON:
        return {"is_customer": True}


class ProductMapping(EntityMapping):
    """Tripletex products → products; the VAT code is the VAT type's number."""

    entity = "product"
    remote_entity = "product"
    business_key_field = "sku"
    fields = frozenset(
        {"sku", "name", "description", "sales_price", "cost_price", "vat_code", "ean", "active"}
    )
    outbound = False
    read_only_reason = "product_master_is_tripletex"

    def __init__(self, vat_numbers: Mapping[str, str]) -> None:
        self.vat_numbers = vat_numbers
        """VAT type id → VAT number (ids differ from the numbers users know)."""

    def remote_id(self, remote: JSON) -> str:
        return str(remote["id"])

    def to_canonical(self, remote: JSON, refs: Mapping[str, str | None]) -> JSON:
        sku = text(remote.get("number")) or str(remote["id"])
        vat_id = ref_id(remote.get("vatType"))
        return {
            "sku": sku,
            "name": text(remote.get("name")) or sku,
            "description": text(remote.get("description")),
            "sales_price": decimal(remote.get("priceExcludingVatCurrency")),
            "cost_price": decimal(remote.get("costExcludingVatCurrency")),
            "vat_code": self.vat_numbers.get(vat_id) if vat_id else None,
            "ean": text(remote.get("ean")),
            "active": not bool(remote.get("isInactive", False)),
        }


class VatTypeMapping(EntityMapping):
    """Tripletex VAT types → VAT codes (Norwegian), keyed by their number."""

    entity = "vat_code"
    remote_entity = "VAT type"
    business_key_field = "code"
    fields = frozenset({"code", "name", "rate", "country", "direction"})
    outbound = False
    read_only_reason = "vat_types_master_is_tripletex"

    def remote_id(self, remote: JSON) -> str:
        return str(remote["id"])

    def to_canonical(self, remote: JSON, refs: Mapping[str, str | None]) -> JSON:
        number = text(remote.get("number"))
        if number is None:
            raise SkipRecord("vat_code_missing", f"Tripletex VAT type {remote['id']} has no number")
        direction = remote.get("_direction")
        return {
            "code": number,
            "name": text(remote.get("name")),
            "rate": decimal(remote.get("percentage")) or Decimal(0),
            "country": "NO",
            "direction": direction if direction in ("sales", "purchase") else "both",
        }


ISSUED = ("sent", "booked", "paid")


class InvoiceMapping(EntityMapping):
    """Hub invoices, once issued, → a Tripletex order charged with ``:invoice``; credit notes
    → ``:createCreditNote`` of the invoice they credit (Tripletex credits whole invoices).

    Rows are composite. Outbound payloads: ``{"order": …, "invoiceDate": …}`` or
    ``{"credit": <invoice id>, "date": …}``; stored rows are Tripletex ``Invoice`` objects.
    An issued invoice is booked in Tripletex and cannot change; corrections are credit notes.
    """

    entity = "invoice"
    remote_entity = "invoice"
    step_labels = MappingProxyType(
        {"order": "order", "invoice": "invoicing of the order", "credit": "credit note"}
    )
    fields = frozenset(
        {"number", "party_id", "kind", "date", "due_date", "currency", "credits_invoice_id"}
    )
    references = (
        linked(entity, "party_id", "customers"),
        linked(entity, "credits_invoice_id", "invoices"),
    )
    inbound = False
    reads_open_amount = False
    """An invoice is read back by id with its lines (``INVOICE_FIELDS``), so a report sets
    Tripletex's VAT totals against the hub's. Its outstanding amount is compared only while
    ``payment_status`` reads it into the hub's invoices; otherwise the hub does not know what
    is still owed on them (payments go from the hub)."""
    vat_rounding = "per_code"
    """VAT once per VAT type on its net, as the sandbox books it (inferred: Tripletex's docs
    do not say how an invoice's VAT is rounded; both sides of a report are added up alike)."""

    def __init__(self, vat_ids: Mapping[str, str]) -> None:
        self.vat_ids = vat_ids
        """VAT number → VAT type id."""

    def in_scope(self, record: JSON) -> bool:
        return record.get("status") in ISSUED

    def left_scope(self, record: JSON) -> SkipRecord | None:
        return booked_then_withdrawn(record, "Tripletex")

    def scope_hint(self, record: JSON) -> str | None:
        return (
            f"it is {record.get('status') or 'without a status'}, and an invoice is sent to "
            "Tripletex once issued: status sent, booked or paid"
        )

    def remote_id(self, remote: JSON) -> str:
        return str(remote["id"])

    def remote_refs(self, remote: JSON) -> dict[str, RemoteRef | None]:
        customer = ref_id(remote.get("customer"))
        credited = remote.get("creditedInvoice")
        credited_id = ref_id(credited) if isinstance(credited, dict) else text(credited)
        return {
            "party_id": ("customers", customer) if customer else None,
            "credits_invoice_id": ("invoices", credited_id) if credited_id else None,
        }

    def to_canonical(self, remote: JSON, refs: Mapping[str, str | None]) -> JSON:
        if "order" in remote or "credit" in remote:
            # A payload: what the invoice will look like once Tripletex has it.
            return {
                "number": remote.get("_number"),
                "party_id": refs.get("party_id"),
                "kind": "credit_note" if "credit" in remote else "invoice",
                "date": remote.get("invoiceDate") or remote.get("date"),
                "due_date": remote.get("_due_date"),
                "currency": "NOK",
                "credits_invoice_id": refs.get("credits_invoice_id"),
            }
        invoice: JSON = {
            "number": text(remote.get("invoiceNumber")),
            "party_id": refs.get("party_id"),
            "kind": "credit_note" if remote.get("isCreditNote") else "invoice",
            "date": remote.get("invoiceDate"),
            "due_date": remote.get("invoiceDueDate"),
            "currency": "NOK",
            "credits_invoice_id": refs.get("credits_invoice_id"),
        }
        lines = remote.get("orderLines") or []
        if lines and all(isinstance(line, dict) and "count" in line for line in lines):
            # Read with its lines expanded (a reconciliation's read): what Tripletex booked.
            invoice["lines"] = [_booked_line(line) for line in lines]
        return invoice

    def from_canonical(
        self, record: JSON, current: JSON | None, refs: Mapping[str, RemoteRef | None]
    ) -> JSON:
        written_once(
            current,
            "invoice_lines_readonly_after_posting",
            "an issued invoice is booked in Tripletex and cannot change: issue a credit note",
        )
        if (record.get("currency") or "NOK") != "NOK":
            raise SkipRecord(
                "currency_unsupported",
                f"invoices are sent to Tripletex in NOK only, and this one is in "
                f"{record.get('currency')}: change its currency to NOK in the app and it is "
                "sent; an invoice in another currency is made in Tripletex itself (then "
                "dismiss this issue)",
            )
        party = target_of(refs, self.entity, "party_id")
        assigned = {"_number": record.get("number"), "_due_date": record.get("due_date")}
        if record.get("kind") == "credit_note":
            credited = refs.get("credits_invoice_id")
            if credited is None:
                raise SkipRecord(
                    "credited_invoice_missing",
                    "a credit note is sent to Tripletex as the credit of a whole invoice: "
                    "set the invoice it credits",
                )
            return {"credit": credited[1], "date": record["date"], **assigned}
        order: JSON = {
            # The hub id as the order number: GET /order finds it again after a lost answer.
            "number": str(record["id"]),
            "customer": {"id": int(party[1])},
            "orderDate": record["date"],
            "deliveryDate": record["date"],
            # Order.discountPercentage is only a default for new lines: the document discount
            # goes in each line's own discount.
            "orderLines": [
                self._line_out(line)
                for line in booked_with_lines(fold_document_discount(record), "Tripletex")
            ],
        }
        if record.get("reference"):
            order["reference"] = record["reference"]
        if record.get("due_date"):
            days = (
                date.fromisoformat(record["due_date"]) - date.fromisoformat(record["date"])
            ).days
            order["invoicesDueIn"] = max(days, 0)
            order["invoicesDueInType"] = "DAYS"
        return {"order": order, "invoiceDate": record["date"], **assigned}

    def payload_key(self, payload: JSON) -> str | None:
        """``order|<order number>|<date>`` or ``credit|<credited invoice id>|<date>``: what
        the connector searches for after a create of unknown outcome (GET /order needs the
        date range; a credited invoice has one credit note)."""
        if "credit" in payload:
            return f"credit|{payload['credit']}|{payload['date']}"
        order = payload["order"]
        return f"order|{order['number']}|{order['orderDate']}"

    def _line_out(self, line: JSON) -> JSON:
        code = text(line.get("vat_code"))
        vat_id = self.vat_ids.get(code) if code else None
        if code and vat_id is None:
            raise SkipRecord(
                "vat_code_unmapped",
                f"VAT code '{code}' is not a Tripletex VAT type number: give the line one of "
                "Tripletex's numbers (the connection's VAT list, lists/vat: 3 is output VAT "
                "at the high rate), and the invoice is sent with that change",
            )
        out: JSON = {
            "description": line.get("description") or line.get("sku") or "",
            "count": number(line.get("quantity")),
            "unitPriceExcludingVatCurrency": number(line.get("unit_price")),
        }
        if vat_id is not None:
            out["vatType"] = {"id": int(vat_id)}
        if line.get("discount_percent") not in (None, "0", 0):
            out["discount"] = number(line["discount_percent"])
        return out

    def adopt_assigned(self, record: JSON, stored: JSON) -> JSON:
        """Once charged, the invoice number and due date are Tripletex's."""
        return {
            **record,
            **{k: stored[k] for k in ("number", "due_date") if stored.get(k) is not None},
        }


class PaymentMapping(EntityMapping):
    """Hub payments of issued invoices → ``:payment`` on the Tripletex invoice. A payment has
    no object of its own in Tripletex, so its remote id is ``<invoice id>:<hub id>``."""

    entity = "payment"
    remote_entity = "payment"
    fields = frozenset({"invoice_id", "date", "amount", "currency"})
    references = (linked(entity, "invoice_id", "invoices"),)
    inbound = False

    def remote_id(self, remote: JSON) -> str:
        return f"{remote['invoice']}:{remote['_hub']}"

    def remote_refs(self, remote: JSON) -> dict[str, RemoteRef | None]:
        return {"invoice_id": ("invoices", str(remote["invoice"]))}

    def to_canonical(self, remote: JSON, refs: Mapping[str, str | None]) -> JSON:
        return {
            "invoice_id": refs.get("invoice_id"),
            "date": remote.get("paymentDate"),
            "amount": decimal(remote.get("paidAmount")),
            "currency": "NOK",
        }

    def from_canonical(
        self, record: JSON, current: JSON | None, refs: Mapping[str, RemoteRef | None]
    ) -> JSON:
        written_once(
            current,
            "payment_readonly_after_posting",
            "a payment registered in Tripletex cannot change: register a correction there",
        )
        if (record.get("currency") or "NOK") != "NOK":
            raise SkipRecord("currency_unsupported", "payments are sent to Tripletex in NOK only")
        invoice = target_of(refs, self.entity, "invoice_id")
        return {
            "invoice": invoice[1],
            "paymentDate": record["date"],
            "paidAmount": number(record["amount"]),
            "_hub": record.get("id"),
        }

    def payload_key(self, payload: JSON) -> str | None:
        """``<invoice id>|<date>|<amount>|<hub id>``: a payment has no record of its own in
        Tripletex, only a posting on the invoice, found again by its date and amount."""
        return (
            f"{payload['invoice']}|{payload['paymentDate']}|{payload['paidAmount']}|"
            f"{payload['_hub']}"
        )


class PaymentStatusMapping(EntityMapping):
    """What is still owed on each invoice and credit note sent to Tripletex
    (``amountOutstanding``, in the invoice's currency: 0 once paid or credited, below 0 on a
    credit note of a paid invoice) → the hub invoice's ``amount_open``. One way, daily.

    Tripletex lists no open items of their own, so the invoices the connection sent are read
    by id (``read_by_link``), 100 a call, with only these fields. The invoice's status stays
    the app's (it issued the invoice, and its payments go from the hub)."""

    entity = "invoice"
    remote_entity = "invoice"
    fields = frozenset({"amount_open"})
    attach_to = "invoices"
    read_by_link = True
    outbound = False

    def remote_id(self, remote: JSON) -> str:
        return str(remote["id"])

    def to_canonical(self, remote: JSON, refs: Mapping[str, str | None]) -> JSON:
        outstanding = dec(remote.get("amountOutstanding"))
        if outstanding is None:
            raise SkipRecord(
                "invalid_remote_data",
                f"Tripletex invoice {remote.get('id')} was read without its outstanding "
                "amount: the next payment status read tries it again",
            )
        return {"amount_open": outstanding}


def statistics_customer(remote_id: str) -> str:
    """The Tripletex customer a summary came from: its remote id is
    ``<customer id>:<YYYY-MM>`` (``StatisticsMapping.remote_id``)."""
    return remote_id.split(":", 1)[0]


class StatisticsMapping(EntityMapping):
    """A linked client's work statistics for one month → ``PeriodStatistics``. Rows are built
    by the connector: ``{"customer", "party_id", "period_start", "period_end", "metrics"}``,
    with ``_problem`` when the client's company cannot be read. Only metrics mapped to one
    of the app's fields (``settings.summary.fields``) are imported; the record carries them by
    statistic (``metrics``) and by the app's custom field (``fields``), with the summary
    task's title and topic."""

    entity = "period_statistics"
    remote_entity = "work statistics"
    fields = frozenset(
        {"party_id", "period_start", "period_end", "metrics", "title", "topic", "fields"}
    )
    incremental = True
    """The cursor remembers which import day and which reload were done (see the connector)."""
    outbound = False
    read_only_reason = "statistics_master_is_tripletex"
    remote_wins = True
    """A reload overwrites the summaries' values, a figure changed in the app included."""
    linked_by = LinkedBy("client_links", "party_id", statistics_customer)
    """A client relinked to another customer keeps none of the old customer's months."""

    def __init__(self, summary: Mapping[str, Any]) -> None:
        targets = summary.get("fields") or {}
        self.targets = {name: str(text(t)) for name, t in targets.items() if text(t)}
        self.title = text(summary.get("title"))
        self.topic = text(summary.get("topic"))

    def remote_id(self, remote: JSON) -> str:
        return f"{remote['customer']}:{str(remote['period_start'])[:7]}"

    def to_canonical(self, remote: JSON, refs: Mapping[str, str | None]) -> JSON:
        if remote.get("_problem"):
            raise SkipRecord("client_company_unreachable", str(remote["_problem"]))
        mapped = {k: str(v) for k, v in remote["metrics"].items() if k in self.targets}
        return {
            "party_id": remote["party_id"],
            "period_start": remote["period_start"],
            "period_end": remote["period_end"],
            "metrics": mapped,
            "title": self.title,
            "topic": self.topic,
            "fields": {self.targets[k]: v for k, v in mapped.items()},
        }


def _booked_line(line: JSON) -> JSON:
    """An order line of a charged invoice as a hub invoice line (a credit note's have negative
    counts): quantity, price before VAT, discount, and the VAT type's number and rate."""
    given = line.get("vatType")
    vat_type: JSON = given if isinstance(given, dict) else {}
    return {
        "description": text(line.get("description")),
        "quantity": decimal(line.get("count")) or Decimal(0),
        "unit_price": decimal(line.get("unitPriceExcludingVatCurrency")) or Decimal(0),
        "discount_percent": decimal(line.get("discount")) or Decimal(0),
        "vat_code": text(vat_type.get("number")),
        "vat_rate": decimal(vat_type.get("percentage")),
    }
