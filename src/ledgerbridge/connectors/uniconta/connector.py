"""Uniconta connector: the streams of the Uniconta integration over OData reads and batched
REST writes.

Streams, in dependency order: customers (DebtorClient), suppliers (CreditorClient), contacts
(ContactClient), products (InvItemClient, one way), stock levels (InvItemStorageClient, one way,
daily), invoices (orders and posting out, posted invoices in), payment status
(DebtorTransOpenClient, one way, daily), cash journal (GLDailyJournalLineClient, PayMatch's
postings, out only: see ``journal``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from hashlib import sha256
from typing import Any, Literal

from ledgerbridge.clock import Clock
from ledgerbridge.connectors.base import (
    JSON,
    ROW_ISSUE,
    ROW_LINKED_ONLY,
    CallMeter,
    ChangeNotice,
    CodeKind,
    Connector,
    ConnectorError,
    CreatePlan,
    EntityMapping,
    NamedCode,
    Page,
    RemoteRejected,
    RemoteUnavailable,
    StepCall,
    WriteStep,
)
from ledgerbridge.connectors.kit.kept import KeptReads
from ledgerbridge.connectors.kit.references import reference_gone
from ledgerbridge.connectors.kit.wiring import Settings, Transport
from ledgerbridge.connectors.uniconta.booking import SUCCESS, BookingClient
from ledgerbridge.connectors.uniconta.client import DEFAULT_BASE_URL, UnicontaClient, odata_quote
from ledgerbridge.connectors.uniconta.journal import (
    CODE_MISSING,
    JOURNAL_LINE,
    JournalPostingMapping,
    code_refusal,
    group_by_reference,
    posting_codes,
    sent_lines,
    stored_posting,
)
from ledgerbridge.connectors.uniconta.mapping import (
    AWAIT_BOOKING,
    INVOICE_REF_PREFIX,
    Codes,
    ContactMapping,
    CreditorMapping,
    DebtorMapping,
    InvoiceMapping,
    PaymentStatusMapping,
    ProductMapping,
    StockMapping,
    contact_key,
)
from ledgerbridge.connectors.uniconta.setup import CODE_TABLES, code_missing, vat_codes

DEBTOR_GONE = "property 'Account': DebtorClient with Account "
"""Uniconta's refusal of an order whose debtor it does not have, which ends "does not exist"
(inferred wording, see docs/sandbox-uniconta.md)."""
MAX_FILTER_KEYS = 100
"""Keys per ``Key eq … or …`` lookup: keeps URLs well under common 8 KB limits."""

REVISIT_PAGES = 5
"""Pages of posted invoice headers a pull reads again to find changed dates and payment terms
(see ``_read_invoices``): at most this many calls a pull spends on them."""

REVISIT_EVERY = timedelta(days=1)
"""How often a round of reading the posted invoices' headers again begins: once a day, so an
hourly pull costs one call when nothing is new, and a round over many invoices still ends
within the day (a company's ``ceil(invoices / 1000 / REVISIT_PAGES)`` pulls)."""

LINES_PAGE = 1000
"""Invoice lines per OData page (Uniconta's maximum)."""

MAX_LINES_PER_INSERT = 5000
"""Journal lines per InsertList: a payout of a busy day's card payments is thousands of lines,
and Uniconta states no limit on a request's size (an inferred, conservative bound)."""

POSTED_AS = "__posted_as__"
"""Marks an order found already posted (its invoice number): see ``_find_orders``."""

STREAM_ENTITIES: dict[str, str] = {
    "customers": "party",
    "suppliers": "party",
    "contacts": "contact_person",
    "products": "product",
    "stock_levels": "stock_level",
    "invoices": "invoice",
    "payment_status": "invoice",
    "cash_journal": "journal_posting",
}

CHANGE_URL_TABLES = {
    "Debtor": "customers",
    "Creditor": "suppliers",
    "Contact": "contacts",
    "InvItem": "products",
}
"""Change URL table names (entity class without ``Client``) → stream. Stock changes are not
followed in real time: stock levels refresh daily at 05:00, as the integration promises."""


@dataclass(frozen=True)
class Keyset:
    """How a stream is paged: by which property, and whether it is a number."""

    entity: str
    key: str
    numeric: bool

    def literal(self, value: str) -> str:
        return value if self.numeric else odata_quote(value)


KEYSETS: dict[str, Keyset] = {
    "customers": Keyset("DebtorClient", "Account", numeric=False),
    "suppliers": Keyset("CreditorClient", "Account", numeric=False),
    "contacts": Keyset("ContactClient", "RowId", numeric=True),
    "products": Keyset("InvItemClient", "Item", numeric=False),
    "stock_levels": Keyset("InvItemStorageClient", "RowId", numeric=True),
    "invoices": Keyset("DebtorInvoiceClient", "InvoiceNumber", numeric=True),
    "payment_status": Keyset("DebtorTransOpenClient", "RowId", numeric=True),
}


@dataclass(frozen=True)
class InvoiceCursor:
    """Where the invoice pull is: the last invoice number read (``last``), where the headers
    read again continue (after ``revisit``; None: from the first), whether the new invoices
    are read next (``new``) and when the last round of headers read again began (``since``,
    ISO time). As text: ``last|revisit|new|since`` (``new`` or empty); the older forms
    ``last|revisit|new``, ``last|revisit`` and a bare ``last`` still parse."""

    last: str | None
    revisit: str | None
    new: bool = False
    since: str | None = None

    @classmethod
    def parse(cls, text: str | None) -> InvoiceCursor:
        parts = (text or "").split("|")
        value = [part or None for part in parts] + [None, None, None]
        return cls(value[0], value[1], new=value[2] == "new", since=value[3])

    def text(self) -> str:
        parts = [self.last or "", self.revisit or "", "new" if self.new else "", self.since or ""]
        return "|".join(parts).rstrip("|")


class UnicontaConnector(Connector):
    system = "uniconta"
    default_streams = frozenset({"customers", "suppliers", "contacts"})
    """Products, stock, invoices and payments need VAT and unit mappings (and invoices the
    Reseller role) first, so they are switched on explicitly."""
    batched_writes = frozenset(KEYSETS) - {"invoices"}
    """Entity Insert and Update take a batch, all or nothing. An invoice's create is several
    calls (see ``create_plan``), each step batched as it declares."""
    batched_updates = frozenset({"invoices"})
    """Posted invoices' header changes go in one batched Update, draft orders in one batched
    Update with their lines replaced in batches: a refused batch is sent again one by one."""
    whole_row_updates = frozenset({"customers", "suppliers", "contacts", "products"})
    """Update replaces the whole entity. Invoices are not among them: posted invoices tell of
    no change (no Change URL for transactions), so their updates read first."""
    checked_codes = frozenset(CODE_TABLES)

    def open(
        self, settings: Settings, secrets: Settings, meter: CallMeter, transport: Transport
    ) -> None:
        self.company_id = int(settings["company_id"])
        self.client = UnicontaClient(
            base_url=settings.get("base_url") or DEFAULT_BASE_URL,
            company_id=self.company_id,
            username=str(settings["username"]),
            password=str(secrets["password"]),
            meter=meter,
            transport=transport,
        )
        booking_url = settings.get("booking_url")
        self.booking = (
            BookingClient(
                booking_url=str(booking_url),
                company_id=self.company_id,
                username=str(settings["username"]),
                password=str(secrets["password"]),
                meter=meter,
                transport=transport,
            )
            if booking_url
            else None
        )
        # Invoice mail in Uniconta's own layout: bookings ask for the PDF (docs/invoice-mail.md).
        mail = settings.get("invoice_mail") or {}
        layout = mail.get("layout", "uniconta")
        self.booking_pdf = bool(mail.get("enabled")) and layout == "uniconta"
        self.products_master = str(settings.get("products_master") or "uniconta")
        # Reads are kept for these credentials only: another login to the company reads its own.
        self._company = (
            str(settings.get("base_url") or DEFAULT_BASE_URL),
            self.company_id,
            str(settings["username"]),
            sha256(str(secrets["password"]).encode()).hexdigest(),
        )
        self.codes = LazyRates(
            self._vat_rates,
            self._company,
            self.clock,
            vat_mapping=settings.get("vat_mapping"),
            unit_mapping=settings.get("unit_mapping"),
            payment_terms=settings.get("payment_terms"),
            country_mapping=settings.get("country_mapping"),
        )
        now = self.clock.now()
        self._revisited = 0  # pages of posted invoice headers read again (REVISIT_PAGES)
        self._lines_ahead: dict[str | None, tuple[list[JSON], bool]] = {}
        """Invoice lines read past a page of new invoices, by that page's last number (see
        ``_with_invoice_lines``), and whether they reach the last line."""
        self.mappings: Mapping[str, EntityMapping] = {
            "customers": DebtorMapping(self.codes),
            "suppliers": CreditorMapping(self.codes),
            "contacts": ContactMapping(),
            "products": ProductMapping(
                self.codes, master=self.products_master, group=settings.get("item_group")
            ),
            "stock_levels": StockMapping(now.isoformat()),
            "invoices": InvoiceMapping(
                self.codes,
                post=bool(settings.get("post_invoices")),
                booking=self.booking is not None,
            ),
            "payment_status": PaymentStatusMapping(),
            "cash_journal": JournalPostingMapping(self._company_currency),
        }
        self._currency: str | None = None
        self._codes: dict[tuple[CodeKind, str], bool] = {}
        """Whether the company has a code (by kind and code without case), as read."""

    def close(self) -> None:
        self.client.close()
        if self.booking is not None:
            self.booking.close()

    def test(self) -> str:
        sets = self.client.service_document()
        return f"Uniconta company {self.company_id} ({len(sets)} entity sets available)"

    def _vat_rates(self) -> dict[str, str]:
        rows = self.client.query("GLVatClient")
        return {str(r["Vat"]): str(r.get("Rate", 0)) for r in rows}

    # ------------------------------------------------------------------ reads

    def prepare(self, streams: list[str]) -> None:
        """The company's VAT codes are valid hub codes of invoice lines, and of items when the
        app is master of products (a webshop flow books with Uniconta's own codes): one call
        for runs that carry them."""
        if "invoices" in streams or ("products" in streams and self.products_master == "app"):
            self.codes.load()
        if "cash_journal" in streams:
            self._company_currency()

    def read_afresh(self) -> None:
        self.codes.afresh = True

    def _company_currency(self) -> str:
        """The company's own currency (one read, when a posting is first written): lines in
        another carry it with amounts in that currency."""
        if self._currency is None:
            rows = self.client.companies()
            mine = [r for r in rows if str(r.get("CompanyId")) == str(self.company_id)]
            self._currency = str((mine[0] if mine else {}).get("CurrencyId") or "DKK")
        return self._currency

    def count(self, stream: str) -> int | None:
        if stream not in KEYSETS:
            return None
        try:
            return self.client.count(KEYSETS[stream].entity)
        except RemoteRejected:
            return None

    def code_lists(self) -> dict[str, list[JSON]]:
        return {"vat": vat_codes(self.client)}

    def missing_codes(self, named: list[NamedCode]) -> dict[str, str]:
        """One read per kind of code for every code of that kind not read yet by this
        connector, so a refused batch of postings is explained from the same reads. Keys
        are compared without case, as Uniconta compares them in a filter."""
        wanted: dict[CodeKind, set[str]] = {}
        for item in named:
            if item.kind in CODE_TABLES and (item.kind, item.code.casefold()) not in self._codes:
                wanted.setdefault(item.kind, set()).add(item.code)
        for kind, codes in wanted.items():
            entity, key, _ = CODE_TABLES[kind]
            rows = self._by_keys(entity, key, sorted(codes), numeric=False)
            have = {str(row.get(key)).casefold() for row in rows}
            for code in codes:
                self._codes[(kind, code.casefold())] = code.casefold() in have
        return {
            item.field: code_missing(item.kind, item.code)
            for item in named
            if item.kind in CODE_TABLES and not self._codes[(item.kind, item.code.casefold())]
        }

    def vat_rates(self) -> dict[str, Decimal]:
        """The company's VAT codes (as the hub names them: through ``vat_mapping`` when mapped
        there, else Uniconta's own) with their rates, from the kept read (``VAT_RATES``)."""
        self.codes.load()
        known: dict[str, Decimal] = {}
        for code, rate in self.codes.vat_rates.items():
            try:
                known[code] = Decimal(rate)
            except ArithmeticError:
                continue  # a rate Uniconta does not give as a number says nothing
        mapped = {hub: known[code] for hub, code in self.codes.vat.back.items() if code in known}
        return {**known, **mapped}

    def read_page(self, stream: str, after: str | None, limit: int) -> Page:
        if stream == "cash_journal":
            return Page([], after, more=False)  # written only: nothing is read in
        if stream == "invoices":
            return self._read_invoices(InvoiceCursor.parse(after), limit)
        keyset = KEYSETS[stream]
        rows = self.client.query(
            keyset.entity,
            filter=f"{keyset.key} gt {keyset.literal(after)}" if after is not None else None,
            orderby=keyset.key,
            top=limit,
        )
        last = str(rows[-1][keyset.key]) if rows else after
        return Page(records=rows, after=last, more=len(rows) >= limit)

    def _read_invoices(self, cursor: InvoiceCursor, limit: int) -> Page:
        """Posted invoices: first their headers again, from where the last run left off, then
        the new ones with their lines.

        Uniconta tells of no change to a posted invoice (no change stamp on it, no Change URL
        for transactions), and only its Date, due date and payment term can still change. So
        once a day (``REVISIT_EVERY``) a round begins that reads the headers of the invoices
        already seen again (one call a page, no lines: those cannot change), as rows that only
        follow invoices already linked, up to ``REVISIT_PAGES`` pages a pull; a company with
        more invoices is gone through over several pulls. Between rounds a pull reads only
        what is new."""
        if cursor.new or cursor.last is None:
            rows = self.client.query(
                "DebtorInvoiceClient",
                filter=f"InvoiceNumber gt {cursor.last}" if cursor.last is not None else None,
                orderby="InvoiceNumber",
                top=limit,
            )
            last = str(rows[-1]["InvoiceNumber"]) if rows else cursor.last
            more = len(rows) >= limit
            # Reading every invoice from the first (an import) is a round of its own.
            since = cursor.since
            if since is None and cursor.last is None:
                since = self.clock.now().isoformat(timespec="seconds")
            after = InvoiceCursor(last, cursor.revisit, new=more, since=since)
            lines = self._with_invoice_lines(rows, cursor.last) if rows else []
            return Page(lines, after.text(), more)
        since = cursor.since
        if cursor.revisit is None:  # a new round of headers read again, if one is due
            now = self.clock.now()
            if since is not None and now < datetime.fromisoformat(since) + REVISIT_EVERY:
                return self._read_invoices(
                    InvoiceCursor(cursor.last, None, new=True, since=since), limit
                )
            since = now.isoformat(timespec="seconds")
        self._revisited += 1
        start = f"InvoiceNumber gt {cursor.revisit} and " if cursor.revisit is not None else ""
        headers = self.client.query(
            "DebtorInvoiceClient",
            filter=f"{start}InvoiceNumber le {cursor.last}",
            orderby="InvoiceNumber",
            top=limit,
        )
        rows = [{"invoice": header, ROW_LINKED_ONLY: True} for header in headers]
        if len(headers) < limit:
            # Gone through them all: the next revisit starts again from the first.
            return Page(rows, InvoiceCursor(cursor.last, None, True, since).text(), more=True)
        revisit = str(headers[-1]["InvoiceNumber"])
        budget_spent = self._revisited >= REVISIT_PAGES
        after = InvoiceCursor(cursor.last, revisit, new=budget_spent, since=since)
        return Page(rows, after.text(), more=True)

    def _with_invoice_lines(self, invoices: list[JSON], after: str | None) -> list[JSON]:
        """A page of new invoices (numbered after ``after``) with their lines, read in bulk in
        line order. Only a read past the page's last invoice tells that it has no more lines;
        what that read brings of the next invoices is kept for the next page (posted lines
        never change, and the next page starts where this one ends), so an import reads
        ceil(lines / 1000) pages of lines instead of one more per page of invoices."""
        high = max(int(r["InvoiceNumber"]) for r in invoices)
        read, complete = self._lines_ahead.pop(after, ([], False))
        self._lines_ahead.clear()
        # Kept lines that end before ``high`` say nothing of invoices posted since: read on.
        last = int(read[-1]["InvoiceNumber"]) if read else None
        while last is None or last < high or (last == high and not complete):
            page = self.client.query(
                "DebtorInvoiceLines",
                filter=f"InvoiceNumber gt {after}" if after is not None else None,
                orderby="InvoiceNumber,LineNumber",
                top=LINES_PAGE,
                skip=len(read) or None,
            )
            read = read + page
            complete = len(page) < LINES_PAGE
            if complete:
                break
            last = int(read[-1]["InvoiceNumber"])
        lines: dict[int, list[JSON]] = {int(r["InvoiceNumber"]): [] for r in invoices}
        beyond: list[JSON] = []
        for line in read:
            number = int(line["InvoiceNumber"])
            if number > high:
                beyond.append(line)
            elif number in lines:
                lines[number].append(line)
        if beyond:
            self._lines_ahead[str(high)] = (beyond, complete)
        return [{"invoice": r, "lines": lines[int(r["InvoiceNumber"])]} for r in invoices]

    def _with_lines_of(
        self, parents: list[JSON], kind: str, key: str, line_entity: str
    ) -> list[JSON]:
        """Invoices or orders found by key (scattered numbers) with their lines, read by the
        same keys (a range from the lowest to the highest number would read every one between),
        as ``{kind: parent, "lines": [...]}`` with the lines in order."""
        if not parents:
            return []
        numbers = [str(r[key]) for r in parents]
        lines: dict[str, list[JSON]] = {n: [] for n in numbers}
        for line in self._by_keys(line_entity, key, numbers, numeric=True):
            lines.setdefault(str(line[key]), []).append(line)
        return [{kind: r, "lines": sorted(lines[str(r[key])], key=_line_number)} for r in parents]

    def _all(self, entity: str, filter: str, orderby: str) -> list[JSON]:
        """Every row matching a filter, page by page."""
        rows: list[JSON] = []
        while True:
            page = self.client.query(
                entity, filter=filter, orderby=orderby, top=1000, skip=len(rows) or None
            )
            rows.extend(page)
            if len(page) < 1000:
                return rows

    def _by_keys(self, entity: str, key: str, values: list[str], numeric: bool) -> list[JSON]:
        found: list[JSON] = []
        unique = sorted(set(values))
        for start in range(0, len(unique), MAX_FILTER_KEYS):
            chunk = unique[start : start + MAX_FILTER_KEYS]
            literal = (lambda v: v) if numeric else odata_quote
            expression = " or ".join(f"{key} eq {literal(v)}" for v in chunk)
            found.extend(self._all(entity, expression, key))
        return found

    def fetch_many(self, stream: str, remote_ids: list[str]) -> dict[str, JSON]:
        mapping = self.mappings[stream]
        if stream == "invoices":
            return self._fetch_invoices(remote_ids)
        if stream == "cash_journal":
            return self._postings(remote_ids)
        keyset = KEYSETS[stream]
        if stream == "stock_levels":
            items = sorted({rid.split("|", 1)[0] for rid in remote_ids})
            rows = self._by_keys(keyset.entity, "Item", items, numeric=False)
        elif stream == "payment_status":
            rows = self._by_keys(keyset.entity, "Invoice", remote_ids, numeric=True)
        elif keyset.key == "RowId":
            rows = self._by_keys(keyset.entity, "RowId", remote_ids, numeric=True)
        else:
            rows = self._by_keys(keyset.entity, keyset.key, remote_ids, numeric=keyset.numeric)
        wanted = set(remote_ids)
        by_id = {mapping.remote_id(row): row for row in rows}
        return {rid: row for rid, row in by_id.items() if rid in wanted or stream == "stock_levels"}

    def _fetch_invoices(self, remote_ids: list[str]) -> dict[str, JSON]:
        posted = [rid for rid in remote_ids if not rid.startswith("order:")]
        orders = [rid.split(":", 1)[1] for rid in remote_ids if rid.startswith("order:")]
        found: dict[str, JSON] = {}
        if posted:
            rows = self._by_keys("DebtorInvoiceClient", "InvoiceNumber", posted, numeric=True)
            for row in self._with_lines_of(rows, "invoice", "InvoiceNumber", "DebtorInvoiceLines"):
                found[str(row["invoice"]["InvoiceNumber"])] = row
        if orders:
            drafts = self._by_keys("DebtorOrderClient", "OrderNumber", orders, numeric=True)
            for row in self._with_lines_of(drafts, "order", "OrderNumber", "DebtorOrderLineClient"):
                found[f"order:{row['order']['OrderNumber']}"] = row
        return found

    def find_by_business_key(self, stream: str, keys: list[str]) -> dict[str, JSON]:
        if stream == "contacts":
            return self._find_contacts(keys)
        if stream == "invoices":
            return self._find_invoices(keys)
        if stream == "cash_journal":
            return self._postings(keys)
        if stream in ("customers", "suppliers", "products"):
            return self.fetch_many(stream, keys)
        return {}

    def _find_contacts(self, keys: list[str]) -> dict[str, JSON]:
        found: dict[str, JSON] = {}
        for start in range(0, len(keys), MAX_FILTER_KEYS // 2):
            chunk = keys[start : start + MAX_FILTER_KEYS // 2]
            expression = " or ".join(
                f"(DCAccount eq {odata_quote(k.split(chr(9))[0])} and "
                f"Name eq {odata_quote(k.split(chr(9), 1)[1])})"
                for k in chunk
            )
            for row in self._all("ContactClient", expression, "RowId"):
                found.setdefault(contact_key(row), row)
        return found

    def _find_invoices(self, keys: list[str]) -> dict[str, JSON]:
        refs = [k for k in keys if k.startswith(INVOICE_REF_PREFIX)]
        numbers = [k for k in keys if not k.startswith(INVOICE_REF_PREFIX)]
        found: dict[str, JSON] = {}
        if refs:
            posted = self._by_keys("DebtorInvoiceClient", "OurRef", refs, numeric=False)
            for row in self._with_lines_of(
                posted, "invoice", "InvoiceNumber", "DebtorInvoiceLines"
            ):
                found[str(row["invoice"]["OurRef"])] = row
            orders = self._by_keys("DebtorOrderClient", "OurRef", refs, numeric=False)
            for row in self._with_lines_of(orders, "order", "OrderNumber", "DebtorOrderLineClient"):
                found.setdefault(str(row["order"]["OurRef"]), row)
        if numbers:
            found.update(self._fetch_invoices(numbers))
        return found

    # ------------------------------------------------------------------ writes

    def create_plan(self, stream: str) -> CreatePlan:
        """An invoice is the check that its items exist (``_refuse_missing_items``), an order
        (one Insert per batch), its lines (one Insert per batch), its posting (one call per
        order, when the connection posts) and the read-back of the posted invoices (one read
        per batch). Each order carries the hub id in ``OurRef``: it is how an order, its lines
        and its posted invoice are found again."""
        if stream == "cash_journal":
            step = WriteStep("lines", self._insert_postings, self._find_postings, batched=True)
            return CreatePlan((step,), lambda call: dict(call.done["lines"]))
        if stream != "invoices":
            return super().create_plan(stream)
        labels = InvoiceMapping.step_labels
        return CreatePlan(
            steps=(
                WriteStep("items", self._check_items, batched=True, needed=_names_items,
                          label=labels["items"]),
                WriteStep("order", self._insert_orders, self._find_orders, batched=True,
                          needed=_is_order, label=labels["order"]),
                WriteStep("lines", self._insert_lines, self._find_lines, batched=True,
                          needed=_has_lines, label=labels["lines"]),
                WriteStep("post", self._post_orders, self._find_posted, needed=_to_post,
                          label=labels["post"]),
                WriteStep("read", self._read_posted, batched=True, needed=_posted,
                          label=labels["read"]),
                WriteStep("posted_header", self._update_posted, batched=True,
                          needed=lambda call: "invoice" in call.payload,
                          label=labels["posted_header"]),
            ),
            stored=_stored_invoice,
        )  # fmt: skip

    def _check_items(self, calls: list[StepCall]) -> list[JSON]:
        """A step of its own, so that a refused batch is split here, before any order."""
        self._refuse_missing_items([call.payload for call in calls])
        return [{} for _ in calls]

    def _refuse_missing_items(self, payloads: list[JSON], sent: str = "nothing was sent") -> None:
        """Refuse orders whose lines name items Uniconta does not have before anything is
        written: Uniconta would take the order and refuse its lines, leaving an empty order.
        Items found are kept (``ITEMS_FOUND``), so only codes not seen lately cost a read (one
        per 100 codes); a missing one is read again at every try. A refused batch is split by
        the engine, so only the orders with a missing item fail."""
        orders = [payload for payload in payloads if "order" in payload]
        named = {str(line["Item"]) for p in orders for line in p["lines"] if line.get("Item")}
        if not named:
            return
        found: set[str]
        found, _ = ITEMS_FOUND.get(self._company, self.clock.now(), set)
        unknown = sorted(named - found)
        if unknown:
            rows = self._by_keys("InvItemClient", "Item", unknown, numeric=False)
            # As Uniconta compares keys in a filter: without case.
            have = {str(row["Item"]).casefold() for row in rows}
            found.update(code for code in unknown if code.casefold() in have)
        missing = [
            [(n, line) for n, line in enumerate(p["lines"], start=1)
             if line.get("Item") and str(line["Item"]) not in found]
            for p in orders
        ]  # fmt: skip
        refused = [lines for lines in missing if lines]
        if not refused:
            return
        if len(orders) == 1:
            raise RemoteRejected(_missing_items(refused[0], sent), reason="product_missing")
        raise RemoteRejected(
            f"{len(refused)} of {len(orders)} orders name items Uniconta does not have",
            reason="product_missing",
        )

    def _insert_orders(self, calls: list[StepCall]) -> list[JSON]:
        stored = self._write_order_rows(
            self.client.insert, [_present(c.payload["order"]) for c in calls]
        )
        if len(stored) != len(calls):
            raise RemoteRejected(f"Uniconta stored {len(stored)} of {len(calls)} orders")
        return stored

    def _write_order_rows(
        self, write: Callable[[str, list[JSON]], list[JSON]], orders: list[JSON]
    ) -> list[JSON]:
        """Insert or Update orders; one whose debtor was deleted in Uniconta is refused in
        Uniconta's words with what to do (``reference_gone``), so "make it again" applies."""
        try:
            return write("DebtorOrderClient", orders)
        except RemoteRejected as refused:
            if DEBTOR_GONE in str(refused) and str(refused).endswith("does not exist"):
                raise reference_gone("Uniconta", "debtor", str(refused)) from refused
            raise

    def _find_orders(self, calls: list[StepCall]) -> list[JSON | None]:
        """The order of each hub id; once posted an order is gone, and its invoice (which
        keeps ``OurRef`` and ``OrderNumber``) stands for it. Only a create recorded before
        its steps were journaled can get that far with its order step unconfirmed."""
        keys = [c.key for c in calls]
        found: dict[str, JSON] = {}
        rows = self._by_keys("DebtorOrderClient", "OurRef", keys, numeric=False)
        for row in sorted(rows, key=lambda r: int(r["OrderNumber"])):
            found.setdefault(str(row.get("OurRef")), row)
        if missing := [key for key in keys if key not in found]:
            for row in self._by_keys("DebtorInvoiceClient", "OurRef", missing, numeric=False):
                found.setdefault(str(row.get("OurRef")), {**row, POSTED_AS: row["InvoiceNumber"]})
        return [found.get(c.key) for c in calls]

    def _insert_lines(self, calls: list[StepCall]) -> list[JSON]:
        lines = [
            {**_present(line), "OrderNumber": call.done["order"]["OrderNumber"]}
            for call in calls
            for line in call.payload["lines"]
        ]
        try:
            return _lines_by_order(calls, self.client.insert("DebtorOrderLineClient", lines))
        except RemoteRejected as refused:
            raise self._item_gone(calls, refused) from refused

    def _item_gone(self, calls: list[StepCall], refused: RemoteRejected) -> RemoteRejected:
        """Lines refused after their items were found (an item deleted in Uniconta within the
        six hours its code is kept): the codes are read again, so this order says which item
        is missing (``product_missing``, tried again hourly: its lines follow once the item
        exists) and the next invoice naming it is stopped before its order is written."""
        lines = [line for c in calls for line in c.payload["lines"]]
        named = {str(line["Item"]) for line in lines if line.get("Item")}
        found: set[str]
        found, _ = ITEMS_FOUND.get(self._company, self.clock.now(), set)
        found.difference_update(named)
        orders = ", ".join(str(c.done["order"]["OrderNumber"]) for c in calls)
        try:
            self._refuse_missing_items(
                [c.payload for c in calls],
                sent=f"order {orders} is in Uniconta without its lines, which follow once "
                "it exists",
            )
        except RemoteRejected as missing:
            return missing
        return refused

    def _find_lines(self, calls: list[StepCall]) -> list[JSON | None]:
        """The lines of each order. One Insert stores all of a batch's lines or none, so an
        order has all its lines or none; another count is a damaged order, reported."""
        numbers = [str(c.done["order"]["OrderNumber"]) for c in calls]
        rows = self._by_keys("DebtorOrderLineClient", "OrderNumber", numbers, numeric=True)
        found = _lines_by_order(calls, rows)
        results: list[JSON | None] = []
        for call, lines in zip(calls, found, strict=True):
            if POSTED_AS in call.done["order"]:
                results.append({"lines": []})  # posted with its lines: the read-back has them
                continue
            count, wanted = len(lines["lines"]), len(call.payload["lines"])
            if count and count != wanted:
                raise RemoteRejected(
                    f"order {call.done['order']['OrderNumber']} has {count} of its {wanted} "
                    "lines in Uniconta; complete or delete it there, then retry",
                    reason="partial_remote_record",
                )
            results.append(lines if count else None)
        return results

    def _post_orders(self, calls: list[StepCall]) -> list[JSON]:
        """Book each order through the booking service; a refusal keeps the order and is
        reported with Uniconta's error code (see ``_stored_invoice``)."""
        assert self.booking is not None, "only planned when a booking service is configured"
        return [
            self.booking.book(int(call.done["order"]["OrderNumber"]), pdf=self.booking_pdf)
            for call in calls
        ]

    def _find_posted(self, calls: list[StepCall]) -> list[JSON | None]:
        rows = self._by_keys("DebtorInvoiceClient", "OurRef", [c.key for c in calls], numeric=False)
        found = {str(row.get("OurRef")): row for row in rows}
        return [
            {"Err": SUCCESS, "InvoiceNumber": found[c.key]["InvoiceNumber"]}
            if c.key in found
            else None
            for c in calls
        ]

    def _read_posted(self, calls: list[StepCall]) -> list[JSON]:
        """The posted invoices, dated as the hub dates them: the booking service books on its
        own day (it takes no date), and a posted invoice's Date may still change, so the
        ones dated otherwise are moved in one batched update. Repeating it changes nothing."""
        numbers = self._posted_numbers(calls)
        wanted = {
            number: call.payload["order"].get("InvoiceDate")
            for number, call in zip(numbers, calls, strict=True)
        }
        posted = self._dated(self._fetch_invoices(numbers), wanted)
        return [posted.get(n) or _order_row(call) for n, call in zip(numbers, calls, strict=True)]

    def _posted_numbers(self, calls: list[StepCall]) -> list[str]:
        """Each booking's invoice number; a booking that answered the PDF (invoice mail in
        Uniconta's layout) names none, so its invoice is found by the order's ``OurRef`` (one
        read for the batch). Not found means the booking's effect is not visible yet: the
        read is retried, like any read that failed."""
        unnamed = [c for c in calls if "InvoiceNumber" not in c.done["post"]]
        found: dict[str, str] = {}
        if unnamed:
            for call, result in zip(unnamed, self._find_posted(unnamed), strict=True):
                if result is None:
                    raise RemoteUnavailable(
                        f"the invoice booked from order {call.done['order']['OrderNumber']} "
                        "is not found by its OurRef yet"
                    )
                found[call.key] = str(result["InvoiceNumber"])
        return [
            found[c.key] if c.key in found else str(c.done["post"]["InvoiceNumber"]) for c in calls
        ]

    def _dated(self, posted: dict[str, JSON], wanted: Mapping[str, str | None]) -> dict[str, JSON]:
        moved = [
            {**row["invoice"], "Date": wanted[number]}
            for number, row in posted.items()
            if wanted.get(number) and str(row["invoice"].get("Date"))[:10] != wanted[number]
        ]
        if not moved:
            return posted
        for invoice in self.client.update("DebtorInvoiceClient", moved):
            number = str(invoice["InvoiceNumber"])
            posted[number] = {**posted[number], "invoice": invoice}
        return posted

    def _update_posted(self, calls: list[StepCall]) -> list[JSON]:
        return self._write_invoices([call.payload for call in calls], create=False)

    # ------------------------------------------------------------------ cash journal

    def _postings(self, references: list[str]) -> dict[str, JSON]:
        """The lines of each posting, by the reference number every line carries."""
        rows = self._by_keys(JOURNAL_LINE, "ReferenceNumber", references, numeric=False)
        found = group_by_reference(rows, references)
        return {ref: stored_posting(ref, lines) for ref, lines in found.items()}

    def _insert_postings(self, calls: list[StepCall]) -> list[JSON]:
        """The postings' lines in as few InsertLists as ``MAX_LINES_PER_INSERT`` allows, each
        posting's lines within one call (all or none: one voucher is never split); a call's
        rows are read back by reference when Uniconta answers without them. A fault after
        the first call leaves the later postings to the step's look-up, which finds what the
        earlier calls stored."""
        results: list[JSON] = []
        group: list[StepCall] = []
        size = 0
        for call in calls:
            count = len(call.payload["lines"])
            if group and size + count > MAX_LINES_PER_INSERT:
                results += self._insert_group(group)
                group, size = [], 0
            group.append(call)
            size += count
        if group:
            results += self._insert_group(group)
        return results

    def _insert_group(self, calls: list[StepCall]) -> list[JSON]:
        rows = [line for call in calls for line in sent_lines(call.payload)]
        try:
            stored = self.client.insert_list(JOURNAL_LINE, rows)
        except RemoteRejected as exc:
            if len(calls) == 1:
                raise self._explained(calls[0].payload, exc) from exc
            raise  # the engine sends each posting of a refused batch alone
        if len(stored) != len(rows):
            found = self._find_postings(calls)
            missing = [c.key for c, f in zip(calls, found, strict=True) if f is None]
            if missing:
                raise RemoteRejected(f"Uniconta did not store the lines of {', '.join(missing)}")
            return [f for f in found if f is not None]
        results, start = [], 0
        for call in calls:
            count = len(call.payload["lines"])
            results.append(stored_posting(call.key, stored[start : start + count]))
            start += count
        return results

    def _explained(self, payload: JSON, refused: RemoteRejected) -> RemoteRejected:
        """A refused posting whose journal or accounts the company lacks says which, and the
        route setting to correct; otherwise Uniconta's own refusal stands."""
        try:
            missing = self.missing_codes(posting_codes(payload))
        except ConnectorError:
            return refused
        if not missing:
            return refused
        # A payout's posting takes its route's corrected codes (PayMatch readdresses it); a
        # payment posting keeps its own, so only creating the code in Uniconta helps.
        route_id = payload.get("route_id") if payload.get("kind") != "payment" else None
        return RemoteRejected(code_refusal(missing, route_id), reason=CODE_MISSING)

    def _find_postings(self, calls: list[StepCall]) -> list[JSON | None]:
        """The lines of postings whose insert went unanswered. One InsertList stores all of
        its lines or none, so a posting has all its lines or none; another count is reported."""
        found = self._postings([call.key for call in calls])
        results: list[JSON | None] = []
        for call in calls:
            posting = found.get(call.key)
            count, wanted = len((posting or {}).get("lines", [])), len(call.payload["lines"])
            if posting is not None and count != wanted:
                raise RemoteRejected(
                    f"posting {call.key} has {count} of its {wanted} lines in Uniconta's cash "
                    "journal; complete or delete them there, then retry",
                    reason="partial_remote_record",
                )
            results.append(posting)
        return results

    def create_many(self, stream: str, payloads: list[JSON]) -> list[JSON]:
        if stream == "cash_journal":
            calls = [StepCall(p, str(p["reference"]), {}) for p in payloads]
            return self._insert_postings(calls)
        return self._write(stream, payloads, create=True)

    def update_many(self, stream: str, payloads: list[JSON]) -> list[JSON]:
        return self._write(stream, payloads, create=False)

    def _write(self, stream: str, payloads: list[JSON], *, create: bool) -> list[JSON]:
        """One batched Insert or Update (all-or-nothing in Uniconta); invoices are composite."""
        if stream == "invoices":
            return self._write_invoices(payloads, create=create)
        entity = KEYSETS[stream].entity
        write = self.client.insert if create else self.client.update
        stored = write(entity, payloads)
        if len(stored) != len(payloads):
            raise RemoteRejected(f"Uniconta stored {len(stored)} of {len(payloads)} records")
        return stored

    def _write_invoices(self, payloads: list[JSON], *, create: bool) -> list[JSON]:
        """Orders with their lines in two batched calls, posted one by one when the connection
        posts and the invoice is ready (a draft stays an order until it is); header changes of
        posted invoices in one batched update."""
        self._refuse_missing_items(payloads)
        results: list[JSON | None] = [None] * len(payloads)
        headers = [(i, p) for i, p in enumerate(payloads) if "invoice" in p]
        if headers:
            stored = self.client.update("DebtorInvoiceClient", [p["invoice"] for _, p in headers])
            for (index, payload), invoice in zip(headers, stored, strict=True):
                # A line edit refused on a posted invoice stays its issue (see the mapping).
                refused = {ROW_ISSUE: payload[ROW_ISSUE]} if ROW_ISSUE in payload else {}
                results[index] = {"invoice": invoice, "lines": payload["lines"], **refused}
        orders = [(i, p) for i, p in enumerate(payloads) if "order" in p]
        if orders:
            for (index, _), row in zip(orders, self._write_orders(orders, create), strict=True):
                results[index] = row
        return [r for r in results if r is not None]

    def _write_orders(self, orders: list[tuple[int, JSON]], create: bool) -> list[JSON]:
        bodies = [_present(p["order"]) for _, p in orders]
        if create:
            stored = self._write_order_rows(self.client.insert, bodies)
        else:
            stored = self._write_order_rows(self.client.update, bodies)
            old = self._by_keys(
                "DebtorOrderLineClient", "OrderNumber",
                [str(o["OrderNumber"]) for o in stored], numeric=True,
            )  # fmt: skip
            if old:
                self.client.delete("DebtorOrderLineClient", old)
        lines = [
            {**_present(line), "OrderNumber": order["OrderNumber"]}
            for order, (_, payload) in zip(stored, orders, strict=True)
            for line in payload["lines"]
        ]
        stored_lines = self.client.insert("DebtorOrderLineClient", lines) if lines else []
        by_order: dict[str, list[JSON]] = {}
        for line in stored_lines:
            by_order.setdefault(str(line["OrderNumber"]), []).append(line)
        rows = []
        for order, (_, payload) in zip(stored, orders, strict=True):
            row: JSON = {"order": order, "lines": by_order.get(str(order["OrderNumber"]), [])}
            if payload.get("post") and self.booking is not None:
                row = self._post(row, payload["order"].get("InvoiceDate"))
            elif payload.get(AWAIT_BOOKING):
                row = {**row, ROW_ISSUE: _awaiting(order["OrderNumber"], "updated")}
            rows.append(row)
        return rows

    def _post(self, row: JSON, invoice_date: str | None) -> JSON:
        """Book one order; a refusal keeps the order and reports Uniconta's error code."""
        assert self.booking is not None
        order_number = row["order"]["OrderNumber"]
        result = self.booking.book(int(order_number))
        if result.get("Err") != SUCCESS:
            return {**row, ROW_ISSUE: _refused(order_number, result)}
        number = str(result["InvoiceNumber"])
        posted = self._dated(self._fetch_invoices([number]), {number: invoice_date})
        return posted.get(number, row)

    def withdraw_many(self, stream: str, remote_ids: list[str]) -> list[RemoteRejected | None]:
        """Delete orders not posted (``order:<number>``) in one batched Delete of the rows as
        read (Uniconta deletes an order's lines with it, and its stock reservations go with
        them). An order that is no longer there was posted meanwhile, when an invoice keeps
        its number (refused: a posted invoice is never deleted), or deleted by a person."""
        numbers = [remote_id.removeprefix("order:") for remote_id in remote_ids]
        found = self._by_keys("DebtorOrderClient", "OrderNumber", numbers, numeric=True)
        orders = {str(row["OrderNumber"]): row for row in found}
        if orders:
            self.client.delete("DebtorOrderClient", list(orders.values()))
        gone = [number for number in numbers if number not in orders]
        posted: dict[str, JSON] = {}
        if gone:
            for row in self._by_keys("DebtorInvoiceClient", "OrderNumber", gone, numeric=True):
                posted.setdefault(str(row["OrderNumber"]), row)
        return [
            RemoteRejected(
                f"order {number} was posted in Uniconta as invoice "
                f"{posted[number]['InvoiceNumber']} before its draft was withdrawn: a posted "
                "invoice is never deleted; credit it in Uniconta",
                reason="withdrawn_after_posting",
            )
            if number in posted
            else None
            for number in numbers
        ]

    # ------------------------------------------------------------------ callbacks

    def parse_notification(self, query: Mapping[str, str], body: bytes) -> list[ChangeNotice]:
        stream = CHANGE_URL_TABLES.get(query.get("Table", ""))
        key = query.get("Key")  # a contact's Key is its RowId
        if stream is None or not key:
            return []
        if str(query.get("CompanyId", self.company_id)) != str(self.company_id):
            return []
        operation: Literal["upsert", "delete"] = (
            "delete" if query.get("Operation") == "Delete" else "upsert"
        )
        data: JSON | None = None
        if body and operation == "upsert":
            try:
                parsed = json.loads(body)
            except ValueError:
                parsed = None
            data = parsed if isinstance(parsed, dict) else None
        return [ChangeNotice(stream=stream, remote_id=key, operation=operation, data=data)]


def _is_order(call: StepCall) -> bool:
    return "order" in call.payload


def _names_items(call: StepCall) -> bool:
    """An order still to be made whose lines name items."""
    lines = call.payload.get("lines") or []
    return _is_order(call) and "order" not in call.done and any(ln.get("Item") for ln in lines)


def _missing_items(lines: list[tuple[int, JSON]], sent: str) -> str:
    """Which items of an order Uniconta does not have, on which lines, what was sent, and what
    to do, in the words of Uniconta's users (item, not the API's class name)."""
    where: dict[str, list[str]] = {}
    for number, line in lines:
        text = f" ({line['Text']})" if line.get("Text") else ""
        where.setdefault(str(line["Item"]), []).append(f"{number}{text}")
    named = ", ".join(
        f"'{item}' on line{'s' if len(at) > 1 else ''} {', '.join(at)}"
        for item, at in where.items()
    )
    if len(where) == 1:
        return (
            f"item {named} does not exist in Uniconta, so {sent}: "
            "create the item in Uniconta or correct the SKU; it is tried again within the "
            "hour, or retry it now"
        )
    return (
        f"items {named} do not exist in Uniconta, so {sent}: create "
        "them in Uniconta or correct the SKUs; it is tried again within the hour, or retry it "
        "now"
    )


def _has_lines(call: StepCall) -> bool:
    return "order" in call.payload and bool(call.payload.get("lines"))


def _to_post(call: StepCall) -> bool:
    return "order" in call.payload and bool(call.payload.get("post"))


def _posted(call: StepCall) -> bool:
    return (call.done.get("post") or {}).get("Err") == SUCCESS


def _refused(order_number: Any, result: JSON) -> JSON:
    """The issue of an order Uniconta refused to post, in its own words (its ErrorCodes), and
    what to do: for some companies Uniconta's API never generates invoices, so a retry that
    fails again leaves booking the order by hand, which the invoices pull links."""
    return {
        "reason": "invoice_generation_failed",
        "message": f"Uniconta could not generate the invoice for order {order_number}: "
        f"{result.get('Message') or result.get('Err')}. The order {order_number} is kept in "
        "Uniconta: retry the issue; if it keeps failing (a known Uniconta API issue for some "
        "companies), book the order in Uniconta, and the hourly invoices pull links it and "
        "closes this issue, and ask Uniconta support about the company's invoice generation",
    }


def _awaiting(order_number: Any, outcome: str) -> JSON:
    """Not an error: with no booking service the order is where a person books it. The
    invoices pull links it once it is posted, which closes this issue."""
    return {
        "outcome": outcome,
        "reason": "awaiting_manual_booking",
        "message": f"order {order_number} is an order ready to book in Uniconta; set "
        "booking_url to book automatically",
    }


def _lines_by_order(calls: list[StepCall], lines: list[JSON]) -> list[JSON]:
    """Stored lines split per order, in line order: ``{"lines": [...]}`` per call."""
    by_order: dict[str, list[JSON]] = {}
    for line in lines:
        by_order.setdefault(str(line["OrderNumber"]), []).append(line)
    return [
        {"lines": sorted(by_order.get(str(c.done["order"]["OrderNumber"]), []), key=_line_number)}
        for c in calls
    ]  # fmt: skip


def _line_number(line: JSON) -> float:
    return float(line.get("LineNumber") or 0)


def _order_row(call: StepCall) -> JSON:
    return {"order": call.done["order"], "lines": (call.done.get("lines") or {}).get("lines", [])}


def _stored_invoice(call: StepCall) -> JSON:
    """The invoice as Uniconta holds it once its steps are done: the posted invoice, or the
    order with its lines (and Uniconta's message when posting was refused)."""
    if "read" in call.done:
        return dict(call.done["read"])
    if "posted_header" in call.done:
        return dict(call.done["posted_header"])
    row = _order_row(call)
    post = call.done.get("post")
    if post is not None and post.get("Err") != SUCCESS:
        row[ROW_ISSUE] = _refused(row["order"]["OrderNumber"], post)
    elif call.payload.get(AWAIT_BOOKING):
        row[ROW_ISSUE] = _awaiting(row["order"]["OrderNumber"], "created")
    return row


VAT_RATES = KeptReads(max_age=timedelta(hours=6))
"""Companies' VAT codes and rates, by address, company and login: read at most every six
hours by the runs that need them, and by every retry (a code created in Uniconta to clear a
skip is found at once). A changed rate of an existing code is seen within six hours."""


ITEMS_FOUND = KeptReads(max_age=timedelta(hours=6))
"""Item codes found in Uniconta, by company and login: a set that grows as invoices name
items, so an item sold again costs no read for six hours. One deleted meanwhile is refused
with its line, as Uniconta refuses it."""


class LazyRates(Codes):
    """Code tables whose VAT rates come from Uniconta when a run that needs them starts (one
    call at most, none for runs that never need a rate, and none while ``VAT_RATES`` keeps
    the company's)."""

    def __init__(
        self, load: Callable[[], dict[str, str]], company: Hashable, clock: Clock,
        **tables: Any,
    ) -> None:  # fmt: skip
        super().__init__(**tables)
        self._load = load
        self._company = company
        self._clock = clock
        self._loaded = False
        self.afresh = False
        """Read them even if kept (a retry)."""

    def load(self) -> None:
        if not self._loaded:
            self.vat_rates, _ = VAT_RATES.get(
                self._company, self._clock.now(), self._load, fresh=self.afresh
            )
            self._loaded = True


def _present(row: JSON) -> JSON:
    """Only the properties that have a value: Uniconta omits nulls, and so do we."""
    return {k: v for k, v in row.items() if v is not None}
