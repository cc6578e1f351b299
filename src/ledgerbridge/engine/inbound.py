"""Accounting system → hub: the initial import, the safety-net pull, callbacks, waiting records.

A page of remote records is applied with its links, log rows and cursor in one transaction: a
crash loses at most the page in flight, and applying a page again changes nothing.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from pydantic import ValidationError
from sqlalchemy.orm import Session

from ledgerbridge.connectors.base import JSON, ROW_LINKED_ONLY, EntityMapping, Page, SkipRecord
from ledgerbridge.engine import held_numbers, remote_rows
from ledgerbridge.engine.canonical import content_hash, validate
from ledgerbridge.engine.conflicts import Verdict, decide, has_rules, held_fields, record_verdict
from ledgerbridge.engine.context import INBOUND, OUTBOUND, RunContext
from ledgerbridge.engine.hub import NewRecord
from ledgerbridge.engine.linked_reads import Pages
from ledgerbridge.engine.lookups import looked_up
from ledgerbridge.engine.prefetch import later, read_ahead
from ledgerbridge.engine.recorder import SyncRecorder
from ledgerbridge.engine.relinks import drop_relinked
from ledgerbridge.engine.state import SyncState, skip_reason
from ledgerbridge.engine.steps import AWAITING_CREATE, RESUMABLE_STATUSES
from ledgerbridge.store.base import IdSupply
from ledgerbridge.store.db import insert_rows
from ledgerbridge.store.tables.hub import HubRecord
from ledgerbridge.store.tables.sync import InboxEvent, Link, SyncIssue, WriteIntent

DONE = "done"


def storable(value: Any) -> Any:
    """A remote row as an issue keeps it: a number JSON cannot hold (infinity, NaN) becomes its
    text, so PostgreSQL's JSONB takes the row and a retry from it reads the same value again."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {key: storable(item) for key, item in value.items()}
    if isinstance(value, list):
        return [storable(item) for item in value]
    return value


def match_value(value: object) -> str | None:
    """A match field's value as compared: case and spaces do not tell two identifiers (VAT
    numbers, registration numbers, e-mail addresses) apart."""
    if value is None:
        return None
    compact = "".join(str(value).split()).upper()
    return compact or None


MATCH_AMBIGUOUS = "match_ambiguous"
"""A remote record seen for the first time whose details match several unlinked hub records:
it is imported as a record of its own, with this notice naming them."""

ReleaseHook = Callable[[Session, str, str], None]
"""(session, connection id, tenant id): called in the transaction of a page that let outbound
records waiting for one of its records go."""


def pull_cursor(stream: str) -> str:
    """The name of the cursor a stream's import and pulls read from; without it, the next
    pull reads the stream from the start."""
    return f"pull:{stream}"


class Mapped:
    """A row as its link keeps it (``remote``, the mapping's fields) and as the hub stores it
    (``full``), with their content hashes worked out once, when first asked for."""

    __slots__ = ("_full_hash", "_remote_hash", "full", "remote")

    def __init__(self, remote: JSON, full: JSON, remote_hash: str | None = None) -> None:
        self.remote = remote
        self.full = full
        self._remote_hash = remote_hash
        self._full_hash: str | None = None

    def remote_hash(self) -> str:
        if self._remote_hash is None:
            self._remote_hash = content_hash(self.remote)
        return self._remote_hash

    def full_hash(self) -> str:
        if self._full_hash is None:
            self._full_hash = content_hash(self.full)
        return self._full_hash

    def with_full(self, full: JSON) -> Mapped:
        """The same row with what was looked up in the hub added to its whole record."""
        return self if full is self.full else Mapped(self.remote, full, self._remote_hash)


Validated = Mapped | Exception
"""A row as ``SyncState.validated`` makes it, or what it raised."""


