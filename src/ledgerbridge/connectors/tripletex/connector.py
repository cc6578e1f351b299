"""Tripletex connector: the firm's clients (Tripletex customers), products and VAT types, read
from the firm's own company with offset paging; invoices and credit notes written to it, and
what is still owed on them read back by id (``payment_status``).

Customers are read incrementally with ``changedSince``; products and VAT types are small and
rescanned. All three streams are one way: Tripletex is their master.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import date, timedelta
from decimal import Decimal
from types import MappingProxyType
from typing import Any

from ledgerbridge.connectors.base import (
    JSON,
    MAKE_AGAIN,
    AuthenticationFailed,
    CallMeter,
    ChangeNotice,
    Connector,
    ConnectorError,
    CreatePlan,
    EntityMapping,
    Page,
    RemoteRejected,
    StepCall,
    WriteStep,
)
from ledgerbridge.connectors.kit.cursors import ChangedSince
from ledgerbridge.connectors.kit.references import reference_gone
from ledgerbridge.connectors.kit.values import decimal, text
from ledgerbridge.connectors.kit.wiring import Settings, Transport
from ledgerbridge.connectors.tripletex.client import OSLO, TokenRefused
from ledgerbridge.connectors.tripletex.mapping import (
    CUSTOMER_FIELDS,
    CustomerMapping,
    InvoiceMapping,
    PaymentMapping,
    PaymentStatusMapping,
    ProductMapping,
    StatisticsMapping,
    VatTypeMapping,
    ref_id,
)
from ledgerbridge.connectors.tripletex.setup import client_for
from ledgerbridge.connectors.tripletex.statistics import (
    RELOAD_MONTHS,
    due_months,
    last_months,
    month_statistics,
    next_month,
    shared_customers,
    voucher_types,
)
from ledgerbridge.connectors.tripletex.webhooks import notices, revive

log = logging.getLogger(__name__)

STREAM_ENTITIES: dict[str, str] = {
    "vat_codes": "vat_code",
    "customers": "party",
    "products": "product",
    "invoices": "invoice",
    "payments": "payment",
    "payment_status": "invoice",
    "period_statistics": "period_statistics",
}
CLIENTS_PER_PAGE = 10
"""Linked clients whose statistics one page reads (a few calls each, per month)."""
CHANGED_SINCE_OVERLAP = timedelta(minutes=1)
"""A changed-since scan starts this much before the previous one began, so a change saved
while it ran is read again rather than missed (an unchanged record costs nothing)."""


def inactive_since(since: str) -> str:
    """Where the day's scan of inactive customers starts: the start of the day before the
    scan's (Oslo time, as Tripletex's ``changedSince``). A scan crossing into a new day
    follows scans that all began on its ``since``'s day, so the previous day's inactive scan
    began after this moment: the overlap re-reads a day of deactivations, none is missed,
    however long the engine was stopped."""
    day = date.fromisoformat(since[:10]) - timedelta(days=1)
    return f"{day.isoformat()}T00:00:00"


INVOICE_FIELDS = (
    "*,orderLines(description,count,unitPriceExcludingVatCurrency,discount,"
    "vatType(number,percentage))"
)
"""An invoice read back with its lines expanded (a plain read gives their ids only), so that
a reconciliation adds up what Tripletex booked per VAT type in the same call."""
SEARCHES: dict[str, tuple[str, dict[str, str]]] = {
    "customers": ("/customer", {"fields": CUSTOMER_FIELDS, "sorting": "id"}),
    "products": ("/product", {"fields": "*", "sorting": "id"}),
    "vat_codes": ("/ledger/vatType", {"fields": "*", "sorting": "id"}),
    # Read by id only (the stream is not pulled): the range is every date an invoice can have.
    "invoices": (
        "/invoice",
        {"invoiceDateFrom": "1900-01-01", "invoiceDateTo": "2200-01-01", "fields": INVOICE_FIELDS},
    ),
    # What is still owed on the invoices sent, read by id with nothing else.
    "payment_status": (
        "/invoice",
        {
            "invoiceDateFrom": "1900-01-01",
            "invoiceDateTo": "2200-01-01",
            "fields": "id,amountOutstanding",
        },
    ),
}
CUSTOMER_GONE = "customer.id: "
"""The field Tripletex names when it refuses an order whose customer it does not have, with
"not found" (inferred wording, see docs/sandbox-tripletex.md)."""
CUSTOMER_MADE_AGAIN = (
    f"{MAKE_AGAIN}, then create the customer again in Tripletex (with the client's customer "
    "number, organisation number or e-mail address, so it is matched): Tripletex is master of "
    "clients, so the app does not create it there. The next pull links the client to it and "
    "the invoice goes. Created in Tripletex before Make again, it is imported as a new client "
    "instead"
)
"""What a person does about an invoice whose customer was deleted in Tripletex by mistake."""
BY_ID = {"customers": "id", "products": "ids", "vat_codes": "id"}
BY_KEY = {"customers": "customerAccountNumber", "products": "productNumber", "vat_codes": "number"}


class TripletexConnector(Connector):
    system = "tripletex"
    default_streams = frozenset({"vat_codes", "customers", "products", "period_statistics"})
    held_hints = MappingProxyType(
        {
            "customers": "Tripletex is master of clients and none is created there from the "
            "app: create the customer in Tripletex (with the client's organisation number or "
            "e-mail address, so it is matched), and the invoice goes once the next pull "
            "brings it",
        }
    )
    """An invoice's customer comes from Tripletex only (``client_master_is_tripletex``)."""

    def open(
        self, settings: Settings, secrets: Settings, meter: CallMeter, transport: Transport
    ) -> None:
        self.summary: JSON = dict(settings.get("summary") or {})
        self.client_links: dict[str, str] = {
            str(k): str(v) for k, v in (settings.get("client_links") or {}).items()
        }
        self.client = client_for(settings, secrets, meter, transport, clock=self.clock)
        self.vat_numbers: dict[str, str] = {}
        self.vat_ids: dict[str, str] = {}
        self.statistics = StatisticsMapping(self.summary)
        self.mappings: Mapping[str, EntityMapping] = {
            "vat_codes": VatTypeMapping(),
            "customers": CustomerMapping(),
            "products": ProductMapping(self.vat_numbers),
            "invoices": InvoiceMapping(self.vat_ids),
            "payments": PaymentMapping(),
            "payment_status": PaymentStatusMapping(),
            "period_statistics": self.statistics,
        }
        self._companies: dict[str, int] | None = None
        self._voucher_types: dict[int, dict[str, str]] = {}
        self.payment_type_id: str | None = text(settings.get("payment_type_id"))
        self.webhook_ids = {str(i) for i in secrets.get("webhook_subscription_ids") or []}
        self._webhooks_checked = False

    def close(self) -> None:
        self.client.close()

    def test(self) -> str:
        company = self.client.who_am_i().get("company") or {}
        return f"Tripletex company {company.get('name')} ({self.client.environment})"

    # ------------------------------------------------------------------ reads

    def prepare(self, streams: list[str]) -> None:
        if ("products" in streams or "invoices" in streams) and not self.vat_numbers:
            self._load_vat_types()

    def _load_vat_types(self) -> list[JSON]:
        rows = list(
            self.client.list_all("/ledger/vatType", {"fields": "id,number,name,percentage"})
        )
        self._know_vat_types(rows)
        return rows

    def _know_vat_types(self, rows: list[JSON]) -> None:
        """VAT type ids ↔ numbers for products and invoices, from any read of the VAT types
        (the ``vat_codes`` stream, read before products, spares ``prepare`` its own read)."""
        self.vat_numbers.update({str(r["id"]): str(r.get("number")) for r in rows})
        self.vat_ids.update({str(r.get("number")): str(r["id"]) for r in rows})

    def code_lists(self) -> dict[str, list[JSON]]:
        """VAT types for the mapping screen, and the firm's customers a client is linked to
        (``settings.client_links``)."""
        customers = self.client.list_all(
            "/customer",
            {"fields": "id,name,customerNumber,organizationNumber,email", "sorting": "name"},
        )
        return {
            "vat": [
                {"code": str(r.get("number")), "name": r.get("name"), "rate": r.get("percentage")}
                for r in self._load_vat_types()
            ],
            "customers": [
                {
                    "id": str(r["id"]),
                    "name": r.get("name"),
                    "number": r.get("customerNumber"),
                    "organisation_number": r.get("organizationNumber"),
                    "email": r.get("email"),
                }
                for r in customers
            ],
        }

    def read_page(self, stream: str, after: str | None, limit: int) -> Page:
        if stream == "period_statistics":
            return self._statistics(after)
        if stream == "customers":
            return self._changed_customers(after, limit)
        if stream == "payment_status":
            raise ConnectorError(
                "Tripletex outstanding amounts are read by id, those of the invoices sent "
                "(PaymentStatusMapping.read_by_link), never as a list"
            )
        path, params = SEARCHES[stream]
        start = int(after or 0)
        if stream == "products" and start == 0:
            self._revive_webhooks()
        rows = self.client.list_page(path, params, start, limit)
        if stream == "vat_codes":
            self._know_vat_types(rows)
            rows = self._with_direction(rows)
        return Page(records=rows, after=str(start + len(rows)), more=len(rows) >= limit)

    def _with_direction(self, rows: list[JSON]) -> list[JSON]:
        """VAT types carry no direction; the ``typeOfVat`` filter tells sales from purchase."""
        outgoing = {
            str(r["id"])
            for r in self.client.list_all(
                "/ledger/vatType", {"typeOfVat": "OUTGOING", "fields": "id"}
            )
        }
        incoming = {
            str(r["id"])
            for r in self.client.list_all(
                "/ledger/vatType", {"typeOfVat": "INCOMING", "fields": "id"}
            )
        }
        result = []
        for row in rows:
            rid = str(row["id"])
            direction = "sales" if rid in outgoing else "purchase" if rid in incoming else "both"
            result.append({**row, "_direction": direction})
        return result

    def _changed_customers(self, after: str | None, limit: int) -> Page:
        """A changed-since scan (``kit.cursors``) whose position is ``<phase>|<offset>``; the
        next one starts where this one began, less ``CHANGED_SINCE_OVERLAP``. Tripletex lists
        active customers unless asked otherwise (a second list for the inactive ones), and a
        deactivation comes by webhook as it happens; so the inactive ones are read only in the
        day's first scan (phase ``inactive``), as a daily safety net: an idle hour costs one
        call. The first scan reads active customers only."""
        scan = ChangedSince.parse(after)
        if scan.starting:
            began = self.clock.now().astimezone(OSLO) - CHANGED_SINCE_OVERLAP
            scan = scan.starts_next(began.strftime("%Y-%m-%dT%H:%M:%S"))
        phase, _, offset = (scan.position or "active|0").partition("|")
        start = int(offset)
        path, params = SEARCHES["customers"]
        query = {**params, **({"changedSince": scan.since} if scan.since else {})}
        if phase == "inactive":
            query["isInactive"] = "true"
            query["changedSince"] = inactive_since(scan.since)
        rows = self.client.list_page(path, query, start, limit)
        if rows:
            self._revive_webhooks()
        if len(rows) >= limit:
            return Page(rows, scan.at(f"{phase}|{start + len(rows)}"), more=True)
        if phase == "active" and scan.since and scan.since[:10] < scan.upcoming[:10]:
            return Page(rows, scan.at("inactive|0"), more=True)
        return Page(rows, scan.done(), more=False)

    def _revive_webhooks(self) -> None:
        """A customers scan that finds changed customers, and each products rescan, also
        switch on the webhooks Tripletex disabled after failed calls (once a run): the pull is
        the safety net until then, and changes come in real time again after. Tripletex
        disables a subscription only after its calls failed, that is after customers or
        products changed, so a scan that finds no change spends no call on it. A problem here
        is logged, never fails the pull (a refused token still does)."""
        if self._webhooks_checked:
            return
        self._webhooks_checked = True
        try:
            revived = revive(self.client, self.webhook_ids)
        except TokenRefused:
            raise
        except (RemoteRejected, AuthenticationFailed) as exc:
            log.warning("Tripletex webhook subscriptions could not be checked: %s", exc)
            return
        for subscription_id in revived:
            log.info("Tripletex webhook subscription %s switched on again", subscription_id)

    def _statistics(self, after: str | None) -> Page:
        """Each linked client's summary of the due month(s) on an import day, or of the last
        12 months once after a reload is requested (``settings.summary.reload_requested_at``);
        nothing otherwise, nor when no metric is mapped to an app field.

        Cursor ``<reload done>|<import day done>|<mode>|<client offset>``: it outlives the
        scan, so a day's import and a reload each run once, and resume where they stopped."""
        today = self.clock.now().astimezone(OSLO).date()
        parts = after.split("|") if after and after.count("|") == 3 else ["", "", "", "0"]
        reload_done, day_done, mode, offset = parts
        requested = str(self.summary.get("reload_requested_at") or "")
        if mode == "reload" or (not mode and requested and requested != reload_done):
            mode, months = "reload", last_months(today, RELOAD_MONTHS)
            finished = f"{requested}|{day_done}||0"
        elif mode == "day" or (not mode and day_done != today.isoformat()):
            mode, months = "day", due_months(self.summary.get("import_day", "last_work_day"), today)
            finished = f"{reload_done}|{today.isoformat()}||0"
        else:
            return Page([], after, more=False)
        if not months:
            return Page([], after, more=False)
        # A customer linked from several clients (saved before such links were refused) is
        # read for the first of them only: one link per statistics record.
        later = {p for parties in shared_customers(self.client_links).values() for p in parties[1:]}
        links = [(p, c) for p, c in sorted(self.client_links.items()) if p not in later]
        start = int(offset)
        chunk = links[start : start + CLIENTS_PER_PAGE] if self.statistics.targets else []
        rows = [
            self._client_month(party_id, customer_id, first)
            for party_id, customer_id in chunk
            for first in months
        ]
        end = start + len(chunk)
        if chunk and end < len(links):
            return Page(rows, f"{reload_done}|{day_done}|{mode}|{end}", more=True)
        return Page(rows, finished, more=False)

    def _client_month(self, party_id: str, customer_id: str, first: date) -> JSON:
        row: JSON = {
            "customer": customer_id, "party_id": party_id,
            "period_start": first.isoformat(),
            "period_end": (next_month(first) - timedelta(days=1)).isoformat(),
        }  # fmt: skip
        company = self._client_companies().get(customer_id)
        if company is None:
            row["_problem"] = (
                f"Tripletex customer {customer_id} has no client company this employee token "
                "has login access to (matched on organisation number): grant access in "
                "Tripletex or link the client to another customer"
            )
            return row
        with self.client.acting_as(company):
            if company not in self._voucher_types:
                self._voucher_types[company] = voucher_types(self.client)
            row["metrics"] = month_statistics(self.client, first, self._voucher_types[company])
        return row

    def _client_companies(self) -> dict[str, int]:
        """Linked customer id → the client company with login access (same organisation
        number), read once per run: two calls."""
        if self._companies is None:
            reachable = {
                text(c.get("organizationNumber")): int(c.get("customerCompanyId") or c["id"])
                for c in self.client.list_all("/company/>withLoginAccess")
            }
            ids = ",".join(sorted(set(self.client_links.values())))
            customers = self.client.list_all(
                "/customer", {"id": ids, "fields": "id,organizationNumber"}
            )
            self._companies = {
                str(c["id"]): reachable[org]
                for c in customers
                if (org := text(c.get("organizationNumber"))) and org in reachable
            }
        return self._companies

    def fetch_many(self, stream: str, remote_ids: list[str]) -> dict[str, JSON]:
        if stream == "period_statistics":
            return {}
        if stream == "payments":
            # Nothing to read back: a registered payment is final (see PaymentMapping).
            return {rid: {"invoice": rid.split(":")[0], "_hub": rid.split(":")[1]}
                    for rid in remote_ids}  # fmt: skip
        if stream == "invoices":
            return self._invoices_by_id(remote_ids)
        if stream == "payment_status":
            # Only ids: a link of another shape (none is made) has nothing to read.
            wanted = [rid for rid in remote_ids if rid.isdigit()]
            return self._search(stream, "id", wanted, self.mappings[stream].remote_id)
        found = self._search(stream, BY_ID[stream], remote_ids, self.mappings[stream].remote_id)
        missing = [rid for rid in remote_ids if rid not in found]
        if stream == "customers" and missing:
            # GET /customer lists active customers unless asked: a deactivated one too.
            found.update(
                self._search(
                    stream, "id", missing, self.mappings[stream].remote_id, {"isInactive": "true"}
                )
            )
        return found

    def find_by_business_key(self, stream: str, keys: list[str]) -> dict[str, JSON]:
        """Besides master data by number: invoices, credit notes and payments whose create
        may have taken effect (a lost answer, a batch cut short), so none is sent twice."""
        if stream in ("invoices", "payments"):
            # Keys of another shape (intents recorded before keys had one) find nothing.
            parts = 3 if stream == "invoices" else 4
            keys = [key for key in keys if key.count("|") == parts - 1]
        if stream == "invoices":
            found = {key: self._find_invoice(key) for key in sorted(set(keys))}
            return {key: row for key, row in found.items() if row is not None}
        if stream == "payments":
            return self._find_payments(keys)
        if stream == "period_statistics":
            return {}
        mapping = self.mappings[stream]

        def key(row: JSON) -> str:
            return str(mapping.business_key(mapping.to_canonical(row, {})) or "")

        return self._search(stream, BY_KEY[stream], keys, key)

    def _find_invoice(self, key: str) -> JSON | None:
        """The invoice a create left behind: ``order|<number>|<date>`` is the order of that
        number, its invoice if charged, else charged now (the create stopped between the
        order and ``:invoice``); ``credit|<invoice id>|<date>`` is the credit note of that
        invoice. None when the create never reached Tripletex."""
        kind, reference, day = key.split("|")
        if kind == "credit":
            return self._find_credit(reference, day)
        order = self._find_order(reference, day)
        if order is None:
            return None
        if not order.get("isClosed"):
            try:
                return self._invoice_order(int(order["id"]), day)
            except RemoteRejected:
                return None
        return self._charged_from(order, day)

    def _find_order(self, number: str, day: str) -> JSON | None:
        """The order of that number and date (the hub id is its number), invoiced first."""
        after = (date.fromisoformat(day) + timedelta(days=1)).isoformat()
        orders = self.client.list_page(
            "/order",
            {"number": number, "orderDateFrom": day, "orderDateTo": after,
             "fields": "id,isClosed,customer(id)"},
        )  # fmt: skip
        if not orders:
            return None
        order: JSON = max(orders, key=lambda o: (bool(o.get("isClosed")), o["id"]))
        return dict(order)

    def _charged_from(self, order: JSON, day: str) -> JSON | None:
        """The invoice charged from an order on that day."""
        after = (date.fromisoformat(day) + timedelta(days=1)).isoformat()
        order_id = int(order["id"])
        return self._charged_on(
            day, after, order, lambda i: order_id in {int(o["id"]) for o in i.get("orders") or []}
        )

    def _find_credit(self, reference: str, day: str) -> JSON | None:
        """The credit note of invoice ``reference`` made on that day."""
        after = (date.fromisoformat(day) + timedelta(days=1)).isoformat()
        credited = (
            self.client.get(
                f"/invoice/{int(reference)}", {"fields": "id,isCredited,customer(id)"}
            ).get("value")
            or {}
        )
        if not credited.get("isCredited"):
            return None
        return self._charged_on(
            day, after, credited, lambda i: text(i.get("creditedInvoice")) == reference
        )

    def _charged_on(self, day: str, after: str, owner: JSON, match: Any) -> JSON | None:
        """The customer's invoice of that day that ``match`` picks."""
        invoices = self.client.list_page(
            "/invoice",
            {"invoiceDateFrom": day, "invoiceDateTo": after,
             "customerId": ref_id(owner.get("customer")) or ""},
        )  # fmt: skip
        return next((dict(i) for i in invoices if match(i)), None)

    def _find_payments(self, keys: list[str]) -> dict[str, JSON]:
        """Payments registered already: a payment posting (negative amount) on the invoice
        with the payment's date and amount, each posting taken by one payment at most."""
        by_invoice: dict[str, list[list[str]]] = {}
        for key in sorted(set(keys)):
            by_invoice.setdefault(key.split("|")[0], []).append(key.split("|"))
        found: dict[str, JSON] = {}
        for invoice_id, wanted in by_invoice.items():
            try:
                invoice = (
                    self.client.get(
                        f"/invoice/{int(invoice_id)}", {"fields": "id,postings(id,date,amount)"}
                    ).get("value")
                    or {}
                )
            except RemoteRejected:
                continue
            postings = [
                (str(p.get("date")), -paid)
                for p in invoice.get("postings") or []
                if (paid := decimal(p.get("amount"))) is not None and paid < 0
            ]
            for _, day, amount, hub in wanted:
                posting = (day, Decimal(amount))
                if posting in postings:
                    postings.remove(posting)
                    found["|".join((invoice_id, day, amount, hub))] = {
                        "invoice": invoice_id, "paymentDate": day,
                        "paidAmount": amount, "_hub": hub,
                    }  # fmt: skip
        return found

    def _invoices_by_id(self, remote_ids: list[str]) -> dict[str, JSON]:
        """Invoices by id, 100 a call (``SEARCHES``: ``GET /invoice`` takes a list of ids with
        its required date range, given as every date an invoice can have; inferred: the docs
        name no longest range). A list Tripletex refuses is read one invoice a call instead."""
        wanted = [rid for rid in remote_ids if rid.isdigit()]
        try:
            return self._search("invoices", "id", wanted, self.mappings["invoices"].remote_id)
        except RemoteRejected:
            found: dict[str, JSON] = {}
            for rid in wanted:
                try:
                    path = f"/invoice/{int(rid)}"
                    found[rid] = dict(
                        self.client.get(path, {"fields": INVOICE_FIELDS}).get("value") or {}
                    )
                except RemoteRejected:
                    continue
            return found

    def _search(
        self,
        stream: str,
        parameter: str,
        values: list[str],
        key: Any,
        extra: Mapping[str, str] | None = None,
    ) -> dict[str, JSON]:
        path, params = SEARCHES[stream]
        params = {**params, **(extra or {})}
        found: dict[str, JSON] = {}
        unique = sorted(set(values))
        for start in range(0, len(unique), 100):
            chunk = ",".join(unique[start : start + 100])
            rows = list(self.client.list_all(path, {**params, parameter: chunk}))
            if stream == "vat_codes":
                rows = self._with_direction(rows)
            for row in rows:
                found.setdefault(key(row), row)
        wanted = set(values)
        return {k: v for k, v in found.items() if k in wanted}

    # ------------------------------------------------------------------ writes

    def create_plan(self, stream: str) -> CreatePlan:
        """An invoice is an order (``POST /order``, its number the hub id) then ``:invoice``;
        a credit note one ``:createCreditNote``. One call per record, each found again after
        an unconfirmed call: the order by number and date, the invoice by its order."""
        if stream != "invoices":
            return super().create_plan(stream)
        labels = InvoiceMapping.step_labels
        return CreatePlan(
            steps=(
                WriteStep("order", self._post_orders, self._found_orders, needed=_charges_order,
                          label=labels["order"]),
                WriteStep("invoice", self._invoice_orders, self._found_invoices,
                          needed=_charges_order, restarts_on_refusal=True,
                          label=labels["invoice"]),
                WriteStep("credit", self._credit_notes, self._found_credits,
                          needed=lambda call: "credit" in call.payload, label=labels["credit"]),
            ),
            stored=lambda call: dict(call.done.get("invoice") or call.done["credit"]),
        )  # fmt: skip

    def _post_orders(self, calls: list[StepCall]) -> list[JSON]:
        return [self._post_order(c.payload["order"]) for c in calls]

    def _post_order(self, order: JSON) -> JSON:
        """``POST /order``; one to a customer deleted in Tripletex is refused in Tripletex's
        words with what to do (``reference_gone``), so "make it again" applies."""
        try:
            return dict(self.client.request("POST", "/order", json=order)["value"])
        except RemoteRejected as refused:
            if CUSTOMER_GONE in str(refused) and "not found" in str(refused):
                raise reference_gone(
                    "Tripletex", "customer", str(refused), CUSTOMER_MADE_AGAIN
                ) from refused
            raise

    def _found_orders(self, calls: list[StepCall]) -> list[JSON | None]:
        return [
            self._find_order(parts[1], parts[2]) if (parts := _key_parts(c.key, "order")) else None
            for c in calls
        ]

    def _invoice_orders(self, calls: list[StepCall]) -> list[JSON]:
        return [
            self._invoice_order(int(c.done["order"]["id"]), c.payload["invoiceDate"]) for c in calls
        ]

    def _found_invoices(self, calls: list[StepCall]) -> list[JSON | None]:
        return [self._charged_from(c.done["order"], c.payload["invoiceDate"]) for c in calls]

    def _credit_notes(self, calls: list[StepCall]) -> list[JSON]:
        return [self._issue(c.payload) for c in calls]

    def _found_credits(self, calls: list[StepCall]) -> list[JSON | None]:
        return [
            self._find_credit(parts[1], parts[2])
            if (parts := _key_parts(c.key, "credit"))
            else None
            for c in calls
        ]

    def create_many(self, stream: str, payloads: list[JSON]) -> list[JSON]:
        if stream == "payments":
            return [self._pay(payload) for payload in payloads]
        if stream != "invoices":
            raise RemoteRejected(f"{stream} are not written to Tripletex", reason="read_only")
        return [self._issue(payload) for payload in payloads]

    def _pay(self, payload: JSON) -> JSON:
        """``:payment`` with the connection's payment type (``settings.payment_type_id``),
        else the first incoming payment type Tripletex lists."""
        if self.payment_type_id is None:
            types = self.client.list_page("/invoice/paymentType", {"fields": "id"}, 0, 1)
            if not types:
                raise RemoteRejected("Tripletex lists no payment type", reason="remote_rejected")
            self.payment_type_id = str(types[0]["id"])
        body = self.client.request(
            "PUT", f"/invoice/{int(payload['invoice'])}/:payment",
            params={"paymentDate": payload["paymentDate"], "paidAmount": payload["paidAmount"],
                    "paymentTypeId": self.payment_type_id},
        )  # fmt: skip
        return {**payload, "amountOutstanding": body["value"].get("amountOutstanding")}

    def _issue(self, payload: JSON) -> JSON:
        """A credit note (``:createCreditNote``), or an order charged at once (``:invoice``).
        Tripletex does not send them to the customer: the app has issued them already."""
        if "credit" in payload:
            body = self.client.request(
                "PUT", f"/invoice/{int(payload['credit'])}/:createCreditNote",
                params={"date": payload["date"], "sendToCustomer": "false"},
            )  # fmt: skip
            return dict(body["value"])
        order = self._post_order(payload["order"])
        return self._invoice_order(int(order["id"]), payload["invoiceDate"])

    def _invoice_order(self, order_id: int, invoice_date: str) -> JSON:
        """``:invoice`` an order. An order Tripletex refuses to invoice is deleted, so none is
        left behind and a corrected retry starts afresh."""
        try:
            body = self.client.request(
                "PUT", f"/order/{order_id}/:invoice",
                params={"invoiceDate": invoice_date, "sendToCustomer": "false"},
            )  # fmt: skip
        except RemoteRejected:
            try:
                self.client.request("DELETE", f"/order/{order_id}")
            except ConnectorError as exc:
                log.warning(
                    "Tripletex order %s could not be invoiced nor deleted: %s", order_id, exc
                )
            raise
        return dict(body["value"])

    def update_many(self, stream: str, payloads: list[JSON]) -> list[JSON]:
        raise RemoteRejected(f"{stream} are not written to Tripletex", reason="read_only")

    def parse_notification(self, query: Mapping[str, str], body: bytes) -> list[ChangeNotice]:
        return notices(body)


def _charges_order(call: StepCall) -> bool:
    return "order" in call.payload


def _key_parts(key: str, kind: str) -> list[str] | None:
    """``<kind>|<reference>|<date>``; None for a key of another shape (an intent recorded
    before keys had one: there is nothing to find by)."""
    parts = key.split("|")
    return parts if len(parts) == 3 and parts[0] == kind else None
