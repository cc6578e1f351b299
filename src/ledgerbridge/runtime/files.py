"""File jobs: import an order or refund file into the hub, and scan a watched folder.

A file is read with the connection's saved mapping (``commerce.files``) and its records go
through the engine's inbound path like any other system's (``InboundSync.apply``): each gets a
link on the connection in its stream (``orders`` / ``refunds``, remote id = the record's own
number), a sync-log row, and a corrected file bringing the same order again updates it. Every
problem of the file becomes an open sync issue naming the file, the line and the column.

Exactly once: the import's progress (problems reported, records written) is kept on the file's
row and moved in the same fenced transaction as the records it counts, so a run cut short
resumes after the last page it wrote; a page applied again would change nothing anyway, as
records are found by their links.
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from pydantic import ValidationError
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from ledgerbridge.clock import Clock
from ledgerbridge.commerce.files import FileLimits, FileMapping, Problem, content_key, read
from ledgerbridge.connectors.files.settings import KINDS
from ledgerbridge.connectors.kit.paths import folder_problem
from ledgerbridge.engine.context import INBOUND, RunContext
from ledgerbridge.engine.sync import SyncEngine
from ledgerbridge.model.reasons import describe_validation_error
from ledgerbridge.runtime.jobqueue.port import Command, Handler, JobBackend, JobContext, Postpone
from ledgerbridge.runtime.jobs import Connections, SyncJobs
from ledgerbridge.store.tables.files import CommerceFile
from ledgerbridge.store.tables.sync import SyncIssue

log = logging.getLogger(__name__)

JSON = dict[str, Any]
IMPORT_JOB = "file_import"
SCAN_JOB = "file_scan"
LIMITS = FileLimits()
SETTLE_SECONDS = 5.0
"""A file in the watched folder modified more recently than this may still be being written:
it waits for the next scan."""
PAUSED_RETRY = timedelta(minutes=5)
"""How often the import of a file waits again while its connection is paused."""
SUFFIXES = (".csv", ".xml")
PROCESSED, FAILED = "processed", "failed"
FOLDER_KEY = "watch_folder"
"""Key of the issue about the watched folder itself (missing, unreadable, not allowed)."""


def no_mapping_saved(kind: str, connection_id: str) -> str:
    """Why a file of ``kind`` cannot be read yet, in one wording wherever it is said (an
    upload refused, a file of the watched folder held): the web UI's step, then the API's."""
    return (
        f"no mapping is saved for {kind} files: on the connection's Files tab, choose a sample "
        "file under Column mapping, click Map its columns and save the mapping (API: PUT "
        f"/connections/{connection_id}/file-mappings/{kind})"
    )


def saved_mapping(
    settings: Mapping[str, Any], kind: str, connection_id: str
) -> FileMapping | Problem:
    """The connection's mapping for ``kind`` files, or why there is none that reads."""
    saved = (settings.get("file_mappings") or {}).get(kind)
    if not saved:
        return Problem(
            line=None, code="mapping_missing", message=no_mapping_saved(kind, connection_id)
        )
    try:
        mapping = FileMapping.model_validate(saved)
    except ValidationError as exc:
        reasons = describe_validation_error(exc, "mapping")
        return Problem(
            line=None, code="mapping_invalid",
            message=f"the saved mapping for {kind} files does not read: {reasons}",
        )  # fmt: skip
    if mapping.kind != kind:
        return Problem(
            line=None, code="mapping_invalid",
            message=f"the mapping saved for {kind} files is one for {mapping.kind} files",
        )  # fmt: skip
    return mapping


def kind_of(name: str, settings: Mapping[str, Any], asked: str | None = None) -> str:
    """Which mapping reads a file: the one asked for; else the only one saved; else, with
    both saved, ``refunds`` for a file whose name says refund or credit, ``orders`` for any
    other."""
    if asked is not None:
        return asked
    saved = [k for k in KINDS if (settings.get("file_mappings") or {}).get(k)]
    if len(saved) == 1:
        return saved[0]
    lowered = name.lower()
    return "refunds" if any(w in lowered for w in ("refund", "credit", "kredit")) else "orders"