@dataclass(frozen=True)
class Prepared:
    """A page's work that needs nothing from the database, done while the last page is being
    written (``read_ahead``): a page's SQLite commit and inserts let go of the interpreter, and
    the next page's rows are mapped and validated meanwhile instead of after."""

    validated: list[Validated | None] | None
    """Per row, or None for the page: a row that waits on the database for its mapping
    (references, attached records, a row read only to follow a linked record) is None."""
    row_hashes: list[str] | None
    """Per row, the hash its kept remote row is compared and stored with."""


class InboundSync(SyncState):
    on_release: ReleaseHook | None = None
    """Set by the runtime to queue a push at once when a pull links a record that outbound
    records wait for (an invoice for the contact whose Customer box was just ticked), instead
    of leaving them to the next scheduled push."""

    def apply(
        self,
        session: Session,
        ctx: RunContext,
        stream: str,
        rows: list[JSON],
        *,
        log_unchanged: bool = False,
        follow_dependents: bool = True,
        prepared: Prepared | None = None,
    ) -> None:
        """Bring remote records into the hub (create, merge or leave), in the given session.

        Records seen for the first time are created with their links and log rows in one
        INSERT per table at the end of the page (``_apply_rows``), not one ORM object each.
        ``prepared``: the page's work done beforehand (``prepare``), else done here."""
        recorder = self.recorder(ctx)
        hashes = prepared.row_hashes if prepared is not None else None
        remote_rows.keep(session, ctx, stream, rows, self.clock.now(), hashes)
        held_numbers.hold(session, ctx, stream, rows, self.clock.now())
        created: list[NewRecord] = []
        new_links: list[JSON] = []
        with recorder.batched(session):
            linked_now = self._apply_rows(
                session, ctx, stream, rows, recorder, created, new_links,
                log_unchanged=log_unchanged,
                validated=prepared.validated if prepared is not None else None,
            )  # fmt: skip
            mapping = ctx.mapping(stream)
            self.hub.create_many(
                session, ctx.tenant_id, mapping.entity, created, ctx.origin, run_id=ctx.run_id
            )
            insert_rows(session, Link, new_links)
        if linked_now and follow_dependents:
            self.release_waiting(session, ctx, stream)
            if self.on_release is not None and self._outbound_released(
                session, ctx, stream, linked_now
            ):
                self.on_release(session, ctx.connection_id, ctx.tenant_id)

    def _apply_rows(
        self,
        session: Session,
        ctx: RunContext,
        stream: str,
        rows: list[JSON],
        recorder: SyncRecorder,
        created: list[NewRecord],
        new_links: list[JSON],
        *,
        log_unchanged: bool,
        validated: list[Validated | None] | None,
    ) -> list[str]:
        """``apply``'s records: merges written through the session; new records, with their
        links, added to ``created`` and ``new_links`` for the caller to insert. Answers the
        ids of the records linked now."""
        mapping = ctx.mapping(stream)
        entity = mapping.entity
        remote_ids = [mapping.remote_id(row) for row in rows]
        links = self._links_for(session, ctx, stream, rows, remote_ids)
        # Held while the page is applied: the session holds records weakly, and every
        # ``hub.get`` of a linked record below finds its record here without a query.
        _page_records = self.hub.load(session, [link.record_id for link in links.values()])
        open_issues = recorder.open_issue_keys(session, stream, INBOUND, remote_ids)
        references = self.resolve_inbound(session, ctx, mapping, rows)
        resolved: list[str] = []
        attached: list[str] = []
        linked_now: list[str] = []
        open_creates: dict[str, str] | None = None
        new_ids = IdSupply(2 * len(rows))  # a new record's id and its link's
        held = held_fields(
            session, ctx.connection_id, stream, [link.record_id for link in links.values()]
        )

        def skip(remote_id: str, row: JSON, exc: SkipRecord | ValidationError) -> None:
            reason, message = skip_reason(exc)
            linked = links.get(remote_id)  # a linked record's skip belongs to its history
            recorder.issue(
                session, stream=stream, direction=INBOUND, key=remote_id, reason=reason,
                message=message, remote_id=remote_id, payload=row,
                record_id=linked.record_id if linked is not None else None,
            )  # fmt: skip

        for index, (row, remote_id, refs) in enumerate(
            zip(rows, remote_ids, references, strict=True)
        ):
            link = links.get(remote_id)
            ambiguous: str | None = None
            if link is None and row.get(ROW_LINKED_ONLY):
                continue  # read only to follow linked records: never creates or matches one
            record: HubRecord | None = None
            if link is not None:
                record = self.hub.get(session, ctx.tenant_id, entity, link.record_id)
            elif mapping.attach_to is not None:
                record = self._attach_target(session, ctx, mapping.attach_to, remote_id, entity)
                if record is not None:
                    # Linked here under the id its parent had before it was renamed: the
                    # link moves to the new id rather than the record getting a second one.
                    link = self.links_by(session, ctx, stream, Link.record_id, [record.id]).get(
                        record.id
                    )
                else:
                    refs = SkipRecord(
                        f"{stream}_target_pending",
                        f"waits for {mapping.attach_to} {remote_id} to sync",
                    )
            if isinstance(refs, SkipRecord):
                skip(remote_id, row, refs)
                continue
            try:
                ready = validated[index] if validated is not None else None
                mapped = self._mapped(session, ctx, mapping, row, refs, link, record, ready)
                remote, full = mapped.remote, mapped.full
            except (SkipRecord, ValidationError) as exc:
                skip(remote_id, row, exc)
                continue
            except (ArithmeticError, ValueError, TypeError, KeyError) as exc:
                # A value no mapping can read (an amount of 1e999999 arrives as infinity):
                # this record's skip, never an error that stops the page.
                skip(remote_id, storable(row), SkipRecord(
                    "invalid_remote_data",
                    f"{ctx.remote_name(stream)} {remote_id} holds a value that cannot be read: "
                    f"{type(exc).__name__}: {exc}",
                ))  # fmt: skip
                continue
            overwrite = (
                mapping.remote_wins
                and record is not None
                and any(record.data.get(name) != remote.get(name) for name in mapping.fields)
            )
            if link is not None and link.remote_hash == mapped.remote_hash() and not overwrite:
                if link.remote_id != remote_id:
                    link.remote_id = remote_id
                recorder.log(
                    session, stream=stream, direction=INBOUND, outcome="unchanged",
                    record_id=link.record_id, remote_id=remote_id, persist=log_unchanged,
                    reason="echo" if log_unchanged else None,
                )  # fmt: skip
                if remote_id in open_issues:
                    resolved.append(remote_id)
                continue
            base: JSON = {}
            verdict = Verdict()
            if link is not None:
                base = link.synced
                if record is not None and record.deleted:
                    self.save_link(session, ctx, stream, record, remote_id, remote, link)
                    recorder.log(
                        session, stream=stream, direction=INBOUND, outcome="unchanged",
                        record_id=record.id, remote_id=remote_id, reason="deleted_in_hub",
                        message="changed in the accounting system, but deleted in the hub",
                    )  # fmt: skip
                    continue
                if record is not None and not overwrite and mapping.attach_to is None:
                    verdict = self._verdict(
                        session, ctx, stream, record, base, remote, remote_id,
                        held.get(record.id, {}),
                    )  # fmt: skip
            else:
                if record is None:
                    if open_creates is None:
                        open_creates = self._open_creates(session, ctx, stream)
                    waiting_for = self._created_by_us(mapping, row, remote, open_creates)
                    if waiting_for is not None:
                        skip(remote_id, row, SkipRecord(
                            AWAITING_CREATE,
                            f"hub record {waiting_for} was being created as this record and "
                            "its create is not confirmed yet; they are linked once it is",
                        ))  # fmt: skip
                        continue
                    record, ambiguous = self._match_unlinked(
                        session, ctx, stream, remote_id, remote
                    )
                # First match of an existing hub record: the accounting system's values win.
                base = {name: None for name in mapping.fields}
            record_id: str
            try:
                if record is None and link is None:
                    new = self.hub.prepare(full, mapped.full_hash(), new_ids())
                    created.append(new)
                    new_links.append(
                        self.link_values(
                            ctx, stream, new.id, new.content_hash, remote_id, remote,
                            mapped.remote_hash(), new_ids(),
                        )
                    )  # fmt: skip
                    record_id, outcome = new.id, "created"
                elif record is None:
                    record = self.hub.create(
                        session, ctx.tenant_id, entity, full, ctx.origin, run_id=ctx.run_id
                    )
                    outcome = "created"
                else:
                    data = dict(record.data)
                    kept = verdict.hub | set(verdict.held)
                    for name in mapping.fields:
                        if name in kept:
                            continue  # the hub's value stays, by the connection's rule
                        if overwrite or (
                            remote.get(name) != base.get(name)
                            and (link is not None or remote.get(name) is not None)
                        ):
                            data[name] = full.get(name)
                    changed = self.hub.update(
                        session, record, validate(entity, data), ctx.origin, run_id=ctx.run_id
                    )
                    outcome = "updated" if changed else "unchanged"
                if record is not None:
                    self.save_link(session, ctx, stream, record, remote_id, remote, link)
                    record_id = record.id
            except ValidationError as exc:
                skip(remote_id, row, exc)
                continue
            record_verdict(
                session, recorder, stream=stream, entity=entity,
                remote_name=ctx.remote_name(stream), record_id=record_id, remote_id=remote_id,
                verdict=verdict,
            )  # fmt: skip
            if link is None:
                linked_now.append(record_id)
            if link is None and mapping.attach_to is not None:
                attached.append(record_id)
            elif mapping.attach_to is None and mapping.resolves:
                # A stream that reads only what a person finished in the system (Uniconta's
                # posted invoices): reading the record closes the notice that asked for it.
                attached.append(record_id)
            if ambiguous is not None:
                recorder.issue(
                    session, stream=stream, direction=INBOUND, key=remote_id, outcome=outcome,
                    reason=MATCH_AMBIGUOUS, message=ambiguous, record_id=record_id,
                    remote_id=remote_id,
                )  # fmt: skip
                continue
            recorder.log(
                session, stream=stream, direction=INBOUND, outcome=outcome,
                record_id=record_id, remote_id=remote_id,
                persist=outcome != "unchanged" or log_unchanged,
            )  # fmt: skip
            if remote_id in open_issues:
                resolved.append(remote_id)
        recorder.resolve(session, stream, INBOUND, resolved)
        if attached and mapping.resolves:
            recorder.resolve(
                session, mapping.attach_to or stream, OUTBOUND, attached, reasons=mapping.resolves
            )
        return linked_now

    def _mapped(
        self,
        session: Session,
        ctx: RunContext,
        mapping: EntityMapping,
        row: JSON,
        refs: dict[str, str | None],
        link: Link | None,
        record: HubRecord | None,
        ready: Validated | None,
    ) -> Mapped:
        """A row as its link keeps it and as the hub stores it; ``ready``: the page's
        preparation of it (``prepare``), raised again if it raised."""
        if isinstance(ready, Exception):
            raise ready
        if ready is None:
            canonical = mapping.to_canonical(row, refs)
            if link is not None and row.get(ROW_LINKED_ONLY):
                # Such a row may carry only some fields (a posted invoice's header read
                # again without its lines): the others are as last synced.
                canonical = {**link.synced, **canonical}
            if mapping.attach_to is not None and record is not None:
                merged = validate(mapping.entity, {**record.data, **canonical})
                return Mapped({name: merged.get(name) for name in sorted(mapping.fields)}, merged)
            ready = Mapped(*self.validated(mapping, canonical))
        # Looked-up values go to the hub copy only; the link keeps ``remote``.
        return ready.with_full(looked_up(session, ctx, mapping, ready.full))

    def prepare(self, ctx: RunContext, stream: str, page: Page) -> Prepared:
        """What ``apply`` can work out of a page without the database (see ``Prepared``).
        Rows are validated as ``_mapped`` would with no references: only for mappings that
        have none and attach to nothing, so the outcome is the same wherever it is made."""
        mapping = ctx.mapping(stream)
        validated: list[Validated | None] | None = None
        if not mapping.references and mapping.attach_to is None:
            validated = [
                None if row.get(ROW_LINKED_ONLY) else self._validated_row(mapping, row)
                for row in page.records
            ]
        hashes = None
        if remote_rows.keeps(ctx, stream):
            hashes = [content_hash(row) for row in page.records]
        return Prepared(validated, hashes)

    def _validated_row(self, mapping: EntityMapping, row: JSON) -> Validated:
        try:
            mapped = Mapped(*self.validated(mapping, mapping.to_canonical(row, {})))
        except Exception as exc:  # raised again where the row is applied, and handled there
            return exc
        mapped.remote_hash()
        mapped.full_hash()  # used as it is unless the hub looks something up for the row
        return mapped

    def _verdict(
        self,
        session: Session,
        ctx: RunContext,
        stream: str,
        record: HubRecord,
        base: JSON,
        remote: JSON,
        remote_id: str,
        held: dict[str, JSON],
    ) -> Verdict:
        """The connection's conflict rules applied to a linked record read again; without
        rules or holds nothing is computed and the default merge (remote changes taken)
        stands."""
        mapping = ctx.mapping(stream)
        if not held and not has_rules(ctx.settings, mapping.entity):
            return Verdict()
        try:
            hub, _ = self.projection(session, ctx, mapping, {**record.data, "id": record.id})
        except Exception:  # the hub record's own data: the default merge decides
            return Verdict()
        return decide(
            ctx.settings, mapping.entity, sorted(mapping.fields), hub=hub, base=base,
            remote=remote, hub_changed_at=record.updated_at,
            remote_seen_at=ctx.seen.get(f"{stream}:{remote_id}") or self.clock.now(),
            held=held,
        )  # fmt: skip

    def _links_for(
        self,
        session: Session,
        ctx: RunContext,
        stream: str,
        rows: list[JSON],
        remote_ids: list[str],
    ) -> dict[str, Link]:
        """Links by remote id, including those still filed under an earlier id (alias)."""
        mapping = ctx.mapping(stream)
        links = self.links_by(session, ctx, stream, Link.remote_id, remote_ids)
        aliases = {
            alias: remote_id
            for row, remote_id in zip(rows, remote_ids, strict=True)
            if remote_id not in links
            for alias in mapping.remote_aliases(row)
        }
        if aliases:
            for alias, link in self.links_by(
                session, ctx, stream, Link.remote_id, sorted(aliases)
            ).items():
                links[aliases[alias]] = link
        return links

    def _open_creates(self, session: Session, ctx: RunContext, stream: str) -> dict[str, str]:
        """Business keys of this stream's creates that may have taken effect unbeknown to us
        (a refused one is known not to have) → their records."""
        rows = session.execute(
            sa.select(WriteIntent.business_key, WriteIntent.record_id).where(
                WriteIntent.connection_id == ctx.connection_id,
                WriteIntent.stream == stream,
                WriteIntent.status.in_(RESUMABLE_STATUSES),
            )
        )
        return {key: record_id for key, record_id in rows}

    @staticmethod
    def _created_by_us(
        mapping: EntityMapping, row: JSON, remote: JSON, open_creates: dict[str, str]
    ) -> str | None:
        """The hub record whose unconfirmed create this remote record may be (same business
        key, or the key the create's payload carries), if any."""
        if not open_creates:
            return None
        try:
            keys = (mapping.payload_key(row), mapping.business_key(remote))
        except (KeyError, TypeError, ValueError):
            # A payload key read from a row of another shape than a payload: only the
            # business key can tell.
            keys = (None, mapping.business_key(remote))
        for key in keys:
            if key is not None and key in open_creates:
                return open_creates[key]
        return None

    def _attach_target(
        self, session: Session, ctx: RunContext, stream: str, remote_id: str, entity: str
    ) -> HubRecord | None:
        link = self.links_by(session, ctx, stream, Link.remote_id, [remote_id]).get(remote_id)
        if link is None:
            return None
        return self.hub.get(session, ctx.tenant_id, entity, link.record_id)

    def release_waiting(self, session: Session, ctx: RunContext, parent: str) -> None:
        """Records that waited for a record of ``parent`` to sync are applied again, from the
        copy kept with their issue: no manual action and no API call."""
        for stream, mapping in ctx.connector.mappings.items():
            pending = {r.pending_reason for r in mapping.references if parent in r.streams}
            if mapping.attach_to == parent:
                pending.add(f"{stream}_target_pending")
            if not pending or not ctx.directions(stream)[0]:
                continue
            rows = session.scalars(
                sa.select(SyncIssue.payload).where(
                    SyncIssue.connection_id == ctx.connection_id,
                    SyncIssue.stream == stream,
                    SyncIssue.direction == INBOUND,
                    SyncIssue.reason_code.in_(pending),
                )
            ).all()
            waiting = [dict(row) for row in rows if row]
            if waiting:
                self.apply(session, ctx, stream, waiting)

    def _outbound_released(
        self, session: Session, ctx: RunContext, parent: str, record_ids: list[str]
    ) -> bool:
        """Whether an outbound record waits for one of these records, just linked in
        ``parent``: it can go now."""
        linked = set(record_ids)
        for stream, mapping in ctx.connector.mappings.items():
            refs = [r for r in mapping.references if parent in r.streams]
            if not refs or not ctx.directions(stream)[1]:
                continue
            waiting = session.scalars(
                sa.select(SyncIssue.key).where(
                    SyncIssue.connection_id == ctx.connection_id,
                    SyncIssue.stream == stream,
                    SyncIssue.direction == OUTBOUND,
                    SyncIssue.reason_code.in_({r.pending_reason for r in refs}),
                )
            ).all()
            if not waiting:
                continue
            rows = session.scalars(
                sa.select(HubRecord.data).where(
                    HubRecord.tenant_id == ctx.tenant_id, HubRecord.id.in_(waiting)
                )
            )
            if any(str(data.get(r.field)) in linked for data in rows for r in refs):
                return True
        return False

    def _match_unlinked(
        self, session: Session, ctx: RunContext, stream: str, remote_id: str, remote: JSON
    ) -> tuple[HubRecord | None, str | None]:
        """The hub record a remote record seen for the first time already is: the app may
        have created the customer before the accounting system was connected. Matched by
        business key, else by the mapping's ``match_fields`` in order; a record is matched
        once per run (``ctx.matched``). When no value matches one record and one matches
        several, which of them it is only the user can say: no record, and the notice why."""
        mapping = ctx.mapping(stream)
        candidates = [(mapping.business_key_field, mapping.business_key(remote))]
        candidates += [(name, match_value(remote.get(name))) for name in mapping.match_fields]
        shared: tuple[str, object, list[str]] | None = None
        for field, value in candidates:
            if field is None or value is None:
                continue
            record_ids = self._unlinked_by(session, ctx, stream, field).get(value, [])
            if len(record_ids) > 1:
                shared = shared or (field, remote.get(field), record_ids)
            elif record_ids and record_ids[0] not in ctx.matched:
                ctx.matched.add(record_ids[0])
                return self.hub.get(session, ctx.tenant_id, mapping.entity, record_ids[0]), None
        if shared is None:
            return None, None
        name, shown, record_ids = shared
        return None, (
            f"{ctx.remote_name(stream)} {remote_id} was imported as a new {mapping.entity}: its "
            f"{name.replace('_', ' ')} {shown} is held by {len(record_ids)} {mapping.entity} "
            f"records in the hub that are not linked yet ({', '.join(sorted(record_ids))}), so "
            "it matched none of them. If it is one of them, merge the records in the app"
        )

    def _unlinked_by(
        self, session: Session, ctx: RunContext, stream: str, field: str
    ) -> dict[str, list[str]]:
        """Hub records not yet linked in this stream, by one field's value (computed once per
        run). A match field's value may be shared by several records: then it matches none of
        them, as a wrong merge is worse than a record that waits for the user."""
        cache_key = f"{stream}:{field}"
        cached = ctx.unlinked_keys.get(cache_key)
        if cached is not None:
            return cached
        mapping = ctx.mapping(stream)
        linked = set(
            session.scalars(
                sa.select(Link.record_id).where(
                    Link.connection_id == ctx.connection_id, Link.stream == stream
                )
            )
        )
        if field == mapping.business_key_field:
            numbers = self.hub.index_by_field(session, ctx.tenant_id, mapping.entity, field)
            unlinked = {key: [rid] for key, rid in numbers.items() if rid not in linked}
        else:
            unlinked = {}
            for value, rid in self.hub.values_of_field(
                session, ctx.tenant_id, mapping.entity, field
            ):
                key = match_value(value)
                if key is not None and rid not in linked:
                    unlinked.setdefault(key, []).append(rid)
        return ctx.unlinked_keys.setdefault(cache_key, unlinked)

    def scan(
        self,
        ctx: RunContext,
        stream: str,
        cursor: str,
        *,
        restart: bool,
        on_first_page: Callable[[], None] | None = None,
    ) -> None:
        """Read a stream page by page from its cursor, saved with each page, so a run that
        stops (a crash, a spent quota) resumes where it was. ``restart``: a finished scan
        starts again from the beginning next time (a full pull); otherwise the cursor stays at
        the last record seen and the next run reads only what came after (new invoices)."""
        with self.transaction() as session:
            after = self.cursor(session, ctx, cursor)
        ctx.connector.prepare([stream])
        prepare = functools.partial(self.prepare, ctx, stream)
        pages_of = Pages(ctx, self._sessions)
        with closing(read_ahead(pages_of, stream, after, ctx.page_size, prepare)) as pages:
            for page, prepared in pages:
                if on_first_page is not None:
                    on_first_page()
                    on_first_page = None
                with self.transaction() as session:
                    self.apply(session, ctx, stream, page.records, prepared=prepared)
                    after = None if restart and not page.more else page.after
                    self.set_cursor(session, ctx, cursor, after)
                ctx.heartbeat()

    def run_import(self, ctx: RunContext) -> None:
        """The initial import, resumable: one cursor per stream. Afterwards the cursors of
        streams read incrementally continue from where the import ended. The streams are
        counted (for the run's progress) once the first page came back, beside the next
        reads, not before them: with a cloud API's latency that is a call's wait less."""
        streams = ctx.streams(inbound=True)

        def count() -> None:
            for stream in streams:
                total = ctx.connector.count(stream)
                if total is not None:
                    ctx.totals[stream] = total

        with later(count) as counting:
            for stream in streams:
                name = f"import:{stream}"
                with self.transaction() as session:
                    finished = self.cursor(session, ctx, name) == DONE
                if finished:
                    continue
                self.scan(
                    ctx, stream, pull_cursor(stream), restart=False, on_first_page=counting.start
                )
                with self.transaction() as session:
                    self.set_cursor(session, ctx, name, DONE)
                    if not ctx.mapping(stream).incremental:
                        self.set_cursor(session, ctx, pull_cursor(stream), None)
            counting.result()
        # The counts may have come back after the last page's progress was written.
        ctx.heartbeat()

    def run_pull(self, ctx: RunContext, streams: list[str]) -> None:
        """A pull of the given streams: a full keyset scan comparing hashes for most (Uniconta
        has no modified-since filter on accounts), only new records for incremental ones. A
        stream whose records come through links (``LinkedBy``) first drops what came through
        a link that no longer holds, so its reads never add to a relinked record's old ones."""
        enabled = set(ctx.streams(inbound=True))
        for stream in streams:
            if stream in enabled:
                if ctx.mapping(stream).linked_by is not None:
                    with self.transaction() as session:
                        drop_relinked(session, self.hub, self.recorder(ctx), ctx, stream)
                incremental = ctx.mapping(stream).incremental
                self.scan(ctx, stream, pull_cursor(stream), restart=not incremental)

    def process_inbox(self, ctx: RunContext) -> int:
        """Apply stored callbacks: bodies when the system sent them, else one batched read."""
        with self.transaction() as session:
            events = list(
                session.scalars(
                    sa.select(InboxEvent)
                    .where(
                        InboxEvent.connection_id == ctx.connection_id,
                        InboxEvent.processed_at.is_(None),
                    )
                    .order_by(InboxEvent.id)
                    .limit(1000)
                )
            )
            session.expunge_all()
        if not events:
            return 0
        with_data: dict[str, dict[str, JSON]] = {}
        to_fetch: dict[str, set[str]] = {}
        deletes: list[tuple[str, str]] = []
        noticed: dict[str, set[str]] = {}
        for event in events:
            notices = ctx.connector.parse_notification(
                event.payload.get("query", {}), event.payload.get("body", "").encode()
            )
            for notice in notices:
                noticed.setdefault(notice.stream, set()).add(notice.remote_id)
                if not ctx.directions(notice.stream)[0]:
                    continue
                ctx.seen.setdefault(f"{notice.stream}:{notice.remote_id}", event.received_at)
                if notice.operation == "delete":
                    deletes.append((notice.stream, notice.remote_id))
                elif notice.data is not None:
                    with_data.setdefault(notice.stream, {})[notice.remote_id] = notice.data
                else:
                    to_fetch.setdefault(notice.stream, set()).add(notice.remote_id)
        fetched: dict[str, dict[str, JSON]] = {}
        for stream, ids in to_fetch.items():
            missing = sorted(ids - set(with_data.get(stream, {})))
            fetched[stream] = ctx.connector.fetch_many(stream, missing) if missing else {}
        ctx.connector.prepare(sorted(set(fetched) | set(with_data)))
        with self.transaction() as session:
            recorder = self.recorder(ctx)
            remote_rows.forget(session, ctx, noticed)
            for stream in ctx.connector.mappings:
                rows = {**fetched.get(stream, {}), **with_data.get(stream, {})}
                if rows:
                    self.apply(session, ctx, stream, list(rows.values()), log_unchanged=True)
            for stream, remote_id in deletes:
                recorder.log(
                    session, stream=stream, direction=INBOUND, outcome="unchanged",
                    remote_id=remote_id, reason="delete_not_propagated",
                    message="deleted in the accounting system; the hub record is kept",
                )  # fmt: skip
            session.execute(
                sa.update(InboxEvent)
                .where(InboxEvent.id.in_([e.id for e in events]))
                .values(processed_at=self.clock.now(), outcome="applied")
            )
        return len(events)

    def retry(self, ctx: RunContext, stream: str, remote_ids: list[str]) -> None:
        """Read the given records again and apply them (a retry asked for by the user)."""
        ctx.connector.prepare([stream])
        rows = ctx.connector.fetch_many(stream, remote_ids)
        with self.transaction() as session:
            self.apply(session, ctx, stream, list(rows.values()))
