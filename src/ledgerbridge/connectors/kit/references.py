"""A mapping's references, taken from the model's declaration (``model.references``): the
mapping says only which of its connector's streams hold the records referred to."""

from __future__ import annotations

from collections.abc import Mapping

from ledgerbridge.connectors.base import (
    MAKE_AGAIN_HINT,
    REFERENCE_MISSING,
    Reference,
    RemoteRef,
    RemoteRejected,
    SkipRecord,
)
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


def reference_gone(
    system: str, record: str, answer: str, remedy: str = MAKE_AGAIN_HINT
) -> RemoteRejected:
    """A write refused because the ``record`` it names (the invoice's client) was deleted in
    the system, in the words every connector uses: what happened, in the system's own words
    (``answer``), and what to do about it, which "make it again" (``REFERENCE_MISSING``)
    applies to. ``remedy`` is what a person does when it was deleted by mistake."""
    return RemoteRejected(
        f"{system} no longer has the invoice's {record} ({answer}): it was deleted there, and "
        f"as deletes are not propagated the {record} is not made again by itself, so the "
        f"invoice is not sent. Deleted on purpose: dismiss this issue; by mistake: {remedy}",
        reason=REFERENCE_MISSING,
    )
