"""The contract between the engine and a connector.

A connector knows its system's wire (client), how records map to canonical form (mappings) and
how to read and write them in pages and batches. It knows nothing of the store, the queue or
schedules: the engine decides what to sync, remembers what was synced and recovers from failures.
Canonical data crosses this boundary as JSON-mode dicts (``Model.model_dump(mode="json")``);
outbound, the dict also carries the hub record's ``id``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from types import MappingProxyType
from typing import Any, Literal

from ledgerbridge.clock import Clock, SystemClock
from ledgerbridge.connectors.kit.wiring import Settings, Transport
from ledgerbridge.model.invoice import VatRounding

JSON = dict[str, Any]
ROW_ISSUE = "__issue__"
"""Key a connector may add to a stored row to report a problem with a write that otherwise
took effect (an order created whose posting failed): ``{"reason": ..., "message": ...}``. The
record is linked, and the problem becomes its open issue until a retry succeeds."""
ROW_NOTE = "__note__"
"""Key a connector may add to a created row to say why the system stored it otherwise than
sent (Qonto invoicing in its client's currency): ``{"reason": ..., "message": ...}``, the
reason and message of the create's sync-log entry. Not an issue: nothing is left to do."""
ROW_LINKED_ONLY = "__linked_only__"
"""Key a connector may set on a row it reads only to follow records already linked (a Yuki
contact made from the hub, whose Customer box is not ticked): such a row updates its linked hub
record and never creates or matches one. Its canonical form may hold only some of the mapping's
fields (a Uniconta posted invoice's header, read again without its lines): the others are taken
as last synced."""
CallMeter = Callable[[int], None]
"""Called with the number of API calls about to be made, before they are made. The engine
records them in the quota ledger and may raise to stop a run that would exceed the budget."""


class SkipRecord(Exception):
    """This record cannot sync now; ``reason`` is a stable code, ``message`` says what to fix."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason = reason
        self.message = message


class ConnectorError(Exception):
    """Base of the failures a connector reports."""


class AuthenticationFailed(ConnectorError):
    """The credentials were refused: nothing will work until the user fixes them."""


class RemoteUnavailable(ConnectorError):
    """The request did not take effect (refused, throttled, 5xx on a read): safe to retry.
    ``retry_after`` is how many seconds the system asked us to wait (429 Retry-After)."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class AmbiguousWrite(ConnectorError):
    """A write may or may not have taken effect (timeout or dropped connection after sending)."""


REFERENCE_MISSING = "reference_missing"
"""The reason of a refusal because a record the write names (an invoice's client) no longer
exists in the system: "make it again" unlinks what is gone there and creates it anew."""
MAKE_AGAIN = (
    "click Make again on the Issues page (API: POST /connections/{id}/issues/retry with "
    '"issue_id" and "recreate": true)'
)
"""How a person asks to "make it again", in the issue's words."""
MAKE_AGAIN_HINT = (
    f"{MAKE_AGAIN}; what the system no longer has is created anew, or linked if it was made "
    "there again by hand"
)
"""What a person does about an issue "make it again" applies to, in the issue's words."""


class RemoteRejected(ConnectorError):
    """The system refused the record itself (validation): retrying the same data will not help.
    ``reason`` is the code the record's issue gets.

    ``written``: for a batch the system answers record by record (WooCommerce's ``/batch``),
    what the refused call did store: each record's row, None for one it did not write. Without
    it, the records a refused batch of several carried may or may not have been written."""

    def __init__(
        self,
        message: str,
        reason: str = "remote_rejected",
        written: list[JSON | None] | None = None,
    ) -> None:
        super().__init__(message)
        self.reason = reason
        self.written = written


class QuotaReached(ConnectorError):
    """The system itself refused a call because the day's call limit is used up (its own
    counter may be ahead of ours): work resumes at ``resumes_at``, as with the engine's quota."""

    def __init__(self, message: str, resumes_at: datetime) -> None:
        super().__init__(message)
        self.resumes_at = resumes_at


class CallbackRefused(Exception):
    """An inbound callback that did not prove it comes from the system (a bad signature, a
    stale timestamp): it is answered with an error and nothing is stored."""


class CallbackMalformed(CallbackRefused):
    """An inbound callback whose body cannot be read as the system sends it (not JSON where
    the signature is over fields inside it): the sender's request is wrong (400), not its
    credentials, and nothing is stored."""


class SetupRefused(Exception):
    """A connection cannot be saved as configured; ``field`` names the setting to fix."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


@dataclass(frozen=True)
class OAuthFlow:
    """A system's OAuth 2.0 authorization-code login, served by the hub's generic login
    endpoints: where the user logs in, and how the code Qonto (or another system) sends back
    becomes the secrets stored with the connection."""

    authorize_url: Callable[[Mapping[str, Any], Mapping[str, Any], str, str], str]
    """(settings, secrets, state, redirect URI) → the URL the user's browser opens."""
    exchange_code: Callable[[Mapping[str, Any], Mapping[str, Any], str, str, Any, Any], JSON]
    """(settings, secrets, code, redirect URI, HTTP transport, clock) → secrets to add (the
    tokens and when they expire)."""
    after_login: Callable[[Mapping[str, Any], Mapping[str, Any], str, Any, Any], JSON] | None = None
    """(settings, secrets with the new tokens, the connection's callback URL, HTTP transport,
    clock) → secrets to add: what the system needs set up once logged in (webhooks)."""


CodeKind = Literal["journal", "account", "payment_term", "customer_group", "customer", "item"]
"""What an accounting code a setting names is: a cash journal, a GL account, a payment term, a
debtor group, a debtor account, an item."""


@dataclass(frozen=True)
class NamedCode:
    """An accounting system's code that a setting names (a route's journal, a payment term),
    with the setting's path: checked with the system when the setting is saved, so a typo is
    refused there rather than by the system at the first write."""

    field: str
    kind: CodeKind
    code: str


@dataclass
class Verified:
    """What the set-up checks learned (stored in the settings) and what the user should know."""

    settings: JSON
    warnings: list[str]


@dataclass(frozen=True)
class Page:
    records: list[JSON]
    after: str | None
    """Keyset position after this page (the last record's key; the starting position when
    the page is empty)."""
    more: bool
    """Whether another page may follow."""


@dataclass(frozen=True)
class ChangeNotice:
    """A system told us that a record changed (callback or webhook)."""

    stream: str
    remote_id: str
    operation: Literal["upsert", "delete"]
    data: JSON | None = None


RemoteRef = tuple[str, str]
"""A reference as the remote holds it: (stream, remote id), e.g. ("customers", "10042")."""


@dataclass(frozen=True)
class Reference:
    """A canonical field that holds the hub id of another record (a contact's ``party_id``).

    The engine resolves it through links in ``streams``: remote → hub id inbound, hub id →
    remote id outbound. When the referenced record is absent the record is skipped with
    ``missing_reason``; when it exists but has not synced yet, with ``pending_reason``, and it
    is tried again by itself as soon as the referenced record syncs.
    """

    field: str
    streams: tuple[str, ...]
    missing_reason: str
    pending_reason: str
    required: bool = True
    """An optional reference that is empty stays empty (a credit note's original invoice)."""


@dataclass(frozen=True)
class ProductLookup:
    """Invoice lines that come in without a product the hub knows (the remote has no product
    catalogue it shares): the engine gives each line the hub product whose name is the line's
    ``name_from`` and whose VAT rate is the line's ``rate_from``, and copies ``copies``
    (product field, line field) from it. A line no single product matches keeps ``product_id``
    empty: that is not an error.

    A product's VAT rate is the rate of the hub VAT code it names; a product whose VAT code is
    the line's own ``vat_code`` matches as well.
    """

    name_from: str = "description"
    rate_from: str = "vat_rate"
    copies: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class NumberSequence:
    """A canonical field whose values the hub hands out (the hub leads for debtor numbers): a
    record sent without one gets the next number of the connection's setting ``setting``,
    ``{"next": 10000, "prefix": ""}``, skipping numbers other records already hold. A
    remote record is keyed by its number (its remote id is the number), so the numbers of
    remote records the hub skipped when reading them are skipped too."""

    field: str
    setting: str


@dataclass(frozen=True)
class Gathering:
    """Hub records the remote keeps as one: those whose ``field`` holds the same value (a
    product's stock levels in each warehouse and location, where a shop keeps one quantity
    per product). Whenever one of them changes, the engine sends the group's whole state,
    ``combine`` of its members in scope, as one record: under the member that holds the
    group's link (else the oldest), so each remote record gets one write per change and a
    level changed alone never overwrites the others' part."""

    field: str
    combine: Callable[[list[JSON]], JSON]
    """Members' canonical data (live and in scope, oldest first) → the canonical record sent."""


@dataclass(frozen=True)
class DataField:
    """A figure a system offers for the app's custom fields (a monthly statistic), as a
    mapping screen lists it."""

    label: str
    unit: Literal["count", "amount"]
    definition: str
    common: bool = False
    """Listed at once; the others are the less common ones behind "Show more"."""


@dataclass(frozen=True)
class LinkedBy:
    """A stream whose records come through links a connection keeps in a setting
    (``SystemSpec.linked_records``): Tripletex's monthly summaries of a client come from the
    customer ``client_links`` links it to. A record belongs to the hub record its ``field``
    names (the client) and came through the system's record ``source`` reads from its remote
    id (the customer). Once the client is linked to another customer, or the customer to
    another client, what came through the old link is not the client's: each pull of the
    stream deletes it from the hub first (``engine.relinks``)."""

    setting: str
    field: str
    source: Callable[[str], str]


@dataclass(frozen=True)
class StepCall:
    """One record's part in one step of a create: its payload, the business key it is found
    by, and the confirmed results of its earlier steps (by step name)."""

    payload: JSON
    key: str
    done: Mapping[str, JSON]


def always(call: StepCall) -> bool:
    return True


@dataclass(frozen=True)
class WriteStep:
    """One call of a create that takes several (insert the order, insert its lines, post it).

    The engine records the step as started before ``send`` and its result once confirmed, so a
    create resumes from its last confirmed step after any failure. ``find`` tells whether a step
    started but not confirmed took effect (the order by the hub id it carries): a result found
    is adopted, None means it is sent. A step without ``find`` is safe to repeat (a read)."""

    name: str
    send: Callable[[list[StepCall]], list[JSON]]
    """Results in order; raises ``RemoteRejected`` when the system refuses (a batch is then
    looked up and split so that only the bad record fails)."""
    find: Callable[[list[StepCall]], list[JSON | None]] | None = None
    batched: bool = False
    """One call carries many records, all or nothing (Uniconta's Insert); otherwise one call
    per record, so a fault costs only that record's step."""
    needed: Callable[[StepCall], bool] = always
    restarts_on_refusal: bool = False
    """A refusal of this step undoes the earlier ones (Tripletex deletes an order it refuses
    to invoice): the next attempt starts from the first step."""
    label: str | None = None
    """What the step writes or does, in the system's users' words, without an article (sales
    order, order lines, invoicing of the order): refusals and interrupted creates name it
    ("Uniconta refused the order lines: …"). None: the step writes the record itself."""


@dataclass(frozen=True)
class CreatePlan:
    """How a stream's records are created: its steps in order, and the record as stored once
    they are done (what the engine links and adopts)."""

    steps: tuple[WriteStep, ...]
    stored: Callable[[StepCall], JSON]

    def label(self, name: str, record: str) -> str:
        """What a step does in users' words, ``record`` being what the system calls the
        record (invoice)."""
        step = next((s for s in self.steps if s.name == name), None)
        return step_label(step.label if step else None, name, record, len(self.steps) == 1)


def step_label(declared: str | None, name: str, record: str, alone: bool) -> str:
    """A create step in users' words: its declared label, else the record itself for a step
    that writes it ``alone``, else the record's part named by the step (the invoice's read)."""
    if declared is not None:
        return declared
    if alone:
        return record
    return f"{record}'s {name.replace('_', ' ')}"


class EntityMapping(ABC):
    """How one canonical entity lives in one remote entity (one stream of a connector)."""

    entity: str
    remote_entity: str
    """What a user of the system calls one of its records (debtor, item, sales invoice),
    never its API's class name: messages in the sync log and issues name it after the
    system's title (Uniconta item 1001)."""
    step_labels: Mapping[str, str] = MappingProxyType({})
    """The ``label`` of each step of a create of several steps in this stream, by step name
    (see ``WriteStep.label``): declared here, on the class, so that the connector's plan and
    a record's history (which has no connector at hand) name the steps alike."""
    fields: frozenset[str]
    """Canonical fields the remote carries; other fields of the hub record are left alone."""
    business_key_field: str | None = None
    """Canonical field holding the natural key the remote enforces (debtor number, invoice
    number): how a record is found again after an ambiguous create, and how an existing hub
    record is recognised on first import."""
    match_fields: tuple[str, ...] = ()
    """Canonical fields, in order, that recognise an existing unlinked hub record when a remote
    record is first seen and carries no business key (a VAT number, a registration number, an
    e-mail address). A value shared by several unlinked hub records matches none of them (a
    wrong merge is worse than a second record): the record imported gets an issue naming them."""
    references: tuple[Reference, ...] = ()
    incremental: bool = False
    """Records only ever appear after the last one read (posted invoices): a pull reads what
    came after its cursor instead of scanning everything again."""
    attach_to: str | None = None
    """A stream that never creates hub records but adds its fields to the record linked with
    the same remote id in this other stream (payment status onto invoices)."""
    read_by_link: bool = False
    """The system lists no such records: an attach stream's records are read by id
    (``fetch_many``), those linked in ``attach_to``, a page of links at a time (Tripletex's
    outstanding amounts of the invoices the connection sent)."""
    sequence: NumberSequence | None = None
    """Numbers the hub assigns before a record is sent (see ``NumberSequence``)."""
    product_lookup: ProductLookup | None = None
    """Inbound invoice lines get their hub product by name and VAT rate (see
    ``ProductLookup``)."""
    gathering: Gathering | None = None
    """Several hub records go out as one remote record (see ``Gathering``)."""
    resolves: frozenset[str] = frozenset()
    """Outbound issues with these reasons close when this stream reads the record (the record
    of ``attach_to`` for an attach stream): a notice that asked the user to do something in
    the accounting system (book an order by hand), which this stream now sees done."""
    fixed_remotely: frozenset[str] = frozenset()
    """Outbound issues with these reasons wait on something done in the accounting system (an
    item created there): the push sends their records again once their issue is an hour old,
    so they go by themselves soon after, at one try an hour."""
    inbound: bool = True
    outbound: bool = True
    read_back: bool = True
    """Whether a record written to the system can be read again by its id (``fetch_many``):
    a booked Yuki sales invoice cannot, so its link is all there is to know of it."""
    reads_amounts: bool = True
    """Whether the system's invoices as read carry their lines: a report's side of the
    system shows amounts it does not read as not read, never as zero."""
    reads_open_amount: bool = True
    """Whether a report reads the system's open amounts of these invoices (from a stream
    attached to them that carries ``amount_open``) whether or not the connection syncs that
    stream (Uniconta's open items). False: only while the connection reads them into the hub
    (Tripletex's ``payment_status``); otherwise the hub never learns what is still owed, and
    the report shows the system's side of it as not read."""
    vat_rounding: VatRounding = "per_line"
    """How the system rounds an invoice's VAT (invoice streams): what a reconciliation adds
    up per VAT code and counts as the total it booked."""
    read_only_reason: str | None = None
    """Why hub changes are never sent (the remote is master), for records and the API."""
    remote_wins: bool = False
    """Every read replaces the hub's values of ``fields`` with the remote's, even those changed
    in the hub since while the remote kept its own (a reload of monthly statistics)."""
    linked_by: LinkedBy | None = None
    """The records come through per-record links of a setting (see ``LinkedBy``)."""
    scope: str = ""
    """What ``in_scope`` admits when a setting decides it, as text: when it changes, the push
    walks the stream's past records once, so those it left out before are sent now."""

    @abstractmethod
    def remote_id(self, remote: JSON) -> str:
        """The remote record's stable identity."""

    @abstractmethod
    def to_canonical(self, remote: JSON, refs: Mapping[str, str | None]) -> JSON:
        """Wire → canonical fields (a subset of ``fields``); ``refs`` maps each reference
        field to the resolved hub id. Raises ``SkipRecord``."""

    def from_canonical(
        self, record: JSON, current: JSON | None, refs: Mapping[str, RemoteRef | None]
    ) -> JSON:
        """Canonical record → wire payload, on top of the remote's current state when updating;
        ``refs`` maps each reference field to the remote record it points at. Raises
        ``SkipRecord``."""
        raise SkipRecord(
            self.read_only_reason or "read_only", f"{self.remote_entity} is not written"
        )

    def remote_aliases(self, remote: JSON) -> list[str]:
        """Remote ids this record had before (an order that became an invoice when posted):
        its link is found under them and moved to the new id."""
        return []

    def remote_date(self, remote: JSON) -> str | None:
        """The record's date (``YYYY-MM-DD``) read from its wire form alone, so that a record
        that cannot be converted (an unmapped VAT code) is still filed under its month by a
        reconciliation; None when the wire carries none."""
        return None

    def remote_refs(self, remote: JSON) -> dict[str, RemoteRef | None]:
        """The references a remote record holds, per reference field (None when empty)."""
        return {}

    def business_key(self, record: JSON) -> str | None:
        """The record's business key, if it has one."""
        if self.business_key_field is None:
            return None
        value = record.get(self.business_key_field)
        return str(value).strip() or None if value is not None else None

    def payload_key(self, payload: JSON) -> str | None:
        """The business key of a wire payload, for records whose key lives only on the wire
        (a contact: its parent account and name)."""
        return None

    def in_scope(self, record: JSON) -> bool:
        """Whether a hub record belongs in this remote entity at all (a supplier-only party is
        not a debtor)."""
        return True

    def scope_hint(self, record: JSON) -> str | None:
        """Why a hub record out of scope (``in_scope`` false) is not sent and what makes it
        sent, said to a record that refers to it and waits for it (a payment of a draft
        invoice); None: the record's roles decide (a supplier-only party is not a debtor)."""
        return None

    def left_scope(self, record: JSON) -> SkipRecord | None:
        """A record in the system already that has left ``in_scope`` since (an invoice
        cancelled in the app after it was booked), when the system cannot withdraw it
        (``withdrawable``): the issue saying what a person does about it there. None: it
        stays there as it is, and that needs no one (a party no longer a customer)."""
        return None

    def finishes_when_deleted(self, record: JSON) -> bool:
        """Whether a create of this hub record that was interrupted (it may have written part
        of the record) and then deleted in the hub is finished rather than left, so that what
        it wrote is withdrawn (``withdrawable``) instead of staying behind unlinked. Only for a
        record that goes in as such a draft."""
        return False

    def withdrawable(self, remote_id: str) -> bool:
        """Whether the remote record linked to a hub record deleted in the hub is deleted in
        the system too (``Connector.withdraw_many``): a draft the system keeps apart from its
        books (a Uniconta order, which reserves stock). Nothing else is: deletes do not
        propagate, and a booked document is corrected by a credit note, never deleted."""
        return False

    def defaults(self) -> JSON:
        """Canonical values given to a hub record first created from this remote entity."""
        return {}

    def adopt_assigned(self, record: JSON, stored: JSON) -> JSON:
        """The hub record after a create, with what only the accounting system assigns (an
        invoice number and the posted lines). ``stored`` is the canonical form of the result."""
        return record

    def project(self, record: JSON, refs: Mapping[str, RemoteRef | None]) -> JSON:
        """The part of a canonical record that this remote can hold, in the form it comes back:
        the round trip through the wire format. Comparing projections tells whether a change
        matters to the remote, and tells an echo of our own write from a real change."""
        back = {ref.field: record.get(ref.field) for ref in self.references}
        return self.to_canonical(self.from_canonical(record, None, refs), back)


class Connector(ABC):
    """One authenticated session with one account of an accounting system.

    Its ``mappings`` are its streams (customers, suppliers, contacts, products, invoices…), in
    dependency order: a stream comes after the streams it references.
    """

    system: str
    mappings: Mapping[str, EntityMapping]
    default_streams: frozenset[str] = frozenset()
    """Streams enabled when a connection does not choose (``settings.entities``)."""
    held_hints: Mapping[str, str] = MappingProxyType({})
    """What a user does in the system so that a record held for a reference into this stream
    can go, by stream (Yuki: tick Customer on the contact); added to the held record's issue."""
    on_secrets: Callable[[JSON], None] | None = None
    """Set by the runtime: a connector hands it secrets that changed while it ran (a rotated
    OAuth refresh token), and they are sealed into the connection at once."""
    checked_codes: frozenset[CodeKind] = frozenset()
    """The kinds of code ``missing_codes`` can look up in the system."""

    def __init__(
        self,
        settings: Settings,
        secrets: Settings,
        meter: CallMeter,
        transport: Transport = None,
        clock: Clock | None = None,
    ) -> None:
        """Every connector is made alike, by the registry: from the connection's settings and
        secrets, the call meter, where its calls go and a clock (the system's by default)."""
        self.clock = clock or SystemClock()
        self.run_counts: Counter[str] = Counter()
        """What the connector did besides records (``webhooks.revived``), added to its run's
        counts so that the run shows it."""
        self.open(settings, secrets, meter, transport)

    @abstractmethod
    def open(
        self, settings: Settings, secrets: Settings, meter: CallMeter, transport: Transport
    ) -> None:
        """Make the client and the mappings a connection's settings and secrets call for."""

    @abstractmethod
    def test(self) -> str:
        """Check the credentials; returns a human description of what we are connected to."""

    def prepare(self, streams: list[str]) -> None:  # noqa: B027  (optional hook)
        """Read what the given streams' mappings need before their records are handled (code
        tables): the engine calls it outside any database transaction, only when records of
        those streams are about to be handled, so an idle run makes no call."""

    def read_afresh(self) -> None:  # noqa: B027  (optional hook)
        """Code tables kept from earlier runs are read again by this run's ``prepare``: the
        engine calls it for a retry, which follows a fix made in the system."""

    def count(self, stream: str) -> int | None:
        """How many records a stream holds, when the system can say (progress and ETA)."""
        return None

    def code_lists(self) -> dict[str, list[JSON]]:
        """The system's own code tables a user maps (VAT codes …), for the set-up screens."""
        return {}

    def missing_codes(self, named: list[NamedCode]) -> dict[str, str]:
        """Of the codes some settings name, those the system does not have: field → what is
        wrong. Only kinds in ``checked_codes`` are asked for."""
        return {}

    def vat_rates(self) -> dict[str, Decimal]:
        """The rate each hub VAT code the system knows is booked at there: a system that
        computes an invoice's VAT from the code ignores the rate a line says, so totals and
        settings are checked against these. Empty when the system cannot say."""
        return {}

    @abstractmethod
    def read_page(self, stream: str, after: str | None, limit: int) -> Page:
        """Records of a stream ordered by their key, strictly after ``after``."""

    @abstractmethod
    def fetch_many(self, stream: str, remote_ids: list[str]) -> dict[str, JSON]:
        """Current state of the given records (missing ones are absent from the result)."""

    @abstractmethod
    def find_by_business_key(self, stream: str, keys: list[str]) -> dict[str, JSON]:
        """Records whose business key is in ``keys``, by that key."""

    @abstractmethod
    def create_many(self, stream: str, payloads: list[JSON]) -> list[JSON]:
        """Create records in one batch; returns them as stored, in order."""

    batched_writes: frozenset[str] = frozenset()
    """Streams whose ``create_many`` and ``update_many`` are one all-or-nothing call for the
    whole batch (Uniconta's Insert and Update); the others make a call per record, and the
    engine hands them one record at a time so that a fault costs that record only."""

    batched_updates: frozenset[str] = frozenset()
    """Streams besides ``batched_writes`` whose ``update_many`` takes a whole batch (a
    composite record whose create is several steps, but whose update is safe to send again
    and split when refused)."""

    whole_row_updates: frozenset[str] = frozenset()
    """Streams whose ``update_many`` replaces the whole remote record with the payload (built
    on the record as the system holds it): the engine keeps the last row the system returned
    for them, so that an update needs no read first while nothing says the record changed
    (``engine/remote_rows``)."""

    def create_plan(self, stream: str) -> CreatePlan:
        """The steps of a create in this stream: by default one, ``create_many``, found again
        by business key. Connectors whose creates take several calls declare them."""

        def send(calls: list[StepCall]) -> list[JSON]:
            return self.create_many(stream, [call.payload for call in calls])

        def find(calls: list[StepCall]) -> list[JSON | None]:
            found = self.find_by_business_key(stream, [call.key for call in calls])
            return [found.get(call.key) for call in calls]

        step = WriteStep("create", send, find, batched=stream in self.batched_writes)
        return CreatePlan((step,), lambda call: dict(call.done["create"]))

    @abstractmethod
    def update_many(self, stream: str, payloads: list[JSON]) -> list[JSON]:
        """Update records in one batch; returns them as stored, in order."""

    def withdraw_many(self, stream: str, remote_ids: list[str]) -> list[RemoteRejected | None]:
        """Delete drafts whose hub records were deleted (those ``withdrawable`` says), in one
        batch: per remote id, None once it is gone from the system (deleted now, or before),
        or why it stays (booked there meanwhile). A batch the system refuses as a whole raises
        ``RemoteRejected``; the engine then sends each alone."""
        raise NotImplementedError(f"{self.system} deletes no {stream}")

    @abstractmethod
    def parse_notification(self, query: Mapping[str, str], body: bytes) -> list[ChangeNotice]:
        """Turn an inbound callback into change notices (unknown tables give none)."""

    @abstractmethod
    def close(self) -> None:
        """Release network resources."""