def problem_key(file_id: str, problem: Mapping[str, Any]) -> str:
    """The issue key of a file's problem: the record first, so that the issue closes when a
    later file brings that record without problems; then where it is in which file."""
    where = problem.get("field") or problem.get("column") or ""
    key = f"{problem.get('record') or '-'}@{file_id}:{problem.get('line') or 0}:{where}"
    return key[:200]


_PROBLEM_KEY = re.compile(r"^(.*)@[0-9a-f-]{36}:")


def _record_of(key: str) -> str | None:
    """The record a problem's issue key names (its column may hold an ``@`` of its own)."""
    found = _PROBLEM_KEY.match(key)
    return found.group(1) if found else None


def problem_message(name: str, problem: Mapping[str, Any]) -> str:
    """The issue's message: the file, the line and the column, then the reason and value."""
    where = [name]
    if problem.get("line"):
        where.append(f"line {problem['line']}")
    if problem.get("column"):
        where.append(f"column {problem['column']}")
    text = f"{', '.join(where)}: {problem.get('message')}"
    value = problem.get("value")
    if value:
        shown = value if len(value) <= 100 else value[:100] + "…"
        text += f" (value: {shown!r})"
    return text


def register_file(
    session: Session,
    queue: JobBackend,
    clock: Clock,
    *,
    tenant_id: str,
    connection_id: str,
    kind: str,
    name: str,
    source: str,
    content: bytes,
    queue_import: bool,
) -> tuple[CommerceFile, bool]:
    """Store a file received, unless the connection has it already (same content key): then
    (the earlier file, True), and nothing is imported again. An earlier file that failed as a
    whole (no mapping yet, a mapping that did not fit) is taken again, its old issues closed,
    so saving the mapping and sending the file again imports it. ``queue_import``: its import
    job is queued in the same transaction (an upload; the folder scan imports in its run)."""
    key = content_key(content)
    earlier = _by_key(session, connection_id, key)
    now = clock.now()
    if earlier is not None and not _failed_whole(earlier):
        return earlier, True
    if earlier is not None:
        row = earlier
        row.kind, row.name, row.source, row.content = kind, name, source, content
        row.received_at = now
        reopen(session, row)
    else:
        row = CommerceFile(
            tenant_id=tenant_id, connection_id=connection_id, kind=kind, name=name[:255],
            source=source, content_key=key, size=len(content), content=content,
            received_at=now,
        )  # fmt: skip
        _reset(row)
        try:
            with session.begin_nested():
                session.add(row)
        except IntegrityError:
            # The same content arrived at the same moment and was stored first.
            found = _by_key(session, connection_id, key)
            if found is None:
                raise
            return found, True
    session.flush()
    if queue_import:
        queue_import_of(session, queue, row)
    return row, False


def reopen(session: Session, row: CommerceFile) -> None:
    """Make a file to be read again from its start: its problems and their open issues go
    (the new reading reports its own), its records stay linked, so they are updated."""
    session.execute(
        sa.delete(SyncIssue).where(
            SyncIssue.connection_id == row.connection_id,
            SyncIssue.key.contains(f"@{row.id}:", autoescape=True),
        )
    )
    row.finished_at, row.message = None, None
    _reset(row)


def queue_import_of(session: Session, queue: JobBackend, row: CommerceFile) -> None:
    """The file's import job, in the caller's transaction."""
    queue.enqueue(
        Command(
            IMPORT_JOB, connection_id=row.connection_id, tenant_id=row.tenant_id,
            dedupe_key=f"{IMPORT_JOB}:{row.id}", priority=20, payload={"file_id": row.id},
        ),
        session=session,
    )  # fmt: skip


def _reset(row: CommerceFile) -> None:
    row.status = "queued"
    row.counts = {}
    row.problems = []
    row.problems_reported = False
    row.records_done = 0


def _by_key(session: Session, connection_id: str, key: str) -> CommerceFile | None:
    return session.scalar(
        sa.select(CommerceFile).where(
            CommerceFile.connection_id == connection_id, CommerceFile.content_key == key
        )
    )


def _failed_whole(row: CommerceFile) -> bool:
    """Failed without a record read: nothing of it is in the hub."""
    return row.status == "failed" and not (row.counts or {}).get("records")


