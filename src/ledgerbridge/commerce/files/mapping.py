"""How a connection's order or refund files are read: their format and which column (or XML
child) holds each canonical field.

A mapping is checked when it is built, so a saved one always reads: every field it names
exists for its kind of file, the fields a record cannot do without are there, the fields that
tell records apart come from the file (a constant order number would merge every row into
one order), and the date format, time zone and XML paths are usable.
"""

from __future__ import annotations

import codecs
import datetime as dt
import functools
import re
import unicodedata
import zoneinfo
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints, field_validator, model_validator
from pydantic_core import PydanticCustomError

from ledgerbridge.model.common import Canonical

__all__ = [
    "FIELDS",
    "CsvFormat",
    "FieldSource",
    "FieldSpec",
    "FileKind",
    "FileMapping",
    "XmlFormat",
    "suggest_fields",
]

FileKind = Literal["orders", "refunds"]
ValueKind = Literal["text", "number", "datetime"]


@dataclass(frozen=True)
class FieldSpec:
    """A canonical field a file can fill: its type, whether it belongs to the record or to
    one of its lines, whether a record needs it, and the header names it is known by."""

    name: str
    value: ValueKind = "text"
    required: bool = False
    key: bool = False
    """Tells records apart: it must come from a column, never a constant."""
    headers: tuple[str, ...] = ()

    @property
    def per_line(self) -> bool:
        return self.name.startswith("line.")


def _address(prefix: str, words: dict[str, tuple[str, ...]]) -> list[FieldSpec]:
    return [FieldSpec(f"{prefix}.{part}", headers=names) for part, names in words.items()]


_BILLING = {
    "line1": ("address", "billing address", "street", "adresse", "faktureringsadresse",
              "adres", "straat", "factuuradres", "adresse de facturation", "rue"),
    "postal_code": ("postal code", "zip", "zip code", "postcode", "postnummer", "postnr",
                    "code postal"),
    "city": ("city", "town", "by", "stad", "plaats", "woonplaats", "ville"),
    "country": ("country", "country code", "land", "landekode", "landcode", "pays"),
}  # fmt: skip
_SHIPPING = {
    "line1": ("shipping address", "delivery address", "leveringsadresse", "afleveradres",
              "verzendadres", "adresse de livraison"),
    "postal_code": ("shipping postal code", "shipping zip", "delivery postal code",
                    "leveringspostnummer", "afleverpostcode", "code postal de livraison"),
    "city": ("shipping city", "delivery city", "leveringsby", "afleverplaats",
             "ville de livraison"),
    "country": ("shipping country", "delivery country", "leveringsland", "afleverland",
                "pays de livraison"),
}  # fmt: skip
_ORDER_NUMBER = ("order number", "order no", "order", "order id", "ordernumber", "ordrenummer",
                 "ordrenr", "ordre", "ordre id", "bestelnummer", "bestelling", "ordernummer",
                 "numéro de commande", "n° commande", "no commande", "commande")  # fmt: skip
_CURRENCY = ("currency", "valuta", "munt", "devise", "monnaie")
_PAYMENT_METHOD = ("payment method", "payment", "betalingsmetode", "betalingsform", "betaling",
                   "betaalmethode", "betaalwijze", "moyen de paiement",
                   "mode de paiement")  # fmt: skip
_LINE_SKU = ("sku", "item number", "product number", "article number", "varenummer", "varenr",
             "artikelnummer", "artikelnr", "référence", "ref", "code article")  # fmt: skip
_LINE_DESCRIPTION = ("description", "product", "product name", "item", "beskrivelse", "vare",
                     "varenavn", "tekst", "omschrijving", "product naam", "productnaam",
                     "produit", "désignation", "libellé")  # fmt: skip
_LINE_QUANTITY = ("quantity", "qty", "antal", "aantal", "quantité", "qté")
_LINE_NET = ("line total", "net amount", "amount ex vat", "linjetotal", "beløb ex moms",
             "regeltotaal", "bedrag excl btw", "montant ht")  # fmt: skip
_LINE_TAX = ("line vat", "line tax", "vat amount", "momsbeløb", "btw bedrag", "montant tva")

