"""Declarative entity catalogue: one row per Uniconta entity, plus value conversion.

Adding an entity to the simulator means adding one ``EntityDef`` to ``CATALOGUE``; the OData
reader, the REST writer, the Change URL callbacks and ``$metadata`` all read from this table.
Property names are the C# property names of the ``*Client`` classes (Uniconta-Pages v94).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from ledgerbridge.sandbox.uniconta.enums import (
    COUNTRY_CODE,
    CURRENCIES,
    DC_TYPE,
    ITEM_TYPE,
    ITEM_UNIT,
    LANGUAGE,
    VAT_ZONES,
    EnumDef,
)


class Kind(enum.Enum):
    """Wire-level value kinds; they decide validation, comparison and serialisation."""

    STRING = "Edm.String"
    INT = "Edm.Int32"
    DECIMAL = "Edm.Double"
    BOOL = "Edm.Boolean"
    DATETIME = "Edm.DateTimeOffset"
    ENUM = "enum"


@dataclass(frozen=True)
class FieldType:
    """Type of one property. Non-nullable kinds mirror .NET value types (bool, int, double)."""

    kind: Kind
    enum: EnumDef | None = None

    @property
    def nullable(self) -> bool:
        """Strings, dates and enums may be null; .NET numbers and booleans cannot."""
        return self.kind not in (Kind.INT, Kind.DECIMAL, Kind.BOOL)

    @property
    def default(self) -> Any:
        """Value a property takes when a full-replace Update leaves it out."""
        return {Kind.INT: 0, Kind.DECIMAL: Decimal(0), Kind.BOOL: False}.get(self.kind)

    @property
    def edm_type(self) -> str:
        """Type name used in the CSDL ``$metadata`` document."""
        return self.enum.qualified_name if self.enum is not None else self.kind.value


STR = FieldType(Kind.STRING)
INT = FieldType(Kind.INT)
DEC = FieldType(Kind.DECIMAL)
BOOL = FieldType(Kind.BOOL)
DATETIME = FieldType(Kind.DATETIME)


def _enum(definition: EnumDef) -> FieldType:
    """Field type of an enum-valued property."""
    return FieldType(Kind.ENUM, definition)


@dataclass(frozen=True)
class EntityDef:
    """One entity set: key, Change-URL table name, typed properties and read-only ones.

    ``server_key`` means the key is assigned by the server on Insert (``ContactClient.RowId``);
    read-only properties are ignored when written, as a client sends back the entity as read.
    """

    name: str
    key: str
    table: str
    fields: Mapping[str, FieldType]
    read_only: frozenset[str]
    server_key: bool = False
    master_data: bool = True

    @property
    def key_type(self) -> FieldType:
        """Type of the key property."""
        return self.fields[self.key]

    def writable(self) -> list[str]:
        """Properties a client may set, in declaration order."""
        return [name for name in self.fields if name not in self.read_only]


def _fields(*groups: Mapping[str, FieldType]) -> dict[str, FieldType]:
    """Merge property groups, refusing duplicates so each table row stays unambiguous."""
    merged: dict[str, FieldType] = {}
    for group in groups:
        for name, ftype in group.items():
            if name in merged:
                raise ValueError(f"duplicate property {name}")
            merged[name] = ftype
    return merged


def _strings(*names: str) -> dict[str, FieldType]:
    """A group of string properties."""
    return dict.fromkeys(names, STR)


_DC_COMMON = _fields(
    _strings(
        "Account",
        "Name",
        "Address1",
        "Address2",
        "Address3",
        "ZipCode",
        "City",
    ),
    {"Country": _enum(COUNTRY_CODE)},
    _strings(
        "Phone",
        "MobilPhone",
        "ContactPerson",
        "ContactEmail",
        "InvoiceEmail",
        "Www",
        "CompanyRegNo",
        "VatNumber",
        "EAN",
        "EORI",
        "Group",
        "Payment",
        "PaymentFormat",
        "PriceList",
        "PostingAccount",
        "Employee",
        "InvoiceAccount",
        "OurAccount",
        "Vat",
        "VatOperation",
        "Shipment",
        "DeliveryTerm",
        "SWIFT",
    ),
    {
        "Currency": _enum(CURRENCIES),
        "UserLanguage": _enum(LANGUAGE),
        "VatZone": _enum(VAT_ZONES),
        "Blocked": BOOL,
        "EndDiscountPct": DEC,
        "LineDiscountPct": DEC,
    },
    _strings(
        "DeliveryName",
        "DeliveryAddress1",
        "DeliveryAddress2",
        "DeliveryAddress3",
        "DeliveryZipCode",
        "DeliveryCity",
    ),
    {"DeliveryCountry": _enum(COUNTRY_CODE)},
    _strings(
        "DeliveryContactPerson",
        "DeliveryPhone",
        "DeliveryContactEmail",
        "Dimension1",
        "Dimension2",
        "Dimension3",
        "Dimension4",
        "Dimension5",
    ),
)
_DC_SERVER = {"CurBalance": DEC, "Overdue": DEC, "Created": DATETIME, "RowId": INT}
_DC_READ_ONLY = frozenset({"CurBalance", "Overdue", "Created", "RowId"})

CATALOGUE: tuple[EntityDef, ...] = (
    EntityDef(
        name="DebtorClient",
        key="Account",
        table="Debtor",
        fields=_fields(
            _DC_COMMON,
            {"PriceGroup": STR, "CreditMax": DEC, "PricesInclVat": BOOL, "InvoiceInXML": BOOL},
            _DC_SERVER,
        ),
        read_only=_DC_READ_ONLY,
    ),
    EntityDef(
        name="CreditorClient",
        key="Account",
        table="Creditor",
        fields=_fields(_DC_COMMON, {"PaymentId": STR}, _DC_SERVER),
        read_only=_DC_READ_ONLY,
    ),
    EntityDef(
        name="ContactClient",
        key="RowId",
        table="Contact",
        fields=_fields(
            {"RowId": INT, "DCType": _enum(DC_TYPE)},
            _strings("DCAccount", "Name", "Email", "Mobil", "Title", "EAN"),
            dict.fromkeys(
                ("Invoice", "AccountStatement", "Offer", "Confirmation", "Packnote"), BOOL
            ),
        ),
        read_only=frozenset({"RowId"}),
        server_key=True,
    ),
    EntityDef(
        name="InvItemClient",
        key="Item",
        table="InvItem",
        fields=_fields(
            _strings("Item", "Name"),
            {
                "ItemType": _enum(ITEM_TYPE),
                "CostPrice": DEC,
                "SalesPrice1": DEC,
                "SalesPrice2": DEC,
                "SalesPrice3": DEC,
                "Currency1": _enum(CURRENCIES),
                "Currency2": _enum(CURRENCIES),
                "Currency3": _enum(CURRENCIES),
                "PurchasePrice": DEC,
                "PurchaseCurrency": _enum(CURRENCIES),
                "Unit": _enum(ITEM_UNIT),
                "SalesUnit": _enum(ITEM_UNIT),
                "PurchaseUnit": _enum(ITEM_UNIT),
                "Decimals": INT,
            },
            _strings("UnitGroup", "Group", "EAN", "Warehouse", "Location"),
            {
                "Weight": DEC,
                "NetWeight": DEC,
                "Volume": DEC,
                "UseStorage": BOOL,
                "Blocked": BOOL,
                "QtyOnStock": DEC,
                "QtyReserved": DEC,
                "QtyOrdered": DEC,
                "Available": DEC,
            },
            _strings("Dimension1", "Dimension2", "Dimension3", "Dimension4", "Dimension5"),
            {"RowId": INT},
        ),
        read_only=frozenset({"QtyOnStock", "QtyReserved", "QtyOrdered", "Available", "RowId"}),
    ),
)

ENTITIES: dict[str, EntityDef] = {entity.name: entity for entity in CATALOGUE}


class InvalidValueError(ValueError):
    """A JSON value that does not fit the property's type (becomes 400 InvalidValue)."""


