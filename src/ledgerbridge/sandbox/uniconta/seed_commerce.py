"""What a Danish webshop's Uniconta company holds before its first order arrives: card and
cash payment terms, customer groups for consumers, businesses and public (EAN) customers,
the VAT codes of domestic, EU, export and One Stop Shop sales, and the service items a
webshop order's shipping, fees, rounding and refunds are booked on. Fixed rows, so seeding
is deterministic."""

from __future__ import annotations

from ledgerbridge.sandbox.uniconta.state import UnicontaSandbox

WEBSHOP_PAYMENT_TERMS: tuple[dict[str, object], ...] = (
    {"Payment": "Kort", "Name": "Betalingskort", "PaymentMethod": "Creditcard", "Days": 0,
     "Account": "5820", "PostOnDC": True},
    {"Payment": "Kontant", "Name": "Kontant", "PaymentMethod": "NetCash", "Days": 0,
     "Account": "5800", "PostOnDC": True},
)  # fmt: skip
"""Card payments land on "Tilgodehavende kortindløser" (the acquirer's receivable, as PayMatch
needs it); cash in the till."""

DEBTOR_GROUPS: tuple[dict[str, object], ...] = (
    {"Group": "PRIV", "Name": "Privatkunder", "Vat": "U25", "Payment": "Kort"},
    {"Group": "ERHVERV", "Name": "Erhvervskunder", "Vat": "U25", "Payment": "Netto 8"},
    {"Group": "EAN", "Name": "Offentlige kunder (EAN)", "Vat": "U25", "Payment": "Netto 30"},
)

WEBSHOP_VAT_CODES: tuple[tuple[str, str, int | float, str | None], ...] = (
    ("U0", "Momsfrit salg", 0, None),
    ("UEUV", "EU-salg af varer (omvendt betalingspligt)", 0, None),
    ("UEXP", "Eksport uden for EU", 0, None),
    ("U_DE19", "OSS Tyskland 19%", 19, "Germany"),
    ("U_DE07", "OSS Tyskland 7%", 7, "Germany"),
    ("U_SE25", "OSS Sverige 25%", 25, "Sweden"),
    ("U_FR20", "OSS Frankrig 20%", 20, "France"),
    ("U_NL21", "OSS Holland 21%", 21, "Netherlands"),
    ("U_ES21", "OSS Spanien 21%", 21, "Spain"),
    ("U_IT22", "OSS Italien 22%", 22, "Italy"),
    ("U_AT20", "OSS Østrig 20%", 20, "Austria"),
)
"""(code, name, rate, VatCountry): OSS codes carry the country whose VAT they are."""

SERVICE_ITEMS: tuple[dict[str, object], ...] = (
    {"Item": "FRAGT", "Name": "Fragt", "ItemType": "Service", "Vat": "U25", "Unit": "Piece"},
    {"Item": "GEBYR", "Name": "Gebyr", "ItemType": "Service", "Vat": "U25", "Unit": "Piece"},
    {"Item": "AFRUND", "Name": "Afrunding", "ItemType": "Service", "Vat": "U0", "Unit": "Piece"},
    {"Item": "REFUSION", "Name": "Refusion", "ItemType": "Service", "Vat": "U25",
     "Unit": "Piece"},
)  # fmt: skip
"""Shipping, fees, the non-VAT rounding difference and refunds not tied to a product."""


PAYMATCH_JOURNAL = "PAYMATCH"
PAYMATCH_ACCOUNTS: tuple[dict[str, object], ...] = (
    {"Account": "5820", "Name": "Tilgodehavende kortindløser"},
    {"Account": "7220", "Name": "Gebyrer kortindløser"},
    {"Account": "5900", "Name": "Bank"},
    {"Account": "5990", "Name": "PayMatch fejlkonto"},
    {"Account": "5800", "Name": "Kasse"},
)
"""The acquirer's receivable (the card payment term's account), its fees, the bank, the
error account PayMatch puts what it cannot place on, and the till."""


def seed_paymatch(sandbox: UnicontaSandbox, company_id: int) -> None:
    """The cash journal payouts are posted in and the accounts its lines use."""
    sandbox.load(company_id, "GLAccountClient", PAYMATCH_ACCOUNTS)
    sandbox.load(
        company_id,
        "GLDailyJournalClient",
        [{"Journal": PAYMATCH_JOURNAL, "Name": "Udbetalinger fra kortindløser",
          "DefaultAccountType": "Finans", "GenerateVoucher": True}],
    )  # fmt: skip


def seed_webshop(sandbox: UnicontaSandbox, company_id: int) -> None:
    """Add the webshop set-up to a company (once: a second call is refused as a duplicate)."""
    sandbox.load(company_id, "PaymentTermClient", WEBSHOP_PAYMENT_TERMS)
    sandbox.load(company_id, "DebtorGroupClient", DEBTOR_GROUPS)
    sandbox.load(
        company_id,
        "GLVatClient",
        [
            {"Vat": code, "Name": name, "VatType": "Sales", "Rate": rate,
             **({"VatCountry": country, "MOSSType": "OSS"} if country else {})}
            for code, name, rate, country in WEBSHOP_VAT_CODES
        ],
    )  # fmt: skip
    sandbox.load(company_id, "InvItemClient", SERVICE_ITEMS)
    seed_paymatch(sandbox, company_id)
