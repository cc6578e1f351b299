"""Deterministic, realistic Danish debtors for tests, demos and benchmarks.

Addresses use real postcodes with their towns, CVR numbers pass the mod-11 check and foreign
customers carry VAT numbers that pass their national checksums, so validation code in the engine
is exercised by data that looks like a real Uniconta company.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from stdnum import ean
from stdnum.de import vat as de_vat
from stdnum.no import mva as no_mva
from stdnum.se import vat as se_vat

from ledgerbridge.sandbox.uniconta.state import UnicontaSandbox

FIRST_ACCOUNT = 10000
FIRST_CREDITOR_ACCOUNT = 50000
CREATED_FROM = datetime(2018, 1, 2, 8, 0, tzinfo=UTC)
CREATED_TO = datetime(2025, 12, 30, 16, 0, tzinfo=UTC)

SURNAMES = (
    "Jensen", "Nielsen", "Hansen", "Pedersen", "Andersen", "Christensen", "Larsen", "Sørensen",
    "Rasmussen", "Jørgensen", "Petersen", "Madsen", "Kristensen", "Olsen", "Thomsen",
    "Christiansen", "Poulsen", "Johansen", "Møller", "Mortensen", "Knudsen", "Jakobsen",
    "Mikkelsen", "Frederiksen", "Lund", "Holm", "Schmidt", "Eriksen", "Simonsen", "Clausen",
    "Svendsen", "Andreasen", "Iversen", "Østergaard", "Jeppesen", "Vestergaard", "Nissen",
    "Lauridsen", "Kjær", "Mogensen", "Dahl", "Bach", "Skov", "Berg", "Overgaard", "Juhl",
    "Thygesen", "Bertelsen", "Højgaard", "Søndergaard",
)  # fmt: skip
FIRST_NAMES = (
    "Anne", "Mette", "Kirsten", "Hanne", "Louise", "Camilla", "Maria", "Sofie", "Ida", "Emma",
    "Peter", "Michael", "Lars", "Henrik", "Søren", "Thomas", "Jesper", "Martin", "Rasmus",
    "Mads", "Jens", "Niels", "Morten", "Anders", "Kasper", "Frederik",
)  # fmt: skip
_TRADES = (
    "VVS", "El-service", "Tømrerforretning", "Malerfirma", "Murerfirma", "Autoværksted",
    "Blomster", "Bageri", "Revision", "Consult", "Transport", "Rengøring", "Tag & Facade",
    "Smedie", "Kloakservice", "Anlæg", "Glarmester", "Byggefirma",
)  # fmt: skip
_ADJECTIVES = ("Nordisk", "Dansk", "Jysk", "Fynsk", "Sjællandsk", "Skandinavisk")
_COMPASS = ("Nord", "Vest", "Øst", "Syd", "Ny", "Grøn")
_NOUNS = (
    "Træ", "Stål", "Glas", "Energi", "Data", "Byg", "Handel", "Foder", "Fisk", "Møbler",
    "Design", "Teknik", "Emballage", "Logistik", "Agro", "Trælast", "Beton", "Tekstil", "Lys",
    "Vin",
)  # fmt: skip
_STREETS = (
    "Vesterbrogade", "Nørrebrogade", "Østerbrogade", "Amagerbrogade", "Strandvejen",
    "Jernbanegade", "Hovedgaden", "Storegade", "Algade", "Søndergade", "Vestergade",
    "Østergade", "Nørregade", "Kirkevej", "Skolevej", "Industrivej", "Håndværkervej", "Engvej",
    "Møllevej", "Bygaden", "Stationsvej", "Parkvej", "Birkevej", "Egevej", "Lindevej",
    "Åboulevarden", "Kongensgade", "Gammel Kongevej", "Frederiksberg Allé", "Roskildevej",
    "Vejlevej", "Randersvej", "Silkeborgvej", "Hobrovej", "Odensevej", "Fabriksvej",
    "Erhvervsvej", "Bredgade", "Torvet", "Havnegade",
)  # fmt: skip
_FLOORS = ("st.", "st. tv", "st. th", "1. tv", "1. th", "1. mf", "2. tv", "2. th", "3. tv", "4.")

# (postcode, town, landline prefixes used in that region)
_DANISH_TOWNS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("1050", "København K", ("33",)),
    ("1153", "København K", ("33",)),
    ("1256", "København K", ("33",)),
    ("1620", "København V", ("33",)),
    ("1799", "København V", ("33",)),
    ("2000", "Frederiksberg", ("38",)),
    ("2100", "København Ø", ("35",)),
    ("2200", "København N", ("35",)),
    ("2300", "København S", ("32",)),
    ("2400", "København NV", ("38",)),
    ("2450", "København SV", ("36",)),
    ("2500", "Valby", ("36",)),
    ("2600", "Glostrup", ("43",)),
    ("2800", "Kongens Lyngby", ("45",)),
    ("2900", "Hellerup", ("39",)),
    ("3000", "Helsingør", ("49",)),
    ("3400", "Hillerød", ("48",)),
    ("4000", "Roskilde", ("46",)),
    ("4600", "Køge", ("56",)),
    ("4700", "Næstved", ("55",)),
    ("5000", "Odense C", ("66", "65")),
    ("5200", "Odense V", ("66",)),
    ("5700", "Svendborg", ("62",)),
    ("6000", "Kolding", ("75",)),
    ("6400", "Sønderborg", ("74",)),
    ("6700", "Esbjerg", ("75", "76")),
    ("7000", "Fredericia", ("75",)),
    ("7100", "Vejle", ("75", "76")),
    ("7400", "Herning", ("97",)),
    ("7500", "Holstebro", ("97",)),
    ("8000", "Aarhus C", ("86", "87")),
    ("8200", "Aarhus N", ("86", "89")),
    ("8600", "Silkeborg", ("86",)),
    ("8700", "Horsens", ("75",)),
    ("8900", "Randers C", ("86", "87")),
    ("9000", "Aalborg", ("98", "96")),
    ("9800", "Hjørring", ("98",)),
    ("3700", "Rønne", ("56",)),
)
# Copenhagen and Aarhus are over-represented, as in a real customer base.
_TOWN_WEIGHTS = tuple(
    5 if code < "2500" else 3 if code in ("8000", "8200", "5000", "9000") else 1
    for code, _, _ in _DANISH_TOWNS
)


@dataclass(frozen=True)
class _Country:
    """What a customer from one foreign country looks like."""

    towns: tuple[tuple[str, str], ...]
    streets: tuple[str, ...]
    surnames: tuple[str, ...]
    trades: tuple[str, ...]
    suffixes: tuple[str, ...]
    currency: str
    language: str
    dial: str
    tld: str


_FOREIGN = {
    "Sweden": _Country(
        towns=(("111 57", "Stockholm"), ("411 06", "Göteborg"), ("211 20", "Malmö")),
        streets=("Drottninggatan", "Kungsgatan", "Storgatan", "Sveavägen"),
        surnames=("Lindqvist", "Nilsson", "Karlsson", "Svensson", "Berglund"),
        trades=("Bygg", "Trä", "Data", "Logistik", "Handel"),
        suffixes=("AB",),
        currency="SEK",
        language="Swedish",
        dial="+46",
        tld="se",
    ),
    "Norway": _Country(
        towns=(("0150", "Oslo"), ("5003", "Bergen"), ("7011", "Trondheim")),
        streets=("Karl Johans gate", "Storgata", "Kongens gate", "Torggata"),
        surnames=("Haugen", "Bakke", "Johansen", "Solberg", "Dahl"),
        trades=("Bygg", "Fisk", "Energi", "Transport", "Handel"),
        suffixes=("AS", "ASA"),
        currency="NOK",
        language="Norwegian",
        dial="+47",
        tld="no",
    ),
    "Germany": _Country(
        towns=(("24937", "Flensburg"), ("20095", "Hamburg"), ("24103", "Kiel")),
        streets=("Hauptstraße", "Bahnhofstraße", "Holm", "Große Straße"),
        surnames=("Schulz", "Hoffmann", "Petersen", "Wagner", "Becker"),
        trades=("Holzhandel", "Metallbau", "Logistik", "Technik", "Handel"),
        suffixes=("GmbH", "GmbH & Co. KG"),
        currency="EUR",
        language="German",
        dial="+49",
        tld="de",
    ),
}
_CVR_WEIGHTS = (2, 7, 6, 5, 4, 3, 2)


def seed_debtors(
    sandbox: UnicontaSandbox, company_id: int, count: int = 300, seed: int = 1
) -> list[str]:
    """Create ``count`` debtors (deterministic for ``seed``); return their Account numbers.

    Accounts continue after the highest numeric account already present, starting at "10000".
    Seeding is a bulk import: it fires no Change URL callbacks.
    """
    rng = random.Random(seed)
    existing = [
        int(row["Account"])
        for row in sandbox.snapshot(company_id, "DebtorClient")
        if str(row["Account"]).isdigit()
    ]
    start = max([FIRST_ACCOUNT - 1, *existing]) + 1
    now = sandbox.clock.now().astimezone(UTC)
    used: set[str] = set()
    rows = [
        _debtor(rng, str(start + i), created_at(rng, i, count, now), used) for i in range(count)
    ]
    return [str(key) for key in sandbox.load(company_id, "DebtorClient", rows)]


def seed_creditors(
    sandbox: UnicontaSandbox, company_id: int, count: int = 100, seed: int = 1
) -> list[str]:
    """Create ``count`` suppliers (deterministic for ``seed``); return their Account numbers.

    Accounts start at "50000" (or after the highest numeric creditor account). About 5 % are
    Swedish or German suppliers. Seeding is a bulk import: it fires no Change URL callbacks.
    """
    rng = random.Random(seed)
    existing = [
        int(row["Account"])
        for row in sandbox.snapshot(company_id, "CreditorClient")
        if str(row["Account"]).isdigit()
    ]
    start = max([FIRST_CREDITOR_ACCOUNT - 1, *existing]) + 1
    now = sandbox.clock.now().astimezone(UTC)
    used: set[str] = set()
    rows = [
        _creditor(rng, str(start + i), created_at(rng, i, count, now), used) for i in range(count)
    ]
    return [str(key) for key in sandbox.load(company_id, "CreditorClient", rows)]


def _creditor(rng: random.Random, account: str, created: str, used: set[str]) -> dict[str, Any]:
    """One supplier: a Danish business, or now and then a Swedish or German one."""
    roll = rng.random()
    if roll < 0.025:
        row = _foreign(rng, "Sweden", used)
    elif roll < 0.05:
        row = _foreign(rng, "Germany", used)
    else:
        row = _danish(rng, used)
        row.update({"Group": "Leverandør", "Vat": "K25"})
    if row["Country"] != "Denmark":
        row.update({"Group": "Udland", "Vat": None})
    row.pop("PriceGroup", None)
    balance = Decimal(rng.randint(0, 80_000_00)) / 100 if rng.random() < 0.5 else Decimal(0)
    row.update(
        {
            "Account": account,
            "Created": created,
            "CurBalance": float(balance),
            "Payment": rng.choice(("Netto 8", "Netto 14", "Netto 30", "Netto 30")),
            "Blocked": rng.random() < 0.01,
        }
    )
    return row


def created_at(rng: random.Random, index: int, count: int, now: datetime) -> str:
    """Creation time rising with the account number, never after "now"."""
    span = (CREATED_TO - CREATED_FROM).total_seconds()
    offset = span * index / max(count, 1) + rng.uniform(0, span / max(count, 1))
    created = min(CREATED_FROM + timedelta(seconds=int(offset)), now)
    return created.strftime("%Y-%m-%dT%H:%M:%SZ")


def _debtor(rng: random.Random, account: str, created: str, used: set[str]) -> dict[str, Any]:
    """One debtor; about 4 % are Swedish, Norwegian or German customers.

    ``used`` collects CVR numbers and web domains already handed out, to keep them unique.
    """
    roll = rng.random()
    if roll < 0.015:
        row = _foreign(rng, "Sweden", used)
    elif roll < 0.028:
        row = _foreign(rng, "Norway", used)
    elif roll < 0.04:
        row = _foreign(rng, "Germany", used)
    else:
        row = _danish(rng, used)
    balance = Decimal(0)
    overdue = Decimal(0)
    if rng.random() < 0.45:
        balance = Decimal(rng.randint(500, 250_000_00)) / 100
        if rng.random() < 0.25:
            overdue = (balance * Decimal(rng.randint(10, 100)) / 100).quantize(Decimal("0.01"))
    row.update(
        {
            "Account": account,
            "Created": created,
            "CurBalance": float(balance),
            "Overdue": float(overdue),
            "CreditMax": rng.choice((0, 0, 10_000, 25_000, 50_000, 100_000)),
            "Blocked": rng.random() < 0.02,
            "PricesInclVat": False,
        }
    )
    return row


def _company_name(rng: random.Random) -> str:
    """A plausible Danish business name."""
    surname = rng.choice(SURNAMES)
    pattern = rng.randrange(8)
    if pattern == 0:
        return f"{surname} & Søn ApS"
    if pattern == 1:
        return f"{surname} {rng.choice(_TRADES)}"
    if pattern == 2:
        return f"{rng.choice(_ADJECTIVES + _COMPASS)} {rng.choice(_NOUNS)} A/S"
    if pattern == 3:
        return f"{surname} & {rng.choice(SURNAMES)} I/S"
    if pattern == 4:
        return f"{surname}s {rng.choice(_TRADES)} ApS"
    if pattern == 5:
        return f"{rng.choice(_COMPASS)}{rng.choice(_NOUNS).lower()} ApS"
    if pattern == 6:
        trade = rng.choice(("Consult", "Design", "Rådgivning"))
        return f"{rng.choice(FIRST_NAMES)} {surname} {trade}"
    return f"{surname} {rng.choice(_NOUNS)} ApS"


def _domain(name: str, tld: str, used: set[str]) -> str:
    """Unique web domain from a company name ("Hansen & Søn ApS" -> "hansen-og-soen.dk")."""
    lowered = name.lower()
    for suffix in (" aps", " a/s", " i/s", " gmbh & co. kg", " gmbh", " asa", " as", " ab"):
        if lowered.endswith(suffix):
            lowered = lowered[: -len(suffix)]
            break
    for old, new in (("æ", "ae"), ("ø", "oe"), ("å", "aa"), ("ä", "ae"), ("ö", "oe"),
                     ("ü", "ue"), ("ß", "ss"), ("&", " og ")):  # fmt: skip
        lowered = lowered.replace(old, new)
    slug = "-".join("".join(ch if ch.isalnum() else " " for ch in lowered).split())
    domain = f"{slug}.{tld}"
    number = 1
    while domain in used:
        number += 1
        domain = f"{slug}{number}.{tld}"
    used.add(domain)
    return domain


def _cvr(rng: random.Random, used: set[str]) -> str:
    """A fresh 8-digit CVR number with a valid mod-11 check digit."""
    while True:
        digits = [rng.randint(1, 9), *(rng.randint(0, 9) for _ in range(6))]
        check = -sum(w * d for w, d in zip(_CVR_WEIGHTS, digits, strict=True)) % 11
        if check == 10:
            continue
        number = "".join(map(str, digits)) + str(check)
        if number not in used:
            used.add(number)
            return number


def danish_phone(rng: random.Random, prefix: str) -> str:
    """``+45 33 12 34 56`` style number."""
    rest = f"{rng.randint(0, 999999):06d}"
    return f"+45 {prefix} {rest[0:2]} {rest[2:4]} {rest[4:6]}"


def _street(rng: random.Random, streets: tuple[str, ...], floors: bool) -> str:
    """Street, house number and (for Danish flats) floor and side."""
    address = f"{rng.choice(streets)} {rng.randint(1, 180)}"
    if rng.random() < 0.1:
        address += rng.choice("ABC")
    if floors and rng.random() < 0.35:
        address += f", {rng.choice(_FLOORS)}"
    return address


def _danish(rng: random.Random, used: set[str]) -> dict[str, Any]:
    """A Danish business customer."""
    name = _company_name(rng)
    domain = _domain(name, "dk", used)
    zip_code, city, prefixes = rng.choices(_DANISH_TOWNS, weights=_TOWN_WEIGHTS)[0]
    cvr = _cvr(rng, used)
    row: dict[str, Any] = {
        "Name": name,
        "Address1": _street(rng, _STREETS, floors=True),
        "ZipCode": zip_code,
        "City": city,
        "Country": "Denmark",
        "Phone": danish_phone(rng, rng.choice(prefixes)),
        "ContactPerson": f"{rng.choice(FIRST_NAMES)} {rng.choice(SURNAMES)}",
        "ContactEmail": f"{rng.choice(('info', 'kontakt', 'mail'))}@{domain}",
        "InvoiceEmail": f"{rng.choice(('faktura', 'bogholderi', 'regnskab'))}@{domain}",
        "Www": f"www.{domain}",
        "CompanyRegNo": cvr,
        "VatNumber": f"DK{cvr}",
        "Group": "Indland",
        "Payment": rng.choice(("Netto 8", "Netto 14", "Netto 14", "Netto 30", "Lb. md. + 30")),
        "Currency": "DKK",
        "PriceGroup": rng.choice(("1", "1", "1", "2")),
        "VatZone": "Domestic",
        "Vat": "S25",
        "UserLanguage": "Danish",
    }
    if rng.random() < 0.4:
        row["MobilPhone"] = danish_phone(rng, rng.choice(("20", "22", "26", "28", "30", "40")))
    if rng.random() < 0.05:
        row["EAN"] = _gln(rng)
        row["PaymentFormat"] = "FIK71"
    if rng.random() < 0.08:
        row["Address2"] = f"Att. {rng.choice(FIRST_NAMES)} {rng.choice(SURNAMES)}"
    if rng.random() < 0.1:
        d_zip, d_city, _ = rng.choice(_DANISH_TOWNS)
        row.update(
            {
                "DeliveryName": name,
                "DeliveryAddress1": _street(rng, _STREETS, floors=False),
                "DeliveryZipCode": d_zip,
                "DeliveryCity": d_city,
                "DeliveryCountry": "Denmark",
            }
        )
    return row


def _gln(rng: random.Random) -> str:
    """A 13-digit Danish GLN (EAN location number) with a valid check digit."""
    body = "5790" + f"{rng.randint(0, 99_999_999):08d}"
    return body + ean.calc_check_digit(body)


def _foreign(rng: random.Random, country: str, used: set[str]) -> dict[str, Any]:
    """A Swedish, Norwegian or German customer with a VAT number valid for its country."""
    spec = _FOREIGN[country]
    zip_code, city = rng.choice(spec.towns)
    name = f"{rng.choice(spec.surnames)} {rng.choice(spec.trades)} {rng.choice(spec.suffixes)}"
    domain = _domain(name, spec.tld, used)
    reg_no, vat_number = _foreign_vat(rng, country)
    return {
        "Name": name,
        "Address1": _street(rng, spec.streets, floors=False),
        "ZipCode": zip_code,
        "City": city,
        "Country": country,
        "Phone": f"{spec.dial} {rng.randint(10, 99)} {rng.randint(100000, 9999999)}",
        "ContactEmail": f"info@{domain}",
        "InvoiceEmail": f"invoice@{domain}",
        "Www": f"www.{domain}",
        "CompanyRegNo": reg_no,
        "VatNumber": vat_number,
        "Group": "Udland" if country == "Norway" else "EU",
        "Payment": "Netto 30",
        "Currency": spec.currency,
        "VatZone": "Foreign" if country == "Norway" else "EU",
        "Vat": "S0" if country == "Norway" else "EU0",
        "UserLanguage": spec.language,
    }


def _foreign_vat(rng: random.Random, country: str) -> tuple[str, str]:
    """Registration number and VAT number that pass ``python-stdnum``'s validators."""
    while True:
        if country == "Sweden":
            stem = "55" + f"{rng.randint(0, 9_999_999):07d}"
            candidates = [(stem + d, f"SE{stem}{d}01") for d in "0123456789"]
            validator = se_vat.is_valid
        elif country == "Norway":
            stem = str(rng.randint(8, 9)) + f"{rng.randint(0, 9_999_999):07d}"
            candidates = [(stem + d, f"NO{stem}{d}MVA") for d in "0123456789"]
            validator = no_mva.is_valid
        else:
            stem = str(rng.randint(1, 3)) + f"{rng.randint(0, 9_999_999):07d}"
            register = f"HRB {rng.randint(1000, 99999)}"
            candidates = [(register, f"DE{stem}{d}") for d in "0123456789"]
            validator = de_vat.is_valid
        for reg_no, vat_number in candidates:
            if validator(vat_number):
                return reg_no, vat_number
