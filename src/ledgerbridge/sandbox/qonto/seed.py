"""Deterministic, realistic French, Dutch and Belgian clients, invoices and credit notes.

SIREN numbers pass the Luhn check and French VAT numbers carry the right key, Dutch VAT numbers
pass the eleven-test, Belgian enterprise numbers the mod-97 check (all verified with
python-stdnum in the tests). Dutch and Belgian street lines put the house number and its suffix
after the street ("Keizersgracht 123-2", "Meir 45 bus 3"), French ones before it ("12 bis rue
de la Paix"), which is what the CRM's street/number/suffix split has to cope with.
"""

from __future__ import annotations

import random
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from stdnum import luhn
from stdnum.fr import siren as fr_siren

from ledgerbridge.sandbox.qonto.core import new_id
from ledgerbridge.sandbox.qonto.state import QontoSandbox

_FIRST_CREATED = datetime(2021, 1, 4, 8, 0, tzinfo=UTC)

_FR_SURNAMES = (
    "Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand", "Leroy",
    "Moreau", "Simon", "Laurent", "Lefèvre", "Michel", "Garcia", "David", "Bertrand", "Roux",
    "Vincent", "Fournier", "Morel", "Girard", "André", "Lefebvre", "Mercier", "Dupont",
    "Lambert", "Bonnet", "François", "Martinez", "Legrand", "Garnier", "Faure", "Rousseau",
    "Blanc", "Guérin", "Muller", "Henry", "Roussel", "Nicolas", "Perrin", "Morin", "Mathieu",
    "Clément", "Gauthier", "Dumont", "Lopez", "Fontaine", "Chevalier", "Robin",
)  # fmt: skip
_FR_FIRST = (
    "Camille", "Léa", "Manon", "Chloé", "Inès", "Sarah", "Julie", "Élodie", "Amélie", "Claire",
    "Lucas", "Hugo", "Louis", "Nathan", "Théo", "Julien", "Nicolas", "Antoine", "Mathieu",
    "Pierre", "Jérôme", "Sébastien", "François", "Stéphane",
)  # fmt: skip
_FR_TRADES = (
    "Bâtiment", "Conseil", "Menuiserie", "Plomberie", "Électricité", "Traiteur", "Transports",
    "Architecture", "Rénovation", "Paysages", "Informatique", "Communication", "Imprimerie",
)  # fmt: skip
_FR_NOUNS = (
    "Horizon", "Lumière", "Atlas", "Boréal", "Azur", "Cèdre", "Éole", "Granit", "Opale",
    "Vertige", "Saphir", "Alizé", "Tilleul", "Rivage",
)  # fmt: skip
_FR_STREETS = (
    "rue de la République", "avenue Jean Jaurès", "rue Victor Hugo", "boulevard Gambetta",
    "rue Pasteur", "place de la Mairie", "rue du Général de Gaulle", "avenue de la Gare",
    "rue des Lilas", "chemin des Vignes", "rue Nationale", "quai de la Loire",
    "rue du Faubourg Saint-Denis", "impasse des Tilleuls", "allée des Acacias",
    "rue de Rivoli", "boulevard Haussmann", "rue Sainte-Catherine", "cours Mirabeau",
)  # fmt: skip
# (postcode, town)
_FR_TOWNS = (
    *((f"750{n:02d}", "Paris") for n in range(1, 21)),
    ("69001", "Lyon"), ("69003", "Lyon"), ("69007", "Lyon"), ("13001", "Marseille"),
    ("13008", "Marseille"), ("31000", "Toulouse"), ("06000", "Nice"), ("44000", "Nantes"),
    ("67000", "Strasbourg"), ("34000", "Montpellier"), ("33000", "Bordeaux"), ("59000", "Lille"),
    ("35000", "Rennes"), ("51100", "Reims"), ("38000", "Grenoble"), ("21000", "Dijon"),
    ("49000", "Angers"), ("37000", "Tours"), ("92100", "Boulogne-Billancourt"),
    ("93100", "Montreuil"), ("64200", "Biarritz"), ("74000", "Annecy"),
)  # fmt: skip

