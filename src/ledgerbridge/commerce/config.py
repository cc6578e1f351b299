"""A shop connection's commerce policy: the settings the policies decide by.

The defaults are what a Danish webshop on Uniconta expects: paid orders (``processing``,
``completed``) become booked invoices; card and MobilePay payments are registered as paid,
bank transfers and cash on delivery get a payment term; consumers, businesses and EAN
(public) customers get their own debtor group; VAT codes follow Uniconta's Danish names
(``U25``) and its One Stop Shop examples (``U_DE19``); a rounding gap of up to 0.05 is
booked on the rounding account.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from decimal import Decimal
from types import MappingProxyType
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, ValidationError, field_validator, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from ledgerbridge.commerce.territories import VAT_TERRITORY_OF
from ledgerbridge.connectors.base import CodeKind, NamedCode
from ledgerbridge.model.commerce import CUSTOMER_KINDS, CustomerKind
from ledgerbridge.model.common import Canonical, CountryCode
from ledgerbridge.model.numbers import Amount
from ledgerbridge.model.validation import normalize_country

__all__ = [
    "DEFAULT_MATCH_BY",
    "MAX_ROUNDING_TOLERANCE",
    "CommercePolicy",
    "CustomerPolicy",
    "CustomerProfile",
    "MatchField",
    "PaymentRule",
    "ServiceLineKind",
    "StateAction",
    "VatPolicy",
    "named_codes",
    "named_vat_codes",
    "oss_key",
]

StateAction = Literal["ignore", "create_order", "create_invoice"]
MatchField = Literal["email", "phone", "vat_number", "ean"]
ServiceLineKind = Literal["shipping", "fee", "discount"]


def _named(code: str) -> str:
    """A code the accounting system must have is given, or the setting is left out: an empty
    one would be looked up nowhere when the route is saved and sent blank with every invoice."""
    if not code:
        raise PydanticCustomError(
            "code_empty",
            "the code is empty: name one the accounting system has, or leave the setting out "
            "(null) for its default",
        )
    return code


Code = Annotated[str, AfterValidator(_named)]
"""An accounting system's code (payment term, debtor group, item, VAT code, debtor)."""


def oss_key(country: str, rate: Decimal) -> str:
    """The key of a country and rate in ``VatPolicy.oss_codes``: ``DE:19``, ``FR:5.5``."""
    return f"{country.upper()}:{rate.normalize():f}"


def _oss_country(key: str) -> str:
    """The country of an ``oss_codes`` key (``DE`` of ``DE:19``)."""
    return key.partition(":")[0].strip().upper()


def _unused_oss_key(key: str, home_country: str) -> str | None:
    """Why an ``oss_codes`` key would never be looked up, or None: it is in the shop's own
    VAT territory (sales at home take ``domestic_codes``; Monaco is home to a French shop, and
    France to a Monaco one), or a place taxed as another country (Monaco's sales take France's
    key)."""
    country = _oss_country(key)
    territory = VAT_TERRITORY_OF.get(country, country)
    home = VAT_TERRITORY_OF.get(home_country.upper(), home_country.upper())
    if territory == home:
        return (
            f"'{key}' is the shop's own country ({home}): One Stop Shop is for sales to "
            "other EU countries; a sale at home takes vat.domestic_codes"
        )
    if territory != country:
        _, _, rate = key.partition(":")
        return (
            f"'{key}' is never looked up: a sale to {country} is taxed as one to {territory}, "
            f"so it takes the code of '{territory}:{rate.strip()}'"
        )
    return None


class PaymentRule(Canonical):
    """What an invoice paid with one payment method gets."""

    payment_term: Code | None = None
    """The accounting system's payment term; none: the customer profile's, else the default."""
    registered_as_paid: bool = False
    """Whether a paid order's invoice is registered as paid at once (card payments settled by
    the acquirer), rather than left open for the bank reconciliation."""
    account: Code | None = None
    """The ledger account money taken with this method lands on (the card acquirer's
    receivable, the till's cash account). A sale paid several ways whose every method names
    one is registered part by part: a payment line per part in ``payment_journal``, against
    the booked invoice. Without it a split sale stays open for a person (``payment_split``)."""


