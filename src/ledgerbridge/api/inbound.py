"""Callbacks from accounting systems (Uniconta's Change URL, Qonto's webhooks). The secret
token in the path authenticates the caller, and a signed callback's signature is checked too;
the event is stored before the answer, then processed by a job."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request

from ledgerbridge.api.deps import SystemDep
from ledgerbridge.connectors.base import CallbackRefused

router = APIRouter(prefix="/inbound", tags=["inbound"])


@router.api_route("/{connection_id}/{token}", methods=["GET", "POST"], status_code=200)
async def receive(
    connection_id: str, token: str, request: Request, system: SystemDep
) -> dict[str, str]:
    body = await request.body()
    from starlette.concurrency import run_in_threadpool

    try:
        stored = await run_in_threadpool(
            system.connections.receive,
            connection_id,
            token,
            dict(request.query_params),
            body,
            dict(request.headers),
        )
    except CallbackRefused as exc:
        raise HTTPException(status_code=401, detail=f"callback refused: {exc}") from exc
    if not stored:
        raise HTTPException(status_code=404, detail="unknown callback URL")
    return {"status": "accepted"}