_NL_SURNAMES = (
    "de Jong", "Jansen", "de Vries", "van den Berg", "van Dijk", "Bakker", "Janssen", "Visser",
    "Smit", "Meijer", "de Boer", "Mulder", "de Groot", "Bos", "Vos", "Peters", "Hendriks",
    "van Leeuwen", "Dekker", "Brouwer", "de Wit", "Dijkstra", "Smits", "de Graaf", "van der Meer",
    "Kok", "Jacobs", "de Haan", "Vermeulen", "van der Heijden",
)  # fmt: skip
_NL_FIRST = (
    "Anouk", "Sanne", "Lotte", "Eva", "Femke", "Lisa", "Iris", "Noor", "Daan", "Bram", "Sem",
    "Lars", "Thijs", "Ruben", "Jeroen", "Joost", "Maarten", "Wouter",
)  # fmt: skip
_NL_TRADES = (
    "Installatietechniek", "Bouw", "Schilderwerken", "Advies", "Logistiek", "Catering",
    "Dakwerken", "Hoveniers", "ICT", "Vastgoed", "Metaal", "Tandtechniek",
)  # fmt: skip
_NL_STREETS = (
    "Keizersgracht", "Herengracht", "Dorpsstraat", "Kerkstraat", "Stationsweg", "Hoofdstraat",
    "Molenweg", "Schoolstraat", "Nieuwe Binnenweg", "Oudegracht", "Laan van Meerdervoort",
    "Coolsingel", "Vismarkt", "Stratumseind", "Grote Markt", "Industrieweg", "Parallelweg",
)  # fmt: skip
# (first postcode number, last postcode number, town)
_NL_TOWNS = (
    (1011, 1109, "Amsterdam"), (3011, 3089, "Rotterdam"), (2491, 2597, "Den Haag"),
    (3511, 3585, "Utrecht"), (5611, 5658, "Eindhoven"), (9711, 9747, "Groningen"),
    (5011, 5049, "Tilburg"), (1311, 1363, "Almere"), (4811, 4839, "Breda"),
    (6511, 6546, "Nijmegen"), (2011, 2037, "Haarlem"), (6811, 6846, "Arnhem"),
    (8011, 8046, "Zwolle"), (2311, 2334, "Leiden"), (6211, 6229, "Maastricht"),
    (2611, 2629, "Delft"),
)  # fmt: skip
_NL_SUFFIXES = ("", "", "", "", "", "", "a", "b", "-1", "-2", "-hs", " A", "-3")

_BE_NL_SURNAMES = (
    "Peeters", "Janssens", "Maes", "Jacobs", "Mertens", "Willems", "Claes", "Goossens",
    "Wouters", "De Smet", "Vermeulen", "Van Damme", "Hermans", "Pauwels", "Aerts",
)  # fmt: skip
_BE_FR_SURNAMES = (
    "Dubois", "Lambert", "Dupont", "Renard", "Lejeune", "Collard", "Leclercq", "Masson",
    "Denis", "Gilson", "Lemaire", "Hubert", "Jacquet", "Piette",
)  # fmt: skip
_BE_NL_FIRST = ("Lien", "Elke", "Sofie", "Griet", "Jef", "Pieter", "Wim", "Koen", "Stijn", "Bart")
_BE_FR_FIRST = ("Aurélie", "Nathalie", "Céline", "Marie", "Olivier", "Benoît", "Cédric", "Luc")
_BE_NL_STREETS = (
    "Meir", "Veldstraat", "Kouter", "Steenstraat", "Bondgenotenlaan", "Diestsestraat",
    "Grote Markt", "Kerkstraat", "Stationsstraat", "Nieuwstraat",
)  # fmt: skip
_BE_FR_STREETS = (
    "Rue Neuve", "Avenue Louise", "Chaussée de Waterloo", "Rue du Marché", "Boulevard d'Avroy",
    "Rue de Fer", "Place Saint-Lambert", "Rue des Carmes", "Avenue de la Toison d'Or",
)  # fmt: skip
# (postcode, town, language)
_BE_TOWNS = (
    ("1000", "Bruxelles", "fr"), ("1050", "Ixelles", "fr"), ("1030", "Schaerbeek", "fr"),
    ("1000", "Brussel", "nl"), ("2000", "Antwerpen", "nl"), ("2018", "Antwerpen", "nl"),
    ("9000", "Gent", "nl"), ("8000", "Brugge", "nl"), ("3000", "Leuven", "nl"),
    ("2800", "Mechelen", "nl"), ("3500", "Hasselt", "nl"), ("8500", "Kortrijk", "nl"),
    ("4000", "Liège", "fr"), ("5000", "Namur", "fr"), ("6000", "Charleroi", "fr"),
    ("7000", "Mons", "fr"), ("1300", "Wavre", "fr"), ("1348", "Louvain-la-Neuve", "fr"),
)  # fmt: skip


