"""Declarative entity catalogue: one row per Uniconta entity, plus value conversion.

Adding an entity to the simulator means adding one ``EntityDef`` to ``CATALOGUE``; the OData
reader, the REST writer, the Change URL callbacks and ``$metadata`` all read from this table.
Property names are the C# property names of the ``*Client`` classes (Uniconta-Pages v94).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from functools import cached_property
from typing import Any

from ledgerbridge.sandbox.uniconta.enums import (
    COUNTRY_CODE,
    CURRENCIES,
    DC_TYPE,
    ITEM_TYPE,
    ITEM_UNIT,
    JOURNAL_ACCOUNT_TYPE,
    LANGUAGE,
    PAYMENT_METHOD,
    VAT_TYPE,
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
    DATE = "Edm.Date"
    STRINGS = "Collection(Edm.String)"
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
DATE = FieldType(Kind.DATE)
STRINGS = FieldType(Kind.STRINGS)


def _enum(definition: EnumDef) -> FieldType:
    """Field type of an enum-valued property."""
    return FieldType(Kind.ENUM, definition)


WRITES = frozenset({"Insert", "Update", "Delete"})


@dataclass(frozen=True)
class EntityDef:
    """One entity set: key, Change-URL table name, typed properties and the rules on writing.

    ``server_key`` means the key is ``RowId``, assigned by the server on Insert
    (``ContactClient``). Read-only properties are ignored when written, because a client sends
    back the entity as read. ``writes`` lists the REST operations allowed at all (transactions
    created by posting allow none); ``updatable``, when set, restricts Update to those
    properties, as for a posted invoice. ``references`` maps a property to the entity whose key
    it must name. ``parent`` is the property rows are grouped by (lines by order, stock by
    item) so roll-ups need no scan. ``change_key`` is the property sent as ``Key`` in Change
    URL callbacks when it is not the key itself.
    """

    name: str
    keys: tuple[str, ...]
    table: str
    fields: Mapping[str, FieldType]
    read_only: frozenset[str]
    server_key: bool = False
    master_data: bool = True
    writes: frozenset[str] = WRITES
    updatable: frozenset[str] | None = None
    references: Mapping[str, str] = field(default_factory=dict)
    parent: str | None = None
    change_key: str | None = None
    typed_references: Mapping[str, tuple[str, Mapping[str, str]]] = field(default_factory=dict)
    """Properties naming a record whose entity another property decides: a journal line's
    ``Account`` is a GL account, a debtor or a creditor by its ``AccountType`` (empty:
    the first entity listed)."""

    @property
    def composite(self) -> bool:
        """Whether the key has more than one property."""
        return len(self.keys) > 1

    @property
    def callback_key(self) -> str:
        """Property whose value is the ``Key`` parameter of a Change URL callback."""
        return self.change_key or self.keys[0]

    def key_of(self, row: Mapping[str, Any]) -> Any:
        """Key of a row: the value of a single key, a tuple for a composite one."""
        if self.composite:
            return tuple(row.get(name) for name in self.keys)
        return row.get(self.keys[0])

    def key_label(self, key: Any) -> str:
        """``Account '10000'`` or ``Item 'P1', Warehouse 'Hoved'`` for messages (plain values,
        whatever their type: ``LineNumber 1``, not ``Decimal('1')``)."""
        parts = key if self.composite else (key,)
        return ", ".join(
            f"{name} {value!r}" if isinstance(value, str) else f"{name} {value}"
            for name, value in zip(self.keys, parts, strict=True)
        )

    @cached_property
    def defaults(self) -> dict[str, Any]:
        """Values of the non-nullable properties (.NET value types) when none is given."""
        return {name: ftype.default for name, ftype in self.fields.items() if not ftype.nullable}

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
_DELIVERY = _fields(
    _strings(
        "DeliveryName",
        "DeliveryAddress1",
        "DeliveryAddress2",
        "DeliveryAddress3",
        "DeliveryZipCode",
        "DeliveryCity",
    ),
    {"DeliveryCountry": _enum(COUNTRY_CODE)},
)
"""An order's or invoice's delivery address (a webshop's shipping address)."""

_DC_SERVER = {"CurBalance": DEC, "Overdue": DEC, "Created": DATETIME, "RowId": INT}
_DC_READ_ONLY = frozenset({"CurBalance", "Overdue", "Created", "RowId"})

_ROW_ID = {"RowId": INT}

CATALOGUE: tuple[EntityDef, ...] = (
    EntityDef(
        name="DebtorClient",
        keys=("Account",),
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
        keys=("Account",),
        table="Creditor",
        fields=_fields(_DC_COMMON, {"PaymentId": STR}, _DC_SERVER),
        read_only=_DC_READ_ONLY,
    ),
    EntityDef(
        name="ContactClient",
        keys=("RowId",),
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
        name="GLVatClient",
        keys=("Vat",),
        table="GLVat",
        fields=_fields(
            _strings("Vat", "Name"),
            {"Rate": DEC, "VatType": _enum(VAT_TYPE), "Blocked": BOOL},
            # One Stop Shop codes name the country whose VAT they carry (U_DE19: Germany).
            {"VatCountry": _enum(COUNTRY_CODE), "BusinessCountry": _enum(COUNTRY_CODE)},
            {"ShipmentCountry": _enum(COUNTRY_CODE), "MOSSType": STR},
            _ROW_ID,
        ),
        read_only=frozenset({"RowId"}),
    ),
    EntityDef(
        name="PaymentTermClient",
        keys=("Payment",),
        table="PaymentTerm",
        fields=_fields(
            _strings("Payment", "Name"),
            {"PaymentMethod": _enum(PAYMENT_METHOD), "Days": INT},
            _strings("Account", "OffsetAccount"),
            {"PostOnDC": BOOL},
            _ROW_ID,
        ),
        read_only=frozenset({"RowId"}),
    ),
    EntityDef(
        name="DebtorGroupClient",
        keys=("Group",),
        table="DebtorGroup",
        fields=_fields(_strings("Group", "Name", "Vat", "Payment"), _ROW_ID),
        read_only=frozenset({"RowId"}),
    ),
    EntityDef(
        name="InvWarehouseClient",
        keys=("Warehouse",),
        table="InvWarehouse",
        fields=_fields(_strings("Warehouse", "Name"), _ROW_ID),
        read_only=frozenset({"RowId"}),
    ),
    EntityDef(
        name="InvItemClient",
        keys=("Item",),
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
            _strings("Vat", "UnitGroup", "Group", "EAN", "Warehouse", "Location"),
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
            {"RowId": INT, "Created": DATETIME},
        ),
        read_only=frozenset(
            {"QtyOnStock", "QtyReserved", "QtyOrdered", "Available", "RowId", "Created"}
        ),
        references={"Vat": "GLVatClient"},
    ),
    EntityDef(
        name="InvItemStorageClient",
        keys=("Item", "Warehouse"),
        table="InvItemStorage",
        fields=_fields(
            _strings("Item", "Warehouse", "Location"),
            {"Qty": DEC, "QtyReserved": DEC, "QtyOrdered": DEC, "Available": DEC},
            _ROW_ID,
        ),
        read_only=frozenset({"Available", "RowId"}),
        references={"Item": "InvItemClient", "Warehouse": "InvWarehouseClient"},
        parent="Item",
        change_key="Item",
    ),
    EntityDef(
        name="DebtorOrderClient",
        keys=("OrderNumber",),
        table="DebtorOrder",
        fields=_fields(
            {"OrderNumber": INT},
            _strings("Account", "Name"),
            {"Currency": _enum(CURRENCIES), "InvoiceDate": DATE, "DeliveryDate": DATE},
            _strings("Payment", "YourRef", "OurRef", "Remark", "Settlements", "Requisition"),
            {"VatZone": _enum(VAT_ZONES), "PricesInclVat": BOOL},
            _DELIVERY,
            {
                "UpdatedAt": DATETIME,
                "OrderTotal": DEC,
                "NoLines": INT,
                "RowId": INT,
                "Created": DATETIME,
            },
        ),
        read_only=frozenset({"UpdatedAt", "OrderTotal", "NoLines", "RowId", "Created"}),
        master_data=False,
        references={"Account": "DebtorClient"},
    ),
    EntityDef(
        name="DebtorOrderLineClient",
        keys=("OrderNumber", "LineNumber"),
        table="DebtorOrderLine",
        fields=_fields(
            {"OrderNumber": INT, "LineNumber": DEC},
            _strings("Item", "Text"),
            {"Qty": DEC, "Unit": _enum(ITEM_UNIT), "Price": DEC, "DiscountPct": DEC},
            {"Vat": STR, "Total": DEC, "UpdatedAt": DATETIME, "RowId": INT},
        ),
        read_only=frozenset({"Total", "UpdatedAt", "RowId"}),
        master_data=False,
        references={
            "OrderNumber": "DebtorOrderClient",
            "Item": "InvItemClient",
            "Vat": "GLVatClient",
        },
        parent="OrderNumber",
    ),
    EntityDef(
        name="DebtorInvoiceClient",
        keys=("InvoiceNumber",),
        table="DebtorInvoice",
        fields=_fields(
            {"InvoiceNumber": INT},
            _strings("Account", "Name"),
            {"Date": DATE, "DueDate": DATE, "Payment": STR, "Currency": _enum(CURRENCIES)},
            {"NetAmount": DEC, "VatAmount": DEC, "TotalAmount": DEC, "OrderNumber": INT},
            _strings("YourRef", "OurRef", "Remark", "Settlements"),
            _DELIVERY,
            {"RowId": INT, "Created": DATETIME},
        ),
        read_only=frozenset({"RowId", "Created"}),
        master_data=False,
        writes=frozenset({"Update"}),
        updatable=frozenset({"Date", "DueDate", "Payment"}),
    ),
    EntityDef(
        name="DebtorInvoiceLines",
        keys=("InvoiceNumber", "LineNumber"),
        table="DebtorInvoiceLines",
        fields=_fields(
            {"InvoiceNumber": INT, "LineNumber": DEC},
            _strings("Item", "Text"),
            {
                "InvoiceQty": DEC,
                "Unit": _enum(ITEM_UNIT),
                "SalesPrice": DEC,
                "DiscountPct": DEC,
                "NetAmount": DEC,
                "Vat": STR,
                "Currency": _enum(CURRENCIES),
            },
            _ROW_ID,
        ),
        read_only=frozenset({"RowId"}),
        master_data=False,
        writes=frozenset(),
        parent="InvoiceNumber",
    ),
    EntityDef(
        name="DebtorTransOpenClient",
        keys=("RowId",),
        table="DebtorTransOpen",
        fields=_fields(
            {"Account": STR, "Invoice": INT, "Date": DATE, "DueDate": DATE},
            {"Amount": DEC, "AmountOpen": DEC, "Paid": BOOL, "Currency": _enum(CURRENCIES)},
            _ROW_ID,
        ),
        read_only=frozenset({"RowId"}),
        server_key=True,
        master_data=False,
        writes=frozenset(),
        parent="Invoice",
    ),
)