class CustomerProfile(Canonical):
    """How customers of one kind (B2C, B2B, EAN) are matched, created and kept up to date."""

    match_by: MatchField | None = None
    """The field a customer is looked up by; none: the kind's own (``DEFAULT_MATCH_BY``)."""
    debtor_group: Code
    vat_zone: Literal["domestic", "eu", "abroad"] | None = None
    """Fixed VAT zone; none: from the destination country (home, EU, rest of the world)."""
    vat_code: str | None = Field(default=None, exclude=True)
    """Refused when given: each line's VAT code follows from where the goods go and the rate
    charged (``VatPolicy``), which one code per customer kind would override (a German
    consumer's OSS VAT, a business's reverse charge). Still read as null, which routes saved
    before it was refused hold and clients send back as they read them; never stored."""
    payment_term: Code | None = None
    """Payment term of invoices to these customers, unless the payment method sets one."""
    update_existing: bool = True
    """Whether an order of a customer the hub has already updates that customer: the name,
    e-mail, phone and billing address the order carries are written where they differ (a
    returning customer who moved). Only from an order placed after the customer's last change,
    so an old order (a historical import, a re-read) never undoes what a person typed in the
    accounting system; never the field it is matched by, its group or VAT zone, never a value
    the order lacks, and never the shared B2C account."""

    @field_validator("vat_code")
    @classmethod
    def _vat_follows_the_line(cls, value: str | None) -> None:
        if value is not None:
            raise PydanticCustomError(
                "profile_vat_code",
                "a customer profile sets no VAT code: each line's code follows from where the "
                "goods go and the rate charged (commerce.policy.vat); leave it out",
            )


DEFAULT_MATCH_BY: dict[CustomerKind, MatchField] = {
    "b2c": "email",
    "b2b": "vat_number",
    "ean": "ean",
}
"""Consumers are known by their e-mail, businesses by their VAT number, public bodies by
their EAN: the one identifier each kind is sure to have."""


def _default_profiles() -> dict[CustomerKind, CustomerProfile]:
    return {
        "b2c": CustomerProfile(debtor_group="PRIV"),
        "b2b": CustomerProfile(debtor_group="ERHVERV"),
        "ean": CustomerProfile(debtor_group="EAN", payment_term="Netto 30"),
    }


class CustomerPolicy(Canonical):
    """Match a customer by a chosen field before creating one, per profile; or book every
    consumer on one shared debtor (POS-like shops that keep no customer register)."""

    profiles: dict[CustomerKind, CustomerProfile] = Field(default_factory=_default_profiles)
    shared_b2c_account: Code | None = None
    """The debtor account every B2C order is booked on; none: each consumer is matched."""

    @field_validator("profiles", mode="before")
    @classmethod
    def _onto_defaults(cls, given: Any) -> Any:
        """A policy setting the consumers' profile alone (their debtor group, say) keeps the
        businesses' and EAN customers' defaults, as ``payment_methods`` keeps the methods it
        does not name; a kind given as null is left without one, and refused below."""
        if not isinstance(given, Mapping):
            return given
        merged: dict[Any, Any] = dict(_default_profiles())
        for kind, profile in given.items():
            if profile is None:
                merged.pop(kind, None)
            else:
                merged[kind] = profile
        return merged

    @field_validator("profiles")
    @classmethod
    def _every_kind(
        cls, value: dict[CustomerKind, CustomerProfile]
    ) -> dict[CustomerKind, CustomerProfile]:
        """A missing profile would leave some orders with no debtor group at all."""
        missing = [kind for kind in CUSTOMER_KINDS if kind not in value]
        if missing:
            raise PydanticCustomError(
                "profile_missing",
                "a profile is needed for each customer kind, so orders of every kind get a "
                "debtor group; missing: {missing}: give it, or leave it out for its default",
                {"missing": ", ".join(missing)},
            )
        return value

    def match_field(self, kind: CustomerKind) -> MatchField:
        """The field customers of ``kind`` are matched by."""
        return self.profiles[kind].match_by or DEFAULT_MATCH_BY[kind]