@dataclass(frozen=True)
class _Offer:
    """A kind of line an organization sells: titles per language, unit, price range."""

    titles: dict[str, str]
    unit: str
    low: int
    high: int
    step: Decimal
    max_quantity: int
    vat_rate: str


_OFFERS = (
    _Offer({"fr": "Prestation de conseil", "nl": "Adviesuren", "en": "Consulting"},
           "hour", 65, 180, Decimal("0.5"), 40, "0.2"),
    _Offer({"fr": "Développement web", "nl": "Webontwikkeling", "en": "Web development"},
           "day", 450, 1100, Decimal(1), 20, "0.2"),
    _Offer({"fr": "Maintenance mensuelle", "nl": "Maandelijks onderhoud",
            "en": "Monthly maintenance"}, "month", 49, 990, Decimal(1), 12, "0.2"),
    _Offer({"fr": "Formation", "nl": "Training", "en": "Training"},
           "day", 600, 1500, Decimal(1), 5, "0.2"),
    _Offer({"fr": "Licence logicielle", "nl": "Softwarelicentie", "en": "Software licence"},
           "unit", 19, 499, Decimal(1), 50, "0.2"),
    _Offer({"fr": "Frais de déplacement", "nl": "Reiskosten", "en": "Travel expenses"},
           "unit", 25, 400, Decimal(1), 3, "0.2"),
    _Offer({"fr": "Impression catalogues", "nl": "Drukwerk catalogi", "en": "Catalogue printing"},
           "piece", 2, 15, Decimal(50), 2000, "0.2"),
    _Offer({"fr": "Travaux de rénovation", "nl": "Renovatiewerken", "en": "Renovation works"},
           "hour", 45, 75, Decimal("0.5"), 60, "0.1"),
    _Offer({"fr": "Ouvrage de référence", "nl": "Naslagwerk", "en": "Reference book"},
           "piece", 18, 65, Decimal(1), 30, "0.055"),
    _Offer({"fr": "Abonnement presse", "nl": "Persabonnement", "en": "Press subscription"},
           "month", 9, 39, Decimal(1), 12, "0.021"),
    _Offer({"fr": "Câble cuivre", "nl": "Koperkabel", "en": "Copper cable"},
           "meter", 2, 9, Decimal(5), 500, "0.2"),
    _Offer({"fr": "Granulés bois", "nl": "Houtpellets", "en": "Wood pellets"},
           "kilogram", 1, 3, Decimal(10), 1500, "0.2"),
)  # fmt: skip
_TERMS_DAYS = (0, 15, 30, 30, 30, 45, 60)


def seed_clients(sandbox: QontoSandbox, count: int = 200, seed: int = 1) -> list[str]:
    """Import ``count`` clients (deterministic for ``seed``); return their ids.

    About 55 % French, 25 % Dutch, 20 % Belgian; three in four are companies. Importing sends
    no webhooks.
    """
    rng = random.Random(f"qonto-clients-{seed}")
    now = sandbox.clock.now().astimezone(UTC)
    span = max((now - _FIRST_CREATED).total_seconds(), 1.0)
    used_domains: set[str] = set()
    ids: list[str] = []
    for index in range(count):
        roll = rng.random()
        country = "FR" if roll < 0.55 else "NL" if roll < 0.80 else "BE"
        company = rng.random() < 0.75
        data = _client(rng, country, company, used_domains)
        created = _FIRST_CREATED + timedelta(seconds=span * (index + rng.random()) / max(count, 1))
        ids.append(sandbox.load_client(data, new_id(rng), min(created, now)))
    return ids