_JOURNAL_ACCOUNTS = {
    "Finans": "GLAccountClient",
    "Debtor": "DebtorClient",
    "Creditor": "CreditorClient",
}

JOURNAL_CATALOGUE: tuple[EntityDef, ...] = (
    EntityDef(
        name="GLAccountClient",
        keys=("Account",),
        table="GLAccount",
        fields=_fields(_strings("Account", "Name", "Vat"), {"Blocked": BOOL}, _ROW_ID),
        read_only=frozenset({"RowId"}),
        master_data=False,
    ),
    EntityDef(
        name="GLDailyJournalClient",
        keys=("Journal",),
        table="GLDailyJournal",
        fields=_fields(
            _strings("Journal", "Name", "Account", "OffsetAccount", "NumberSerie"),
            {"DefaultAccountType": _enum(JOURNAL_ACCOUNT_TYPE)},
            dict.fromkeys(("GenerateVoucher", "AssignVoucher", "UseApproved", "Blocked"), BOOL),
            {"NumberOfLines": INT},
            _ROW_ID,
        ),
        read_only=frozenset({"RowId", "NumberOfLines"}),
        master_data=False,
    ),
    EntityDef(
        name="GLDailyJournalLineClient",
        keys=("RowId",),
        table="GLDailyJournalLine",
        fields=_fields(
            {"RowId": INT, "Journal": STR, "Date": DATE, "Voucher": INT, "Text": STR},
            {"AccountType": _enum(JOURNAL_ACCOUNT_TYPE), "Account": STR},
            {"OffsetAccountType": _enum(JOURNAL_ACCOUNT_TYPE), "OffsetAccount": STR},
            {"Debit": DEC, "Credit": DEC, "Amount": DEC, "Currency": _enum(CURRENCIES)},
            {"DebitCur": DEC, "CreditCur": DEC, "AmountCur": DEC},
            _strings("Invoice", "ReferenceNumber", "Settlements", "Note", "Vat"),
            {"Approved": BOOL, "OnHold": BOOL, "Created": DATETIME},
        ),
        read_only=frozenset({"RowId", "Amount", "AmountCur", "Created"}),
        server_key=True,
        master_data=False,
        references={"Journal": "GLDailyJournalClient"},
        typed_references={
            "Account": ("AccountType", _JOURNAL_ACCOUNTS),
            "OffsetAccount": ("OffsetAccountType", _JOURNAL_ACCOUNTS),
        },
        parent="Journal",
    ),
)
"""The GL accounts and the cash journals (daily journals) whose lines an integration inserts
for a person to approve and post; nothing here posts them (posting needs the .NET API)."""

