"""File integration: a files connection's column mappings, a preview before saving one,
uploads of order and refund files, and the files received (docs/file-integration.md).

A file's body is sent as it is (``text/csv``, ``application/xml``), never as form data, and
is bounded by ``LEDGERBRIDGE_MAX_BODY_BYTES`` (413) as every request is.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from ledgerbridge.api.deps import PrincipalDep, SystemDep
from ledgerbridge.services.files import MappingRefused

router = APIRouter(prefix="/connections", tags=["files"])

Kind = Literal["orders", "refunds"]
FILE_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "text/csv": {"schema": {"type": "string"}},
            "application/xml": {"schema": {"type": "string"}},
            "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
        },
    }
}
MAPPING_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "description": "A file mapping (docs/commerce.md, File integration)",
                }
            }
        },
    }
}
PREVIEW_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "text/csv": {"schema": {"type": "string"}},
            "application/xml": {"schema": {"type": "string"}},
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["content"],
                    "properties": {
                        "content": {"type": "string", "description": "The file's text"},
                        "mapping": {"type": "object", "description": "A mapping to read with"},
                    },
                }
            },
        },
    }
}


class FileProblem(BaseModel):
    line: int | None
    column: str | None = None
    field: str | None = None
    record: str | None = None
    code: str
    message: str
    value: str | None = None


class FileCounts(BaseModel):
    orders: int
    refunds: int
    problems: int
    rows: int
    created: int
    updated: int
    unchanged: int


class FileView(BaseModel):
    id: str
    name: str
    kind: Kind
    source: Literal["upload", "folder"]
    content_key: str
    size: int
    status: Literal["queued", "importing", "imported", "failed"]
    counts: FileCounts
    message: str | None
    received_at: str
    finished_at: str | None
    problems: list[FileProblem] | None = None


class Uploaded(FileView):
    duplicate: bool = Field(
        description="The same content was received before: this is that file, and nothing "
        "is imported again"
    )


class Preview(BaseModel):
    kind: Kind
    mapping: dict[str, Any] | None = Field(description="The mapping the rows were read with")
    suggestion: dict[str, Any] | None = Field(
        description="The format, columns and the column each field is likely in"
    )
    columns: list[str]
    line_columns: list[str]
    rows: list[dict[str, Any]]
    problems: list[FileProblem] = Field(description="Problems of the file as a whole")


async def _body(request: Request) -> tuple[str, bytes]:
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    return media, await request.body()


BodyDep = Annotated[tuple[str, bytes], Depends(_body)]


def _refused(exc: MappingRefused) -> JSONResponse:
    return JSONResponse(status_code=422, content={"detail": exc.errors})


def _json(body: bytes, where: list[str | int]) -> Any:
    try:
        return json.loads(body)
    except ValueError as exc:
        raise MappingRefused(
            [{"loc": where, "msg": f"not JSON: {exc}", "type": "json_invalid"}]
        ) from None


@router.get("/{connection_id}/file-mappings/{kind}", response_model=dict[str, Any])
def get_mapping(connection_id: str, kind: Kind, principal: PrincipalDep, system: SystemDep) -> Any:
    """The mapping saved for the connection's ``kind`` files (404 when none is)."""
    return system.files.mapping(principal, connection_id, kind)


@router.put(
    "/{connection_id}/file-mappings/{kind}",
    response_model=dict[str, Any],
    openapi_extra=MAPPING_BODY,
)
def put_mapping(
    connection_id: str, kind: Kind, body: BodyDep, principal: PrincipalDep, system: SystemDep
) -> Any:
    """Save how the connection's ``kind`` files are read, replacing the mapping saved before.
    A mapping that does not read is a 422 naming the path of each problem (an unknown field:
    ``body.fields.<name>``; a bad delimiter: ``body.format.delimiter``)."""
    try:
        data = _json(body[1], ["body"])
        return system.files.save_mapping(principal, connection_id, kind, data)
    except MappingRefused as exc:
        return _refused(exc)


@router.post(
    "/{connection_id}/file-mappings/{kind}/preview",
    response_model=Preview,
    openapi_extra=PREVIEW_BODY,
)
def preview(
    connection_id: str, kind: Kind, body: BodyDep, principal: PrincipalDep, system: SystemDep
) -> Any:
    """The first rows of a file as they would be read, before a mapping is saved: the file
    as the body (``text/csv``, ``application/xml``) read with the suggested mapping, or
    ``{"content": …, "mapping": …}`` as JSON. Nothing is stored."""
    media, raw = body
    mapping = None
    try:
        if media == "application/json" or media.endswith("+json"):
            document = _json(raw, ["body"])
            if not isinstance(document, dict) or not isinstance(document.get("content"), str):
                raise MappingRefused(
                    [{"loc": ["body", "content"], "msg": "the file's text is required",
                      "type": "missing"}]
                )  # fmt: skip
            raw, mapping = document["content"].encode("utf-8"), document.get("mapping")
        return system.files.preview(principal, connection_id, kind, raw, mapping)
    except MappingRefused as exc:
        return _refused(exc)


@router.post(
    "/{connection_id}/files",
    status_code=202,
    response_model=Uploaded,
    response_model_exclude_none=True,
    responses={200: {"model": Uploaded, "description": "The same file was received before"}},
    openapi_extra=FILE_BODY,
)
def upload(
    connection_id: str,
    body: BodyDep,
    principal: PrincipalDep,
    system: SystemDep,
    response: Response,
    name: Annotated[str, Query(min_length=1, max_length=255, description="orders.csv")],
    kind: Annotated[
        Kind | None,
        Query(description="The mapping it is read with; default: the only one saved, else by "
              "its name (refund or credit in it: refunds)"),
    ] = None,
) -> Any:  # fmt: skip
    """Store an order or refund file and queue its import (202). The same content again (also
    with a byte order mark or CRLF line endings) answers 200 with the earlier file,
    ``duplicate: true``, and imports nothing."""
    stored, duplicate = system.files.upload(principal, connection_id, name, body[1], kind)
    if duplicate:
        response.status_code = 200
    return {**stored, "duplicate": duplicate}


@router.get(
    "/{connection_id}/files", response_model=list[FileView], response_model_exclude_none=True
)
def list_files(
    connection_id: str,
    principal: PrincipalDep,
    system: SystemDep,
    status: Literal["queued", "importing", "imported", "failed"] | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> Any:
    """Files received, newest first, with their status and counts."""
    return system.files.files(principal, connection_id, status=status, limit=limit)


@router.get("/{connection_id}/files/{file_id}", response_model=FileView)
def get_file(connection_id: str, file_id: str, principal: PrincipalDep, system: SystemDep) -> Any:
    """One file: its status, counts and every problem with its line and column."""
    return system.files.file(principal, connection_id, file_id)


@router.post(
    "/{connection_id}/files/{file_id}/import",
    status_code=202,
    response_model=FileView,
    response_model_exclude_none=True,
)
def reimport(connection_id: str, file_id: str, principal: PrincipalDep, system: SystemDep) -> Any:
    """Read a file again with the mapping saved now, after fixing a mapping that misread it
    (sending the same file again is a duplicate): its orders and refunds are updated, not
    duplicated, and its problems are reported afresh. 409 while it is being imported."""
    return system.files.reimport(principal, connection_id, file_id)