def seed_products(sandbox: QontoSandbox) -> list[str]:
    """Create the catalogue products the seeded invoices draw their lines from."""
    ids = []
    for offer in _OFFERS:
        product = sandbox.create_product(
            {
                "title": offer.titles["fr"],
                "type": "service" if offer.unit in ("hour", "day", "month") else "good",
                "unit_price": {"value": f"{offer.low}.00", "currency": "EUR"},
                "vat_rate": offer.vat_rate,
                "unit": offer.unit,
            }
        )
        ids.append(product["id"])
    return ids


def seed_invoices(
    sandbox: QontoSandbox,
    count: int = 600,
    seed: int = 1,
    client_ids: Sequence[str] | None = None,
    credit_note_share: float = 0.03,
) -> list[str]:
    """Import ``count`` invoices over the last two years for the given (or all) clients.

    Older invoices are mostly paid, some unpaid or canceled; recent ones include drafts. Numbers
    follow issue dates. About ``credit_note_share`` of the finalised ones get a credit note,
    a third of those for the full amount (which cancels the invoice). Importing sends no
    webhooks.
    """
    rng = random.Random(f"qonto-invoices-{seed}")
    clients = [sandbox.get_client(cid) for cid in client_ids] if client_ids else sandbox.clients()
    candidates = [c for c in clients if c is not None and c.get("currency") and c.get("locale")]
    if not candidates and count:
        raise ValueError("seed clients before invoices")
    now = sandbox.clock.now().astimezone(UTC)
    start = now.date() - timedelta(days=730)
    weights = [rng.paretovariate(1.6) for _ in candidates]
    picks = rng.choices(candidates, weights=weights, k=count)
    days = sorted(rng.randrange(731) for _ in range(count))
    ids: list[str] = []
    for client, offset in zip(picks, days, strict=True):
        issue = start + timedelta(days=offset)
        data, status, paid_at, created = _invoice(rng, sandbox, client, issue, now)
        invoice_id = sandbox.load_invoice(data, new_id(rng), created, status, paid_at)
        ids.append(invoice_id)
        if status in ("unpaid", "paid") and rng.random() < credit_note_share:
            _credit_note(rng, sandbox, invoice_id, issue, now)
    return ids


def seed_organization(
    sandbox: QontoSandbox, clients: int = 200, invoices: int = 600, seed: int = 1
) -> tuple[list[str], list[str]]:
    """Products, clients and invoices in one call; return the client and invoice ids."""
    seed_products(sandbox)
    client_ids = seed_clients(sandbox, clients, seed)
    invoice_ids = seed_invoices(sandbox, invoices, seed, client_ids)
    return client_ids, invoice_ids


# ------------------------------------------------------------------ clients


def _client(
    rng: random.Random, country: str, company: bool, used_domains: set[str]
) -> dict[str, Any]:
    """One client of the given country."""
    if country == "FR":
        return _french(rng, company, used_domains)
    if country == "NL":
        return _dutch(rng, company, used_domains)
    return _belgian(rng, company, used_domains)


def _currency(rng: random.Random) -> str:
    """Nearly everyone is billed in euros; a few export clients in another currency."""
    roll = rng.random()
    return "GBP" if roll < 0.01 else "USD" if roll < 0.015 else "CHF" if roll < 0.02 else "EUR"


def _domain(name: str, tld: str, used: set[str]) -> str:
    """A unique web domain made from a name."""
    plain = unicodedata.normalize("NFKD", name.lower())
    plain = "".join(ch for ch in plain if not unicodedata.combining(ch))
    for suffix in (" sas", " sarl", " sa", " b.v.", " bv", " srl", " nv", " & zn."):
        if plain.endswith(suffix):
            plain = plain[: -len(suffix)]
    slug = "-".join("".join(ch if ch.isalnum() else " " for ch in plain).split())
    domain = f"{slug}.{tld}"
    number = 1
    while domain in used:
        number += 1
        domain = f"{slug}{number}.{tld}"
    used.add(domain)
    return domain


def _billing(street: str, zip_code: str, city: str, country: str) -> dict[str, str]:
    """A ``billing_address`` object."""
    return {"street_address": street, "city": city, "zip_code": zip_code, "country_code": country}