CATALOGUE = CATALOGUE + JOURNAL_CATALOGUE

ENTITIES: dict[str, EntityDef] = {entity.name: entity for entity in CATALOGUE}

# Not company data: who the login is and which companies it may open. Read-only, answered
# the same whichever company the login names.
LOGIN_CATALOGUE: tuple[EntityDef, ...] = (
    EntityDef(
        name="CompanyClient",
        keys=("CompanyId",),
        table="Company",
        fields={
            "CompanyId": INT,
            "Name": STR,
            "Country": _enum(COUNTRY_CODE),
            "CurrencyId": _enum(CURRENCIES),
        },
        read_only=frozenset({"CompanyId", "Name", "Country", "CurrencyId"}),
        master_data=False,
        writes=frozenset(),
    ),
    EntityDef(
        name="UserClient",
        keys=("LoginId",),
        table="User",
        fields={"LoginId": STR, "Name": STR, "UserType": STR, "Roles": STRINGS},
        read_only=frozenset({"LoginId", "Name", "UserType", "Roles"}),
        master_data=False,
        writes=frozenset(),
    ),
)

LOGIN_ENTITIES: dict[str, EntityDef] = {entity.name: entity for entity in LOGIN_CATALOGUE}


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


def parse_date(text: str) -> date:
    """Parse ``2026-11-21``; a timestamp is accepted and its date part (as written) kept."""
    if len(text) == 10:
        return date.fromisoformat(text)
    return datetime.fromisoformat(text.replace("z", "Z")).date()


