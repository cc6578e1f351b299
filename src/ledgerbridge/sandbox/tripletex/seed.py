"""Deterministic, realistic Norwegian data: an accounting firm, its client companies, their
customers, products and twelve-plus months of bookkeeping.

Organisation numbers pass the mod-11 check (``stdnum.no.orgnr``), addresses use real postcodes
with their towns, and each client company gets vouchers of several types, postings, bank
statements with transactions and attached documents, so the engine's work statistics (sales and
purchase entries, bank transactions, documents per month) have something to count. Everything
derives from the seed and the date the data is created for; lazily seeded clients are
materialised on first use with the same result.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from functools import partial
from typing import Any

from stdnum.no import orgnr

from ledgerbridge.sandbox.tripletex.books import (
    BANK_RECONCILIATION,
    MANUAL,
    OUTGOING_PAYMENT,
    PAYROLL,
    SUPPLIER_INVOICE,
    TRAVEL_EXPENSE,
    VAT_RETURN,
    Book,
    Posting,
    q2,
)
from ledgerbridge.sandbox.tripletex.render import OSLO, Row
from ledgerbridge.sandbox.tripletex.state import TripletexSandbox

_SURNAMES = (
    "Hansen", "Johansen", "Olsen", "Larsen", "Andersen", "Pedersen", "Nilsen", "Kristiansen",
    "Jensen", "Karlsen", "Johnsen", "Pettersen", "Eriksen", "Berg", "Haugen", "Hagen",
    "Johannessen", "Andreassen", "Jacobsen", "Dahl", "Jørgensen", "Halvorsen", "Henriksen",
    "Lund", "Sørensen", "Moen", "Gundersen", "Iversen", "Strand", "Solberg", "Svendsen", "Eide",
    "Knutsen", "Martinsen", "Paulsen", "Bakken", "Mathisen", "Lie", "Amundsen", "Lunde",
    "Solheim", "Berge", "Moe", "Nygård", "Bakke", "Kristoffersen", "Fredriksen", "Holm",
)  # fmt: skip
_FIRST_NAMES = (
    "Ole", "Lars", "Knut", "Jan", "Per", "Bjørn", "Arne", "Kjetil", "Magnus", "Henrik", "Sindre",
    "Eirik", "Anne", "Inger", "Kari", "Marit", "Ingrid", "Liv", "Solveig", "Hilde", "Silje",
    "Ingvild", "Ragnhild", "Tone", "Nora", "Emma", "Sofie", "Thea", "Jonas", "Emil",
)  # fmt: skip
_PLACES = (
    "Fjord", "Nordlys", "Vestland", "Trønder", "Fjell", "Viken", "Havbris", "Brygge", "Lofot",
    "Midnattsol", "Polar", "Furu", "Bjørke", "Granitt", "Elve", "Skjær", "Fossen", "Vidde",
)  # fmt: skip
_TRADES = (
    "Rør", "Elektro", "Bygg", "Maling", "Transport", "Frisør", "Bakeri", "Eiendom", "Rådgivning",
    "Tannhelse", "Bil", "Snekkeri", "Blomster", "Catering", "Arkitekter", "Sjømat", "Consulting",
    "Regnskap", "Fysioterapi", "Tak", "Ventilasjon", "Grafisk", "Data", "Hage og anlegg",
)  # fmt: skip
_STREETS = (
    "Storgata", "Kirkegata", "Strandgata", "Dronningens gate", "Kongens gate", "Torggata",
    "Industriveien", "Sjøgata", "Fjordveien", "Parkveien", "Skolegata", "Jernbanegata",
    "Nedre Slottsgate", "Øvre Vollgate", "Havnegata", "Markveien", "Elvegata", "Løkkeveien",
    "Olav Tryggvasons gate", "Prinsens gate", "Bjørnstjerne Bjørnsons gate", "Solheimsgata",
)  # fmt: skip
# Real postcodes with their post towns and landline prefixes.
_TOWNS: tuple[tuple[str, str, str], ...] = (
    ("0150", "Oslo", "22"), ("0250", "Oslo", "22"), ("0557", "Oslo", "22"),
    ("1337", "Sandvika", "67"), ("1532", "Moss", "69"), ("1607", "Fredrikstad", "69"),
    ("2000", "Lillestrøm", "63"), ("2317", "Hamar", "62"), ("2815", "Gjøvik", "61"),
    ("3015", "Drammen", "32"), ("3117", "Tønsberg", "33"), ("3510", "Hønefoss", "32"),
    ("3717", "Skien", "35"), ("4006", "Stavanger", "51"), ("4307", "Sandnes", "51"),
    ("4610", "Kristiansand S", "38"), ("5003", "Bergen", "55"), ("5145", "Fyllingsdalen", "55"),
    ("5411", "Stord", "53"), ("6002", "Ålesund", "70"), ("6413", "Molde", "71"),
    ("7010", "Trondheim", "73"), ("7600", "Levanger", "74"), ("8006", "Bodø", "75"),
    ("8300", "Svolvær", "76"), ("9008", "Tromsø", "77"), ("9600", "Hammerfest", "78"),
)  # fmt: skip
_FORMS = (("AS", 70), ("ENK", 18), ("ANS", 6), ("DA", 3), ("SA", 3))
_SUFFIX = {"AS": " AS", "ENK": "", "ANS": " ANS", "DA": " DA", "SA": " SA"}

# Services an accounting firm invoices its clients for: name, price excl. VAT, unit.
ACCOUNTING_SERVICES: tuple[tuple[str, int, str], ...] = (
    ("Regnskapsføring, fastpris per måned", 4500, "mnd"),
    ("Lønnskjøring per lønnsslipp", 150, "stk"),
    ("MVA-melding", 1200, "stk"),
    ("Årsoppgjør og skattemelding", 9800, "stk"),
    ("Rådgivning per time", 1250, "t"),
    ("Bilagsbehandling per bilag", 18, "stk"),
    ("Fakturering per faktura", 35, "stk"),
    ("Purreservice", 95, "stk"),
    ("Stiftelse av AS", 6500, "stk"),
    ("Budsjett og likviditetsprognose", 5500, "stk"),
    ("Skattemelding for personlig næringsdrivende", 2200, "stk"),
    ("Kurs i Tripletex, halv dag", 3000, "stk"),
)
# Products of a client company: name, price, VAT number (25 %, 15 % food, 12 % transport, 0).
_CLIENT_PRODUCTS: tuple[tuple[str, int, str], ...] = (
    ("Arbeid per time", 850, "3"), ("Materialer", 400, "3"), ("Servicebesøk", 1450, "3"),
    ("Konsulenttime", 1300, "3"), ("Lunsjservering per kuvert", 245, "31"),
    ("Matlevering", 180, "31"), ("Persontransport", 520, "33"), ("Kjøring per km", 14, "33"),
    ("Eksportlevering", 3200, "52"), ("Leie av utstyr per dag", 690, "3"),
)  # fmt: skip
_EXPENSES: tuple[tuple[int, str, int, int], ...] = (
    (4000, "Varekjøp", 2_000, 60_000), (6300, "Husleie", 8_000, 45_000),
    (6800, "Kontorrekvisita", 300, 6_000), (6900, "Telefon og internett", 400, 3_500),
    (6540, "Inventar", 1_000, 25_000), (4000, "Underleverandør", 5_000, 80_000),
)  # fmt: skip
# Size classes of client companies: share, sales and purchases per month, employees.
_SIZES: tuple[tuple[str, int, tuple[int, int], tuple[int, int], tuple[int, int]], ...] = (
    ("micro", 60, (1, 4), (1, 5), (0, 1)),
    ("small", 30, (4, 10), (3, 9), (1, 5)),
    ("medium", 10, (10, 25), (8, 18), (5, 12)),
)


def _choose(rng: random.Random, weighted: tuple[tuple[Any, int], ...]) -> Any:
    """Weighted choice from ``(value, weight)`` pairs."""
    return rng.choices([v for v, _ in weighted], [w for _, w in weighted])[0]


def organisation_number(rng: random.Random) -> str:
    """A nine-digit organisation number (starting with 8 or 9) that passes mod 11."""
    while True:
        base = str(rng.choice((8, 9))) + "".join(str(rng.randrange(10)) for _ in range(7))
        for check in range(10):
            candidate = f"{base}{check}"
            if orgnr.is_valid(candidate):
                return candidate


def _slug(name: str) -> str:
    """Domain label for a company name (``Fjord Rør AS`` → ``fjordror``)."""
    table = str.maketrans({"æ": "ae", "ø": "o", "å": "a", " ": "", "&": "og"})
    return "".join(c for c in name.lower().translate(table) if c.isalnum())[:24]


@dataclass(frozen=True)
class Organisation:
    """A generated Norwegian organisation: name, form, number, address and contact details."""

    name: str
    form: str
    organization_number: str
    street: str
    postal_code: str
    city: str
    phone: str
    email: str
    invoice_email: str

    @property
    def address(self) -> dict[str, str]:
        """Address object body for the API."""
        return {"addressLine1": self.street, "postalCode": self.postal_code, "city": self.city}

    def customer_body(self) -> dict[str, Any]:
        """``POST /customer`` body describing this organisation."""
        return {
            "name": self.name,
            "organizationNumber": self.organization_number,
            "email": self.email,
            "invoiceEmail": self.invoice_email,
            "phoneNumber": self.phone,
            "postalAddress": self.address,
            "physicalAddress": self.address,
            "invoicesDueIn": 14,
            "invoicesDueInType": "DAYS",
        }


def organisation(rng: random.Random, trade: str | None = None) -> Organisation:
    """A plausible company: ``<place or surname> <trade> AS``, ENK named after its owner."""
    form = _choose(rng, _FORMS)
    trade = trade or rng.choice(_TRADES)
    if form == "ENK":
        name = f"{rng.choice(_FIRST_NAMES)} {rng.choice(_SURNAMES)} {trade}"
    else:
        stem = rng.choice(_PLACES) if rng.random() < 0.5 else rng.choice(_SURNAMES)
        name = f"{stem} {trade}{_SUFFIX[form]}"
    postal_code, city, prefix = rng.choice(_TOWNS)
    domain = f"{_slug(name)}.no"
    return Organisation(
        name=name,
        form=form,
        organization_number=organisation_number(rng),
        street=f"{rng.choice(_STREETS)} {rng.randint(1, 120)}",
        postal_code=postal_code,
        city=city,
        phone=f"{prefix} {rng.randint(10, 99)} {rng.randint(10, 99)} {rng.randint(10, 99)}",
        email=f"post@{domain}",
        invoice_email=f"faktura@{domain}",
    )


def seed_customers(
    sandbox: TripletexSandbox, company_id: int, count: int = 20, seed: int = 1
) -> list[int]:
    """Create ``count`` customers (mostly businesses, some private persons); return their ids."""
    rng = random.Random(f"{seed}:customers:{company_id}")
    with sandbox.lock:
        return [_random_customer(sandbox.book(company_id), rng) for _ in range(count)]


def _random_customer(book: Book, rng: random.Random) -> int:
    """One generated customer."""
    if rng.random() < 0.15:
        first, last = rng.choice(_FIRST_NAMES), rng.choice(_SURNAMES)
        postal_code, city, _ = rng.choice(_TOWNS)
        address = {
            "addressLine1": f"{rng.choice(_STREETS)} {rng.randint(1, 90)}",
            "postalCode": postal_code,
            "city": city,
        }
        body: dict[str, Any] = {
            "name": f"{first} {last}",
            "isPrivateIndividual": True,
            "email": f"{first}.{last}@example.no".lower().replace("ø", "o").replace("å", "a"),
            "phoneNumberMobile": f"9{rng.randint(1000000, 9999999)}",
            "postalAddress": address,
        }
    else:
        body = organisation(rng).customer_body()
    return int(book.create_customer(body, None)["id"])


def seed_products(
    sandbox: TripletexSandbox,
    company_id: int,
    catalogue: tuple[tuple[str, int, str], ...] = ACCOUNTING_SERVICES,
    first_number: int = 100,
) -> list[int]:
    """Create the firm's services as products (25 % VAT, unit from the catalogue)."""
    with sandbox.lock:
        book = sandbox.book(company_id)
        units = {row["nameShort"]: row["id"] for row in book.rows("ProductUnit")}
        vat = book.vat_type_by_number("3")["id"]
        return [
            int(
                book.create_product(
                    {
                        "name": name,
                        "number": str(first_number + index),
                        "priceExcludingVatCurrency": price,
                        "vatType": {"id": vat},
                        "productUnit": {"id": units[unit]},
                    },
                    None,
                )["id"]
            )
            for index, (name, price, unit) in enumerate(catalogue)
        ]