FIELDS: dict[FileKind, tuple[FieldSpec, ...]] = {
    "orders": (
        FieldSpec("order.number", required=True, key=True, headers=_ORDER_NUMBER),
        FieldSpec("order.source_id", key=True, headers=("order source id",)),
        FieldSpec("order.created_at", "datetime", required=True,
                  headers=("date", "order date", "created", "created at", "dato", "ordredato",
                           "oprettet", "datum", "besteldatum", "orderdatum", "date de commande",
                           "date commande")),
        FieldSpec("order.paid_at", "datetime",
                  headers=("paid at", "paid", "payment date", "betalt", "betalingsdato",
                           "betaaldatum", "date de paiement")),
        FieldSpec("order.state", required=True,
                  headers=("status", "state", "order status", "ordrestatus", "tilstand",
                           "bestelstatus", "statut", "état")),
        FieldSpec("order.currency", required=True, headers=_CURRENCY),
        FieldSpec("order.total", "number",
                  headers=("total", "order total", "grand total", "total incl vat", "totalt",
                           "total inkl moms", "i alt", "totaal", "totaalbedrag",
                           "totaal incl btw", "montant total", "total ttc")),
        FieldSpec("order.total_tax", "number",
                  headers=("tax", "vat", "total tax", "total vat", "moms", "total moms", "btw",
                           "totaal btw", "tva", "total tva")),
        FieldSpec("order.payment_method", "text", headers=_PAYMENT_METHOD),
        FieldSpec("order.transaction_id",
                  headers=("transaction id", "transaction", "transaktions id", "transaktion",
                           "transactie id", "transactie", "id transaction")),
        FieldSpec("order.note",
                  headers=("note", "comment", "kommentar", "bemærkning", "notat", "opmerking",
                           "commentaire", "remarque")),
        FieldSpec("order.destination_country", headers=("destination country", "destination")),
        FieldSpec("customer.email",
                  headers=("email", "e-mail", "mail", "customer email", "e-mailadres",
                           "emailadres", "courriel", "adresse e-mail")),
        FieldSpec("customer.phone",
                  headers=("phone", "telephone", "tel", "telefon", "telefonnummer", "mobil",
                           "telefoon", "telefoonnummer", "téléphone")),
        FieldSpec("customer.name",
                  headers=("name", "customer", "customer name", "navn", "kunde", "kundenavn",
                           "naam", "klant", "klantnaam", "nom", "client", "nom du client")),
        FieldSpec("customer.company",
                  headers=("company", "firma", "virksomhed", "firmanavn", "bedrijf",
                           "bedrijfsnaam", "société", "entreprise")),
        FieldSpec("customer.vat_number",
                  headers=("vat number", "vat no", "vat id", "cvr", "cvr nr", "cvr nummer",
                           "momsnummer", "btw nummer", "btw nr", "numéro de tva", "n° tva",
                           "tva intracommunautaire")),
        FieldSpec("customer.ean",
                  headers=("ean", "ean nr", "ean nummer", "gln", "ean number")),
        FieldSpec("customer.source_id",
                  headers=("customer id", "customer number", "kundenummer", "kundenr",
                           "klantnummer", "numéro client")),
        *_address("billing_address", _BILLING),
        *_address("shipping_address", _SHIPPING),
        FieldSpec("shipping_price", "number",
                  headers=("shipping", "shipping cost", "freight", "fragt", "levering",
                           "forsendelse", "verzendkosten", "verzending", "frais de port",
                           "livraison")),
        FieldSpec("shipping_tax_rate", "number",
                  headers=("shipping vat rate", "shipping tax rate", "fragt moms %")),
        FieldSpec("line.source_id", headers=("line id",)),
        FieldSpec("line.kind", headers=("line type", "type", "linjetype", "regeltype",
                                        "type de ligne")),
        FieldSpec("line.sku", headers=_LINE_SKU),
        FieldSpec("line.description", headers=_LINE_DESCRIPTION),
        FieldSpec("line.quantity", "number", headers=_LINE_QUANTITY),
        FieldSpec("line.unit_price", "number", required=True,
                  headers=("price", "unit price", "pris", "stykpris", "enhedspris", "prijs",
                           "stukprijs", "eenheidsprijs", "prix", "prix unitaire")),
        FieldSpec("line.tax_rate", "number",
                  headers=("vat rate", "tax rate", "vat %", "momssats", "moms %", "btw tarief",
                           "btw %", "taux de tva", "taux tva", "tva %")),
        FieldSpec("line.net_amount", "number", headers=_LINE_NET),
        FieldSpec("line.tax_amount", "number", headers=_LINE_TAX),
    ),
    "refunds": (
        FieldSpec("refund.source_id", required=True, key=True,
                  headers=("refund id", "refund number", "refund", "credit note",
                           "credit note number", "kreditnota", "kreditnotanummer", "refusion",
                           "creditnota", "creditnotanummer", "avoir", "numéro d'avoir")),
        FieldSpec("refund.order_number", required=True, key=True, headers=_ORDER_NUMBER),
        FieldSpec("refund.created_at", "datetime", required=True,
                  headers=("date", "refund date", "created", "dato", "datum",
                           "date de remboursement", "date")),
        FieldSpec("refund.currency", required=True, headers=_CURRENCY),
        FieldSpec("refund.amount", "number",
                  headers=("amount", "refund amount", "total", "beløb", "refunderet", "bedrag",
                           "terugbetaald", "montant", "montant remboursé")),
        FieldSpec("refund.reason",
                  headers=("reason", "årsag", "begrundelse", "reden", "motif", "raison")),
        FieldSpec("refund.payment_method", "text",
                  headers=("refund method", "refund payment method", *_PAYMENT_METHOD)),
        FieldSpec("line.order_line_id", headers=("order line id", "line id")),
        FieldSpec("line.sku", headers=_LINE_SKU),
        FieldSpec("line.description", headers=_LINE_DESCRIPTION),
        FieldSpec("line.quantity", "number", headers=_LINE_QUANTITY),
        FieldSpec("line.net_amount", "number", headers=_LINE_NET),
        FieldSpec("line.tax_amount", "number", headers=_LINE_TAX),
    ),
}  # fmt: skip
"""The fields of each kind of file. Amounts are excluding VAT, as on the canonical records;
a line's net and VAT amounts, and an order's totals, are computed when the file has none."""

