"""One Tripletex company's data and the rules of its sales flow.

A ``Book`` holds the company's rows per model, allocates ids, numbers customers, orders,
invoices and vouchers, and applies the order → invoice → credit note → payment flow the way
the spec describes it: an invoice is charged at once and produces a voucher with postings,
``amountOutstanding`` starts at the invoice amount, ``:payment`` lowers it and
``:createCreditNote`` creates a new invoice with ``isCreditNote`` that nullifies the original.
The caller (``TripletexSandbox``) holds the lock around every call.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from stdnum import luhn

from ledgerbridge.sandbox.tripletex.errors import (
    MAPPING,
    REVISION,
    TripletexError,
    not_found,
    validation_error,
)
from ledgerbridge.sandbox.tripletex.models import FieldSpec, models
from ledgerbridge.sandbox.tripletex.render import OSLO, change_entry

Row = dict[str, Any]
Emit = Callable[[int, str, str, int], None]

NOK_ID = 1
NORWAY_ID = 161
CENT = Decimal("0.01")
# Numbers at or above this are refused, so products of amounts stay within Decimal precision.
LARGEST_NUMBER = Decimal(10) ** 12
ID_BLOCK = 10_000_000
FIRST_CUSTOMER_NUMBER = 10000

# Chart of accounts every company starts with (NS 4102 numbers): number, name, type, bank.
STANDARD_ACCOUNTS: tuple[tuple[int, str, str, bool], ...] = (
    (1500, "Kundefordringer", "ASSETS", False),
    (1900, "Kontanter", "ASSETS", False),
    (1920, "Bankinnskudd", "ASSETS", True),
    (2400, "Leverandørgjeld", "LIABILITIES", False),
    (2600, "Forskuddstrekk", "LIABILITIES", False),
    (2700, "Utgående merverdiavgift", "LIABILITIES", False),
    (2710, "Inngående merverdiavgift", "LIABILITIES", False),
    (2770, "Skyldig arbeidsgiveravgift", "LIABILITIES", False),
    (2930, "Skyldig lønn", "LIABILITIES", False),
    (3000, "Salgsinntekt, avgiftspliktig", "OPERATING_REVENUES", False),
    (3100, "Salgsinntekt, avgiftsfri", "OPERATING_REVENUES", False),
    (4000, "Innkjøp av råvarer og halvfabrikata", "OPERATING_EXPENSES", False),
    (5000, "Lønn til ansatte", "OPERATING_EXPENSES", False),
    (5400, "Arbeidsgiveravgift", "OPERATING_EXPENSES", False),
    (6300, "Leie lokale", "OPERATING_EXPENSES", False),
    (6540, "Inventar", "OPERATING_EXPENSES", False),
    (6800, "Kontorrekvisita", "OPERATING_EXPENSES", False),
    (6900, "Telefon", "OPERATING_EXPENSES", False),
    (7140, "Reisekostnad, ikke oppgavepliktig", "OPERATING_EXPENSES", False),
    (7770, "Bank- og kortgebyrer", "OPERATING_EXPENSES", False),
)

# Voucher types every company has. Names as in Tripletex's Norwegian UI (ids are the sandbox's).
SALES_INVOICE = "Utgående faktura"
SUPPLIER_INVOICE = "Leverandørfaktura"
INCOMING_PAYMENT = "Innbetaling"
OUTGOING_PAYMENT = "Utbetaling"
PAYROLL = "Lønnsbilag"
MANUAL = "Memorialbilag"
TRAVEL_EXPENSE = "Reiseregning"
EMPLOYEE_EXPENSE = "Ansattutlegg"
BANK_RECONCILIATION = "Bankavstemming"
VAT_RETURN = "Mva-melding"
VOUCHER_TYPES = (
    SALES_INVOICE,
    SUPPLIER_INVOICE,
    INCOMING_PAYMENT,
    OUTGOING_PAYMENT,
    PAYROLL,
    MANUAL,
    TRAVEL_EXPENSE,
    EMPLOYEE_EXPENSE,
    BANK_RECONCILIATION,
    VAT_RETURN,
)

# Incoming payment types (GET /invoice/paymentType): description and debit account.
PAYMENT_TYPES = (("Betalt til bank", 1920), ("Kontant", 1900))

# Product units every company has: name, short name, UN/ECE common code.
PRODUCT_UNITS = (("Stykk", "stk", "EA"), ("Timer", "t", "HUR"), ("Måned", "mnd", "MON"))


def q2(value: Decimal) -> Decimal:
    """Round an amount to øre."""
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def to_decimal(value: Any, field: str) -> Decimal:
    """A JSON or query number as ``Decimal``; anything else is a mapping error."""
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise mapping_error(field, value)
    try:
        result = Decimal(str(value))
    except InvalidOperation as exc:
        raise mapping_error(field, value) from exc
    if not result.is_finite() or abs(result) >= LARGEST_NUMBER:
        raise mapping_error(field, value)
    return result


def mapping_error(field: str, value: Any) -> TripletexError:
    """422/16000: a value that cannot be mapped onto the field's type."""
    return TripletexError(
        422,
        MAPPING,
        f"Cannot map value {value!r} to field '{field}'.",
        validation=[(field, "Wrong type or format")],
    )


