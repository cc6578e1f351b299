"""Deterministic, realistic Dutch and Belgian contacts for tests, demos and benchmarks.

Postcodes belong to their towns, phone numbers use the town's area code, Dutch VAT numbers
pass the RSIN 11-check and Belgian enterprise/VAT numbers the mod-97 check (both confirmed
with python-stdnum), so validation code in the engine meets data shaped like a real Yuki
domain. The same seed always yields the same contacts, ids included.
"""

from __future__ import annotations

import random
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from stdnum.be import vat as be_vat
from stdnum.nl import btw as nl_btw
from stdnum.nl import postcode as nl_postcode

from ledgerbridge.sandbox.yuki.state import YukiSandbox

FIRST_CODE = 10001
DEMO_ACCESS_KEY = "sandbox-access-key"
_CREATED_FROM = datetime(2018, 1, 2, 8, 0, tzinfo=UTC)
_CREATED_TO = datetime(2025, 12, 30, 16, 0, tzinfo=UTC)

# (town, postcode range, area code)
_NL_TOWNS: tuple[tuple[str, tuple[int, int], str], ...] = (
    ("Amsterdam", (1011, 1109), "020"),
    ("Rotterdam", (3011, 3089), "010"),
    ("Den Haag", (2491, 2599), "070"),
    ("Utrecht", (3511, 3585), "030"),
    ("Eindhoven", (5611, 5658), "040"),
    ("Groningen", (9711, 9747), "050"),
    ("Tilburg", (5011, 5049), "013"),
    ("Almere", (1311, 1363), "036"),
    ("Breda", (4811, 4839), "076"),
    ("Nijmegen", (6511, 6546), "024"),
    ("Haarlem", (2011, 2037), "023"),
    ("Arnhem", (6811, 6846), "026"),
    ("Amersfoort", (3811, 3829), "033"),
    ("Zwolle", (8011, 8048), "038"),
    ("Leiden", (2311, 2334), "071"),
    ("Maastricht", (6211, 6229), "043"),
    ("Delft", (2611, 2629), "015"),
    ("Alkmaar", (1811, 1827), "072"),
    ("Deventer", (7411, 7429), "0570"),
    ("'s-Hertogenbosch", (5211, 5247), "073"),
)
_BE_TOWNS: tuple[tuple[str, tuple[int, int], str], ...] = (
    ("Antwerpen", (2000, 2000), "03"),
    ("Gent", (9000, 9000), "09"),
    ("Brussel", (1000, 1000), "02"),
    ("Leuven", (3000, 3000), "016"),
    ("Brugge", (8000, 8000), "050"),
    ("Mechelen", (2800, 2800), "015"),
    ("Hasselt", (3500, 3500), "011"),
    ("Kortrijk", (8500, 8500), "056"),
    ("Aalst", (9300, 9300), "053"),
    ("Genk", (3600, 3600), "089"),
    ("Oostende", (8400, 8400), "059"),
    ("Namur", (5000, 5000), "081"),
)
_NL_STREETS = (
    "Kerkstraat", "Stationsweg", "Dorpsstraat", "Hoofdstraat", "Molenweg", "Industrieweg",
    "Marktplein", "Schoolstraat", "Nieuwstraat", "Julianastraat", "Wilhelminastraat",
    "Beatrixlaan", "Parallelweg", "Havenstraat", "Kanaalweg", "Keizersgracht", "Prinsengracht",
    "Herengracht", "Oudegracht", "Vredenburg", "Papendorpseweg", "Zuidplein",
    "Laan van Meerdervoort", "Amsterdamsestraatweg", "Energieweg", "Nijverheidsweg",
    "Ambachtsweg", "Spoorlaan",
)  # fmt: skip
_BE_STREETS = (
    "Meir", "Kerkstraat", "Stationsstraat", "Rijnkaai", "Veldstraat", "Grote Markt",
    "Diestsestraat", "Bondgenotenlaan", "Steenweg", "Nieuwstraat", "Kortrijksesteenweg",
    "Leuvensesteenweg", "Frankrijklei", "Coupure", "Industrielaan", "Brugsesteenweg",
)  # fmt: skip
_NL_SURNAMES = (
    ("", "Jansen"), ("de", "Vries"), ("van den", "Berg"), ("van", "Dijk"), ("", "Bakker"),
    ("", "Visser"), ("", "Smit"), ("", "Meijer"), ("de", "Boer"), ("", "Mulder"),
    ("de", "Groot"), ("", "Bos"), ("", "Vos"), ("", "Peters"), ("", "Hendriks"),
    ("van", "Leeuwen"), ("", "Dekker"), ("", "Brouwer"), ("de", "Wit"), ("", "Dijkstra"),
    ("de", "Graaf"), ("van der", "Meer"), ("van der", "Linden"), ("", "Kok"), ("de", "Haan"),
    ("", "Vermeulen"), ("van den", "Heuvel"), ("van der", "Veen"), ("van den", "Broek"),
    ("de", "Bruijn"), ("", "Schouten"), ("van", "Beek"), ("", "Willems"), ("van", "Vliet"),
    ("", "Hoekstra"), ("", "Maas"), ("", "Verhoeven"), ("", "Koster"), ("van", "Dam"),
    ("", "Prins"), ("", "Blom"), ("", "Huisman"),
)  # fmt: skip
_BE_SURNAMES = (
    ("", "Peeters"), ("", "Janssens"), ("", "Maes"), ("", "Jacobs"), ("", "Mertens"),
    ("", "Willems"), ("", "Claes"), ("", "Goossens"), ("", "Wouters"), ("De", "Smet"),
    ("", "Dubois"), ("", "Lambert"), ("", "Dupont"), ("Van", "Damme"), ("De", "Backer"),
    ("", "Verstraete"), ("Van", "Acker"), ("", "Desmet"),
)  # fmt: skip
_FIRST_NAMES = (
    "Jan", "Pieter", "Sander", "Daan", "Lieke", "Sanne", "Anouk", "Emma", "Sophie", "Thijs",
    "Lars", "Bram", "Femke", "Joost", "Marieke", "Wouter", "Ruben", "Eline", "Koen", "Inge",
    "Tom", "Sofie", "Lotte", "Jeroen", "Nathalie", "Bart", "Kristof", "Els", "Wim", "Annelies",
)  # fmt: skip
_TRADES = (
    "Installatietechniek", "Bouw", "Schilderwerken", "Transport", "Advies", "Dakwerken",
    "Elektrotechniek", "Hoveniers", "Metaalbewerking", "Administratie", "Logistiek",
    "Interieurbouw", "Schoonmaak", "Automatisering", "Tegelwerken", "Loodgieters",
)  # fmt: skip
_PREFIXES = ("Bouwbedrijf", "Bakkerij", "Garage", "Drukkerij", "Houthandel", "Kaashandel")
_ADJECTIVES = ("Hollandse", "Brabantse", "Friese", "Zeeuwse", "Noordelijke", "Vlaamse")
_NOUNS = (
    "Houthandel", "Staalbouw", "Bloemenveiling", "Zuivel", "Techniek", "Energie", "Koffie",
    "Verpakkingen", "Meubelmakerij", "Glashandel", "Vishandel", "Machinefabriek",
)  # fmt: skip
_NL_FORMS = ("B.V.", "B.V.", "B.V.", "V.O.F.", "Holding B.V.", "")
_BE_FORMS = ("BV", "BV", "NV", "CommV", "VZW")
_PROVIDERS_NL = ("gmail.com", "ziggo.nl", "kpnmail.nl", "hotmail.com", "outlook.com")
_PROVIDERS_BE = ("gmail.com", "telenet.be", "skynet.be", "hotmail.com", "proximus.be")
_POSTCODE_LETTERS = "ABCEGHJKLMNPRTVWXZ"