def _siren(rng: random.Random) -> str:
    """A 9-digit SIREN with its Luhn check digit."""
    body = str(rng.randint(30_000_000, 99_999_999))
    return body + luhn.calc_check_digit(body)


def _french(rng: random.Random, company: bool, used: set[str]) -> dict[str, Any]:
    """A French company (SIREN, FR VAT) or person."""
    zip_code, city = rng.choice(_FR_TOWNS)
    number = rng.randint(1, 180)
    suffix = rng.choice(("", "", "", "", "", "", " bis", " ter"))
    street = f"{number}{suffix} {rng.choice(_FR_STREETS)}"
    phone = {
        "country_code": "+33",
        "number": f"{rng.choice('1234569')}{rng.randint(0, 99_999_999):08d}",
    }
    if company:
        surname = rng.choice(_FR_SURNAMES)
        pattern = rng.randrange(6)
        name = (
            f"{surname} et Fils" if pattern == 0
            else f"{surname} {rng.choice(_FR_TRADES)}" if pattern == 1
            else f"{rng.choice(_FR_NOUNS)} {rng.choice(_FR_TRADES)} SAS" if pattern == 2
            else f"SARL {surname} {rng.choice(_FR_TRADES)}" if pattern == 3
            else f"Atelier {rng.choice(_FR_NOUNS)}" if pattern == 4
            else f"{rng.choice(_FR_NOUNS)} & {surname} SAS"
        )  # fmt: skip
        domain = _domain(name, "fr", used)
        siren = _siren(rng)
        data: dict[str, Any] = {
            "kind": "company",
            "name": name,
            "email": f"{rng.choice(('contact', 'facturation', 'compta'))}@{domain}",
            "vat_number": "FR" + fr_siren.to_tva(siren),
            "tax_identification_number": siren,
        }
        if rng.random() < 0.3:
            data["e_invoicing_address"] = siren
        if rng.random() < 0.2:
            data["extra_emails"] = [f"direction@{domain}"]
    else:
        first, last = rng.choice(_FR_FIRST), rng.choice(_FR_SURNAMES)
        data = {
            "kind": "individual",
            "first_name": first,
            "last_name": last,
            "email": _personal_email(rng, first, last, ("orange.fr", "gmail.com", "free.fr")),
        }
        phone["number"] = f"{rng.choice('67')}{rng.randint(0, 99_999_999):08d}"
    data.update(
        {
            "phone": phone,
            "billing_address": _billing(street, zip_code, city, "FR"),
            "currency": _currency(rng) if company else "EUR",
            "locale": "fr",
        }
    )
    return data


def _nl_btw(rng: random.Random) -> str:
    """A Dutch VAT number whose nine digits pass the eleven-test."""
    while True:
        digits = [rng.randint(0, 9) for _ in range(8)]
        total = sum(weight * digit for weight, digit in zip(range(9, 1, -1), digits, strict=True))
        check = total % 11
        if check < 10 and any(digits):
            return "NL" + "".join(map(str, digits)) + str(check) + f"B{rng.randint(1, 9):02d}"


def _dutch(rng: random.Random, company: bool, used: set[str]) -> dict[str, Any]:
    """A Dutch company (KvK number, NL VAT) or person."""
    low, high, city = rng.choice(_NL_TOWNS)
    letters = "ABCDEFGHJKLMNPRTVWXZ"
    zip_code = f"{rng.randint(low, high)} {rng.choice(letters)}{rng.choice(letters)}"
    street = f"{rng.choice(_NL_STREETS)} {rng.randint(1, 320)}{rng.choice(_NL_SUFFIXES)}"
    phone = {
        "country_code": "+31",
        "number": f"{rng.choice(('20', '10', '30', '70'))}{rng.randint(0, 9_999_999):07d}",
    }
    if company:
        surname = rng.choice(_NL_SURNAMES)
        pattern = rng.randrange(4)
        trade = rng.choice(_NL_TRADES)
        display = surname[0].upper() + surname[1:]
        name = (
            f"{display} {trade} B.V." if pattern == 0
            else f"{display} & Zn." if pattern == 1
            else f"{trade}bedrijf {display}" if pattern == 2
            else f"{display} {trade}"
        )  # fmt: skip
        domain = _domain(name, "nl", used)
        data: dict[str, Any] = {
            "kind": "company",
            "name": name,
            "email": f"{rng.choice(('info', 'administratie', 'facturen'))}@{domain}",
            "vat_number": _nl_btw(rng),
            "tax_identification_number": f"{rng.randint(10_000_000, 99_999_999)}",
        }
        locale = "en" if rng.random() < 0.1 else "nl"
    else:
        first, last = rng.choice(_NL_FIRST), rng.choice(_NL_SURNAMES)
        data = {
            "kind": "individual",
            "first_name": first,
            "last_name": last[0].upper() + last[1:],
            "email": _personal_email(rng, first, last, ("ziggo.nl", "gmail.com", "kpnmail.nl")),
        }
        phone["number"] = f"6{rng.randint(0, 99_999_999):08d}"
        locale = "nl"
    data.update(
        {
            "phone": phone,
            "billing_address": _billing(street, zip_code, city, "NL"),
            "currency": _currency(rng) if company else "EUR",
            "locale": locale,
        }
    )
    return data


