"""Yuki connector: contacts both ways, the customer flag inbound, sent invoices outbound.

Streams, in dependency order: contacts (Contact.asmx, companies and persons; suppliers too
when the connection retrieves them), customers (the contacts whose Customer box is ticked,
attached to the parties of contacts: what lets their invoices go), invoices (hub invoices
with status sent → ProcessSalesInvoices, one way).

Reads are incremental on ``modifiedAfter``: a changed-since scan (``kit.cursors``) in Yuki's
local time (Europe/Amsterdam) whose position is the next page, with ``|unflagged`` while a
contacts scan reads the contacts with neither box ticked.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Any

from lxml import etree

from ledgerbridge.connectors.base import (
    JSON,
    ROW_ISSUE,
    ROW_LINKED_ONLY,
    CallMeter,
    ChangeNotice,
    Connector,
    CreatePlan,
    EntityMapping,
    Page,
    RemoteRejected,
    StepCall,
)
from ledgerbridge.connectors.kit.cursors import ChangedSince
from ledgerbridge.connectors.kit.values import text
from ledgerbridge.connectors.kit.wiring import Settings, Transport
from ledgerbridge.connectors.yuki.client import (
    AMSTERDAM,
    CONTACT_NS,
    DEFAULT_BASE_URL,
    SALES_NS,
    YukiClient,
)
from ledgerbridge.connectors.yuki.mapping import (
    CODE_TAKEN,
    ID_PREFIX,
    NOTICE_REASON,
    REFUSED_NOT_CUSTOMER,
    ContactMapping,
    CustomerFlagMapping,
    InvoiceMapping,
    contact_directions,
    flag,
)

STREAM_ENTITIES: dict[str, str] = {
    "contacts": "party",
    "customers": "party",
    "invoices": "invoice",
}
PAGE_SIZE = 100
"""Yuki's contact searches return at most 100 records a page."""
OVERLAP = timedelta(seconds=1)
"""``Modified`` has one-second resolution: while the newest change seen is recent, the next
read starts a second before it, so a change made in that second after the read is not missed
(rows read again are recognised as unchanged)."""
SETTLED = timedelta(minutes=5)
"""A second this far in the past (clocks may differ a little) takes no more changes: the next
read starts right after it, so a bulk edit is not read again on every pull."""
INVOICES_PER_CALL = 1000
"""Invoices per ProcessSalesInvoices call (one call against the daily limit, whatever its size)."""
NOTICE = (
    "created in Yuki as a {kind} without the Customer or Supplier box: Yuki's API cannot set "
    "it. Tick Customer (or Supplier) for relationship {code} in Yuki; invoices to it are held "
    "until Yuki shows it as a customer, and this notice closes by itself"
)
TAKEN = (
    "debtor number {code} belongs to another Yuki contact, '{name}' (relationship code {code}), "
    "and Yuki matches contacts on that code: "
)
TAKEN_BY_CREATE = TAKEN + (
    "creating the party under it would overwrite that contact. Give the party another debtor "
    "number; or, if it is the same relationship, tick Customer for {code} in Yuki, and the next "
    "pull links the party to it"
)
TAKEN_BY_UPDATE = TAKEN + (
    "giving it to this contact too would leave two contacts with that code. Give the party "
    "another debtor number"
)
UNFLAGGED = "unflagged"
"""Cursor phase of a contacts scan reading the contacts with neither box ticked."""
MODIFIED_FORMAT = "%m/%d/%Y %I:%M:%S %p"
LOCAL_FORMAT = "%Y-%m-%dT%H:%M:%S"


def parse_modified(value: str | None) -> datetime | None:
    """Yuki's ``Modified`` (``12/18/2019 10:21:40 AM``, local time) as a naive datetime."""
    if not value:
        return None
    try:
        return datetime.strptime(value.strip(), MODIFIED_FORMAT)
    except ValueError:
        return None