class VatPolicy(Canonical):
    """Which VAT code a line is booked with, from where the goods go and the rate charged.

    Domestic sales use ``domestic_codes`` by rate. EU consumers are charged the destination's
    VAT under One Stop Shop: the code is ``oss_codes[country:rate]``, else one named by
    ``oss_code_pattern``. An EU business with a VAT number that was charged no VAT is a
    reverse-charge sale. Sales outside the EU are exports.
    """

    home_country: CountryCode = "DK"
    domestic_codes: dict[Decimal, Code] = Field(
        default_factory=lambda: {Decimal(25): "U25", Decimal(0): "U0"}
    )
    oss: bool = True
    """Whether the shop is registered for One Stop Shop; without it EU consumers are charged
    home VAT, booked with the domestic codes."""
    oss_codes: dict[str, Code] = Field(default_factory=dict)
    """Codes per ``COUNTRY:RATE`` (``DE:19``) that differ from the pattern's; for a country
    outside the EU where the shop is registered for VAT (Norway's VOEC: ``NO:25``), the code
    its VAT there is booked with."""
    oss_code_pattern: str = "U_{country}{rate}"
    """Name of an OSS code: ``{country}`` is the ISO code, ``{rate}`` the rate with two digits
    before any decimals (``U_DE19``, ``U_DE07``, ``U_FR05.5``)."""
    eu_business_code: Code = "UEUV"
    export_code: Code = "UEXP"
    rounding: Literal["per_rate", "per_line"] = "per_rate"
    """How the accounting system rounds an invoice's VAT, which the shop's totals are checked
    against: ``per_rate``, once per VAT code (each code has one rate) on the net total of its
    lines (Uniconta, whose VAT rounding account takes the difference to the lines' own VAT),
    or ``per_line``."""

    @field_validator("oss_codes")
    @classmethod
    def _keys_are_country_and_rate(cls, value: dict[str, str]) -> dict[str, str]:
        normalised: dict[str, str] = {}
        for key, code in value.items():
            country, _, rate = key.partition(":")
            try:
                normalised[oss_key(normalize_country(country), Decimal(rate))] = code
            except (ValueError, ArithmeticError):
                raise PydanticCustomError(
                    "oss_key",
                    "'{key}' is not COUNTRY:RATE (such as DE:19)",
                    {"key": key},
                ) from None
        return normalised

    @model_validator(mode="after")
    def _oss_is_for_other_countries(self) -> VatPolicy:
        """A sale at home is booked by ``domestic_codes``, and one to Monaco as one to France:
        a key of either would never be used, and says the policy means something it does not
        do."""
        refused = [
            InitErrorDetails(
                type=PydanticCustomError("oss_key_unused", problem),
                loc=("oss_codes", key, "[key]"),
                input=key,
            )
            for key in self.oss_codes
            if (problem := _unused_oss_key(key, self.home_country)) is not None
        ]
        if refused:
            raise ValidationError.from_exception_data("VatPolicy", refused)
        return self

    @field_validator("oss_code_pattern")
    @classmethod
    def _pattern_names_country_and_rate(cls, value: str) -> str:
        try:
            value.format(country="DE", rate="19")
        except (KeyError, IndexError, ValueError):
            raise PydanticCustomError(
                "oss_code_pattern",
                "the pattern may only use {{country}} and {{rate}}",
            ) from None
        if "{country}" not in value or "{rate}" not in value:
            raise PydanticCustomError(
                "oss_code_pattern", "the pattern must use both {{country}} and {{rate}}"
            )
        return value


DEFAULT_PAYMENT_METHODS: Mapping[str, Mapping[str, Any]] = MappingProxyType({
    "stripe": {"payment_term": "Kort", "registered_as_paid": True},
    "woocommerce_payments": {"payment_term": "Kort", "registered_as_paid": True},
    "quickpay": {"payment_term": "Kort", "registered_as_paid": True},
    "mobilepay": {"payment_term": "Kort", "registered_as_paid": True},
    "bacs": {"payment_term": "Netto 8"},
    "cod": {"payment_term": "Netto 8"},
})  # fmt: skip
"""The methods a Danish shop's gateways name: cards are paid at booking on the card term,
a bank transfer or cash on delivery is open on the default term."""