def _be_enterprise_number(rng: random.Random) -> str:
    """A 10-digit Belgian enterprise number with its mod-97 check."""
    base = rng.randint(2_000_000, 9_999_999)
    body = f"0{base}"
    check = 97 - int(body) % 97
    return f"{body}{check:02d}"


def _belgian(rng: random.Random, company: bool, used: set[str]) -> dict[str, Any]:
    """A Belgian company (enterprise number, BE VAT) or person, in Dutch or French."""
    zip_code, city, language = rng.choice(_BE_TOWNS)
    flemish = language == "nl"
    streets = _BE_NL_STREETS if flemish else _BE_FR_STREETS
    street = f"{rng.choice(streets)} {rng.randint(1, 250)}"
    if rng.random() < 0.15:
        street += f" {'bus' if flemish else 'boîte'} {rng.randint(1, 12)}"
    phone = {
        "country_code": "+32",
        "number": f"{rng.choice(('2', '3', '9', '4'))}{rng.randint(0, 9_999_999):07d}",
    }
    surnames = _BE_NL_SURNAMES if flemish else _BE_FR_SURNAMES
    if company:
        surname = rng.choice(surnames)
        legal = rng.choice(("BV", "NV")) if flemish else rng.choice(("SRL", "SA"))
        trade = (
            rng.choice(("Bouw", "Advies", "Transport", "Schrijnwerkerij"))
            if flemish
            else (rng.choice(("Construction", "Conseil", "Transports", "Menuiserie")))
        )
        name = f"{surname} {trade} {legal}"
        domain = _domain(name, "be", used)
        enterprise = _be_enterprise_number(rng)
        mailbox = (
            rng.choice(("info", "boekhouding")) if flemish else rng.choice(("info", "comptabilite"))
        )
        data: dict[str, Any] = {
            "kind": "company",
            "name": name,
            "email": f"{mailbox}@{domain}",
            "vat_number": f"BE{enterprise}",
            "tax_identification_number": enterprise,
        }
    else:
        first = rng.choice(_BE_NL_FIRST if flemish else _BE_FR_FIRST)
        last = rng.choice(surnames)
        data = {
            "kind": "individual",
            "first_name": first,
            "last_name": last,
            "email": _personal_email(rng, first, last, ("telenet.be", "skynet.be", "gmail.com")),
        }
        phone["number"] = f"47{rng.randint(0, 9_999_999):07d}"
    data.update(
        {
            "phone": phone,
            "billing_address": _billing(street, zip_code, city, "BE"),
            "currency": "EUR",
            "locale": language,
        }
    )
    return data


def _personal_email(rng: random.Random, first: str, last: str, hosts: Sequence[str]) -> str:
    """``prenom.nom42@host`` without accents or spaces."""
    local = f"{first}.{last}".lower().replace(" ", "")
    local = unicodedata.normalize("NFKD", local)
    local = "".join(ch for ch in local if ch.isascii() and (ch.isalnum() or ch == "."))
    return f"{local}{rng.randint(1, 999)}@{rng.choice(hosts)}"


# ------------------------------------------------------------------ invoices