_SPECS = {kind: {spec.name: spec for spec in specs} for kind, specs in FIELDS.items()}
_XML_NAME = re.compile(r"[A-Za-z_][\w.\-]*")


def header_key(header: str) -> str:
    """A header as compared with the known names: "Ordre nr." and "ordrenr" are alike,
    accents do not count ("Quantité" is "quantite") and "%" is kept as a word ("Moms %")."""
    text = unicodedata.normalize("NFKD", header.replace("%", " pct ").casefold())
    return "".join(char for char in text if char.isalnum())


def _xml_path(value: str, *, attribute: bool) -> str:
    """Element names joined by ``/``; a child's path may end in ``@attribute``."""
    parts = value.split("/")
    last = parts[-1]
    if attribute and last.startswith("@"):
        parts = [*parts[:-1], last[1:]]
    if not all(_XML_NAME.fullmatch(part) for part in parts):
        raise PydanticCustomError(
            "xml_path",
            "'{path}' is not a path of element names joined by '/'{attribute}",
            {"path": value, "attribute": " (which may end in @attribute)" if attribute else ""},
        )
    return value


Delimiter = Annotated[str, StringConstraints(strip_whitespace=False, min_length=1, max_length=1)]
"""One character, a tab too (strings are stripped elsewhere)."""


