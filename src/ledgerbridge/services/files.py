"""File integration for a files connection: its saved mappings, a preview before saving one,
uploads, and the files received with what their import made of them.

Reading a file is ``commerce.files``; importing one is the runtime's ``file_import`` job
(queued in the transaction that stores the upload), so the API answers at once and a large
file never holds a request.
"""

from __future__ import annotations

from pathlib import PurePosixPath, PureWindowsPath
from typing import Any

import sqlalchemy as sa
from pydantic import ValidationError
from sqlalchemy.orm import Session, sessionmaker

from ledgerbridge.clock import Clock
from ledgerbridge.commerce.config import CommercePolicy
from ledgerbridge.commerce.files import (
    FIELDS,
    Doubt,
    FileKind,
    FileMapping,
    FileRefused,
    PreviewRow,
    Problem,
    Suggestion,
    preview,
    suggest_mapping,
)
from ledgerbridge.commerce.policies import SHOP_STATES
from ledgerbridge.connectors.files.settings import KINDS
from ledgerbridge.model.reasons import in_words
from ledgerbridge.runtime.files import (
    LIMITS,
    file_view,
    kind_of,
    no_mapping_saved,
    queue_import_of,
    register_file,
    reopen,
)
from ledgerbridge.runtime.jobqueue.port import JobBackend
from ledgerbridge.services.connections import ConnectionService
from ledgerbridge.services.errors import Conflict, Invalid, NotFound, ServiceError
from ledgerbridge.services.tenancy import Principal
from ledgerbridge.store.tables.files import CommerceFile
from ledgerbridge.store.tables.flows import Route
from ledgerbridge.store.tables.tenancy import Connection

JSON = dict[str, Any]
PREVIEW_ROWS = 10
_KINDS: dict[str, FileKind] = {"orders": "orders", "refunds": "refunds"}
_NAMED = {"mapping_field_unknown", "mapping_field_missing", "mapping_key_constant"}
"""Refusals of the whole mapping that name fields: each named field gets its own path."""
_SETTING = {
    "delimiter_invalid": "delimiter",
    "separators_equal": "thousands_separator",
    "layout_invalid": "layout",
}
"""Refusals of a whole object that are about one of its settings: that setting's path."""


