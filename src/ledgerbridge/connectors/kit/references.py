"""A mapping's references, taken from the model's declaration (``model.references``): the
mapping says only which of its connector's streams hold the records referred to."""

from __future__ import annotations

from collections.abc import Mapping

from ledgerbridge.connectors.base import Reference, RemoteRef, SkipRecord
from ledgerbridge.model.references import reference


def linked(
    entity: str,
    field: str,
    *streams: str,
    pending_reason: str | None = None,
    required: bool | None = None,
) -> Reference:
    """``entity.field`` resolved through the links of ``streams``, with the model's reasons
    and whether it is required. A system may be stricter than the model (``required``: Qonto
    makes no credit note without its invoice) or say better why a record waits
    (``pending_reason``)."""
    declared = reference(entity, field)
    return Reference(
        field=field,
        streams=streams,
        missing_reason=declared.missing_reason,
        pending_reason=pending_reason or declared.pending_reason,
        required=declared.required if required is None else required,
    )


def target_of(refs: Mapping[str, RemoteRef | None], entity: str, field: str) -> RemoteRef:
    """The remote record ``entity.field`` points at. The engine skips a record whose required
    reference is empty before mapping it; a mapping called on its own (a projection) skips it
    here, for the model's reason."""
    remote = refs.get(field)
    if remote is None:
        declared = reference(entity, field)
        target = declared.target.replace("_", " ")
        raise SkipRecord(declared.missing_reason, f"the {entity.replace('_', ' ')} has no {target}")
    return remote