def coerce_input(ftype: FieldType, value: Any) -> Any:
    """Convert a JSON value to the stored form, or raise ``InvalidValueError`` saying why.

    Python callers (``load``, seeding) may also pass ``Decimal``, ``date`` and ``datetime``
    objects, which JSON never produces.
    """
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
        return _coerce_decimal(value)
    if kind is Kind.DATETIME:
        if isinstance(value, datetime):
            return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
        if not isinstance(value, str):
            raise InvalidValueError(f"expected an ISO-8601 timestamp, got {_describe(value)}")
        try:
            return parse_datetime(value)
        except ValueError as exc:
            raise InvalidValueError(f"{value!r} is not an ISO-8601 timestamp") from exc
    if kind is Kind.DATE:
        if isinstance(value, date):
            return value.date() if isinstance(value, datetime) else value
        if not isinstance(value, str):
            raise InvalidValueError(f"expected a date like 2026-11-21, got {_describe(value)}")
        try:
            return parse_date(value)
        except ValueError as exc:
            raise InvalidValueError(f"{value!r} is not a date like 2026-11-21") from exc
    if kind is Kind.STRINGS:
        if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
            raise InvalidValueError(f"expected an array of strings, got {_describe(value)}")
        return tuple(value)
    assert ftype.enum is not None
    if not isinstance(value, str) or not ftype.enum.has(value):
        raise InvalidValueError(
            f"{_describe(value)} is not a member name of enum {ftype.enum.qualified_name}"
        )
    return value


def _coerce_decimal(value: Any) -> Decimal:
    """A JSON number (or a Python ``Decimal``) as a finite ``Decimal``."""
    if isinstance(value, Decimal):
        number = value
    elif isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidValueError(f"expected a number, got {_describe(value)}")
    else:
        try:
            number = Decimal(str(value))
        except InvalidOperation as exc:
            raise InvalidValueError(f"{value!r} is not a finite number") from exc
    if not number.is_finite():
        raise InvalidValueError(f"{value!r} is not a finite number")
    return number


def to_json_value(value: Any) -> Any:
    """Stored value to its JSON form: decimals as numbers, dates and timestamps as ISO strings."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, datetime):
        return format_datetime(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, tuple):
        return list(value)
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
