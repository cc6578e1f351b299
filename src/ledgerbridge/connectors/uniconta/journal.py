"""Uniconta's cash journal: a PayMatch posting, or the payments of a sale paid several ways, as
GL daily journal lines (outbound only).

A posting is inserted as one ``InsertList`` of ``GLDailyJournalLineClient`` rows into the
journal the route names, left unposted for a person to approve and book (Uniconta's REST API
cannot post a daily journal; Uniconta's own import of acquirer settlements inserts its lines
the same way). Every line carries the posting's ``reference`` as its ``ReferenceNumber``: that
is how the lines of a posting whose insert went unanswered are found again before anything is
sent twice. A posting is never updated: a correction is another posting.

Facts inferred rather than verified (see docs/paymatch.md):
- ``InsertList`` answers 200 with the rows or 204 without a body: without rows the lines are
  read back by their reference.
- A line in another currency than the company's carries ``Currency`` with ``DebitCur`` /
  ``CreditCur`` and no ``Debit`` / ``Credit``: Uniconta converts at its own exchange rate, as
  its settlement import does.
- Lines of one posting, inserted together and balancing, become one voucher when the journal
  assigns voucher numbers on posting.
- A payment's customer line (``AccountType`` ``Debtor``, the invoice's debtor, a credit with
  the invoice number in ``Invoice``) settles that invoice's open item when the journal is
  booked, as Uniconta's own "mark invoice paid" line does (which also sets ``Settlements``
  to the open item's RowId and posts at once through the .NET API); settling by ``Invoice``
  alone follows the journal's ``SettleValue`` (Invoice), as the open item is found by its
  number.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal

from ledgerbridge.connectors.base import (
    JSON,
    EntityMapping,
    NamedCode,
    RemoteRef,
    SkipRecord,
)
from ledgerbridge.connectors.kit.references import linked
from ledgerbridge.connectors.kit.values import decimal, text

JOURNAL_LINE = "GLDailyJournalLineClient"
ZERO = Decimal(0)
CODE_MISSING = "paymatch_code_missing"
"""A posting refused because the company lacks its journal or one of its accounts."""
INVOICE_PENDING = "posting_invoice_pending"
"""A payment posting whose invoice is an order not booked in Uniconta yet."""


def _number(value: Decimal) -> float | int:
    """A money amount as a JSON number (Uniconta takes doubles)."""
    return int(value) if value == value.to_integral_value() else float(value)


class JournalPostingMapping(EntityMapping):
    """A journal posting as the lines of one voucher in a GL daily journal."""

    entity = "journal_posting"
    remote_entity = "journal line"
    fields = frozenset({"reference", "journal", "date", "currency"})
    business_key_field = "reference"
    inbound = False
    fixed_remotely = frozenset({CODE_MISSING})
    references = (
        linked("journal_posting", "invoice_id", "invoices"),
        linked("journal_posting", "party_id", "customers"),
    )
    """A payment posting's invoice and customer (a payout's has neither): its customer lines
    carry the invoice's number and are on the customer's debtor account."""

    def __init__(self, company_currency: Callable[[], str] | None = None) -> None:
        self._currency = company_currency or (lambda: "DKK")

    def remote_id(self, remote: JSON) -> str:
        return str(remote["reference"])

    def from_canonical(
        self, record: JSON, current: JSON | None, refs: Mapping[str, RemoteRef | None]
    ) -> JSON:
        if current is not None:
            raise SkipRecord(
                "journal_posting_immutable",
                "a posting's lines are in Uniconta's cash journal already and are never "
                "changed from here: correct them there",
            )
        currency = str(record["currency"])
        foreign = currency != self._currency()
        invoice, debtor = _settled(record, refs)
        lines = []
        for line in record["lines"]:
            amount = Decimal(str(line["amount"]))
            debit, credit = (amount, ZERO) if amount > 0 else (ZERO, -amount)
            customer = line["role"] == "customer"
            row: JSON = {
                "Journal": record["journal"],
                "Date": str(record["date"])[:10],
                "AccountType": "Debtor" if customer else "Finans",
                "Account": debtor if customer else line["account"],
                "Text": line["text"],
                "ReferenceNumber": record["reference"],
            }
            if foreign:
                row.update(Currency=currency, DebitCur=_number(debit), CreditCur=_number(credit))
            else:
                row.update(Debit=_number(debit), Credit=_number(credit))
            if customer:
                row["Invoice"] = invoice
            elif line.get("invoice"):
                row["Invoice"] = str(line["invoice"])
            lines.append(row)
        return {
            "reference": record["reference"],
            "lines": lines,
            "roles": [line["role"] for line in record["lines"]],
            "methods": [line.get("method") for line in record["lines"]],
            "kind": record.get("kind") or "payout",
            "route_id": record.get("route_id"),
        }

    def to_canonical(self, remote: JSON, refs: Mapping[str, str | None]) -> JSON:
        """The posting as its lines show it. Uniconta keeps accounts, amounts, texts and
        invoice numbers, not what each line was for: the role is read back from the line
        (an invoice: receivable; a debit: bank; a credit: error), which only the checks of a
        read-back use, since the projection compares reference, journal, date and currency."""
        lines = list(remote.get("lines") or [])
        if not lines:
            raise SkipRecord("invalid_remote_data", "a posting without lines")
        first = lines[0]
        currency = text(first.get("Currency")) or self._currency()
        foreign = currency != self._currency()
        back = []
        for row in lines:
            debit = decimal(row.get("DebitCur" if foreign else "Debit")) or ZERO
            credit = decimal(row.get("CreditCur" if foreign else "Credit")) or ZERO
            amount = debit - credit
            invoice = text(row.get("Invoice"))
            role = "receivable" if invoice else ("bank" if amount > 0 else "error")
            back.append(
                {"role": role, "account": text(row.get("Account")) or "?", "amount": str(amount),
                 "text": text(row.get("Text")) or "?", "invoice": invoice}
            )  # fmt: skip
        reference = str(remote["reference"])
        return {
            "reference": reference,
            "journal": text(first.get("Journal")),
            "date": str(first.get("Date"))[:10],
            "currency": currency,
            "provider": "uniconta",
            "payout_id": reference,
            "lines": back,
        }

    def payload_key(self, payload: JSON) -> str | None:
        return str(payload.get("reference")) if payload.get("reference") else None


def _settled(record: JSON, refs: Mapping[str, RemoteRef | None]) -> tuple[str | None, str | None]:
    """A payment posting's invoice number and debtor account in Uniconta (None, None for a
    payout's). An invoice still an order there (not booked yet) has no number to settle: the
    posting waits, and goes once the invoice is booked."""
    if record.get("kind") != "payment":
        return None, None
    invoice, party = refs.get("invoice_id"), refs.get("party_id")
    if invoice is None or party is None:
        raise SkipRecord(INVOICE_PENDING, "the payments wait for their invoice and customer")
    if invoice[1].startswith("order:"):
        raise SkipRecord(
            INVOICE_PENDING,
            f"the invoice is still {invoice[1].replace(':', ' ')} in Uniconta, not booked: the "
            "payments of its parts are registered against its number once it is booked",
        )
    return invoice[1], party[1]


def group_by_reference(rows: list[JSON], references: list[str]) -> dict[str, list[JSON]]:
    """Journal lines per posting reference (only the wanted ones), in insertion order."""
    wanted = set(references)
    found: dict[str, list[JSON]] = {}
    for row in sorted(rows, key=lambda r: int(r.get("RowId") or 0)):
        reference = str(row.get("ReferenceNumber") or "")
        if reference in wanted:
            found.setdefault(reference, []).append(row)
    return found


def posting_codes(payload: JSON) -> list[NamedCode]:
    """The journal and the ledger accounts a posting's lines name, each with the route setting
    it comes from (``paymatch.journal``, ``paymatch.<role>_account``; for payments
    ``commerce.policy.payment_journal``, ``commerce.policy.payment_methods.<method>.account``).
    A customer line's debtor is no ledger account."""
    lines = payload["lines"]
    payment = payload.get("kind") == "payment"
    journal = "commerce.policy.payment_journal" if payment else "paymatch.journal"
    named = [NamedCode(journal, "journal", str(lines[0]["Journal"]))] if lines else []
    roles = payload.get("roles") or []
    methods = payload.get("methods") or [None] * len(roles)
    for line, role, method in zip(lines, roles, methods, strict=False):
        if role == "customer":
            continue
        field = (
            f"commerce.policy.payment_methods.{method}.account"
            if payment
            else f"paymatch.{role}_account"
        )
        if all(item.field != field for item in named):
            named.append(NamedCode(field, "account", str(line["Account"])))
    return named


def code_refusal(missing: Mapping[str, str], route_id: str | None) -> str:
    """What is missing, and what to do: correct the route (its postings not in Uniconta yet
    are then sent with its new settings), or create the code in Uniconta."""
    what = "; ".join(missing.values())
    retried = "or create it in Uniconta, and the posting is tried again within the hour"
    if route_id is None:
        return f"{what}: {retried}"
    return (
        f"{what}: correct {', '.join(missing)} of route {route_id} "
        f"(on its page under Routes, or PUT /api/v1/routes/{route_id}), and the posting is "
        f"sent again with it; {retried}"
    )


def stored_posting(reference: str, lines: list[JSON]) -> JSON:
    return {"reference": reference, "lines": lines}


def sent_lines(payload: JSON) -> list[JSON]:
    """A payload's lines, without empty values (Uniconta omits nulls, and so do we)."""
    return [{k: v for k, v in line.items() if v is not None} for line in payload["lines"]]