def file_view(row: CommerceFile, *, with_problems: bool = True) -> JSON:
    """A file as the API shows it."""
    counts = dict(row.counts or {})
    view: JSON = {
        "id": row.id,
        "name": row.name,
        "kind": row.kind,
        "source": row.source,
        "content_key": row.content_key,
        "size": row.size,
        "status": row.status,
        "counts": {
            "orders": counts.get("records", 0) if row.kind == "orders" else 0,
            "refunds": counts.get("records", 0) if row.kind == "refunds" else 0,
            "problems": counts.get("problems", 0),
            "rows": counts.get("rows", 0),
            "created": counts.get("created", 0),
            "updated": counts.get("updated", 0),
            "unchanged": counts.get("unchanged", 0),
        },
        "message": row.message,
        "received_at": row.received_at.isoformat(),
        "finished_at": row.finished_at.isoformat() if row.finished_at else None,
    }
    if with_problems:
        view["problems"] = list(row.problems or [])
    return view


@dataclass
class _Outcome:
    status: str
    problems: list[JSON]


class FileJobs:
    """The ``file_import`` and ``file_scan`` handlers, run as fenced runs of the connection
    through ``SyncJobs`` (recorded in ``runs``, superseded runs refused)."""

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        connections: Connections,
        jobs: SyncJobs,
        engine: SyncEngine,
        queue: JobBackend,
        clock: Clock,
        watch_root: Path | None,
    ) -> None:
        self._sessions = session_factory
        self._connections = connections
        self._jobs = jobs
        self._engine = engine
        self._queue = queue
        self._clock = clock
        self._watch_root = watch_root

    def handlers(self) -> dict[str, Handler]:
        return {IMPORT_JOB: self._import_job, SCAN_JOB: self._scan_job}

    # ------------------------------------------------------------------ import

    def _import_job(self, job: JobContext) -> JSON:
        file_id = str(job.job.payload.get("file_id") or "")
        result = self._jobs._run(
            IMPORT_JOB, job, lambda ctx: self.import_file(ctx, file_id), after_import=False
        )
        if "skipped" in result and self._waiting(file_id):
            # The connection is paused: its file is imported once it is active again.
            raise Postpone(self._clock.now() + PAUSED_RETRY, f"{result['skipped']}: waiting")
        return result

    def _waiting(self, file_id: str) -> bool:
        """Whether the file still waits for its import (it and its connection exist)."""
        with self._sessions() as session:
            row = session.get(CommerceFile, file_id)
            return row is not None and row.status in ("queued", "importing")

    def import_file(self, ctx: RunContext, file_id: str) -> _Outcome:
        """Read the stored file with the saved mapping and write its records, resuming after
        the records an earlier run wrote."""
        inbound = self._engine.inbound
        with inbound.transaction() as session:
            row = session.get(CommerceFile, file_id)
            if row is None or row.connection_id != ctx.connection_id:
                return _Outcome("missing", [])
            if row.status in ("imported", "failed"):
                return _Outcome(row.status, list(row.problems or []))
            row.status = "importing"
            content, kind, name = row.content, row.kind, row.name
            reported, done = row.problems_reported, row.records_done
        stream = kind
        mapping = saved_mapping(ctx.settings, kind, ctx.connection_id)
        if isinstance(mapping, Problem):
            records: list[JSON] = []
            problems, rows = [mapping.model_dump()], 0
        elif not ctx.directions(stream)[0]:
            records, rows = [], 0
            problems = [
                Problem(
                    line=None, code="stream_disabled",
                    message=f"the {stream} stream of this connection is not enabled "
                    f"(settings.entities.{stream})",
                ).model_dump()
            ]  # fmt: skip
        else:
            result = read(content, mapping, LIMITS)
            records = [
                r.model_dump(mode="json", exclude={"id"}, exclude_computed_fields=True)
                for r in result.records
            ]
            problems, rows = [_storable(p.model_dump()) for p in result.problems], result.rows
            problems += [_key_too_long(kind, r) for r in records if len(r["source_id"]) > 200]
            records = [r for r in records if len(r["source_id"]) <= 200]
        if not reported:
            with inbound.transaction() as session:
                recorder = inbound.recorder(ctx)
                for problem in problems:
                    recorder.issue(
                        session, stream=stream, direction=INBOUND,
                        key=problem_key(file_id, problem), reason=str(problem["code"])[:64],
                        message=problem_message(name, problem),
                        remote_id=str(problem.get("record") or "")[:200] or None,
                    )  # fmt: skip
                row = _locked(session, file_id)
                row.problems = problems
                row.problems_reported = True
                row.counts = {
                    **(row.counts or {}), "rows": rows, "records": len(records),
                    "problems": len(problems),
                }  # fmt: skip
            ctx.heartbeat()
        earlier = self._earlier_problems(ctx, stream) if done < len(records) else {}
        for start in range(done, len(records), ctx.page_size):
            page = records[start : start + ctx.page_size]
            before = Counter({k: ctx.counts[f"{stream}.{k}"] for k in _OUTCOMES})
            with inbound.transaction() as session:
                inbound.apply(session, ctx, stream, page)
                # Problems earlier files had with these records are solved: they came in.
                solved = [k for r in page for k in earlier.get(str(r["source_id"]), [])]
                inbound.recorder(ctx).resolve(session, stream, INBOUND, solved)
                row = _locked(session, file_id)
                row.records_done = start + len(page)
                counts = dict(row.counts or {})
                for outcome in _OUTCOMES:
                    delta = ctx.counts[f"{stream}.{outcome}"] - before[outcome]
                    counts[outcome] = int(counts.get(outcome, 0)) + delta
                row.counts = counts
            ctx.heartbeat()
        with inbound.transaction() as session:
            row = _locked(session, file_id)
            row.status = "failed" if problems and not records else "imported"
            row.finished_at = self._clock.now()
            row.message = _summary(kind, len(records), len(problems))
            return _Outcome(row.status, list(row.problems or []))

    def _earlier_problems(self, ctx: RunContext, stream: str) -> dict[str, list[str]]:
        """Open issues of earlier files' problems, by the record they name (read once per
        import: a page closes those of its records)."""
        with self._sessions() as session:
            keys = session.scalars(
                sa.select(SyncIssue.key).where(
                    SyncIssue.connection_id == ctx.connection_id,
                    SyncIssue.stream == stream,
                    SyncIssue.direction == INBOUND,
                    SyncIssue.key.contains("@"),
                )
            ).all()
        earlier: dict[str, list[str]] = {}
        for key in keys:
            record = _record_of(key)
            if record is not None:
                earlier.setdefault(record, []).append(key)
        return earlier

    # ------------------------------------------------------------------ watched folder

    def _scan_job(self, job: JobContext) -> JSON:
        connection_id = job.job.connection_id
        if connection_id is None:
            raise ValueError(f"{SCAN_JOB} job without a connection")
        handle = self._connections.handle(connection_id)
        folder = handle.settings.get("watch_folder")
        if not folder:
            return {"skipped": "no watch folder set"}
        return self._jobs._run(
            SCAN_JOB, job, lambda ctx: self.scan(ctx, Path(folder)), after_import=False
        )

    def scan(self, ctx: RunContext, folder: Path) -> None:
        """Import each new ``*.csv`` / ``*.xml`` file of the folder that is no longer being
        written, then move it into ``processed/``, or into ``failed/`` with its problems in
        ``<name>.problems.json`` beside it when any line had one."""
        refused = self._folder_refused(folder)
        recorder = self._engine.inbound.recorder(ctx)
        with self._engine.inbound.transaction() as session:
            if refused is not None:
                recorder.issue(
                    session, stream="orders", direction=INBOUND, key=FOLDER_KEY,
                    reason="watch_folder_refused", message=refused,
                )  # fmt: skip
                return
            recorder.resolve(session, "orders", INBOUND, [FOLDER_KEY])
        candidates = sorted(
            entry
            for entry in folder.iterdir()
            if entry.suffix.lower() in SUFFIXES and entry.is_file() and not entry.is_symlink()
        )
        for entry in candidates:
            try:
                self._take(ctx, folder, entry)
            except FileNotFoundError:
                # Moved or removed by someone else between the listing and the look.
                ctx.counts["files.vanished"] += 1
            ctx.heartbeat()

    def _folder_refused(self, folder: Path) -> str | None:
        """The folder was checked when saved; what changed since (the root, a link followed
        out of it, the folder gone or its permissions) is found here."""
        problem = folder_problem(str(folder), self._watch_root)
        return None if problem is None else f"watch folder {problem}"

    def _take(self, ctx: RunContext, folder: Path, entry: Path) -> None:
        """One file of the folder: left for the next scan while it may still be written."""
        first = entry.stat()
        if time.time() - first.st_mtime < SETTLE_SECONDS:
            ctx.counts["files.waiting"] += 1
            return
        if first.st_size > LIMITS.max_bytes:
            problem = Problem(
                line=None, code="file_too_large",
                message=f"the file has {first.st_size} bytes; at most {LIMITS.max_bytes} are read",
            ).model_dump()  # fmt: skip
            with self._engine.inbound.transaction() as session:
                self._engine.inbound.recorder(ctx).issue(
                    session, stream=kind_of(entry.name, ctx.settings),
                    direction=INBOUND, key=f"-@{entry.name}"[:200],
                    reason="file_too_large", message=problem_message(entry.name, problem),
                )  # fmt: skip
            _move(folder, entry, FAILED, [problem])
            ctx.counts["files.failed"] += 1
            return
        content = entry.read_bytes()
        second = entry.stat()
        if (second.st_size, second.st_mtime_ns) != (first.st_size, first.st_mtime_ns) or len(
            content
        ) != first.st_size:
            ctx.counts["files.waiting"] += 1
            return
        kind = kind_of(entry.name, ctx.settings)
        with self._engine.inbound.transaction() as session:
            row, duplicate = register_file(
                session, self._queue, self._clock, tenant_id=ctx.tenant_id,
                connection_id=ctx.connection_id, kind=kind, name=entry.name, source="folder",
                content=content, queue_import=False,
            )  # fmt: skip
            file_id, status, problems = row.id, row.status, list(row.problems or [])
        if status in ("queued", "importing"):
            outcome = self.import_file(ctx, file_id)
            status, problems = outcome.status, outcome.problems
        if duplicate:
            ctx.counts["files.duplicate"] += 1
        if problems:
            _move(folder, entry, FAILED, problems)
            ctx.counts["files.failed"] += 1
        else:
            _move(folder, entry, PROCESSED, None)
            ctx.counts["files.processed"] += 1