class CsvFormat(Canonical):
    """A CSV file with a header line, which the columns are named by."""

    type: Literal["csv"] = "csv"
    delimiter: Delimiter | None = None
    """None: the one of ``;``, ``,``, tab and ``|`` that the header line holds most of."""
    quote: str = Field(default='"', min_length=1, max_length=1)
    encoding: str | None = None
    """A codec name (``utf-8``, ``windows-1252``, ``latin-1``); none: UTF-8 (with or without
    a byte order mark) when the file is valid UTF-8, else Windows-1252."""
    header_line: int = Field(default=1, ge=1, le=100)
    """The line the column names are on; the lines above it (an export's title, its period)
    are skipped, and line numbers still count them, as an editor shows the file."""

    @field_validator("encoding")
    @classmethod
    def _known_codec(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            return codecs.lookup(value).name
        except LookupError:
            raise PydanticCustomError(
                "encoding_unknown", "unknown encoding '{encoding}'", {"encoding": value}
            ) from None

    @model_validator(mode="after")
    def _delimiter_is_not_quote(self) -> CsvFormat:
        if self.delimiter is not None and (
            self.delimiter == self.quote or self.delimiter in "\r\n"
        ):
            raise PydanticCustomError(
                "delimiter_invalid", "the delimiter cannot be the quote or a line break"
            )
        return self


class XmlFormat(Canonical):
    """An XML file whose records are the elements at ``records``: ``Orders/Order`` is every
    ``Order`` under the root ``Orders``. Namespaces are not part of the names."""

    type: Literal["xml"] = "xml"
    records: str
    lines: str | None = None
    """Where a record's lines are, below the record (``Lines/Line``); the fields ``line.*``
    are then read in each line element. None: each record holds one line."""

    @field_validator("records", "lines")
    @classmethod
    def _element_path(cls, value: str | None) -> str | None:
        return None if value is None else _xml_path(value, attribute=False)


class FieldSource(Canonical):
    """Where one canonical field comes from: a column (a CSV header, or an XML child path
    such as ``Customer/Email`` or ``@id``), or a constant ``value``."""

    column: str | None = Field(default=None, min_length=1, max_length=200)
    value: str | None = Field(default=None, max_length=1000)
    default: str | None = Field(default=None, max_length=1000)
    """Used when the column is empty in a row."""
    values: dict[str, str] = Field(default_factory=dict, max_length=200)
    """The file's words translated to canonical ones, compared without case
    (``{"Betalt": "completed"}``); a word not listed is read as it is."""

    @model_validator(mode="after")
    def _column_or_value(self) -> FieldSource:
        if (self.column is None) == (self.value is None):
            raise PydanticCustomError(
                "source_invalid", "a field comes from either a column or a constant value"
            )
        if self.value is not None and self.default is not None:
            raise PydanticCustomError("source_invalid", "a constant value needs no default")
        return self

    def translate(self, text: str) -> str:
        if not self.values:
            return text
        return self._meanings.get(text.casefold(), text)

    @functools.cached_property
    def _meanings(self) -> dict[str, str]:
        return {word.strip().casefold(): meaning for word, meaning in self.values.items()}


def _source(value: Any) -> Any:
    """A plain string is a column name: ``{"order.number": "Ordrenr"}``."""
    return {"column": value} if isinstance(value, str) else value


class FileMapping(Canonical):
    """A connection's way of reading its order or refund files.

    ``layout`` says whether a row holds a whole record (an order with one line) or one line of
    a record, its rows grouped by the record's number (``order.number`` for orders,
    ``refund.source_id`` for refunds). Numbers are read with ``decimal_separator`` and an
    optional ``thousands_separator``; dates as ISO 8601, or with ``date_format`` (``strptime``
    codes, ``%d-%m-%Y``); a date or time without a UTC offset is in ``timezone``.
    """

    kind: FileKind
    format: Annotated[CsvFormat | XmlFormat, Field(discriminator="type")]
    layout: Literal["record_per_row", "line_per_row"] = "record_per_row"
    fields: dict[str, FieldSource] = Field(min_length=1)
    decimal_separator: Literal[".", ","] = "."
    thousands_separator: Literal[".", ",", " ", "'"] | None = None
    date_format: str | None = Field(default=None, max_length=100)
    timezone: str = "Europe/Copenhagen"

    @field_validator("fields", mode="before")
    @classmethod
    def _columns_as_strings(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {name: _source(source) for name, source in value.items()}
        return value

    @field_validator("date_format")
    @classmethod
    def _date_format_reads_back(cls, value: str | None) -> str | None:
        """A format that cannot read the dates it writes would refuse every row."""
        if value is None:
            return None
        sample = dt.datetime(2026, 11, 30, 14, 5, 9)
        try:
            parsed = dt.datetime.strptime(sample.strftime(value), value)
        except ValueError:
            parsed = None
        if "%" not in value or parsed is None or parsed.date() != sample.date():
            raise PydanticCustomError(
                "date_format",
                "'{format}' is not a date format with day, month and year (such as %d-%m-%Y)",
                {"format": value},
            )
        return value

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            zoneinfo.ZoneInfo(value)
        except (ValueError, zoneinfo.ZoneInfoNotFoundError):
            raise PydanticCustomError(
                "timezone", "unknown time zone '{zone}'", {"zone": value}
            ) from None
        return value

    @model_validator(mode="after")
    def _fields_fit_kind(self) -> FileMapping:
        specs = _SPECS[self.kind]
        unknown = sorted(set(self.fields) - set(specs))
        if unknown:
            raise PydanticCustomError(
                "mapping_field_unknown",
                "{kind} files have no field {names}; they have {known}",
                {"kind": self.kind, "names": ", ".join(unknown), "known": ", ".join(specs)},
            )
        missing = [
            name for name, spec in specs.items() if spec.required and name not in self.fields
        ]
        if missing:
            raise PydanticCustomError(
                "mapping_field_missing",
                "{kind} files need the fields {names}",
                {"kind": self.kind, "names": ", ".join(missing)},
            )
        constant = [name for name in self.fields if specs[name].key and self.fields[name].value]
        if constant:
            raise PydanticCustomError(
                "mapping_key_constant",
                "{names} tell records apart, so they come from a column, not a constant",
                {"names": ", ".join(constant)},
            )
        if self.thousands_separator == self.decimal_separator:
            raise PydanticCustomError(
                "separators_equal", "the thousands separator cannot be the decimal separator"
            )
        if isinstance(self.format, XmlFormat):
            if self.format.lines is not None and self.layout == "line_per_row":
                raise PydanticCustomError(
                    "layout_invalid",
                    "records with their own line elements are one record per element, "
                    "not one line per row",
                )
            for name, source in self.fields.items():
                if source.column is not None:
                    try:
                        _xml_path(source.column, attribute=True)
                    except PydanticCustomError as exc:
                        raise PydanticCustomError(
                            "xml_path", "{name}: {reason}", {"name": name, "reason": str(exc)}
                        ) from None
        return self

    @property
    def specs(self) -> dict[str, FieldSpec]:
        return _SPECS[self.kind]

    @property
    def key_field(self) -> str:
        """The field whose value says which record a row belongs to."""
        if self.kind == "refunds":
            return "refund.source_id"
        return "order.source_id" if "order.source_id" in self.fields else "order.number"

    def columns(self) -> list[str]:
        """The columns the mapping reads, each once, in the order of its fields."""
        return list(dict.fromkeys(s.column for s in self.fields.values() if s.column is not None))


def suggest_fields(
    columns: Sequence[str], kind: FileKind, line_columns: Sequence[str] | None = None
) -> dict[str, str]:
    """Which column each field is likely in, by header name in English, Danish, Dutch or
    French (case, spaces, punctuation and accents aside; a field's own name counts too).
    An XML path is also known by its last step (``Customer/Email`` by ``Email``). Lines'
    fields are looked for in ``line_columns`` when lines have columns of their own (XML line
    elements). Each column is suggested for one field at most, the first field that knows it.
    """
    record_keys = _keys(columns)
    line_keys = record_keys if line_columns is None else _keys(line_columns)
    suggestion: dict[str, str] = {}
    taken: set[tuple[bool, str]] = set()
    for spec in FIELDS[kind]:
        keys = line_keys if spec.per_line and line_columns is not None else record_keys
        own = spec.per_line and line_columns is not None
        for name in _names(spec):
            found = keys.get(header_key(name))
            if found is not None and (own, found) not in taken:
                suggestion[spec.name] = found
                taken.add((own, found))
                break
    return suggestion


def _keys(columns: Sequence[str]) -> dict[str, str]:
    by_key: dict[str, str] = {}
    for column in columns:
        by_key.setdefault(header_key(column), column)
    for column in columns:
        by_key.setdefault(header_key(column.rsplit("/", 1)[-1].lstrip("@")), column)
    return by_key


def _names(spec: FieldSpec) -> Iterable[str]:
    yield spec.name
    yield from spec.headers
