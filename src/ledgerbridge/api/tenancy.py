"""Users, API keys and webhook subscriptions of the caller's tenant."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from ledgerbridge.api.deps import PrincipalDep, SystemDep

router = APIRouter()


class UserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: str
    role: Literal["owner", "admin", "member"] = "member"


class KeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200, description="Where the key is used")


class KeyView(BaseModel):
    id: str
    name: str
    user_id: str
    email: str
    role: str
    created_at: str
    last_used_at: str | None
    revoked_at: str | None


class DeliveryView(BaseModel):
    id: str
    subscription_id: str
    event: str
    status: str = Field(description="pending, delivered or failed")
    attempts: int
    last_status_code: int | None
    last_error: str | None
    created_at: str
    next_attempt_at: str | None
    delivered_at: str | None


class WebhookCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str
    events: list[str] = Field(
        default_factory=lambda: ["*"],
        description="e.g. party.created, invoice.updated, connection.import_completed; * for all",
    )


@router.get("/users", tags=["tenancy"])
def list_users(principal: PrincipalDep, system: SystemDep) -> Any:
    return system.tenancy.list_users(principal)


@router.post("/users", status_code=201, tags=["tenancy"])
def add_user(body: UserCreate, principal: PrincipalDep, system: SystemDep) -> Any:
    """Adds a user and returns their first API key (shown once)."""
    issued = system.tenancy.add_user(principal, body.email, body.role)
    return {"user_id": issued.user_id, "key_id": issued.key_id, "api_key": issued.api_key}


@router.get("/api-keys", response_model=list[KeyView], tags=["tenancy"])
def list_keys(principal: PrincipalDep, system: SystemDep) -> Any:
    """Every key of the tenant with its holder, when it was last used and whether it is
    revoked; never the key itself."""
    return system.tenancy.list_keys(principal)


@router.post("/api-keys", status_code=201, tags=["tenancy"])
def create_key(body: KeyCreate, principal: PrincipalDep, system: SystemDep) -> Any:
    """A new key for the caller (shown once): to rotate, switch to it, then revoke the old."""
    issued = system.tenancy.create_key(principal, body.name)
    return {"key_id": issued.key_id, "api_key": issued.api_key}


@router.delete("/api-keys/{key_id}", status_code=204, tags=["tenancy"])
def revoke_key(key_id: str, principal: PrincipalDep, system: SystemDep) -> Response:
    system.tenancy.revoke_key(principal, key_id)
    return Response(status_code=204)


@router.get("/webhooks", tags=["webhooks"])
def list_webhooks(principal: PrincipalDep, system: SystemDep) -> Any:
    return system.webhooks.list_subscriptions(principal)


@router.post("/webhooks", status_code=201, tags=["webhooks"])
def subscribe(body: WebhookCreate, principal: PrincipalDep, system: SystemDep) -> Any:
    """Returns the signing secret once: verify `X-Ledgerbridge-Signature` with it."""
    return system.webhooks.subscribe(principal, body.url, body.events)


@router.delete("/webhooks/{subscription_id}", status_code=204, tags=["webhooks"])
def unsubscribe(subscription_id: str, principal: PrincipalDep, system: SystemDep) -> Response:
    system.webhooks.unsubscribe(principal, subscription_id)
    return Response(status_code=204)


@router.get(
    "/webhooks/{subscription_id}/deliveries", response_model=list[DeliveryView], tags=["webhooks"]
)
def deliveries(
    subscription_id: str,
    principal: PrincipalDep,
    system: SystemDep,
    limit: int = Query(100, ge=1, le=1000),
) -> Any:
    """The subscription's deliveries, newest first."""
    return system.webhooks.deliveries(principal, subscription_id, limit)


@router.post(
    "/webhooks/{subscription_id}/ping",
    status_code=202,
    response_model=DeliveryView,
    tags=["webhooks"],
)
def ping(subscription_id: str, principal: PrincipalDep, system: SystemDep) -> Any:
    """Queue a signed `ping` event to this subscription through the normal outbox."""
    return system.webhooks.ping(principal, subscription_id)


@router.post(
    "/webhooks/deliveries/{delivery_id}/redeliver",
    status_code=202,
    response_model=DeliveryView,
    tags=["webhooks"],
)
def redeliver(delivery_id: str, principal: PrincipalDep, system: SystemDep) -> Any:
    """Send a failed delivery again, its attempts counted afresh."""
    return system.webhooks.redeliver(principal, delivery_id)