def _default_states() -> dict[str, StateAction]:
    """WooCommerce's paid states: an order is booked once, at the first of them it reaches."""
    return {"processing": "create_invoice", "completed": "create_invoice"}


class CommercePolicy(Canonical):
    """Every setting of a shop connection's order flow; see docs/commerce.md."""

    states: dict[str, StateAction] = Field(default_factory=_default_states)
    """What an order in each of the shop's states leads to; a state not listed is ignored."""
    book: bool = True
    """Book invoices (post them); otherwise leave them as drafts for a person."""
    email_invoices: bool = False
    """Mail each booked invoice to the customer's e-mail address (EAN customers excepted)."""
    default_payment_term: Code = "Netto 8"
    payment_methods: dict[str, PaymentRule] = Field(
        default_factory=lambda: {
            method: PaymentRule.model_validate(rule)
            for method, rule in DEFAULT_PAYMENT_METHODS.items()
        }
    )
    """Per payment method: the rules given are added to the defaults (``DEFAULT_PAYMENT_METHODS``)
    or replace a default's; a method given as null drops its default."""
    customers: CustomerPolicy = Field(default_factory=CustomerPolicy)
    vat: VatPolicy = Field(default_factory=VatPolicy)
    rounding_tolerance: Amount = Field(default=Decimal("0.05"), ge=0)
    """The largest gap between the shop's total and the booked one that is booked as rounding;
    at most ``MAX_ROUNDING_TOLERANCE``."""
    rounding_account: Code | None = None
    """The item a rounding line is booked on (invoice lines are booked on items; its item
    group posts to the rounding account); without one any gap is a mismatch."""
    refund_item: Code | None = None
    """The item a refund of a free amount (not tied to returned lines) is credited with."""
    service_items: dict[ServiceLineKind, Code] = Field(default_factory=dict)
    """The item each kind of line without a SKU of its own is booked on (``{"shipping":
    "FRAGT", "fee": "GEBYR"}``), keeping the line's text and price: its item group decides the
    revenue account, as for any sale, so freight and fees reach their own accounts; a kind
    not named goes as a line without an item."""
    start_date: dt.date | None = None
    """Orders created before it are not booked, unless a historical import covers them."""
    payment_journal: Code | None = None
    """The accounting system's cash journal (GL daily journal) the payment lines of a sale
    paid several ways are inserted in; needed as soon as a payment method names an
    ``account``."""

    def payment_rule(self, method: str | None) -> PaymentRule | None:
        """The rule of a payment method code, its case aside when no rule is named exactly
        as the shop writes it: a file's ``Stripe`` or ``MobilePay`` is the gateway the policy
        names ``stripe`` or ``mobilepay``, and Zettle's ``IZETTLE_CARD`` may be written in
        lower case."""
        if not method:
            return None
        rule = self.payment_methods.get(method)
        if rule is not None:
            return rule
        wanted = method.casefold()
        return next(
            (rule for name, rule in self.payment_methods.items() if name.casefold() == wanted),
            None,
        )

    @field_validator("rounding_tolerance")
    @classmethod
    def _a_rounding_gap_is_cents(cls, value: Decimal) -> Decimal:
        """A larger tolerance would book a wrong price or a missing line as rounding."""
        if value > MAX_ROUNDING_TOLERANCE:
            raise PydanticCustomError(
                "rounding_tolerance_too_large",
                "{value} is more than a rounding gap: at most {most} (cents from VAT rounded "
                "per line or per rate, or a cash total rounded to 0.50); a larger gap is a "
                "totals mismatch for a person to look at",
                {"value": f"{value:f}", "most": f"{MAX_ROUNDING_TOLERANCE:f}"},
            )
        return value

    @field_validator("payment_methods", mode="before")
    @classmethod
    def _onto_defaults(cls, given: Any) -> Any:
        """A policy naming one more method (``viabill``) keeps the card and bank methods
        every shop has: replacing them would book every card order open, silently."""
        if not isinstance(given, Mapping):
            return given
        merged: dict[str, Any] = dict(DEFAULT_PAYMENT_METHODS)
        for method, rule in given.items():
            if rule is None:
                merged.pop(method, None)
            else:
                merged[method] = rule
        return merged

    @classmethod
    def saved(cls, data: Mapping[str, Any] | None) -> CommercePolicy:
        """A route's policy as stored. One saved before a setting was refused may hold it
        (an empty code, a tolerance above the largest): each is read as ``saved_warnings``
        says, so the route's flow keeps running and its next save names what to correct."""
        return cls.model_validate(_readable(data or {})[0])

    @staticmethod
    def saved_warnings(data: Mapping[str, Any] | None) -> list[str]:
        """What a stored policy holds that a save now refuses, and how the flow reads it
        meanwhile: shown with the route until it is saved again."""
        return _readable(data or {})[1]

    @model_validator(mode="after")
    def _states_named(self) -> CommercePolicy:
        if any(not state.strip() for state in self.states):
            raise PydanticCustomError("state_empty", "an order state needs a name")
        return self

    @model_validator(mode="after")
    def _payment_journal_named(self) -> CommercePolicy:
        """An account says where a part of a split sale goes; the journal says where its
        payment line is written. One without the other would register nothing, silently."""
        accounts = [m for m, rule in self.payment_methods.items() if rule.account]
        if accounts and self.payment_journal is None:
            raise ValidationError.from_exception_data(
                "CommercePolicy",
                [
                    InitErrorDetails(
                        type=PydanticCustomError(
                            "payment_journal_missing",
                            "payment_methods {methods} name an account, which registers each "
                            "part of a sale paid several ways as a payment line: name the cash "
                            "journal (GL daily journal) those lines go in, or leave the accounts "
                            "out",
                            {"methods": ", ".join(accounts)},
                        ),
                        loc=("payment_journal",),
                        input=None,
                    )
                ],
            )
        return self

    def split_accounts(self, codes: list[str]) -> dict[str, str] | None:
        """The account of each of a split sale's methods (``codes``), or None when one has
        no rule or no account, or no ``payment_journal`` is named: then the parts cannot be
        registered and a person does it."""
        if self.payment_journal is None:
            return None
        found: dict[str, str] = {}
        for code in codes:
            rule = self.payment_rule(code)
            if rule is None or rule.account is None:
                return None
            found[code] = rule.account
        return found


