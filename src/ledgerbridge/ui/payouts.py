"""An acquirer's or POS's payouts: each with its lines matched to invoices or left on the
error account, and the cash-journal postings PayMatch made, with a link to each in the
accounting system."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from ledgerbridge.ui.nav import connection_context, tab
from ledgerbridge.ui.web import SignedDep, UiRoute, render, system_of

router = APIRouter(route_class=UiRoute)
tab("Payouts", "payouts", 45, applies=lambda spec: "payout" in spec.entities)

STATE_LABELS = {
    "matched": "Matched",
    "unmatched": "Unmatched lines",
    "waiting": "Waiting for an invoice",
    "not_posted": "Not posted",
    "pending": "Not posted",
}


@router.get("/connections/{connection_id}/payouts", response_class=HTMLResponse)
def payouts_page(request: Request, connection_id: str, signed: SignedDep) -> Any:
    context = connection_context(request, signed, connection_id, "payouts")
    context["payouts"] = system_of(request).payouts.list_payouts(signed.principal, connection_id)
    context["states"] = STATE_LABELS
    return render(request, "commerce/payouts.html", context, signed=signed)