@dataclass(frozen=True)
class SeededDomain:
    """What ``seed_demo`` created: the access key a client authenticates with, and ids."""

    access_key: str
    domain_id: str
    administration_id: str
    contact_ids: tuple[str, ...]


def seed_demo(
    sandbox: YukiSandbox,
    contacts: int = 300,
    seed: int = 1,
    access_key: str = DEMO_ACCESS_KEY,
    daily_call_limit: int | None = None,
) -> SeededDomain:
    """One Dutch domain with one administration, an access key and seeded contacts."""
    rng = random.Random(f"yuki-demo-{seed}")
    domain = sandbox.add_domain(
        "ledgerbridge-demo", domain_id=str(_uuid(rng)), daily_call_limit=daily_call_limit
    )
    rsin = _rsin(rng)
    admin = sandbox.add_administration(
        domain.id,
        "Demo Handelsonderneming B.V.",
        administration_id=str(_uuid(rng)),
        country="NL",
        address_line="Oudegracht 118",
        postcode="3511 AW",
        city="Utrecht",
        coc_number=f"{rng.randrange(10_000_000, 99_999_999)}",
        vat_number=f"NL{rsin}B01",
    )
    sandbox.add_access_key(access_key, [domain.id])
    ids = seed_contacts(sandbox, domain.id, count=contacts, seed=seed)
    return SeededDomain(access_key, domain.id, admin.id, tuple(ids))