class MappingRefused(Exception):
    """A mapping that does not validate: every problem, each with its path (``loc``)."""

    def __init__(self, errors: list[JSON]) -> None:
        super().__init__("; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in errors))
        self.errors = errors


class FileTooLarge(ServiceError):
    status = 413


class NoMappingYet(Invalid):
    """A file of a kind whose columns are not mapped yet; ``kind`` lets a page say where its
    own mapping step is, where the API names its endpoint."""

    def __init__(self, message: str, kind: str) -> None:
        super().__init__(message, field="kind")
        self.kind = kind


def checked_mapping(data: Any, kind: str, root: tuple[str, ...] = ("body",)) -> FileMapping:
    """A mapping as ``commerce.files`` reads it, for files of ``kind``; raises
    ``MappingRefused`` naming the path of every problem (``body.fields.order.nummer``)."""
    if not isinstance(data, dict):
        raise MappingRefused([{"loc": list(root), "msg": "a mapping is an object", "type": "type"}])
    if data.get("kind", kind) != kind:
        raise MappingRefused(
            [{"loc": [*root, "kind"], "msg": f"this is the mapping of {kind} files",
              "type": "kind_mismatch"}]
        )  # fmt: skip
    try:
        return FileMapping.model_validate({**data, "kind": kind})
    except ValidationError as exc:
        raise MappingRefused(_located(exc, root)) from None


def _located(exc: ValidationError, root: tuple[str, ...]) -> list[JSON]:
    errors: list[JSON] = []
    for error in exc.errors(include_url=False, include_input=False):
        loc = [p for i, p in enumerate(error["loc"]) if not _is_tag(error["loc"], i)]
        names = str((error.get("ctx") or {}).get("names") or "")
        if error["type"] in _NAMED and names and not loc:
            for name in names.split(", "):
                errors.append(
                    {"loc": [*root, "fields", name], "msg": in_words(error), "type": error["type"]}
                )
            continue
        if error["type"] == "xml_path" and not loc:
            loc = ["fields", str((error.get("ctx") or {}).get("name") or "")]
        elif error["type"] in _SETTING:
            loc = [*loc, _SETTING[error["type"]]]
        errors.append({"loc": [*root, *loc], "msg": in_words(error), "type": error["type"]})
    return errors


def _is_tag(loc: tuple[int | str, ...], index: int) -> bool:
    """The discriminator pydantic puts in a format's location (``format.csv.delimiter``)."""
    return index > 0 and loc[index - 1] == "format" and loc[index] in ("csv", "xml")


def _replacing(old: Any, new: Any) -> Any:
    """A JSON merge patch that turns ``old`` into ``new`` (keys ``new`` lacks set to null),
    so saving a mapping replaces the one saved before instead of merging into it."""
    if not isinstance(old, dict) or not isinstance(new, dict):
        return new
    patch = {key: _replacing(old.get(key), value) for key, value in new.items()}
    patch.update({key: None for key in old if key not in new})
    return patch


def _file_name(name: str) -> str:
    """The name alone, without any folder a client put in front of it."""
    base = PureWindowsPath(PurePosixPath(name.strip()).name).name
    return base[:255]


class FileService:
    def __init__(
        self,
        session_factory: sessionmaker[Session],
        queue: JobBackend,
        clock: Clock,
        connections: ConnectionService,
    ) -> None:
        self._sessions = session_factory
        self._queue = queue
        self._clock = clock
        self._connections = connections

    def _settings(self, principal: Principal, connection_id: str) -> JSON:
        system, settings = self._connections.settings_of(principal, connection_id)
        if system != "files":
            raise Conflict(
                f"connection {connection_id} is a {system} connection; files are read by a "
                "files connection (POST /connections with system files)",
                field="connection_id",
            )
        return settings

    @staticmethod
    def _kind(kind: str) -> str:
        if kind not in KINDS:
            raise Invalid(f"unknown kind '{kind}': orders or refunds", field="kind")
        return kind

    # ------------------------------------------------------------------ mappings

    def fields(self, kind: str) -> list[JSON]:
        """The canonical fields a file of ``kind`` can fill, in the order a mapping form
        shows them: ``name``, ``required``, ``per_line`` (a line's, not the record's)."""
        return [
            {"name": spec.name, "required": spec.required, "per_line": spec.per_line}
            for spec in FIELDS[_KINDS[self._kind(kind)]]
        ]

    def mapping(self, principal: Principal, connection_id: str, kind: str) -> JSON:
        saved = (self._settings(principal, connection_id).get("file_mappings") or {}).get(
            self._kind(kind)
        )
        if not saved:
            raise NotFound(f"no mapping is saved for {kind} files")
        return dict(saved)

    def save_mapping(self, principal: Principal, connection_id: str, kind: str, data: Any) -> JSON:
        """Check the mapping with ``commerce.files`` and save it in the connection's settings
        (``file_mappings.<kind>``), replacing the one saved before."""
        principal.require_admin("saving a file mapping")
        settings = self._settings(principal, connection_id)
        mapping = checked_mapping(data, self._kind(kind))
        stored = mapping.model_dump(mode="json", exclude_none=True)
        before = (settings.get("file_mappings") or {}).get(kind)
        self._connections.configure(
            principal, connection_id,
            settings={"file_mappings": {kind: _replacing(before, stored)}},
        )  # fmt: skip
        return stored

    def preview(
        self,
        principal: Principal,
        connection_id: str,
        kind: str,
        content: bytes,
        mapping: Any | None,
    ) -> JSON:
        """The first rows as they would be read, with the file's columns and the suggested
        column of each field; with no mapping given, read with the suggestion. Nothing is
        stored."""
        self._settings(principal, connection_id)
        self._kind(kind)
        if len(content) > LIMITS.max_bytes:
            raise FileTooLarge(f"the file has {len(content)} bytes; at most {LIMITS.max_bytes}")
        given = None if mapping is None else checked_mapping(mapping, kind, ("body", "mapping"))
        try:
            suggestion = suggest_mapping(
                content, _KINDS[kind], given.format if given is not None else None, LIMITS
            )
        except FileRefused as refused:
            return _preview_answer(kind, given, None, [], [], [], [refused.problem.model_dump()])
        used = given
        # Read with the suggestion, the settings it leaves open are problems of the whole file.
        doubts = [] if given else [_as_problem(doubt) for doubt in suggestion.doubts]
        if used is None:
            try:
                used = FileMapping.model_validate(suggestion.mapping(_KINDS[kind]))
            except ValidationError:
                return _preview_answer(
                    kind, None, suggestion, suggestion.columns, suggestion.line_columns, [],
                    [*_unmapped(suggestion.missing), *doubts],
                )  # fmt: skip
        shown = preview(content, used, PREVIEW_ROWS, LIMITS)
        unbooked = self._states_unknown(connection_id, used, shown.rows) if kind == "orders" else []
        return _preview_answer(
            kind, used, suggestion, shown.columns, shown.line_columns,
            [row.model_dump() for row in shown.rows],
            [*doubts, *(p.model_dump() for p in shown.problems), *unbooked],
        )  # fmt: skip

    def _states_unknown(
        self, connection_id: str, mapping: FileMapping, rows: list[PreviewRow]
    ) -> list[JSON]:
        """The state words of the previewed orders that no route from this connection names
        in its policy's ``states`` and that are no shop state either (a Danish ``Betalt``
        read as it is): every such order would wait as ``state_not_triggering``, though a
        file's order never moves on to another state by itself."""
        with self._sessions() as session:
            routes = session.scalars(
                sa.select(Route).where(
                    Route.source_connection_id == connection_id, Route.active.is_(True)
                )
            ).all()
            policies = [
                CommercePolicy.saved(route.commerce.get("policy"))
                for route in routes
                if route.commerce
            ] or [CommercePolicy()]
        named = {state for policy in policies for state in policy.states}
        booked = sorted(
            {s for policy in policies for s, action in policy.states.items() if action != "ignore"}
        )
        source = mapping.fields.get("order.state")
        column = source.column if source is not None else None
        found: list[JSON] = []
        for row in rows:
            state = row.values.get("order.state")
            if not state or state in named or state in SHOP_STATES:
                continue
            if any(problem["value"] == state for problem in found):
                continue
            found.append({
                "line": row.line, "column": column, "field": "order.state",
                "record": row.values.get("order.number"), "code": "state_unknown",
                "value": state,
                "message": f"the state {state!r} is no state a shop's order has, and no "
                f"route from this connection books it (its policy books "
                f"{', '.join(booked) or 'none'}): orders in it would wait as "
                "state_not_triggering. Translate the file's word in the mapping, e.g. "
                f'"order.state": {{"column": "{column}", "values": {{"{state}": '
                '"processing"}}, or name it in the route\'s policy.states',
            })  # fmt: skip
        return found

    # ------------------------------------------------------------------ files

    def upload(
        self,
        principal: Principal,
        connection_id: str,
        name: str,
        content: bytes,
        kind: str | None = None,
    ) -> tuple[JSON, bool]:
        """Store a file and queue its import; the same content again answers the earlier
        file and imports nothing (``(file, True)``)."""
        principal.require_admin("uploading a file")
        settings = self._settings(principal, connection_id)
        shown = _file_name(name)
        if not shown:
            raise Invalid("the file needs a name (?name=orders.csv)", field="name")
        if not content:
            raise Invalid("the file is empty", field="body")
        if len(content) > LIMITS.max_bytes:
            raise FileTooLarge(
                f"the file has {len(content)} bytes; files of at most {LIMITS.max_bytes} are read"
            )
        chosen = kind_of(shown, settings, None if kind is None else self._kind(kind))
        if not (settings.get("file_mappings") or {}).get(chosen):
            raise NoMappingYet(no_mapping_saved(chosen, connection_id), chosen)
        with self._sessions.begin() as session:
            row = session.get(Connection, connection_id)
            if row is None or row.tenant_id != principal.tenant_id:
                raise NotFound(f"connection {connection_id} not found")
            stored, duplicate = register_file(
                session, self._queue, self._clock, tenant_id=principal.tenant_id,
                connection_id=connection_id, kind=chosen, name=shown, source="upload",
                content=content, queue_import=True,
            )  # fmt: skip
            return file_view(stored), duplicate

    def files(
        self, principal: Principal, connection_id: str, *, status: str | None, limit: int
    ) -> list[JSON]:
        self._settings(principal, connection_id)
        with self._sessions() as session:
            query = sa.select(CommerceFile).where(CommerceFile.connection_id == connection_id)
            if status is not None:
                query = query.where(CommerceFile.status == status)
            rows = session.scalars(
                query.options(sa.orm.defer(CommerceFile.problems))
                .order_by(CommerceFile.received_at.desc(), CommerceFile.id)
                .limit(limit)
            )
            return [file_view(row, with_problems=False) for row in rows]

    def reimport(self, principal: Principal, connection_id: str, file_id: str) -> JSON:
        """Read a file again with the mapping saved now (after fixing a mapping that misread
        it): its records are updated, its problems reported afresh."""
        principal.require_admin("importing a file again")
        settings = self._settings(principal, connection_id)
        with self._sessions.begin() as session:
            row = session.get(CommerceFile, file_id, with_for_update=True)
            if row is None or row.connection_id != connection_id:
                raise NotFound(f"file {file_id} not found")
            if row.status in ("queued", "importing"):
                raise Conflict(f"file {file_id} is {row.status} already", field="status")
            if not (settings.get("file_mappings") or {}).get(row.kind):
                raise Invalid(no_mapping_saved(row.kind, connection_id), field="kind")
            reopen(session, row)
            queue_import_of(session, self._queue, row)
            return file_view(row)

    def file(self, principal: Principal, connection_id: str, file_id: str) -> JSON:
        self._settings(principal, connection_id)
        with self._sessions() as session:
            row = session.get(CommerceFile, file_id)
            if row is None or row.connection_id != connection_id:
                raise NotFound(f"file {file_id} not found")
            return file_view(row)


def _unmapped(missing: list[str]) -> list[JSON]:
    """Why the suggestion cannot be read with: the required fields no column looks like."""
    blank: JSON = {"line": None, "column": None, "record": None, "value": None}
    if not missing:
        return [{**blank, "field": None, "code": "mapping_needed",
                 "message": "the columns found make no mapping: give one"}]  # fmt: skip
    return [
        {**blank, "field": name, "code": "column_not_found",
         "message": f"no column of the file looks like {name}: map it yourself"}
        for name in missing
    ]  # fmt: skip


def _as_problem(doubt: Doubt) -> JSON:
    """A doubt of the suggestion as the preview lists a problem of the file."""
    return doubt.model_dump(include=set(Problem.model_fields))


def _preview_answer(
    kind: str,
    mapping: FileMapping | None,
    suggestion: Suggestion | None,
    columns: list[str],
    line_columns: list[str],
    rows: list[JSON],
    problems: list[JSON],
) -> JSON:
    return {
        "kind": kind,
        "mapping": mapping.model_dump(mode="json", exclude_none=True) if mapping else None,
        "suggestion": suggestion.model_dump(mode="json") if suggestion else None,
        "columns": columns,
        "line_columns": line_columns,
        "rows": rows,
        "problems": problems,
    }