class YukiConnector(Connector):
    system = "yuki"
    default_streams = frozenset({"contacts", "customers", "invoices"})
    batched_writes = frozenset({"invoices"})
    """Sales invoices go in one ProcessSalesInvoices call; contacts one UpdateContact each."""
    held_hints = MappingProxyType(
        {
            "customers": "Yuki does not show this contact as a customer; tick Customer for it "
            "in Yuki, and the invoice goes once the next pull sees the box ticked",
        }
    )
    """Yuki refuses invoices to a contact whose Customer box is not ticked, and its API
    cannot tick it: only the user can."""

    def open(
        self, settings: Settings, secrets: Settings, meter: CallMeter, transport: Transport
    ) -> None:
        self.domain_id = str(settings["domain_id"])
        self.administration_id = str(settings["administration_id"])
        self.suppliers = bool(settings.get("import_suppliers", False))
        self.client = YukiClient(
            base_url=str(settings.get("base_url") or DEFAULT_BASE_URL),
            access_key=str(secrets["access_key"]),
            meter=meter,
            clock=self.clock,
        )
        self.mappings: Mapping[str, EntityMapping] = {
            "contacts": ContactMapping(contact_directions(settings)),
            "customers": CustomerFlagMapping(),
            "invoices": InvoiceMapping(
                settings.get("vat_mapping") or {},
                str(settings.get("payment_method") or "ElectronicTransfer"),
            ),
        }
        self._refused: dict[str, str] = {}
        """Invoices Yuki refused in this run, by reference, with its message: the engine's
        one-by-one retry of a refused batch gets Yuki's verdict without a second call."""
        self._accepted: dict[str, JSON] = {}
        """Invoices Yuki accepted in this run, by reference: found without a call when the
        engine looks for them after a refused batch."""
        self._held: dict[str, str | None] = {}
        """The relationship code of each contact read in this run (None: it has none), by Yuki
        id: an update that gives a contact another code checks that code first."""
        self._taken: dict[str, JSON] = {}
        """Codes a write was refused for in this run, with the other contact holding each: the
        look-up the engine makes after the refusal is answered without a call, and never with
        that contact."""
        self._flagged: dict[datetime | None, list[JSON]] = {}
        """The contacts with a box ticked read whole in this run, page after page, by their
        ``modifiedAfter``: the customers read since that moment or later filters them instead
        of asking Yuki again."""
        self._reading: dict[datetime | None, list[JSON]] = {}
        """The same while its pages are being read."""
        self._contacts_next: datetime | None = None
        """Where the next contacts read starts, once this run has read them to the end."""

    def close(self) -> None:
        self.client.close()

    def test(self) -> str:
        names = {d["ID"]: d.get("Name") for d in self.client.domains()}
        name = names.get(self.domain_id)
        if name is None:
            raise RemoteRejected(f"the access key does not reach Yuki domain {self.domain_id}")
        return f"Yuki domain {name} ({self.domain_id})"

    # ------------------------------------------------------------------ reads

    def read_page(self, stream: str, after: str | None, limit: int) -> Page:
        """Customers: the contacts whose Customer box is ticked. Contacts: those with either
        box ticked, then those with neither; a contact that is not imported (no Customer box,
        or a supplier when suppliers are not retrieved) is read only to follow a hub record
        already linked to it, such as a contact the hub created, whose boxes only the user
        can tick."""
        scan = ChangedSince.parse(after)
        number, _, phase = scan.position.partition("|")
        page, unflagged = int(number or 1), phase == UNFLAGGED
        since = datetime.fromisoformat(scan.since) if scan.since else None
        if stream == "customers":
            rows = self._customers(since, page)
        elif unflagged:
            rows = [{**row, ROW_LINKED_ONLY: True} for row in self._contacts("None", since, page)]
        else:
            flagged = self._contacts("Both", since, page)
            self._note_flagged(since, page, flagged)
            rows = [
                row if self.suppliers or flag(row.get("IsCustomer")) else
                {**row, ROW_LINKED_ONLY: True}
                for row in flagged
            ]  # fmt: skip
        scan = scan.saw(_local(parse_modified(row.get("Modified"))) for row in rows)
        if len(rows) >= PAGE_SIZE:
            return Page(rows, scan.at(f"{page + 1}|{phase}" if phase else page + 1), more=True)
        if stream == "contacts" and not unflagged:
            return Page(rows, scan.at(f"1|{UNFLAGGED}"), more=True)
        newest = datetime.fromisoformat(scan.upcoming) if scan.upcoming else None
        start = self._next_start(since, newest)
        if stream == "contacts":
            self._contacts_next = start
        elif self._contacts_next is not None and (start is None or start < self._contacts_next):
            # This run read every contact with a box ticked changed after the contacts' next
            # start, and the customers read since their own earlier one: the customers' next
            # read starts where the contacts' does, so it is cut from that read, not a call.
            start = self._contacts_next
        return Page(rows, scan.done(_local(start) or ""), more=False)

    def _note_flagged(self, since: datetime | None, page: int, rows: list[JSON]) -> None:
        """Keeps the ticked contacts read in this run, until their last page completes them."""
        if page == 1:
            self._reading[since] = []
        reading = self._reading.get(since)
        if reading is None:
            return
        reading.extend(rows)
        if len(rows) < PAGE_SIZE:
            self._flagged[since] = self._reading.pop(since)

    def _customers(self, since: datetime | None, page: int) -> list[JSON]:
        """Page ``page`` of the active contacts with the Customer box ticked, modified since
        ``since``: cut from this run's whole read of ticked contacts when there is one (a
        customer is a ticked contact, listed in the same order), else read from Yuki. A read
        since the same moment gives Yuki's own pages; one since an earlier moment is used
        only when what it holds fits one page (``Modified`` has whole seconds, so a row of
        that very second is kept: read again, it is recognised as unchanged)."""
        for read_since, flagged in self._flagged.items():
            earlier = read_since is None or (since is not None and read_since <= since)
            if not earlier or not all("Active" in row for row in flagged):
                continue
            customers = [
                row for row in flagged
                if flag(row.get("IsCustomer")) and flag(row.get("Active"))
                and (read_since == since or _modified_since(row, since))
            ]  # fmt: skip
            if read_since == since or len(customers) < PAGE_SIZE:
                return customers[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
        return self._contacts("Customer", since, page, active="Active")

    def _contacts(
        self, contact_type: str, since: datetime | None, page: int, active: str = "Both"
    ) -> list[JSON]:
        """One page of GetSuppliersAndCustomers; inactive contacts are read (``Both``) to say
        why they are skipped."""
        return self.client.suppliers_and_customers(
            self.domain_id, contact_type=contact_type, modified_after=since, active=active,
            page=page,
        )  # fmt: skip

    def _next_start(self, since: datetime | None, newest: datetime | None) -> datetime | None:
        if newest is None:
            return since
        now = self.clock.now().astimezone(AMSTERDAM).replace(tzinfo=None)
        return newest - OVERLAP if newest > now - SETTLED else newest

    def fetch_many(self, stream: str, remote_ids: list[str]) -> dict[str, JSON]:
        if stream == "invoices":
            # A booked sales invoice cannot be changed or read back through the API.
            return {rid: {"Reference": rid} for rid in remote_ids}
        found: dict[str, JSON] = {}
        for remote_id in remote_ids:
            if remote_id.startswith(ID_PREFIX):
                # No search by Yuki id exists: an update by id sends the whole contact.
                contact_id = remote_id[len(ID_PREFIX) :]
                self._held[contact_id] = None
                found[remote_id] = {"ID": contact_id}
                continue
            row = self._contact_by_code(remote_id)
            if row is not None:
                self._held[str(row.get("ID"))] = remote_id
                found[remote_id] = row
        return found

    def _contact_by_code(self, code: str) -> JSON | None:
        page = 1
        while True:
            rows = self.client.search_contacts(self.domain_id, code, page)
            for row in rows:
                if text(row.get("Code")) == code:
                    return row
            if len(rows) < PAGE_SIZE:
                return None
            page += 1

    def find_by_business_key(self, stream: str, keys: list[str]) -> dict[str, JSON]:
        if stream == "invoices":
            return self._find_invoices(keys)
        if stream == "contacts":
            return self.fetch_many(
                stream, [k for k in keys if not k.startswith(ID_PREFIX) and k not in self._taken]
            )
        return {}

    def create_plan(self, stream: str) -> CreatePlan:
        """A contact create is looked up by the code its payload carries, the code
        UpdateContact matched on: the write intent keeps the debtor number the party had when
        first sent, and a party refused for a taken number is sent again under another."""
        plan = super().create_plan(stream)
        if stream != "contacts":
            return plan

        def find(calls: list[StepCall]) -> list[JSON | None]:
            codes = [text(call.payload.get("Code")) or call.key for call in calls]
            found = self.find_by_business_key(stream, codes)
            return [found.get(code) for code in codes]

        return replace(plan, steps=tuple(replace(step, find=find) for step in plan.steps))

    def _find_invoices(self, references: list[str]) -> dict[str, JSON]:
        found: dict[str, JSON] = {}
        for reference in references:
            if reference in self._accepted:
                found[reference] = self._accepted[reference]
            elif reference in self._refused:
                continue
            elif self.client.outstanding_items(self.administration_id, reference):
                found[reference] = {"Reference": reference}
        return found

    # ------------------------------------------------------------------ writes

    def create_many(self, stream: str, payloads: list[JSON]) -> list[JSON]:
        if stream == "invoices":
            return self._send_invoices(payloads)
        self._check_codes(payloads, TAKEN_BY_CREATE)
        return [self._write_contact(payload) for payload in payloads]

    def update_many(self, stream: str, payloads: list[JSON]) -> list[JSON]:
        if stream == "invoices":
            raise RemoteRejected("Yuki cannot change a booked sales invoice")
        self._check_codes(payloads, TAKEN_BY_UPDATE)
        return [self._write_contact(payload) for payload in payloads]

    def _check_codes(self, payloads: list[JSON], refusal: str) -> None:
        """Refuses the batch before any of it is written when a code it gives a contact is
        another Yuki contact's. The hub hands out debtor numbers knowing only the contacts it
        imports, and UpdateContact matches on the code: a create would overwrite that contact,
        an update give two contacts one code. One search per code a contact does not hold
        yet: every create, and an update that gives its contact a code."""
        for payload in payloads:
            code, contact_id = text(payload.get("Code")), payload.get("ID")
            if code is None or (contact_id and code == self._held.get(str(contact_id))):
                continue
            holder = self._taken.get(code) or self._contact_by_code(code)
            if holder is None or holder.get("ID") == contact_id:
                continue
            self._taken[code] = holder
            name = text(holder.get("Name")) or ""
            raise RemoteRejected(refusal.format(code=code, name=name), reason=CODE_TAKEN)

    def _write_contact(self, payload: JSON) -> JSON:
        """One UpdateContact (Yuki writes contacts one at a time); a contact Yuki created gets
        the notice that its Customer or Supplier box must be ticked by hand."""
        contact_id, created = self.client.update_contact(self.domain_id, contact_document(payload))
        stored: JSON = {**payload, "ID": contact_id, "Active": payload.get("Active") or "true"}
        if created:
            stored.update(IsCustomer="False", IsSupplier="False")
            kind = "person" if payload.get("Type") == "Person" else "company"
            stored[ROW_ISSUE] = {
                "reason": NOTICE_REASON,
                "outcome": "created",
                "message": NOTICE.format(kind=kind, code=payload.get("Code")),
            }
        return stored

    def _send_invoices(self, payloads: list[JSON]) -> list[JSON]:
        """All invoices in as few calls as possible; a refused one fails the batch so that the
        engine isolates it, and its retry is answered from Yuki's verdict in this run."""
        for payload in payloads:
            message = self._refused.get(payload["Reference"])
            if message is not None and len(payloads) == 1:
                raise RemoteRejected(message, reason=_refusal_reason(message))
        pending = [p for p in payloads if p["Reference"] not in self._accepted]
        for start in range(0, len(pending), INVOICES_PER_CALL):
            chunk = pending[start : start + INVOICES_PER_CALL]
            results = self.client.process_sales_invoices(
                self.administration_id, invoices_document(chunk)
            )
            by_reference = {r.get("Reference"): r for r in results}
            for payload in chunk:
                reference = payload["Reference"]
                result = by_reference.get(reference) or {}
                message = result.get("Message") or ""
                if result.get("Succeeded") == "true" or "already exists" in message:
                    self._accepted[reference] = payload
                elif not message.startswith("Not processed"):
                    self._refused[reference] = (
                        f"Yuki refused invoice {reference}: {message or 'no result'}"
                    )
        refused = [p["Reference"] for p in payloads if p["Reference"] not in self._accepted]
        if refused:
            first = self._refused.get(refused[0], f"Yuki did not process invoice {refused[0]}")
            raise RemoteRejected(
                f"{len(refused)} of {len(payloads)} invoices were not accepted; first: {first}",
                reason=_refusal_reason(first),
            )
        return [self._accepted[p["Reference"]] for p in payloads]

    # ------------------------------------------------------------------ callbacks

    def parse_notification(self, query: Mapping[str, str], body: bytes) -> list[ChangeNotice]:
        """Yuki has no callbacks or webhooks: changes are read with ``modifiedAfter``."""
        return []


def _refusal_reason(message: str) -> str:
    """A refusal because the contact is not a customer has its own code; it differs from the
    waiting reason so that a refused invoice is not sent again on every push."""
    return REFUSED_NOT_CUSTOMER if "is not a customer" in message else "remote_rejected"


def _modified_since(row: JSON, since: datetime | None) -> bool:
    """Whether Yuki's ``modifiedAfter`` of ``since`` would list the row (kept when its
    ``Modified`` cannot be read: a row read again is recognised as unchanged)."""
    modified = parse_modified(row.get("Modified"))
    return since is None or modified is None or modified >= since


def _local(moment: datetime | None) -> str | None:
    """A Yuki local time as the cursor holds it."""
    return moment.strftime(LOCAL_FORMAT) if moment is not None else None


CONTACT_TYPE_CODES = {"Person": "0", "Company": "2"}
DOCUMENT_ELEMENTS = {
    "Name": "FullName",
    "EMailWork": "EmailWork",
    "Postcode": "PostCode",
    "MailPostcode": "MailPostCode",
}
"""Where the UpdateContact document names an element differently from the search results."""


def contact_document(payload: JSON) -> etree._Element:
    """The ``UpdateContact`` xmlDoc: ``ID`` (empty to create), ``Type`` (0 person, 2 company),
    ``Code`` and every mapped element, empty where the hub has no value so it is cleared."""
    root = etree.Element(f"{{{CONTACT_NS}}}Contact", nsmap={None: CONTACT_NS})

    def add(name: str, value: Any) -> None:
        element = etree.SubElement(root, f"{{{CONTACT_NS}}}{name}")
        element.text = None if value is None else str(value)

    add("ID", payload.get("ID"))
    add("Type", CONTACT_TYPE_CODES.get(str(payload.get("Type")), "2"))
    for key, value in payload.items():
        if key in ("ID", "Type", "Active", "IsCustomer", "IsSupplier") or key.startswith("_"):
            continue
        add(DOCUMENT_ELEMENTS.get(key, key), value)
    return root


def invoices_document(payloads: list[JSON]) -> etree._Element:
    """The ``ProcessSalesInvoices`` xmlDoc, in the element order of Yuki's example. Invoices
    are booked (``Process``) so that each becomes an outstanding item; the hub sent them to
    the customer already, so Yuki does not e-mail them."""
    root = etree.Element(f"{{{SALES_NS}}}SalesInvoices", nsmap={None: SALES_NS})

    def add(parent: etree._Element, name: str, value: Any = None) -> etree._Element:
        element = etree.SubElement(parent, f"{{{SALES_NS}}}{name}")
        if value is not None:
            element.text = str(value)
        return element

    for payload in payloads:
        invoice = add(root, "SalesInvoice")
        add(invoice, "Reference", payload["Reference"])
        add(invoice, "Subject", payload.get("Subject"))
        add(invoice, "PaymentMethod", payload.get("PaymentMethod"))
        add(invoice, "Process", "true")
        add(invoice, "EmailToCustomer", "false")
        add(invoice, "Date", payload.get("Date"))
        if payload.get("DueDate"):
            add(invoice, "DueDate", payload["DueDate"])
        add(invoice, "Currency", payload.get("Currency"))
        add(invoice, "Remarks", payload.get("Remarks"))
        contact = add(invoice, "Contact")
        add(contact, "ContactCode", payload["ContactCode"])
        lines = add(invoice, "InvoiceLines")
        for line in payload.get("Lines") or []:
            element = add(lines, "InvoiceLine")
            add(element, "Description", line.get("Description"))
            add(element, "ProductQuantity", line["ProductQuantity"])
            product = add(element, "Product")
            add(product, "Description", line.get("Description"))
            if line.get("ProductReference"):
                add(product, "Reference", line["ProductReference"])
            add(product, "SalesPrice", line["SalesPrice"])
            if line.get("VATPercentage") is not None:
                add(product, "VATPercentage", line["VATPercentage"])
            add(product, "VATIncluded", "false")
            if line.get("VATType") is not None:
                add(product, "VATType", line["VATType"])
    return root