def months_back(today: date, months: int) -> list[date]:
    """First days of the last ``months`` months, oldest first, ending with today's month."""
    firsts = []
    year, month = today.year, today.month
    for _ in range(months):
        firsts.append(date(year, month, 1))
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return list(reversed(firsts))


def _month_end(first: date) -> date:
    """Last day of the month starting at ``first``."""
    following = date(first.year + first.month // 12, first.month % 12 + 1, 1)
    return following - timedelta(days=1)


@dataclass(order=True)
class _Event:
    """A dated bookkeeping event; ``seq`` keeps same-day events in creation order."""

    day: date
    seq: int
    action: Callable[[], None] = field(compare=False)


class _History:
    """Books a client company's months: sales, purchases, payroll, travel, fees, VAT."""

    def __init__(
        self, book: Book, rng: random.Random, today: date, months: int, volume: float
    ) -> None:
        self.book = book
        self.rng = rng
        self.today = today
        self.months = months_back(today, months)
        self.events: list[_Event] = []
        self.seq = 0
        self.statements: dict[date, Row] = {}
        self.balance = Decimal(rng.randint(50_000, 400_000))
        self.bank_account = book.account_id(1920)
        self.bank_type = book.rows("PaymentType")[0]["id"]
        size = _choose(rng, tuple((s, s[1]) for s in _SIZES))
        _, _, sales, purchases, staff = size
        self.sales = tuple(max(0, round(n * volume)) for n in sales)
        self.purchases = tuple(max(0, round(n * volume)) for n in purchases)
        self.staff = rng.randint(*staff)
        self.salaries = [Decimal(rng.randrange(38_000, 68_000, 500)) for _ in range(self.staff)]

    def at(self, day: date, action: Callable[[], None]) -> None:
        """Schedule ``action`` on ``day`` (ignored if it falls after today)."""
        if day <= self.today:
            self.seq += 1
            heapq.heappush(self.events, _Event(day, self.seq, action))

    def run(self, customers: list[int], products: list[int], suppliers: list[Row]) -> None:
        """Plan every month, then book the events in date order (vouchers number by date)."""
        for first in self.months:
            last = min(_month_end(first), self.today)
            days = (last - first).days + 1
            for _ in range(self.rng.randint(*self.sales)):
                day = first + timedelta(days=self.rng.randrange(days))
                self.at(day, partial(self.sale, day, customers, products))
            for _ in range(self.rng.randint(*self.purchases)):
                day = first + timedelta(days=self.rng.randrange(days))
                self.at(day, partial(self.purchase, day, self.rng.choice(suppliers)))
            if self.staff:
                self.at(first.replace(day=25), partial(self.payroll, first.replace(day=25)))
            for _ in range(self.rng.randint(0, 1 + self.staff // 4)):
                day = first + timedelta(days=self.rng.randrange(days))
                self.at(day, partial(self.travel, day))
            for _ in range(self.rng.randint(0, 2)):
                day = first + timedelta(days=self.rng.randrange(days))
                self.at(day, partial(self.accrual, day))
            self.at(_month_end(first), partial(self.bank_fee, _month_end(first)))
            if first.month % 2 == 0:
                self.at(first.replace(day=10), partial(self.vat_return, first.replace(day=10)))
        while self.events:
            event = heapq.heappop(self.events)
            with self.book.as_of(datetime.combine(event.day, time(10, 0), OSLO)):
                event.action()
        for first in self.months[-2:]:
            for _ in range(self.rng.randint(0, 3)):
                day = first + timedelta(days=self.rng.randrange(28))
                if day <= self.today:
                    supplier = self.rng.choice(suppliers)
                    with self.book.as_of(datetime.combine(day, time(9, 0), OSLO)):
                        document = self.document(f"Faktura_{supplier['name']}.pdf")
                        self.book.add_reception_voucher(
                            day, f"Faktura fra {supplier['name']}", document
                        )

    def statement(self, day: date) -> Row:
        """The bank statement (one per month) covering ``day``."""
        first = day.replace(day=1)
        row = self.statements.get(first)
        if row is None:
            row = self.book.add(
                "BankStatement",
                {
                    "openingBalanceCurrency": self.balance,
                    "closingBalanceCurrency": self.balance,
                    "fileName": f"kontoutskrift_{first:%Y_%m}.csv",
                    "bank": 1,
                    "fromDate": first.isoformat(),
                    "toDate": min(_month_end(first), self.today).isoformat(),
                    "transactions": [],
                    "_account": self.bank_account,
                },
                None,
            )
            self.statements[first] = row
        return row

    def bank(self, voucher: Row) -> None:
        """A bank transaction for each posting on the bank account (1920) of a voucher."""
        for posting_id in voucher["postings"]:
            posting = self.book.get("Posting", posting_id)
            if posting is None or posting["account"] != self.bank_account:
                continue
            day = date.fromisoformat(posting["date"])
            statement = self.statement(day)
            current_month = day.replace(day=1) == self.today.replace(day=1)
            transaction = self.book.add(
                "BankTransaction",
                {
                    "postedDate": posting["date"],
                    "description": voucher["description"],
                    "amountCurrency": posting["amount"],
                    "bankStatement": statement["id"],
                    "account": self.bank_account,
                    "matchType": "NO_MATCH" if current_month else "ONE_TRANSACTION_TO_ONE_POSTING",
                    "companyId": self.book.company_id,
                    "matched": not current_month,
                    "bankReconciliationMatchSum": Decimal("0")
                    if current_month
                    else posting["amount"],
                    "sourceVoucher": voucher["id"],
                },
                None,
            )
            statement["transactions"].append(transaction["id"])
            self.balance += posting["amount"]
            statement["closingBalanceCurrency"] = self.balance

    def document(self, file_name: str, mime: str = "application/pdf") -> int:
        """An archived document (the scanned or e-invoice attachment of a voucher)."""
        row = self.book.add(
            "Document",
            {"fileName": file_name, "size": self.rng.randint(20_000, 400_000), "mimeType": mime},
            None,
        )
        return int(row["id"])

    def sale(self, day: date, customers: list[int], products: list[int]) -> None:
        """An order invoiced the same day; most are paid 5-40 days later."""
        lines = [
            {"product": {"id": self.rng.choice(products)}, "count": self.rng.randint(1, 8)}
            for _ in range(self.rng.randint(1, 3))
        ]
        order = self.book.create_order(
            {
                "customer": {"id": self.rng.choice(customers)},
                "orderDate": day.isoformat(),
                "deliveryDate": day.isoformat(),
                "orderLines": lines,
            },
            None,
        )
        invoice = self.book.invoice_order(order["id"], day, None)
        if self.rng.random() < 0.85:
            paid = day + timedelta(days=self.rng.randint(5, 40))
            self.at(paid, partial(self.payment, paid, invoice["id"]))

    def payment(self, day: date, invoice_id: int) -> None:
        """The customer pays the whole invoice into the bank account."""
        invoice = self.book.get("Invoice", invoice_id)
        if invoice is None or invoice["amountOutstanding"] <= 0:
            return
        invoice = self.book.register_payment(
            invoice_id, day, self.bank_type, invoice["amountOutstanding"], None
        )
        posting = self.book.table("Posting")[invoice["postings"][-1]]
        self.bank(self.book.table("Voucher")[posting["voucher"]])

    def purchase(self, day: date, supplier: Row) -> None:
        """A supplier invoice with its PDF; most are paid 10-30 days later."""
        account, label, low, high = self.rng.choice(_EXPENSES)
        net = q2(Decimal(self.rng.randint(low, high)) + Decimal(self.rng.randint(0, 99)) / 100)
        vat = q2(net * Decimal("0.25"))
        incoming = self.book.vat_type_by_number("1")["id"]
        number = self.rng.randint(10_000, 99_999)
        description = f"{supplier['name']} faktura {number}"
        voucher = self.book.add_voucher(
            day,
            SUPPLIER_INVOICE,
            description,
            [
                Posting(account, net, label, vat_type=incoming, gross=net + vat),
                Posting(2710, vat, label, vat_type=incoming, system_generated=True),
                Posting(
                    2400,
                    -(net + vat),
                    description,
                    supplier=supplier["id"],
                    invoice_number=str(number),
                    posting_type="INCOMING_INVOICE_CUSTOMER_POSTING",
                ),
            ],
            attachment=self.document(f"Faktura_{number}.pdf"),
            emit=False,
        )
        if self.rng.random() < 0.9:
            paid = day + timedelta(days=self.rng.randint(10, 30))
            self.at(paid, partial(self.pay_supplier, paid, supplier, net + vat, voucher))

    def pay_supplier(self, day: date, supplier: Row, amount: Decimal, invoice: Row) -> None:
        """Pay a supplier invoice from the bank account."""
        label = f"Betaling {invoice['description']}"
        voucher = self.book.add_voucher(
            day,
            OUTGOING_PAYMENT,
            label,
            [
                Posting(2400, amount, label, supplier=supplier["id"]),
                Posting(1920, -amount, label),
            ],
            emit=False,
        )
        self.bank(voucher)

    def payroll(self, day: date) -> None:
        """Monthly salaries: gross, tax deduction, employer's contribution, net paid out."""
        gross = sum(self.salaries, Decimal("0"))
        tax = q2(gross * Decimal("0.31"))
        contribution = q2(gross * Decimal("0.141"))
        label = f"Lønn {day:%m.%Y}"
        voucher = self.book.add_voucher(
            day,
            PAYROLL,
            label,
            [
                Posting(5000, gross, label, posting_type="WAGE"),
                Posting(2600, -tax, label),
                Posting(1920, -(gross - tax), label),
                Posting(5400, contribution, "Arbeidsgiveravgift"),
                Posting(2770, -contribution, "Arbeidsgiveravgift"),
            ],
            emit=False,
        )
        self.bank(voucher)

    def travel(self, day: date) -> None:
        """A travel expense claim with receipts, reimbursed at once."""
        amount = q2(Decimal(self.rng.randint(250, 6_500)))
        label = f"Reiseregning {self.rng.choice(_FIRST_NAMES)}"
        voucher = self.book.add_voucher(
            day,
            TRAVEL_EXPENSE,
            label,
            [Posting(7140, amount, label), Posting(1920, -amount, label)],
            attachment=self.document(f"Kvittering_{day:%Y%m%d}.jpg", "image/jpeg"),
            emit=False,
        )
        self.bank(voucher)

    def accrual(self, day: date) -> None:
        """A manual journal reclassifying an expense (no bank movement)."""
        amount = q2(Decimal(self.rng.randint(500, 15_000)))
        self.book.add_voucher(
            day,
            MANUAL,
            "Omklassifisering",
            [Posting(6540, amount, "Omklassifisering"), Posting(6800, -amount)],
            emit=False,
        )

    def bank_fee(self, day: date) -> None:
        """The bank's monthly fee, booked from the statement."""
        fee = q2(Decimal(self.rng.randint(45, 390)))
        voucher = self.book.add_voucher(
            day,
            BANK_RECONCILIATION,
            "Bankgebyr",
            [Posting(7770, fee, "Bankgebyr"), Posting(1920, -fee, "Bankgebyr")],
            emit=False,
        )
        self.bank(voucher)

    def vat_return(self, day: date) -> None:
        """The bimonthly VAT settlement paid to the Tax Administration."""
        outgoing = q2(Decimal(self.rng.randint(4_000, 60_000)))
        incoming = q2(outgoing * Decimal(self.rng.randint(20, 90)) / 100)
        label = "Mva-oppgjør"
        voucher = self.book.add_voucher(
            day,
            VAT_RETURN,
            label,
            [
                Posting(2700, outgoing, label),
                Posting(2710, -incoming, label),
                Posting(1920, incoming - outgoing, label),
            ],
            emit=False,
        )
        self.bank(voucher)


def seed_work_statistics(
    sandbox: TripletexSandbox,
    company_id: int,
    months: int = 13,
    seed: int = 1,
    today: date | None = None,
    volume: float = 1.0,
) -> None:
    """Give a client company customers, suppliers, products and ``months`` months of books.

    ``today`` defaults to the sandbox clock's date; the same seed, company and date always
    produce the same data. ``volume`` scales the number of sales and purchases per month.
    """
    with sandbox.lock:
        _seed_client(sandbox, company_id, months, seed, today or sandbox.today(), volume)


def _seed_client(
    sandbox: TripletexSandbox,
    company_id: int,
    months: int,
    seed: int,
    today: date,
    volume: float = 1.0,
) -> None:
    """Body of ``seed_work_statistics`` (lock held; also run lazily on first access)."""
    book = sandbox.book(company_id)
    rng = random.Random(f"{seed}:books:{company_id}")
    start = datetime.combine(months_back(today, months)[0] - timedelta(days=30), time(8), OSLO)
    with book.as_of(start):
        customers = [_random_customer(book, rng) for _ in range(rng.randint(6, 20))]
        suppliers = []
        for number in range(rng.randint(4, 10)):
            org = organisation(rng)
            suppliers.append(
                book.add(
                    "Supplier",
                    {
                        "name": org.name,
                        "organizationNumber": org.organization_number,
                        "supplierNumber": 20000 + number,
                        "isSupplier": True,
                        "isCustomer": False,
                        "isInactive": False,
                        "email": org.email,
                        "invoiceEmail": org.invoice_email,
                        "phoneNumber": org.phone,
                    },
                    None,
                )
            )
        vat_ids = {row["number"]: row["id"] for row in sandbox.shared["VatType"].values()}
        products = [
            int(
                book.create_product(
                    {
                        "name": name,
                        "number": str(1000 + index),
                        "priceExcludingVatCurrency": price,
                        "vatType": {"id": vat_ids[vat]},
                    },
                    None,
                )["id"]
            )
            for index, (name, price, vat) in enumerate(
                rng.sample(_CLIENT_PRODUCTS, rng.randint(3, 6))
            )
        ]
    _History(book, rng, today, months, volume).run(customers, products, suppliers)


@dataclass
class SeededFirm:
    """What ``seed_accounting_firm`` created: the credentials and the companies."""

    environment: str
    firm_id: int
    employee_id: int
    consumer_token: str
    employee_token: str
    token_expires: date
    client_ids: list[int]
    customer_ids: list[int]
    product_ids: list[int]


def seed_accounting_firm(
    sandbox: TripletexSandbox,
    clients: int = 10,
    seed: int = 1,
    environment: str = "production",
    months: int = 13,
    other_customers: int = 5,
    lazy: bool = True,
    consumer_token: str | None = None,
    token_days: int = 365,
    volume: float = 1.0,
) -> SeededFirm:
    """An accounting firm with ``clients`` client companies reachable through login access.

    The firm's customers are its clients (same name and organisation number as the client
    company) plus ``other_customers`` that do not use Tripletex; its products are accounting
    services. One integration employee gets an employee token for the consumer (a new
    ``ledgerbridge`` consumer unless ``consumer_token`` is given), valid ``token_days`` days.
    Each client company gets ``months`` months of books (``volume`` scales sales and
    purchases); with ``lazy`` they are created on first access, which keeps a 200-client
    benchmark cheap until it reads them.
    """
    rng = random.Random(f"{seed}:firm")
    today = sandbox.today()
    with sandbox.lock:
        if consumer_token is None:
            consumer_token = sandbox.add_consumer("ledgerbridge", environment).token
        firm_org = organisation(rng, "Regnskap")
        firm = sandbox.add_company(
            f"{rng.choice(_PLACES)} Regnskap AS",
            firm_org.organization_number,
            environment,
            accountant=True,
            email=firm_org.email,
            phone=firm_org.phone,
            address=firm_org.address,
        )
        employee = sandbox.add_employee(
            firm.id, "Integrasjon", "Ledgerbridge", email=f"integrasjon@{_slug(firm.name)}.no"
        )
        expires = today + timedelta(days=token_days)
        token = sandbox.issue_employee_token(employee.id, consumer_token, expires)
        product_ids = seed_products(sandbox, firm.id)
        client_ids: list[int] = []
        customer_ids: list[int] = []
        book = sandbox.book(firm.id)
        for index in range(clients):
            client_rng = random.Random(f"{seed}:client:{index}")
            org = organisation(client_rng)
            client = sandbox.add_company(
                org.name,
                org.organization_number,
                environment,
                company_type=org.form,
                email=org.email,
                phone=org.phone,
                address=org.address,
                start_date=date(client_rng.randint(1995, 2023), client_rng.randint(1, 12), 1),
            )
            sandbox.grant_login_access(employee.id, client.id)
            client_ids.append(client.id)
            customer_ids.append(int(book.create_customer(org.customer_body(), None)["id"]))
            fill = partial(_seed_client, sandbox, client.id, months, seed, today, volume)
            if lazy:
                client.book.pending_seed = fill
            else:
                fill()
        for _ in range(other_customers):
            customer_ids.append(_random_customer(book, rng))
        return SeededFirm(
            environment,
            firm.id,
            employee.id,
            consumer_token,
            token.token,
            expires,
            client_ids,
            customer_ids,
            product_ids,
        )
