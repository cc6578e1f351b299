"""A files connection: map the columns of a sample CSV file (the suggested column of each
field preselected, the first rows read back before saving), upload files, and the files
received with what their import made of them.

The sample travels with the mapping form (base64 in a hidden field), so trying another
mapping needs no second upload and nothing is stored until the mapping is saved.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse
from starlette.datastructures import UploadFile

from ledgerbridge.services.errors import Invalid, ServiceError
from ledgerbridge.services.files import MappingRefused, NoMappingYet
from ledgerbridge.services.sign_in import Signed
from ledgerbridge.ui.nav import connection_context, tab
from ledgerbridge.ui.web import ChangeDep, SignedDep, UiRoute, redirect, render, system_of

router = APIRouter(route_class=UiRoute)
tab("Files", "files", 35, applies=lambda spec: spec.name == "files")

JSON = dict[str, Any]
KINDS = {"orders": "Orders", "refunds": "Refunds"}
DELIMITERS = {"": "Find it in the header", ";": "; (semicolon)", ",": ", (comma)",
              "\t": "Tab", "|": "| (bar)"}  # fmt: skip
SETTINGS = ("layout", "decimal_separator", "thousands_separator", "date_format", "timezone")


def _base(request: Request, signed: Signed, connection_id: str) -> JSON:
    context = connection_context(request, signed, connection_id, "files")
    context.update(kinds=KINDS, delimiters=DELIMITERS)
    return context


@router.get("/connections/{connection_id}/files", response_class=HTMLResponse)
def files_page(request: Request, connection_id: str, signed: SignedDep) -> Any:
    return _files_page(request, signed, connection_id)


def _files_page(
    request: Request,
    signed: Signed,
    connection_id: str,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
    chosen: Mapping[str, str] | None = None,
) -> HTMLResponse:
    """The files tab; after a refusal, with the kind each form was given still chosen
    (``chosen``: ``map`` and ``upload``), as the file itself cannot be filled in again."""
    context = _base(request, signed, connection_id)
    service = system_of(request).files
    saved = {}
    for kind in KINDS:
        try:
            saved[kind] = service.mapping(signed.principal, connection_id, kind)
        except ServiceError:
            continue  # no mapping of this kind yet
    context.update(
        saved=saved,
        files=service.files(signed.principal, connection_id, status=None, limit=50),
        errors=errors or {},
        chosen=chosen or {},
    )
    return render(request, "commerce/files.html", context, status_code=status_code, signed=signed)


async def _upload(form: Mapping[str, Any], field: str) -> tuple[str, bytes] | None:
    upload = form.get(field)
    if not isinstance(upload, UploadFile) or not upload.filename:
        return None
    return upload.filename, await upload.read()


def _kept(value: Any) -> JSON:
    """A column's translations and default as saved before (``kept.<field>``, JSON): the
    form does not show them, and saving it must not lose them."""
    try:
        kept = json.loads(str(value or "{}"))
    except ValueError:
        return {}
    if not isinstance(kept, dict):
        return {}
    return {k: v for k, v in kept.items() if k in ("values", "default") and v}


def mapping_of(form: Mapping[str, Any], fields: list[JSON]) -> JSON:
    """The mapping a map form describes: a column or a fixed value for each field given."""
    chosen: JSON = {}
    for spec in fields:
        column = str(form.get(f"fields.{spec['name']}") or "")
        constant = str(form.get(f"fixed.{spec['name']}") or "").strip()
        if constant:
            chosen[spec["name"]] = {"value": constant}
        elif column:
            chosen[spec["name"]] = {"column": column, **_kept(form.get(f"kept.{spec['name']}"))}
    encoding = str(form.get("format.encoding") or "").strip()
    header_line = str(form.get("format.header_line") or "").strip()
    mapping: JSON = {
        "format": {
            "type": "csv",
            "delimiter": str(form.get("format.delimiter") or "") or None,
            "quote": str(form.get("format.quote") or "") or '"',
            **({"encoding": encoding} if encoding else {}),
            **({"header_line": header_line} if header_line else {}),
        },
        "fields": chosen,
    }
    for name in SETTINGS:
        value = str(form.get(name) or "").strip()
        if value:
            mapping[name] = value
    return mapping


def _map_page(
    request: Request,
    signed: Signed,
    connection_id: str,
    *,
    kind: str,
    name: str,
    content: bytes,
    answer: JSON,
    given: JSON | None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
    chosen: Mapping[str, str] | None = None,
) -> HTMLResponse:
    """The files tab; after a refusal, with the kind each form was given still chosen
    (``chosen``: ``map`` and ``upload``), as the file itself cannot be filled in again."""
    context = _base(request, signed, connection_id)
    suggestion = answer.get("suggestion") or {}
    # Without a mapping that reads (a required column not found), the form still starts from
    # how the file is written.
    written = {key: suggestion[key] for key in ("format", *SETTINGS) if suggestion.get(key)}
    mapping = given or answer.get("mapping") or written
    sources = mapping.get("fields") or {
        field: {"column": column} for field, column in (suggestion.get("fields") or {}).items()
    }
    columns = list(dict.fromkeys([*answer.get("columns", []), *answer.get("line_columns", [])]))
    shown = sorted({key for row in answer.get("rows", []) for key in row.get("values", {})})
    context.update(
        kind=kind,
        name=name,
        sample=base64.b64encode(content).decode(),
        fields=system_of(request).files.fields(kind),
        sources=sources,
        mapping=mapping,
        columns=columns,
        answer=answer,
        shown=shown,
        errors=errors or {},
    )
    return render(request, "commerce/file_map.html", context, status_code=status_code,
                  signed=signed)  # fmt: skip


def _refusals(exc: MappingRefused) -> dict[str, str]:
    """A refused mapping's problems by the form's field names (``fields.order.number``)."""
    found: dict[str, str] = {}
    for error in exc.errors:
        loc = [str(p) for p in error["loc"] if p not in ("body", "mapping")]
        key = ".".join(loc) or "_"
        if loc[:1] == ["fields"] and len(loc) > 2:
            key = "fields." + ".".join(loc[1:3])  # the field's source, not its inner part
        found.setdefault(key, error["msg"])
    return found


@router.post("/connections/{connection_id}/files/map", response_class=HTMLResponse)
async def map_columns(request: Request, connection_id: str, signed: ChangeDep) -> Response:
    """A new sample: read with the saved mapping of its kind, else with the suggestion. The
    sample again with a mapping (``action``): ``preview`` reads it back, ``save`` saves."""
    service = system_of(request).files
    form = await request.form()
    kind = str(form.get("kind") or "orders")
    uploaded = await _upload(form, "file")
    given: JSON | None = None
    if uploaded is not None:
        name, content = uploaded
        try:
            given = service.mapping(signed.principal, connection_id, kind)
        except ServiceError:
            given = None
    else:
        name = str(form.get("sample_name") or "")
        try:
            content = base64.b64decode(str(form.get("sample") or ""), validate=True)
        except (binascii.Error, ValueError):
            raise Invalid("the sample file was lost: choose it again", field="file") from None
        if not content:
            return _files_page(
                request, signed, connection_id,
                errors={"file": "choose a CSV file to map"}, status_code=422,
                chosen={"map": kind},
            )  # fmt: skip
        given = mapping_of(form, service.fields(kind))
    try:
        if uploaded is None and form.get("action") == "save":
            service.save_mapping(signed.principal, connection_id, kind, given)
            return redirect(
                f"/ui/connections/{connection_id}/files",
                f"The mapping of {kind} files is saved: upload files below.",
            )
        answer = service.preview(signed.principal, connection_id, kind, content, given)
    except MappingRefused as exc:
        answer = service.preview(signed.principal, connection_id, kind, content, None)
        return _map_page(
            request, signed, connection_id, kind=kind, name=name, content=content,
            answer=answer, given=given, errors=_refusals(exc), status_code=422,
        )  # fmt: skip
    return _map_page(
        request, signed, connection_id, kind=kind, name=name, content=content,
        answer=answer, given=given,
    )  # fmt: skip


@router.post("/connections/{connection_id}/files/upload", response_class=HTMLResponse)
async def upload_file(request: Request, connection_id: str, signed: ChangeDep) -> Response:
    form = await request.form()
    uploaded = await _upload(form, "upload")
    if uploaded is None:
        return _files_page(
            request, signed, connection_id,
            errors={"upload": "choose a file to upload"}, status_code=422,
            chosen={"upload": str(form.get("kind") or "")},
        )  # fmt: skip
    name, content = uploaded
    kind = str(form.get("kind") or "") or None
    chosen = {"upload": kind or ""}
    try:
        stored, duplicate = system_of(request).files.upload(
            signed.principal, connection_id, name, content, kind
        )
    except NoMappingYet as exc:
        unmapped = (
            f"the columns of {exc.kind} files are not mapped yet: choose a sample of one under "
            "Map its columns, save the mapping, then upload"
        )
        return _files_page(
            request, signed, connection_id, errors={"kind": unmapped}, status_code=exc.status,
            chosen=chosen,
        )  # fmt: skip
    except ServiceError as exc:
        if exc.status not in (409, 413, 422):
            raise
        field = "upload" if exc.field in (None, "body", "name") else exc.field
        return _files_page(
            request, signed, connection_id, errors={field: exc.message}, status_code=exc.status,
            chosen=chosen,
        )  # fmt: skip
    notice = (
        f"{stored['name']} was received before ({stored['status']}): nothing is imported again."
        if duplicate
        else f"{stored['name']} is received and imported in the background."
    )
    return redirect(f"/ui/connections/{connection_id}/files/{stored['id']}", notice)


@router.get("/connections/{connection_id}/files/{file_id}", response_class=HTMLResponse)
def file_page(request: Request, connection_id: str, file_id: str, signed: SignedDep) -> Any:
    context = _base(request, signed, connection_id)
    context["file"] = system_of(request).files.file(signed.principal, connection_id, file_id)
    return render(request, "commerce/file.html", context, signed=signed)


@router.get("/connections/{connection_id}/files/{file_id}/state", response_class=HTMLResponse)
def file_state(request: Request, connection_id: str, file_id: str, signed: SignedDep) -> Any:
    """The fragment the file's page polls every 2 s while it is imported."""
    context = _base(request, signed, connection_id)
    context["file"] = system_of(request).files.file(signed.principal, connection_id, file_id)
    return render(request, "commerce/_file_state.html", context, signed=signed)


@router.post("/connections/{connection_id}/files/{file_id}/reimport")
def reimport(request: Request, connection_id: str, file_id: str, signed: ChangeDep) -> Response:
    system_of(request).files.reimport(signed.principal, connection_id, file_id)
    return redirect(
        f"/ui/connections/{connection_id}/files/{file_id}",
        "The file is read again with the saved mapping.",
    )