def _invoice(
    rng: random.Random,
    sandbox: QontoSandbox,
    client: dict[str, Any],
    issue: date,
    now: datetime,
) -> tuple[dict[str, Any], str, datetime | None, datetime]:
    """One invoice body, its status, payment time and creation time."""
    locale = client["locale"] if client["locale"] in ("fr", "nl", "en") else "en"
    foreign_company = client["kind"] == "company" and client.get("country_code") != "FR"
    term = rng.choice(_TERMS_DAYS)
    due = issue + timedelta(days=term)
    items = []
    for offer in rng.sample(_OFFERS, k=rng.choice((1, 1, 2, 2, 3, 4))):
        quantity = offer.step * rng.randint(1, max(1, int(offer.max_quantity / offer.step)))
        price = Decimal(rng.randint(offer.low * 100, offer.high * 100)) / 100
        item: dict[str, Any] = {
            "title": offer.titles[locale],
            "quantity": str(quantity),
            "unit": offer.unit,
            "unit_price": {"value": str(price), "currency": client["currency"]},
            "vat_rate": "0" if foreign_company else offer.vat_rate,
        }
        if foreign_company:
            item["vat_exemption_reason"] = "S283"
        if rng.random() < 0.25:
            item["description"] = f"Réf. {rng.randint(1000, 9999)}"
        if rng.random() < 0.08:
            item["discount"] = {"type": "percentage", "value": rng.choice(("0.05", "0.1", "0.15"))}
        items.append(item)
    data: dict[str, Any] = {
        "client_id": client["id"],
        "issue_date": issue.isoformat(),
        "due_date": due.isoformat(),
        "currency": client["currency"],
        "payment_methods": {"iban": sandbox.iban},
        "items": items,
    }
    if rng.random() < 0.1:
        data["discount"] = {"type": "percentage", "value": rng.choice(("0.03", "0.05", "0.1"))}
    if rng.random() < 0.15:
        data["purchase_order"] = f"PO-{rng.randint(10000, 99999)}"
    created = datetime.combine(issue, time(rng.randint(8, 18), rng.randint(0, 59)), tzinfo=UTC)
    created = min(created, now)
    age = (now.date() - due).days
    roll = rng.random()
    if age > 20:
        status = "paid" if roll < 0.86 else "unpaid" if roll < 0.93 else "canceled"
    elif (now.date() - issue).days < 30 and roll < 0.25:
        status = "draft"
    else:
        status = "unpaid" if roll < 0.7 else "paid"
    paid_at = None
    if status == "paid":
        paid_at = created + timedelta(days=rng.randint(0, term + 15), hours=rng.randint(0, 8))
        paid_at = min(paid_at, now)
    return data, status, paid_at, created


def _credit_note(
    rng: random.Random, sandbox: QontoSandbox, invoice_id: str, issue: date, now: datetime
) -> None:
    """A partial or full credit note a few days after the invoice."""
    invoice = sandbox.get_invoice(invoice_id)
    if invoice is None:
        return
    full = rng.random() < 1 / 3
    source = invoice["items"] if full else invoice["items"][:1]
    items = []
    for line in source:
        quantity = Decimal(line["quantity"])
        if not full and quantity > 1:
            quantity = (quantity / 2).quantize(Decimal(1))
        item = {
            "title": line["title"],
            "quantity": str(quantity),
            "unit": line["unit"],
            "unit_price": line["unit_price"],
            "vat_rate": line["vat_rate"],
        }
        if line.get("discount"):
            item["discount"] = {k: line["discount"][k] for k in ("type", "value")}
        items.append(item)
    data: dict[str, Any] = {
        "invoice_id": invoice_id,
        "issue_date": min(issue + timedelta(days=rng.randint(3, 40)), now.date()).isoformat(),
        "reason": rng.choice(("Produit retourné", "Geste commercial", "Erreur de facturation")),
        "items": items,
    }
    if invoice.get("discount"):
        data["discount"] = {k: invoice["discount"][k] for k in ("type", "value")}
    created = datetime.combine(date.fromisoformat(data["issue_date"]), time(10), tzinfo=UTC)
    sandbox.load_credit_note(data, new_id(rng), min(created, now))
