"""Field catalogue of the Tripletex models the sandbox serves, read from ``catalogue.json``.

The catalogue lists every property of each model, with its type, as the official OpenAPI file
(2.74.00) declares it, for the served models and the models they reference directly.
``fields=`` selections, write bodies and the shape of every response are checked against it, so
a misspelt field fails here the way it fails against Tripletex. ``tests/sandbox`` re-derives the
catalogue from the spec file to keep the two identical.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources

SCALAR_TYPES = ("int", "num", "str", "bool", "obj")

# API path of each model that has one, used for the ``url`` of objects and references.
PATHS: dict[str, str] = {
    "Account": "ledger/account",
    "Address": "address",
    "Bank": "bank",
    "BankStatement": "bank/statement",
    "BankTransaction": "bank/statement/transaction",
    "Client": "company",
    "CloseGroup": "ledger/closeGroup",
    "Company": "company",
    "ConsumerToken": "token/consumer",
    "Contact": "contact",
    "Country": "country",
    "Currency": "currency",
    "Customer": "customer",
    "CustomerCategory": "customer/category",
    "DeliveryAddress": "deliveryAddress",
    "Department": "department",
    "Document": "document",
    "Employee": "employee",
    "EmployeeToken": "token/employee",
    "Invoice": "invoice",
    "Order": "order",
    "OrderLine": "order/orderline",
    "PaymentType": "invoice/paymentType",
    "Posting": "ledger/posting",
    "Product": "product",
    "ProductUnit": "product/unit",
    "Project": "project",
    "SessionToken": "token/session",
    "Subscription": "event/subscription",
    "Supplier": "supplier",
    "VatType": "ledger/vatType",
    "Voucher": "ledger/voucher",
    "VoucherType": "ledger/voucherType",
}


@dataclass(frozen=True)
class FieldSpec:
    """One property: a scalar (``int``/``num``/``str``/``bool``/``obj``/``enum``), a scalar list,
    a reference to another model (``ref``) or a list of references (``refs``).
    """

    name: str
    kind: str
    scalar: str | None
    model: str | None
    enum: tuple[str, ...] | None
    read_only: bool

    @property
    def is_reference(self) -> bool:
        """True for nested objects and lists of them, which ``fields`` may expand."""
        return self.kind in ("ref", "refs")


@dataclass(frozen=True)
class Model:
    """A schema from the spec: its name and fields in spec order."""

    name: str
    fields: dict[str, FieldSpec]


def parse_field(name: str, text: str) -> FieldSpec:
    """Decode one catalogue entry such as ``"ro [@Posting]"`` or ``"enum:NO|EN"``."""
    read_only = text.startswith("ro ")
    body = text[3:] if read_only else text
    if body.startswith("[@"):
        return FieldSpec(name, "refs", None, body[2:-1], None, read_only)
    if body.startswith("@"):
        return FieldSpec(name, "ref", None, body[1:], None, read_only)
    if body.startswith("["):
        return FieldSpec(name, "list", body[1:-1], None, None, read_only)
    if body.startswith("enum:"):
        return FieldSpec(name, "scalar", "enum", None, tuple(body[5:].split("|")), read_only)
    if body not in SCALAR_TYPES:
        raise ValueError(f"unknown field type {text!r} for {name}")
    return FieldSpec(name, "scalar", body, None, None, read_only)


@cache
def models() -> dict[str, Model]:
    """All catalogued models by name (parsed once)."""
    raw = json.loads(
        resources.files(__package__).joinpath("catalogue.json").read_text(encoding="utf-8")
    )
    return {
        name: Model(name, {field: parse_field(field, spec) for field, spec in fields.items()})
        for name, fields in raw.items()
    }


def model(name: str) -> Model:
    """Catalogue entry of one model; a programming error if it is missing."""
    return models()[name]