def seed_contacts(
    sandbox: YukiSandbox,
    domain_id: str,
    count: int = 300,
    seed: int = 1,
    belgian_share: float = 0.2,
    person_share: float = 0.25,
) -> list[str]:
    """Add ``count`` contacts to a domain and return their ids.

    About three in four are customers, one in eight suppliers, one in twenty inactive, and
    one in seven has no relationship code (created in Yuki, not by the integration).
    Relationship codes count up from 10001 after any numeric code already present.
    """
    rng = random.Random(f"yuki-contacts-{seed}")
    existing = [c.code for c in sandbox.contacts(domain_id)]
    next_code = max([int(c) + 1 for c in existing if c.isdigit()] + [FIRST_CODE])
    now = sandbox.clock.now()
    end = min(_CREATED_TO, now - timedelta(days=1))
    span = max((end - _CREATED_FROM).total_seconds(), 0.0)
    used: set[str] = set()
    rows: list[dict[str, Any]] = []
    for index in range(count):
        created = _CREATED_FROM + timedelta(seconds=span * (index + rng.random()) / max(count, 1))
        modified = min(created + timedelta(days=rng.randrange(0, 400)), now)
        belgian = rng.random() < belgian_share
        if rng.random() < person_share:
            row = _person(rng, belgian, index)
        else:
            row = _company(rng, belgian, index, used)
        code = ""
        if rng.random() >= 1 / 7:
            code = str(next_code)
            next_code += 1
        row.update(
            id=str(_uuid(rng)),
            code=code,
            created=created,
            modified=modified,
            is_customer=rng.random() < 0.75,
            is_supplier=rng.random() < 0.125,
            active=rng.random() >= 0.05,
        )
        rows.append(row)
    return sandbox.load_contacts(domain_id, rows)


def _uuid(rng: random.Random) -> uuid.UUID:
    """A version-4 UUID drawn from the seeded generator."""
    return uuid.UUID(int=rng.getrandbits(128), version=4)


def _rsin(rng: random.Random) -> str:
    """A 9-digit RSIN passing the 11-check, the base of a Dutch VAT number."""
    while True:
        digits = [rng.randrange(1, 10)] + [rng.randrange(10) for _ in range(7)]
        check = sum((9 - i) * d for i, d in enumerate(digits)) % 11
        if check < 10:
            number = "".join(map(str, digits)) + str(check)
            if nl_btw.is_valid(f"NL{number}B01"):
                return number


def _enterprise_number(rng: random.Random) -> str:
    """A Belgian enterprise number (10 digits, mod-97 check), also its VAT number's digits."""
    base = f"0{rng.randrange(2_000_000, 9_999_999):07d}"
    number = f"{base}{97 - int(base) % 97:02d}"
    if not be_vat.is_valid(number):
        raise AssertionError(f"generated an invalid Belgian enterprise number {number}")
    return number


def _address(rng: random.Random, belgian: bool) -> dict[str, str]:
    """Street address with a postcode that belongs to the town; phone with its area code."""
    town, (low, high), area = rng.choice(_BE_TOWNS if belgian else _NL_TOWNS)
    number = rng.randrange(1, 240)
    if belgian:
        street = f"{rng.choice(_BE_STREETS)} {number}"
        postcode = str(rng.randrange(low, high + 1))
        local = f"{rng.randrange(10**6, 10**7):07d}"
        phone = f"{area} {local[:3]} {local[3:5]} {local[5:]}"
        if len(area) == 3:
            phone = f"{area} {local[1:3]} {local[3:5]} {local[5:]}"
    else:
        suffix = rng.choice(("", "", "", "A", "-1", " bis"))
        street = f"{rng.choice(_NL_STREETS)} {number}{suffix}"
        postcode = f"{rng.randrange(low, high + 1)} {rng.choice(_POSTCODE_LETTERS)}"
        postcode += rng.choice(_POSTCODE_LETTERS)
        if not nl_postcode.is_valid(postcode):
            raise AssertionError(f"generated an invalid Dutch postcode {postcode}")
        digits = 10 - len(area)
        phone = f"{area}-{rng.randrange(10 ** (digits - 1) * 2, 10**digits)}"
    return {
        "address_line_1": street,
        "postcode": postcode,
        "city": town,
        "country": "BE" if belgian else "NL",
        "phone_home": phone,
    }


