"""An acquirer connection's payouts with what PayMatch made of them (docs/paymatch.md): each
line matched to an invoice or on the error account, and the cash-journal postings with their
links into the accounting system."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query

from ledgerbridge.api.deps import PrincipalDep, SystemDep

router = APIRouter(prefix="/connections", tags=["payouts"])


@router.get("/{connection_id}/payouts", response_model=list[dict[str, Any]])
def payouts(
    connection_id: str,
    principal: PrincipalDep,
    system: SystemDep,
    limit: int = Query(50, ge=1, le=500),
) -> Any:
    """Newest arrival first. `state`: `matched`, `unmatched` (lines on the error account),
    `waiting` (for an invoice to be booked; see `issue`) or `not_posted` (not paid yet, before
    the route's start date, invalid: `issue` says why); each line has its
    own `state`, `invoice` and `reason`; `postings[].sync[]` says where each posting was
    written (`remote_id`, and `url` to open it where the system has one) or its `issue`."""
    return system.payouts.list_payouts(principal, connection_id, limit)