def parse_datetime(text: str) -> datetime:
    """Parse an ISO-8601 timestamp; a value without offset is taken as UTC."""
    value = datetime.fromisoformat(text.replace("z", "Z"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def format_datetime(value: datetime) -> str:
    """ISO-8601 UTC with millisecond precision and a ``Z`` suffix, as OData v4 writes it."""
    utc = value.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def coerce_input(ftype: FieldType, value: Any) -> Any:
    """Convert a JSON value to the stored form, or raise ``InvalidValueError`` saying why."""
    if value is None:
        if not ftype.nullable:
            raise InvalidValueError("null is not allowed for a non-nullable property")
        return None
    kind = ftype.kind
    if kind is Kind.STRING:
        if not isinstance(value, str):
            raise InvalidValueError(f"expected a string, got {_describe(value)}")
        return value
    if kind is Kind.BOOL:
        if not isinstance(value, bool):
            raise InvalidValueError(f"expected true or false, got {_describe(value)}")
        return value
    if kind is Kind.INT:
        if isinstance(value, bool) or not isinstance(value, int):
            raise InvalidValueError(f"expected an integer, got {_describe(value)}")
        if not -(2**31) <= value < 2**31:
            raise InvalidValueError(f"integer {value} is out of range")
        return value
    if kind is Kind.DECIMAL:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InvalidValueError(f"expected a number, got {_describe(value)}")
        try:
            number = Decimal(str(value))
        except InvalidOperation as exc:
            raise InvalidValueError(f"{value!r} is not a finite number") from exc
        if not number.is_finite():
            raise InvalidValueError(f"{value!r} is not a finite number")
        return number
    if kind is Kind.DATETIME:
        if not isinstance(value, str):
            raise InvalidValueError(f"expected an ISO-8601 timestamp, got {_describe(value)}")
        try:
            return parse_datetime(value)
        except ValueError as exc:
            raise InvalidValueError(f"{value!r} is not an ISO-8601 timestamp") from exc
    assert ftype.enum is not None
    if not isinstance(value, str) or not ftype.enum.has(value):
        raise InvalidValueError(
            f"{_describe(value)} is not a member name of enum {ftype.enum.qualified_name}"
        )
    return value


def to_json_value(value: Any) -> Any:
    """Stored value to its JSON form: decimals as numbers, timestamps as ISO strings."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, datetime):
        return format_datetime(value)
    return value


def _describe(value: Any) -> str:
    """Short description of a JSON value for error messages."""
    if isinstance(value, str):
        return f"string {value!r}"
    if isinstance(value, bool):
        return f"boolean {str(value).lower()}"
    if isinstance(value, int | float):
        return f"number {value}"
    if value is None:
        return "null"
    return type(value).__name__