MAX_ROUNDING_TOLERANCE = Decimal("1.00")
"""The largest ``rounding_tolerance``. A rounding gap is cents: VAT rounded per line against
once per rate leaves up to half a cent per line, and a till that rounds a cash total to the
nearest 0.50 (Danish kroner) or whole krona leaves up to 0.50. Anything larger is a wrong
price, a missing line or a wrong rate, which must reach a person as a totals mismatch rather
than be booked away on the rounding account."""


def _readable(data: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """A stored policy as the flow runs it, and a warning for each value a save now refuses:
    empty codes are read as left out (silently: the default is what was meant), a tolerance
    above ``MAX_ROUNDING_TOLERANCE`` as that largest one, so gaps beyond it are held, an OSS
    code never looked up (``_unused_oss_key``) and a customer profile's VAT code as left out."""
    kept = _without_blanks(data)
    warnings: list[str] = []
    tolerance = kept.get("rounding_tolerance")
    try:
        too_large = tolerance is not None and Decimal(str(tolerance)) > MAX_ROUNDING_TOLERANCE
    except ArithmeticError:
        too_large = False
    if too_large:
        most = f"{MAX_ROUNDING_TOLERANCE:f}"
        kept["rounding_tolerance"] = most
        warnings.append(
            f"commerce.policy.rounding_tolerance is {tolerance}, more than a rounding gap: the "
            f"route runs with {most}, so a larger gap is held as a totals mismatch; save the "
            f"route with a tolerance of at most {most}"
        )
    customers = kept.get("customers")
    profiles = customers.get("profiles") if isinstance(customers, dict) else None
    for kind, profile in (profiles or {}).items():
        if isinstance(profile, dict) and profile.pop("vat_code", None) is not None:
            warnings.append(
                f"commerce.policy.customers.profiles.{kind}.vat_code is not used: each line's "
                "VAT code follows from where the goods go and the rate charged "
                "(commerce.policy.vat), so the route runs without it; save the route without it"
            )
    vat = kept.get("vat")
    oss_codes = vat.get("oss_codes") if isinstance(vat, dict) else None
    if isinstance(vat, dict) and isinstance(oss_codes, Mapping):
        home = str(vat.get("home_country") or VatPolicy.model_fields["home_country"].default)
        unused = {key: _unused_oss_key(str(key), home) for key in oss_codes}
        warnings += [
            f"commerce.policy.vat.oss_codes.{key}: {problem}; the route runs without it, "
            "save the route without it"
            for key, problem in unused.items()
            if problem is not None
        ]
        vat["oss_codes"] = {key: code for key, code in oss_codes.items() if unused[key] is None}
    return kept, warnings


def _without_blanks(data: Mapping[str, Any]) -> dict[str, Any]:
    """``data`` without the settings whose value is an empty text, at any depth."""
    kept: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, str) and not value.strip():
            continue
        kept[key] = _without_blanks(value) if isinstance(value, Mapping) else value
    return kept