_OUTCOMES = ("created", "updated", "unchanged", "skipped")


def _storable(problem: JSON) -> JSON:
    """A problem as JSON and text columns keep it on both databases: a NUL character in a
    value as written (PostgreSQL stores none) is shown as ``\\u0000``."""
    return {
        key: value.replace("\x00", "\\u0000") if isinstance(value, str) else value
        for key, value in problem.items()
    }


def _key_too_long(kind: str, record: JSON) -> JSON:
    """A record number longer than a link keeps (200 characters) cannot be followed."""
    number = str(record["source_id"])
    return Problem(
        line=None, field="order.number" if kind == "orders" else "refund.source_id",
        record=number[:50] + "…", code="value_too_long",
        message=f"a record number of {len(number)} characters; at most 200 are kept",
    ).model_dump()  # fmt: skip


def _locked(session: Session, file_id: str) -> CommerceFile:
    row = session.get(CommerceFile, file_id, with_for_update=True)
    if row is None:
        raise LookupError(f"file {file_id} was removed during its import")
    return row


def _summary(kind: str, records: int, problems: int) -> str:
    noun = "order" if kind == "orders" else "refund"
    read_ = f"{records} {noun}{'s' if records != 1 else ''} read"
    if not problems:
        return read_
    return f"{read_}; {problems} problem{'s' if problems != 1 else ''} (see the issues)"


def _move(folder: Path, entry: Path, into: str, problems: list[JSON] | None) -> None:
    """Move the file into ``processed/`` or ``failed/`` under a name not taken there, with
    its problems beside it as JSON when it has any."""
    target_dir = folder / into
    target_dir.mkdir(exist_ok=True)
    target = target_dir / entry.name
    n = 1
    while target.exists():
        n += 1
        target = target_dir / f"{entry.stem}.{n}{entry.suffix}"
    os.replace(entry, target)
    if problems is not None:
        text = json.dumps(problems, indent=2, ensure_ascii=False, default=str)
        (target_dir / f"{target.name}.problems.json").write_text(text + "\n", encoding="utf-8")
