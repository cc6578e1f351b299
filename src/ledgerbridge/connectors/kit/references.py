"""A mapping's references, taken from the model's declaration (``model.references``): the
mapping says only which of its connector's streams hold the records referred to."""

from __future__ import annotations

from ledgerbridge.connectors.base import Reference
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
