"""Users and API keys of the tenant: who has which role, every key with when it was last used,
adding a user or a key (the key is shown once, with a copy button), revoking a key. The
service's rules apply (an admin cannot add an owner nor revoke an owner's key)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request, Response
from fastapi.responses import HTMLResponse

from ledgerbridge.services.errors import Conflict, Invalid
from ledgerbridge.services.sign_in import Signed
from ledgerbridge.services.tenancy import ROLES, IssuedKey
from ledgerbridge.ui.nav import menu
from ledgerbridge.ui.web import ChangeDep, SignedDep, UiRoute, redirect, render, system_of

router = APIRouter(route_class=UiRoute)
menu("Users & keys", "/ui/settings/users", 80)
PAGE = "/ui/settings/users"


def _page(
    request: Request,
    signed: Signed,
    *,
    issued: IssuedKey | None = None,
    issued_for: str | None = None,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    system = system_of(request)
    users = system.tenancy.list_users(signed.principal)
    keys = system.tenancy.list_keys(signed.principal)
    active = {u["id"]: sum(1 for k in keys if k["user_id"] == u["id"] and not k["revoked_at"])
              for u in users}  # fmt: skip
    roles = [r for r in ROLES if r != "owner" or signed.principal.role == "owner"]
    return render(
        request,
        "settings/users.html",
        {"users": users, "keys": keys, "active_keys": active, "roles": roles, "issued": issued,
         "issued_for": issued_for, "errors": errors or {}, "values": values or {}},
        status_code=status_code,
        signed=signed,
    )  # fmt: skip


@router.get("/settings/users", response_class=HTMLResponse)
def users_page(request: Request, signed: SignedDep) -> Any:
    return _page(request, signed)


@router.post("/settings/users", response_class=HTMLResponse)
def add_user(
    request: Request,
    signed: ChangeDep,
    email: Annotated[str, Form()] = "",
    role: Annotated[str, Form()] = "member",
) -> Response:
    """The new user's first key is shown in this answer only (never stored in clear)."""
    try:
        issued = system_of(request).tenancy.add_user(signed.principal, email, role)
    except (Invalid, Conflict) as exc:
        return _page(
            request, signed, errors={exc.field or "email": exc.message},
            values={"email": email, "role": role}, status_code=exc.status,
        )  # fmt: skip
    return _page(request, signed, issued=issued, issued_for=email.strip().lower())


@router.post("/settings/api-keys", response_class=HTMLResponse)
def create_key(request: Request, signed: ChangeDep, name: Annotated[str, Form()] = "") -> Response:
    try:
        issued = system_of(request).tenancy.create_key(signed.principal, name)
    except (Invalid, Conflict) as exc:
        return _page(
            request, signed, errors={"key_" + (exc.field or "name"): exc.message},
            values={"key_name": name}, status_code=exc.status,
        )  # fmt: skip
    return _page(request, signed, issued=issued, issued_for=signed.email)


@router.post("/settings/api-keys/{key_id}/revoke", response_class=HTMLResponse)
def revoke_key(request: Request, key_id: str, signed: ChangeDep) -> Response:
    system_of(request).tenancy.revoke_key(signed.principal, key_id)
    return redirect(PAGE, "API key revoked: it no longer opens the API or the UI.")