def named_codes(given: Mapping[str, Any]) -> list[NamedCode]:
    """The accounting system's codes a policy names, as given (a setting left to its default
    is not the route's choice, and a default a shop never uses must not block it), with their
    paths under ``commerce.policy``: payment terms, debtor groups, the shared consumer account,
    the rounding, refund and service items. VAT codes are the hub's, translated by the
    connection's VAT mapping: a missing one is found when an invoice is sent
    (``vat_code_unmapped``), a wrong rate when the route is saved (``named_vat_codes``)."""
    policy = CommercePolicy.model_validate(given)
    found: list[NamedCode] = []

    def add(path: str, kind: CodeKind, code: str | None) -> None:
        if code:
            found.append(NamedCode(f"commerce.policy.{path}", kind, code))

    if "default_payment_term" in given:
        add("default_payment_term", "payment_term", policy.default_payment_term)
    for method in given.get("payment_methods") or {}:
        rule = policy.payment_methods.get(method)
        if rule is not None:
            add(f"payment_methods.{method}.payment_term", "payment_term", rule.payment_term)
            add(f"payment_methods.{method}.account", "account", rule.account)
    if "payment_journal" in given:
        add("payment_journal", "journal", policy.payment_journal)
    customers = given.get("customers") or {}
    for kind, profile in policy.customers.profiles.items():
        if kind in (customers.get("profiles") or {}):
            add(f"customers.profiles.{kind}.debtor_group", "customer_group", profile.debtor_group)
            add(f"customers.profiles.{kind}.payment_term", "payment_term", profile.payment_term)
    if "shared_b2c_account" in customers:
        add("customers.shared_b2c_account", "customer", policy.customers.shared_b2c_account)
    if "rounding_account" in given:
        add("rounding_account", "item", policy.rounding_account)
    if "refund_item" in given:
        add("refund_item", "item", policy.refund_item)
    for line_kind, item in policy.service_items.items():
        add(f"service_items.{line_kind}", "item", item)
    return found


def named_vat_codes(given: Mapping[str, Any]) -> list[tuple[str, str, Decimal]]:
    """The VAT codes a policy names, as given, each with the rate it must book at and its
    path under ``commerce.policy``: a domestic or OSS code at its key's rate, the reverse
    charge and export codes at 0 %. A code of another rate would book a sale at a wrong
    total, so the target's rate of each is checked when the route is saved."""
    policy = CommercePolicy.model_validate(given)
    vat = given.get("vat") or {}
    found: list[tuple[str, str, Decimal]] = []
    if "domestic_codes" in vat:
        for rate, code in policy.vat.domestic_codes.items():
            found.append((f"commerce.policy.vat.domestic_codes.{rate.normalize():f}", code, rate))
    if "oss_codes" in vat:
        for key, code in policy.vat.oss_codes.items():
            rate = Decimal(key.partition(":")[2])
            found.append((f"commerce.policy.vat.oss_codes.{key}", code, rate))
    for setting in ("eu_business_code", "export_code"):
        if setting in vat:
            found.append(
                (f"commerce.policy.vat.{setting}", getattr(policy.vat, setting), Decimal(0))
            )
    return found
