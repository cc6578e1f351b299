"""The .NET enum types whose member NAMES appear in Uniconta's OData/REST JSON.

OData v4 serialises an enum-typed property as the member name (``"Country": "Denmark"``), so the
simulator must know which names exist to accept or reject a written value. Member order is the
order used when ``$filter``/``$orderby`` compare enum values.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class EnumDef:
    """One .NET enum type: its qualified name and member names in declaration order."""

    namespace: str
    name: str
    members: tuple[str, ...]
    _index: dict[str, int] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        """Index the members once so validation and ordering are dictionary look-ups."""
        self._index.update({member: i for i, member in enumerate(self.members)})

    @property
    def qualified_name(self) -> str:
        """Name used in CSDL and in qualified OData enum literals."""
        return f"{self.namespace}.{self.name}"

    def has(self, member: str) -> bool:
        """Whether ``member`` is a member name of this enum."""
        return member in self._index

    def ordinal(self, member: str) -> int:
        """Position of a member, so enum values order like their underlying numbers."""
        return self._index[member]


# A documented subset of the real CountryCode, which has a member for every country (ordinals
# shared with Uniconta's CountryISOCode enum). The names the Uniconta-Pages source uses are
# verified (CzechRepublic, not Czechia); the others and the order are inferred: see
# docs/sandbox-uniconta.md, Enums. The last ones stand for the members a real company has
# beyond the names the connector knows, which a connection maps itself.
COUNTRY_CODE = EnumDef(
    "Uniconta.Common",
    "CountryCode",
    (
        "Unknown",
        "Denmark",
        "Sweden",
        "Norway",
        "Finland",
        "Iceland",
        "FaroeIslands",
        "Greenland",
        "Germany",
        "Netherlands",
        "Belgium",
        "Luxembourg",
        "France",
        "UnitedKingdom",
        "Ireland",
        "Spain",
        "Portugal",
        "Italy",
        "Austria",
        "Switzerland",
        "Poland",
        "CzechRepublic",
        "Slovakia",
        "Hungary",
        "Slovenia",
        "Croatia",
        "Romania",
        "Bulgaria",
        "Greece",
        "Cyprus",
        "Malta",
        "Estonia",
        "Latvia",
        "Lithuania",
        "UnitedStates",
        "Canada",
        "Australia",
        "NewZealand",
        "China",
        "Japan",
        "India",
        "Liechtenstein",
        "Monaco",
        "Russia",
        "Serbia",
        "Türkiye",
        "Vietnam",
        "Guadeloupe",
        "Brazil",
        "Mexico",
        "SouthAfrica",
        "Singapore",
        "Ukraine",
        "UnitedArabEmirates",
    ),
)

CURRENCIES = EnumDef(
    "Uniconta.Common",
    "Currencies",
    (
        "DKK",
        "EUR",
        "USD",
        "GBP",
        "SEK",
        "NOK",
        "ISK",
        "CHF",
        "PLN",
        "CZK",
        "HUF",
        "RON",
        "BGN",
        "CAD",
        "AUD",
        "NZD",
        "JPY",
        "CNY",
        "INR",
    ),
)

LANGUAGE = EnumDef(
    "Uniconta.Common",
    "Language",
    (
        "Danish",
        "English",
        "German",
        "Swedish",
        "Norwegian",
        "Dutch",
        "Icelandic",
        "Finnish",
        "French",
        "Spanish",
    ),
)

VAT_ZONES = EnumDef("Uniconta.Common", "VatZones", ("Domestic", "EU", "Foreign"))

DC_TYPE = EnumDef("Uniconta.Common", "DCType", ("Debtor", "Creditor", "Prospect"))

ITEM_TYPE = EnumDef("Uniconta.Common", "ItemType", ("Item", "Service", "BOM", "ProductionBOM"))

# Member names chosen so the units a CRM knows map one to one (Piece, Hours, Kg, Litre, ...);
# the real member list of Uniconta's ItemUnit is not published.
ITEM_UNIT = EnumDef(
    "Uniconta.Common",
    "ItemUnit",
    (
        "None",
        "Piece",
        "Hours",
        "Day",
        "Week",
        "Month",
        "Year",
        "Kg",
        "Gram",
        "Tonne",
        "Litre",
        "Meter",
        "SquareMeter",
        "CubicMeter",
        "Km",
        "Box",
        "Pack",
        "Set",
        "Pair",
        "Pallet",
        "Roll",
    ),
)

# The real enum is GLVatSaleBuy; its purchase member is spelled "Purchase" here, as the
# engine's wire contract names it (the Uniconta-Pages source uses GLVatSaleBuy.Buy).
VAT_TYPE = EnumDef("Uniconta.Common", "GLVatSaleBuy", ("Sales", "Purchase"))

# PaymentTerm.PaymentMethod as the Uniconta-Pages payment term form lists it.
PAYMENT_METHOD = EnumDef(
    "Uniconta.Common",
    "PaymentMethodTypes",
    ("NetDays", "EndMonth", "EndWeek", "NetCash", "Creditcard", "PrePayment", "Factoring"),
)

# GLDailyJournalLine.AccountType / OffsetAccountType (GLJournalAccountType).
JOURNAL_ACCOUNT_TYPE = EnumDef(
    "Uniconta.Common", "GLJournalAccountType", ("Finans", "Debtor", "Creditor")
)

ALL_ENUMS: tuple[EnumDef, ...] = (
    COUNTRY_CODE,
    CURRENCIES,
    LANGUAGE,
    VAT_ZONES,
    DC_TYPE,
    ITEM_TYPE,
    ITEM_UNIT,
    VAT_TYPE,
    PAYMENT_METHOD,
    JOURNAL_ACCOUNT_TYPE,
)