def parse_iso_date(text: str, field: str) -> date:
    """A ``YYYY-MM-DD`` body value, or a validation error naming the field."""
    try:
        return date.fromisoformat(text)
    except (TypeError, ValueError) as exc:
        raise validation_error((field, "Invalid date, use YYYY-MM-DD.")) from exc


@dataclass(frozen=True)
class Posting:
    """A posting line to book: account number, amount (debit positive) and references."""

    account: int
    amount: Decimal
    description: str = ""
    vat_type: int | None = None
    gross: Decimal | None = None
    customer: int | None = None
    supplier: int | None = None
    product: int | None = None
    invoice_number: str | None = None
    posting_type: str | None = None
    system_generated: bool = False


class Book:
    """Rows of one company, keyed by model name then id, plus its numbering counters."""

    def __init__(
        self,
        company_id: int,
        now: Callable[[], datetime],
        emit: Emit,
        shared: Mapping[str, dict[int, Row]],
    ) -> None:
        self.company_id = company_id
        self._now = now
        self._emit = emit
        self._shared = shared
        self.tables: dict[str, dict[int, Row]] = {}
        self._next_id = company_id * ID_BLOCK
        self._customer_number = FIRST_CUSTOMER_NUMBER
        self._invoice_number = 0
        self._order_number = 0
        self._voucher_numbers: dict[int, int] = {}
        self._account_ids: dict[int, int] = {}
        self._voucher_type_ids: dict[str, int] = {}
        self.pending_seed: Callable[[], None] | None = None
        self._as_of: datetime | None = None
        self._set_up_defaults()

    # ------------------------------------------------------------------ basics

    def _set_up_defaults(self) -> None:
        """Chart of accounts, voucher types and payment types of a new company."""
        for number, name, kind, bank in STANDARD_ACCOUNTS:
            row = self.add(
                "Account",
                {
                    "number": number,
                    "numberPretty": str(number),
                    "name": name,
                    "displayName": f"{number} {name}",
                    "type": kind,
                    "ledgerType": "GENERAL",
                    "isBankAccount": bank,
                    "isInactive": False,
                    "currency": NOK_ID,
                },
                employee_id=None,
            )
            self._account_ids[number] = row["id"]
        for name in VOUCHER_TYPES:
            row = self.add("VoucherType", {"name": name, "displayName": name}, employee_id=None)
            self._voucher_type_ids[name] = row["id"]
        for name, short, code in PRODUCT_UNITS:
            self.add(
                "ProductUnit",
                {"name": name, "nameShort": short, "commonCode": code, "displayName": name},
                employee_id=None,
            )
        for sequence, (description, account) in enumerate(PAYMENT_TYPES, start=1):
            self.add(
                "PaymentType",
                {
                    "description": description,
                    "displayName": description,
                    "debitAccount": self._account_ids[account],
                    "creditAccount": self._account_ids[1500],
                    "sequence": sequence,
                    "currencyId": NOK_ID,
                    "currencyCode": "NOK",
                },
                employee_id=None,
            )

    def now(self) -> datetime:
        """Current time from the sandbox clock (or the moment set by ``as_of``)."""
        return self._as_of or self._now()

    def today(self) -> date:
        """Today's date in Norway."""
        return self._now().astimezone(OSLO).date()

    def allocate_id(self) -> int:
        """Next id of this company (ids of different companies never collide)."""
        self._next_id += 1
        return self._next_id

    def table(self, model_name: str) -> dict[int, Row]:
        """Rows of one model (created empty on first use), in id order."""
        return self.tables.setdefault(model_name, {})

    def get(self, model_name: str, object_id: int) -> Row | None:
        """A row of this company, or of the shared tables (VAT types, currencies, ...)."""
        row = self.tables.get(model_name, {}).get(object_id)
        if row is None and model_name in self._shared:
            row = self._shared[model_name].get(object_id)
        return row

    def require(self, model_name: str, object_id: int) -> Row:
        """A row that must exist (404 otherwise)."""
        row = self.get(model_name, object_id)
        if row is None:
            raise not_found(model_name, object_id)
        return row

    def rows(self, model_name: str) -> list[Row]:
        """All rows of a model in id order."""
        return list(self.tables.get(model_name, {}).values())

    def add(
        self,
        model_name: str,
        data: Mapping[str, Any],
        employee_id: int | None,
        created: datetime | None = None,
    ) -> Row:
        """Store a new row at version 0 with a CREATE change."""
        moment = created or self.now()
        row: Row = {"id": self.allocate_id(), "version": 0, **data}
        row["_created"] = row["_changed"] = moment
        if employee_id is not None:
            row["_creator"] = employee_id
        self.table(model_name)[row["id"]] = row
        return row

    def touch(self, row: Row, employee_id: int | None) -> None:
        """Record an update: bump the version and append an UPDATE change.

        Rows that were never updated keep no ``changes`` list (the renderer derives the CREATE
        entry), which keeps a 200-company seed small.
        """
        moment = self.now()
        row["version"] += 1
        changes = row.get("changes") or [
            change_entry("CREATE", row.get("_creator"), row["_created"])
        ]
        changes.append(change_entry("UPDATE", employee_id, moment))
        row["changes"] = changes
        row["_changed"] = moment

    @contextmanager
    def as_of(self, moment: datetime) -> Iterator[None]:
        """Let changes made inside the block carry ``moment`` (seeding history)."""
        previous, self._as_of = self._as_of, moment
        try:
            yield
        finally:
            self._as_of = previous

    def account_id(self, number: int) -> int:
        """Id of an account in the chart by its number."""
        return self._account_ids[number]

    @staticmethod
    def check_version(row: Row, body: Mapping[str, Any], model_name: str) -> None:
        """Optimistic locking: a ``version`` in the body must match the stored one (409)."""
        sent = body.get("version")
        if sent is None:
            return
        if isinstance(sent, bool) or not isinstance(sent, int):
            raise mapping_error("version", sent)
        if sent != row["version"]:
            raise TripletexError(
                409,
                REVISION,
                f"{model_name} {row['id']} has been changed since version {sent}; "
                f"the current version is {row['version']}.",
            )

    # -------------------------------------------------------- body mapping

    def apply_body(
        self,
        model_name: str,
        body: Any,
        row: Row,
        employee_id: int | None,
        handled: Iterable[str] = (),
    ) -> None:
        """Copy writable fields of a JSON body onto ``row``.

        Unknown properties are refused (422/16000) like Tripletex's strict JSON mapping;
        read-only ones are ignored. References must name existing objects where the sandbox
        keeps that model; addresses are created or updated in place. ``handled`` fields are
        left to the caller.
        """
        if not isinstance(body, Mapping):
            raise TripletexError(422, MAPPING, f"Expected a JSON object for {model_name}.")
        entry = models()[model_name]
        skip = set(handled)
        for name, value in body.items():
            spec = entry.fields.get(name)
            if spec is None:
                raise TripletexError(
                    422,
                    MAPPING,
                    f'Unrecognized field "{name}" (class {model_name}DTO), not marked as '
                    "ignorable.",
                    validation=[(name, "Unknown field")],
                )
            if name in skip or spec.read_only or name in ("id", "version", "url", "changes"):
                continue
            row[name] = self._field_value(model_name, spec, value, row.get(name), employee_id)

    def _field_value(
        self, model_name: str, spec: FieldSpec, value: Any, current: Any, employee_id: int | None
    ) -> Any:
        """The stored form of one body value, after type checks."""
        if value is None:
            return None
        label = f"{model_name}.{spec.name}"
        if spec.kind == "scalar":
            return _scalar(spec, value, label)
        if spec.kind == "list":
            if not isinstance(value, list):
                raise mapping_error(label, value)
            return [_scalar(spec, item, label) for item in value]
        if spec.kind == "refs":
            if not isinstance(value, list) or not all(isinstance(v, Mapping) for v in value):
                raise mapping_error(label, value)
            return current
        if not isinstance(value, Mapping):
            raise mapping_error(label, value)
        target = spec.model or ""
        if target in ("Address", "DeliveryAddress"):
            return self._address(target, value, employee_id)
        ref_id = value.get("id")
        if isinstance(ref_id, bool) or not isinstance(ref_id, int):
            raise validation_error((spec.name, f"{target} must be referenced by its id."))
        known = target in self.tables or target in self._shared
        if known and self.get(target, ref_id) is None:
            raise validation_error((f"{spec.name}.id", f"{target} with id {ref_id} not found."))
        return ref_id

    def _address(self, model_name: str, body: Mapping[str, Any], employee_id: int | None) -> int:
        """Create an address, or update the one whose ``id`` the body carries."""
        address_id = body.get("id")
        if address_id:
            row = self.get(model_name, address_id)
            if row is None:
                raise validation_error(("id", f"{model_name} with id {address_id} not found."))
            self.apply_body(model_name, body, row, employee_id)
            self.touch(row, employee_id)
            return address_id
        row = self.add(model_name, {}, employee_id)
        self.apply_body(model_name, body, row, employee_id)
        if row.get("country") is None:
            row["country"] = NORWAY_ID
        return int(row["id"])

    # ------------------------------------------------------------ customers

    def create_customer(self, body: Any, employee_id: int | None) -> Row:
        """POST /customer: name required, customer number assigned when missing."""
        row: Row = {}
        self.apply_body("Customer", body, row, employee_id)
        if not str(row.get("name") or "").strip():
            raise validation_error(("name", "The field is required."))
        number = row.get("customerNumber") or None
        if number is None:
            number = self._next_customer_number()
        elif any(c.get("customerNumber") == number for c in self.rows("Customer")):
            raise validation_error(("customerNumber", f"Customer number {number} is in use."))
        defaults: Row = {
            "customerNumber": number,
            "isCustomer": True,
            "isSupplier": False,
            "isInactive": False,
            "isPrivateIndividual": False,
            "language": "NO",
            "invoiceSendMethod": "EMAIL",
            "emailAttachmentType": "LINK",
            "invoicesDueIn": 14,
            "invoicesDueInType": "DAYS",
            "currency": NOK_ID,
        }
        data = {**defaults, **{k: v for k, v in row.items() if v is not None}}
        data["displayName"] = data["name"]
        stored = self.add("Customer", data, employee_id)
        self._emit(self.company_id, "customer.create", "Customer", stored["id"])
        return stored

    def _next_customer_number(self) -> int:
        """Next free customer number."""
        used = {c.get("customerNumber") for c in self.rows("Customer")}
        while self._customer_number in used:
            self._customer_number += 1
        number = self._customer_number
        self._customer_number += 1
        return number

    def update_customer(self, customer_id: int, body: Any, employee_id: int | None) -> Row:
        """PUT /customer/{id}: partial update with optimistic locking."""
        row = self.require("Customer", customer_id)
        if isinstance(body, Mapping):
            self.check_version(row, body, "Customer")
        self.apply_body("Customer", body, row, employee_id)
        if not str(row.get("name") or "").strip():
            raise validation_error(("name", "The field is required."))
        row["displayName"] = row["name"]
        self.touch(row, employee_id)
        self._emit(self.company_id, "customer.update", "Customer", customer_id)
        return row

    def delete(self, model_name: str, object_id: int, event: str | None) -> None:
        """Remove a row and announce it (webhook ``value`` is null for deletes)."""
        self.require(model_name, object_id)
        del self.table(model_name)[object_id]
        if event is not None:
            self._emit(self.company_id, event, model_name, object_id)

    # ------------------------------------------------------------- products

    def create_product(self, body: Any, employee_id: int | None) -> Row:
        """POST /product: name required, unique number, the missing price derived from VAT."""
        row: Row = {}
        self.apply_body("Product", body, row, employee_id)
        if not str(row.get("name") or "").strip():
            raise validation_error(("name", "The field is required."))
        self._check_product_number(row.get("number"), None)
        data: Row = {
            "isInactive": False,
            "isStockItem": False,
            "currency": NOK_ID,
            "vatType": self.vat_type_by_number("3")["id"],
            "costExcludingVatCurrency": Decimal("0"),
            **{k: v for k, v in row.items() if v is not None},
        }
        self._derive_prices(data, body if isinstance(body, Mapping) else {})
        self._product_names(data)
        stored = self.add("Product", data, employee_id)
        self._emit(self.company_id, "product.create", "Product", stored["id"])
        return stored

    def update_product(self, product_id: int, body: Any, employee_id: int | None) -> Row:
        """PUT /product/{id}: partial update with optimistic locking."""
        row = self.require("Product", product_id)
        if isinstance(body, Mapping):
            self.check_version(row, body, "Product")
        staged = dict(row)
        self.apply_body("Product", body, staged, employee_id)
        self._check_product_number(staged.get("number"), product_id)
        self._derive_prices(staged, body if isinstance(body, Mapping) else {})
        self._product_names(staged)
        row.update(staged)
        self.touch(row, employee_id)
        self._emit(self.company_id, "product.update", "Product", product_id)
        return row

    def _check_product_number(self, number: Any, own_id: int | None) -> None:
        """Product numbers are unique within a company."""
        if not number:
            return
        for other in self.rows("Product"):
            if other.get("number") == number and other["id"] != own_id:
                raise validation_error(("number", f"Product number {number} is in use."))

    def _derive_prices(self, data: Row, body: Mapping[str, Any]) -> None:
        """Fill in whichever of the prices excluding/including VAT was not sent."""
        rate = self.vat_rate(data.get("vatType"))
        excluding = data.get("priceExcludingVatCurrency")
        including = data.get("priceIncludingVatCurrency")
        if "priceIncludingVatCurrency" in body and "priceExcludingVatCurrency" not in body:
            if including is not None:
                data["priceExcludingVatCurrency"] = q2(including / (1 + rate))
        elif excluding is not None:
            data["priceIncludingVatCurrency"] = q2(excluding * (1 + rate))
        for name in ("priceExcludingVatCurrency", "priceIncludingVatCurrency"):
            data.setdefault(name, Decimal("0"))

    @staticmethod
    def _product_names(data: Row) -> None:
        """Read-only display fields derived from number and name."""
        number = data.get("number")
        data["displayNumber"] = number or ""
        data["displayName"] = f"{number} {data['name']}" if number else data["name"]

    # ------------------------------------------------------------------- VAT

    def vat_type_by_number(self, number: str) -> Row:
        """A predefined VAT type by its number (``"3"`` is outgoing VAT, high rate)."""
        for row in self._shared["VatType"].values():
            if row["number"] == number:
                return row
        raise KeyError(number)

    def vat_rate(self, vat_type_id: int | None) -> Decimal:
        """VAT rate of a VAT type as a fraction (0.25), 0 when there is none."""
        row = self.get("VatType", vat_type_id) if vat_type_id is not None else None
        return Decimal(str(row["percentage"])) / 100 if row else Decimal("0")

    # --------------------------------------------------------------- orders

    def create_order(self, body: Any, employee_id: int | None) -> Row:
        """POST /order with embedded order lines; customer, orderDate, deliveryDate required."""
        staged: Row = {}
        self.apply_body("Order", body, staged, employee_id, handled=("orderLines",))
        problems: list[tuple[str, str]] = []
        if staged.get("customer") is None:
            problems.append(("customer", "The field is required."))
        for name in ("orderDate", "deliveryDate"):
            if not staged.get(name):
                problems.append((name, "The field is required."))
            else:
                parse_iso_date(staged[name], name)
        if problems:
            raise validation_error(*problems)
        customer = self.require("Customer", staged["customer"])
        lines = (body.get("orderLines") or []) if isinstance(body, Mapping) else []
        if not isinstance(lines, list):
            raise mapping_error("Order.orderLines", lines)
        self._order_number += 1
        data: Row = {
            "number": str(self._order_number),
            "currency": NOK_ID,
            "invoicesDueIn": customer.get("invoicesDueIn", 14),
            "invoicesDueInType": customer.get("invoicesDueInType", "DAYS"),
            "receiverEmail": customer.get("invoiceEmail") or customer.get("email"),
            "isClosed": False,
            "isPrioritizeAmountsIncludingVat": False,
            "isSubscription": False,
            **{k: v for k, v in staged.items() if v is not None},
        }
        data["customerName"] = customer["name"]
        order = self.add("Order", data, employee_id)
        order["displayName"] = f"{order['number']} {customer['name']}"
        order["orderLines"] = [
            self._add_order_line(order, line, index, employee_id)["id"]
            for index, line in enumerate(lines)
        ]
        self._emit(self.company_id, "order.create", "Order", order["id"])
        return order

    def _add_order_line(self, order: Row, body: Any, index: int, employee_id: int | None) -> Row:
        """One order line: prices from the body or the product, amounts computed."""
        staged: Row = {}
        self.apply_body("OrderLine", body, staged, employee_id, handled=("order",))
        product = self.get("Product", staged["product"]) if staged.get("product") else None
        vat_type = staged.get("vatType") or (product or {}).get("vatType")
        if vat_type is None:
            vat_type = self.vat_type_by_number("3")["id"]
        rate = self.vat_rate(vat_type)
        count = staged.get("count")
        count = Decimal("1") if count is None else count
        excluding = staged.get("unitPriceExcludingVatCurrency")
        including = staged.get("unitPriceIncludingVatCurrency")
        if excluding is None and including is not None:
            excluding = including / (1 + rate)
        if excluding is None:
            excluding = (product or {}).get("priceExcludingVatCurrency") or Decimal("0")
        if including is None:
            including = q2(excluding * (1 + rate))
        discount = staged.get("discount") or Decimal("0")
        net = q2(count * excluding * (1 - discount / 100))
        data: Row = {
            **{k: v for k, v in staged.items() if v is not None},
            "order": order["id"],
            "description": staged.get("description") or (product or {}).get("name") or "",
            "count": count,
            "unitPriceExcludingVatCurrency": excluding,
            "unitPriceIncludingVatCurrency": including,
            "vatType": vat_type,
            "discount": discount,
            "currency": order.get("currency", NOK_ID),
            "amountExcludingVatCurrency": net,
            "amountIncludingVatCurrency": q2(net * (1 + rate)),
            "isCharged": False,
            "sortIndex": staged.get("sortIndex", index),
        }
        data["displayName"] = data["description"]
        return self.add("OrderLine", data, employee_id)

    # -------------------------------------------------------------- invoices

    def invoice_order(
        self,
        order_id: int,
        invoice_date: date,
        employee_id: int | None,
        payment_type_id: int | None = None,
        paid_amount: Decimal | None = None,
    ) -> Row:
        """PUT /order/{id}/:invoice: charge the order as a new invoice (optionally prepaid)."""
        order = self.require("Order", order_id)
        if order.get("isClosed"):
            raise validation_error(("order", "The order is closed and cannot be invoiced."))
        lines = [self.require("OrderLine", line_id) for line_id in order.get("orderLines") or []]
        if not lines:
            raise validation_error(("orderLines", "The order has no order lines to invoice."))
        if (payment_type_id is None) != (paid_amount is None):
            raise validation_error(
                ("paymentTypeId", "paymentTypeId and paidAmount must be given together.")
            )
        customer = self.require("Customer", order["customer"])
        due = _due_date(invoice_date, order.get("invoicesDueIn"), order.get("invoicesDueInType"))
        invoice = self._charge(
            customer, invoice_date, due, lines, [order_id], None, order.get("invoiceComment")
        )
        for line in lines:
            line["isCharged"] = True
            self.touch(line, employee_id)
        order["isClosed"] = True
        self.touch(order, employee_id)
        self._emit(self.company_id, "order.update", "Order", order_id)
        if payment_type_id is not None and paid_amount is not None:
            self.register_payment(
                invoice["id"], invoice_date, payment_type_id, paid_amount, employee_id
            )
        return invoice

    def _charge(
        self,
        customer: Row,
        invoice_date: date,
        due: date,
        lines: Sequence[Row],
        orders: Sequence[int],
        credited: Row | None,
        comment: str | None,
    ) -> Row:
        """Create a charged invoice (or, from negative lines, a credit note) and its voucher."""
        self._invoice_number += 1
        number = self._invoice_number
        net_by_vat: dict[int, Decimal] = {}
        for line in lines:
            vat = int(line["vatType"])
            net_by_vat[vat] = net_by_vat.get(vat, Decimal("0")) + line["amountExcludingVatCurrency"]
        net_total = sum(net_by_vat.values(), Decimal("0"))
        vat_total = sum(
            (q2(net * self.vat_rate(vat)) for vat, net in net_by_vat.items()), Decimal("0")
        )
        gross = net_total + vat_total
        postings = [
            Posting(
                1500,
                gross,
                f"Faktura {number}",
                customer=customer["id"],
                invoice_number=str(number),
                posting_type="OUTGOING_INVOICE_CUSTOMER_POSTING",
            )
        ]
        for vat, net in net_by_vat.items():
            rate = self.vat_rate(vat)
            account = 3000 if rate else 3100
            postings.append(
                Posting(
                    account,
                    -net,
                    f"Faktura {number}",
                    vat_type=vat,
                    gross=-q2(net * (1 + rate)),
                    customer=customer["id"],
                    invoice_number=str(number),
                )
            )
            if rate:
                postings.append(
                    Posting(
                        2700,
                        -q2(net * rate),
                        f"Faktura {number}",
                        vat_type=vat,
                        invoice_number=str(number),
                        system_generated=True,
                    )
                )
        voucher = self.add_voucher(
            invoice_date, SALES_INVOICE, f"Faktura {number} {customer['name']}", postings
        )
        kid = str(number).zfill(9)
        kid += luhn.calc_check_digit(kid)
        invoice = self.add(
            "Invoice",
            {
                "invoiceNumber": number,
                "invoiceDate": invoice_date.isoformat(),
                "invoiceDueDate": due.isoformat(),
                "customer": customer["id"],
                "creditedInvoice": credited["id"] if credited else None,
                "isCredited": False,
                "kid": kid,
                "invoiceComment": comment or "",
                "comment": "",
                "orders": list(orders),
                "orderLines": [line["id"] for line in lines],
                "voucher": voucher["id"],
                "deliveryDate": invoice_date.isoformat(),
                "amount": gross,
                "amountCurrency": gross,
                "amountExcludingVat": net_total,
                "amountExcludingVatCurrency": net_total,
                "amountRoundoff": Decimal("0"),
                "amountRoundoffCurrency": Decimal("0"),
                "amountOutstanding": gross,
                "amountCurrencyOutstanding": gross,
                "amountOutstandingTotal": gross,
                "amountCurrencyOutstandingTotal": gross,
                "sumRemits": Decimal("0"),
                "currency": NOK_ID,
                "isCreditNote": credited is not None,
                "isCharged": True,
                "isApproved": True,
                "postings": [voucher["postings"][0]],
                "reminders": [],
                "isPeriodizationPossible": False,
            },
            employee_id=None,
        )
        self._emit(self.company_id, "invoice.charged", "Invoice", invoice["id"])
        return invoice

    def credit_invoice(
        self, invoice_id: int, credit_date: date, comment: str | None, employee_id: int | None
    ) -> Row:
        """PUT /invoice/{id}/:createCreditNote: a new invoice nullifying the given one."""
        original = self.require("Invoice", invoice_id)
        if original.get("isCreditNote"):
            raise validation_error(("id", "A credit note cannot be credited."))
        if original.get("isCredited"):
            raise validation_error(("id", "The invoice has already been credited."))
        customer = self.require("Customer", original["customer"])
        lines = []
        for line_id in original.get("orderLines") or []:
            line = self.require("OrderLine", line_id)
            copy = {
                k: v
                for k, v in line.items()
                if k not in ("id", "version", "changes") and not k.startswith("_")
            }
            copy["count"] = -line["count"]
            copy["amountExcludingVatCurrency"] = -line["amountExcludingVatCurrency"]
            copy["amountIncludingVatCurrency"] = -line["amountIncludingVatCurrency"]
            lines.append(self.add("OrderLine", copy, employee_id))
        credit = self._charge(
            customer,
            credit_date,
            credit_date,
            lines,
            original.get("orders") or [],
            original,
            comment,
        )
        paid = original["amount"] - original["amountOutstanding"]
        for name in ("amountOutstanding", "amountCurrencyOutstanding"):
            original[name] = Decimal("0")
            credit[name] = -paid
        for name in ("amountOutstandingTotal", "amountCurrencyOutstandingTotal"):
            original[name] = Decimal("0")
            credit[name] = -paid
        if comment:
            credit["comment"] = comment
        original["isCredited"] = True
        self.touch(original, employee_id)
        return credit

    def register_payment(
        self,
        invoice_id: int,
        payment_date: date,
        payment_type_id: int,
        amount: Decimal,
        employee_id: int | None,
    ) -> Row:
        """PUT /invoice/{id}/:payment: book the payment and lower the outstanding amount."""
        invoice = self.require("Invoice", invoice_id)
        payment_type = self.tables.get("PaymentType", {}).get(payment_type_id)
        if payment_type is None:
            raise validation_error(("paymentTypeId", f"Payment type {payment_type_id} not found."))
        debit = self.require("Account", payment_type["debitAccount"])
        amount = q2(amount)
        label = f"Innbetaling faktura {invoice['invoiceNumber']}"
        voucher = self.add_voucher(
            payment_date,
            INCOMING_PAYMENT,
            label,
            [
                Posting(debit["number"], amount, label, posting_type="INCOMING_PAYMENT"),
                Posting(
                    1500,
                    -amount,
                    label,
                    customer=invoice["customer"],
                    invoice_number=str(invoice["invoiceNumber"]),
                    posting_type="INCOMING_PAYMENT_OPPOSITE",
                ),
            ],
        )
        for name in (
            "amountOutstanding",
            "amountCurrencyOutstanding",
            "amountOutstandingTotal",
            "amountCurrencyOutstandingTotal",
        ):
            invoice[name] = invoice[name] - amount
        invoice["postings"] = [*invoice["postings"], voucher["postings"][1]]
        self.touch(invoice, employee_id)
        return invoice

    # -------------------------------------------------------------- vouchers

    def add_voucher(
        self,
        voucher_date: date,
        type_name: str,
        description: str,
        postings: Sequence[Posting],
        attachment: int | None = None,
        created: datetime | None = None,
        emit: bool = True,
    ) -> Row:
        """Book a balanced voucher with its postings (numbered per year)."""
        total = sum((p.amount for p in postings), Decimal("0"))
        if total != 0:
            raise ValueError(f"voucher does not balance: {total}")
        year = voucher_date.year
        number = self._voucher_numbers.get(year, 0) + 1
        self._voucher_numbers[year] = number
        voucher = self.add(
            "Voucher",
            {
                "date": voucher_date.isoformat(),
                "number": number,
                "tempNumber": 0,
                "year": year,
                "description": description,
                "voucherType": self._voucher_type_ids[type_name],
                "attachment": attachment,
                "document": attachment,
                "numberAsString": f"{number}-{year}",
                "displayName": f"{number}-{year} {description}",
                "wasAutoMatched": False,
            },
            employee_id=None,
            created=created,
        )
        voucher["postings"] = [
            self._add_posting(voucher, p, row, created)["id"]
            for row, p in enumerate(postings, start=1)
        ]
        if emit:
            self._emit(self.company_id, "voucher.create", "Voucher", voucher["id"])
        return voucher

    def add_reception_voucher(
        self, received: date, description: str, attachment: int, created: datetime | None = None
    ) -> Row:
        """A document waiting in the voucher reception: not posted, so no number yet."""
        return self.add(
            "Voucher",
            {
                "date": received.isoformat(),
                "number": 0,
                "tempNumber": 0,
                "year": received.year,
                "description": description,
                "attachment": attachment,
                "document": attachment,
                "postings": [],
                "displayName": description,
                "_reception": True,
            },
            employee_id=None,
            created=created,
        )

    def _add_posting(
        self, voucher: Row, posting: Posting, row_number: int, created: datetime | None
    ) -> Row:
        """One posting row of a voucher."""
        gross = posting.gross if posting.gross is not None else posting.amount
        data: Row = {
            "voucher": voucher["id"],
            "date": voucher["date"],
            "description": posting.description or voucher["description"],
            "account": self._account_ids[posting.account],
            "customer": posting.customer,
            "supplier": posting.supplier,
            "product": posting.product,
            "vatType": posting.vat_type,
            "amount": posting.amount,
            "amountCurrency": posting.amount,
            "amountGross": gross,
            "amountGrossCurrency": gross,
            "currency": NOK_ID,
            "invoiceNumber": posting.invoice_number,
            "row": row_number,
            "type": posting.posting_type,
            "systemGenerated": posting.system_generated,
            "matched": False,
        }
        return self.add("Posting", {k: v for k, v in data.items() if v is not None}, None, created)