def _slug(text: str) -> str:
    """Lower-case letters and digits only, for e-mail addresses and web domains."""
    return re.sub(r"[^a-z0-9]", "", text.lower())


def _company(rng: random.Random, belgian: bool, index: int, used: set[str]) -> dict[str, Any]:
    """A company: name, visiting and postal address, VAT and chamber-of-commerce numbers."""
    prefix, surname = rng.choice(_BE_SURNAMES if belgian else _NL_SURNAMES)
    family = f"{prefix} {surname}".strip()
    family = family[0].upper() + family[1:]
    style = rng.randrange(4)
    if style == 0:
        base = f"{family} {rng.choice(_TRADES)}"
    elif style == 1:
        base = f"{rng.choice(_PREFIXES)} {family}"
    elif style == 2:
        base = f"{rng.choice(_ADJECTIVES)} {rng.choice(_NOUNS)}"
    else:
        base = f"{family} & Zonen"
    form = rng.choice(_BE_FORMS if belgian else _NL_FORMS)
    name = f"{base} {form}".strip()
    tld = "be" if belgian else "nl"
    domain = f"{_slug(base)}{index}.{tld}"
    row: dict[str, Any] = {"type": "Company", "full_name": name, **_address(rng, belgian)}
    while True:
        if belgian:
            number = _enterprise_number(rng)
            coc = f"{number[:4]}.{number[4:7]}.{number[7:]}"
            vat = f"BE{number}"
        else:
            coc = f"{rng.randrange(10_000_000, 99_999_999)}"
            vat = f"NL{_rsin(rng)}B01"
        if coc not in used and vat not in used:
            used.update((coc, vat))
            break
    row.update(
        coc_number=coc,
        vat_number=vat,
        email_work=f"{rng.choice(('info', 'administratie', 'facturen'))}@{domain}",
        website=f"www.{domain}",
    )
    if rng.random() < 0.7:
        row.update(
            mail_address_line_1=row["address_line_1"],
            mail_postcode=row["postcode"],
            mail_city=row["city"],
        )
    elif not belgian:
        box_postcode = f"{row['postcode'][:4]} {rng.choice(_POSTCODE_LETTERS)}A"
        row.update(
            mail_address_line_1=f"Postbus {rng.randrange(1, 9999)}",
            mail_postcode=box_postcode,
            mail_city=row["city"],
        )
    return row


def _person(rng: random.Random, belgian: bool, index: int) -> dict[str, Any]:
    """A private person: names (with a Dutch tussenvoegsel where it has one), private
    e-mail, phone and mobile, home address.
    """
    prefix, surname = rng.choice(_BE_SURNAMES if belgian else _NL_SURNAMES)
    first = rng.choice(_FIRST_NAMES)
    full = " ".join(p for p in (first, prefix, surname) if p)
    provider = rng.choice(_PROVIDERS_BE if belgian else _PROVIDERS_NL)
    mobile = f"{rng.randrange(10**7, 10**8)}"
    if belgian:
        mobile_number = (
            f"04{rng.choice('789')}{mobile[0]} {mobile[1:3]} {mobile[3:5]} {mobile[5:7]}"
        )
    else:
        mobile_number = f"06-{mobile}"
    return {
        "type": "Person",
        "full_name": full,
        "first_name": first,
        "middle_name": prefix if not belgian else "",
        "last_name": surname if not belgian else f"{prefix} {surname}".strip(),
        "email_home": f"{_slug(first)}.{_slug(prefix + surname)}{index}@{provider}",
        "mobile_home": mobile_number,
        **_address(rng, belgian),
    }