def _scalar(spec: FieldSpec, value: Any, label: str) -> Any:
    """Type-check one scalar JSON value against the catalogue."""
    kind = spec.scalar
    if kind == "enum":
        if value not in (spec.enum or ()):
            raise mapping_error(label, value)
        return value
    if kind == "str":
        if not isinstance(value, str):
            raise mapping_error(label, value)
        return value
    if kind == "bool":
        if not isinstance(value, bool):
            raise mapping_error(label, value)
        return value
    if kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise mapping_error(label, value)
        return value
    if kind == "num":
        return to_decimal(value, label)
    return value


def _due_date(invoice_date: date, due_in: int | None, due_type: str | None) -> date:
    """Due date from the order's ``invoicesDueIn``/``invoicesDueInType``."""
    amount = 14 if due_in is None else int(due_in)
    if due_type == "MONTHS":
        month = invoice_date.month - 1 + amount
        year = invoice_date.year + month // 12
        day = min(invoice_date.day, _days_in_month(year, month % 12 + 1))
        return date(year, month % 12 + 1, day)
    if due_type == "RECURRING_DAY_OF_MONTH":
        year = invoice_date.year + invoice_date.month // 12
        month = invoice_date.month % 12 + 1
        return date(year, month, max(1, min(amount, _days_in_month(year, month))))
    return invoice_date + timedelta(days=amount)


def _days_in_month(year: int, month: int) -> int:
    """Number of days in a month."""
    following = date(year + month // 12, month % 12 + 1, 1)
    return (following - timedelta(days=1)).day
