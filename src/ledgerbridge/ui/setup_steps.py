"""The accounting systems' own set-up steps around the generic form (``ui/setup.py``), each
declared once as a ``Wizard``:

- Uniconta: user and password → "Log in" → the form with the user's companies to pick from
  and Uniconta's warnings (no Reseller role) → Save.
- Yuki: API key → the key's domains and administrations → "Confirm administration".
- Tripletex: the form (employee token, environment, expiry date); saving tests the token and
  the notice names the company reached.
- Qonto: the form, then "Log in to Qonto" (OAuth): the login comes back to the connection's
  page, which says whether it worked.

After saving, each goes on to its Entities page (what syncs), then Import.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse

from ledgerbridge.connectors.registry import SYSTEMS
from ledgerbridge.services.errors import Invalid, ServiceError
from ledgerbridge.services.sign_in import Signed
from ledgerbridge.ui.nav import connection_context
from ledgerbridge.ui.setup import form_fields, refused_under_advanced, render_form
from ledgerbridge.ui.web import ChangeDep, SignedDep, UiRoute, redirect, render, system_of
from ledgerbridge.ui.wizard import JSON, Wizard, wizard

router = APIRouter(route_class=UiRoute)


@dataclass(frozen=True)
class Login:
    """A first step that logs in before the connection exists and lists what to pick."""

    fields: tuple[str, ...]
    """The form's inputs it asks (``settings.username``, ``secrets.password``)."""
    intro: str
    button: str
    found: Callable[[Request, Signed, dict[str, str]], Response]
    """Logs in with the given values and renders the form with what it found."""


LOGINS: dict[str, Login] = {}


def entities_next(created: JSON) -> tuple[str, str]:
    return f"/ui/connections/{created['id']}/entities", "Next: choose what syncs."


def login_page(
    request: Request,
    signed: Signed,
    system: str,
    *,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    step = LOGINS[system]
    settings, secrets = form_fields(system)
    by_key = {f"settings.{f.name}": f for f in settings} | {f"secrets.{f.name}": f for f in secrets}
    return render(
        request,
        "setup/login.html",
        {
            "system": system,
            "spec": SYSTEMS[system],
            "step": step,
            "fields": [(key.split(".", 1)[0] + ".", by_key[key]) for key in step.fields],
            "values": values or {},
            "errors": errors or {},
            "advanced_open": refused_under_advanced(errors or {}, list(by_key.values())),
            "options": {},
        },
        status_code=status_code,
        signed=signed,
    )


def _start(system: str) -> Callable[[Request, Signed], Response]:
    return lambda request, signed: login_page(request, signed, system)


def _refused(
    request: Request, signed: Signed, system: str, given: dict[str, str], exc: ServiceError
) -> Response:
    """A refused login back on step 1, the error on its input (the service names the bare
    field: ``password``, ``base_url``)."""
    _, secrets = form_fields(system)
    field = exc.field or "_"
    if field != "_":
        field = ("secrets." if field in {f.name for f in secrets} else "settings.") + field
    kept = {k: v for k, v in given.items() if not k.startswith("secrets.")}
    status = 422 if exc.status == 422 else exc.status
    return login_page(
        request, signed, system, values=kept, errors={field: exc.message}, status_code=status
    )


def _uniconta_found(request: Request, signed: Signed, given: dict[str, str]) -> Response:
    username = given.get("settings.username", "").strip()
    base_url = given.get("settings.base_url", "").strip() or None
    password = given.get("secrets.password", "")
    try:
        found = system_of(request).setup.uniconta_login(
            signed.principal, username, password, base_url
        )
    except ServiceError as exc:
        return _refused(request, signed, "uniconta", given, exc)
    companies = {
        str(c["company_id"]): f"{c['name']} ({c['company_id']})" for c in found["companies"]
    }
    warnings = list(found["warnings"])
    if not companies:
        warnings.append(f"Uniconta user '{username}' reaches no company yet.")
    first = found["companies"][0] if found["companies"] else {}
    values = {
        "name": f"Uniconta – {first.get('name')}" if first else "Uniconta",
        "timezone": SYSTEMS["uniconta"].timezone,
        "settings.username": username,
        "secrets.password": password,
        **({"settings.base_url": base_url} if base_url else {}),
    }
    return render_form(
        request, signed, "uniconta", values=values, options={"company_id": companies},
        warnings=warnings,
    )  # fmt: skip


def _yuki_found(request: Request, signed: Signed, given: dict[str, str]) -> Response:
    access_key = given.get("secrets.access_key", "").strip()
    base_url = given.get("settings.base_url", "").strip() or None
    try:
        if not access_key:
            raise Invalid("paste the API key from Yuki first", field="access_key")
        found = system_of(request).setup.yuki_login(signed.principal, access_key, base_url, None)
    except ServiceError as exc:
        return _refused(request, signed, "yuki", given, exc)
    domains = {d["domain_id"]: d["name"] for d in found["domains"]}
    administrations = {
        a["administration_id"]: f"{d['name']} › {a['name']}"
        + ("" if a["active"] else " (inactive)")
        for d in found["domains"]
        for a in d["administrations"]
    }
    first = next((a for d in found["domains"] for a in d["administrations"]), None)
    values = {
        "name": f"Yuki – {first['name']}" if first else "Yuki",
        "timezone": SYSTEMS["yuki"].timezone,
        "secrets.access_key": access_key,
        "settings.debtor_numbers.next": "10000",
        **({"settings.base_url": base_url} if base_url else {}),
    }
    warnings = [] if administrations else ["This API key reaches no administration."]
    return render_form(
        request, signed, "yuki", values=values,
        options={"domain_id": domains, "administration_id": administrations},
        warnings=warnings,
    )  # fmt: skip


def _tripletex_next(created: JSON) -> tuple[str, str]:
    company = (created["settings"].get("tripletex_company") or {}).get("name")
    url, more = entities_next(created)
    return url, (f"Tripletex company: {company}. " if company else "") + more


def _oauth_next(created: JSON) -> tuple[str, str]:
    if created.get("logged_in"):
        return entities_next(created)
    title = SYSTEMS[created["system"]].title
    return f"/ui/connections/{created['id']}/login", f"Next: log in to {title}."


LOGINS["uniconta"] = Login(
    fields=("settings.username", "secrets.password", "settings.base_url"),
    intro="Log in with the Uniconta user of type Server made for this integration (a "
    "dedicated user: two integrations with one user sign each other out). The next step "
    "lists the companies it reaches.",
    button="Log in",
    found=_uniconta_found,
)
LOGINS["yuki"] = Login(
    fields=("secrets.access_key", "settings.base_url"),
    intro="Paste the API key from Yuki (Settings › Integrations › Webservice). The next step "
    "lists the domains and administrations it reaches.",
    button="Continue",
    found=_yuki_found,
)
wizard(
    Wizard(
        "uniconta",
        start=_start("uniconta"),
        next_page=entities_next,
        options=("post_invoices", "products_master", "item_group"),
    )
)
wizard(
    Wizard(
        "yuki",
        start=_start("yuki"),
        nested=("debtor_numbers",),
        next_page=entities_next,
        options=("contact_types", "import_suppliers", "payment_method"),
        save_label="Confirm administration",
    )
)
wizard(
    Wizard(
        "tripletex",
        nested=("base_urls",),
        next_page=_tripletex_next,
        options=("payment_type_id",),
    )
)
wizard(Wizard("woocommerce", options=("send_service_items", "stock_warehouse", "tax_classes")))
wizard(
    Wizard(
        "qonto",
        system_secrets=frozenset({"access_token", "refresh_token", "webhook_secret"}),
        next_page=_oauth_next,
        options=("vat_groups",),
        with_secrets=("oauth_client_id",),
    )
)


@router.post("/connections/new/{system}/login", response_class=HTMLResponse)
async def log_in_first(request: Request, system: str, signed: ChangeDep) -> Response:
    step = LOGINS.get(system)
    if step is None:
        raise Invalid(f"{system} is set up with its form alone", field="system")
    form = await request.form()
    given = {k: v for k, v in form.items() if isinstance(v, str) and k in step.fields}
    return step.found(request, signed, given)


# --- logging a connection in with OAuth (Qonto) -------------------------------------------


@router.get("/connections/{connection_id}/login", response_class=HTMLResponse)
def oauth_page(
    request: Request, connection_id: str, signed: SignedDep, login: str | None = None
) -> Any:
    """ "Log in to Qonto", and where the login comes back to (``?login=ok|failed``, or
    ``spent`` for a login opened again after it was used or expired)."""
    context = connection_context(request, signed, connection_id, "login")
    spec = context["spec"]
    if spec.oauth is None:
        raise Invalid(f"{spec.title} connections do not log in here", field="system")
    if login == "ok":
        return redirect(f"/ui/connections/{connection_id}/entities", f"Logged in to {spec.title}.")
    failed = context["connection"]["last_error"] if login == "failed" else None
    return render(
        request, "connection/login.html",
        {**context, "failed": failed, "spent": login == "spent", "authorize_url": None},
        signed=signed,
        status_code=422 if failed else 200,
    )  # fmt: skip


@router.post("/connections/{connection_id}/login", response_class=HTMLResponse)
def start_oauth(request: Request, connection_id: str, signed: ChangeDep) -> Response:
    """A fresh login, then a link to the system's login page: the pages' CSP lets a form post
    to this site only (``form-action 'self'``), which a redirect to the system would break."""
    started = system_of(request).oauth.authorize(
        signed.principal, connection_id, return_to=f"/ui/connections/{connection_id}/login"
    )
    context = connection_context(request, signed, connection_id, "login")
    response = render(
        request, "connection/login.html",
        {**context, "failed": None, "spent": False, "authorize_url": started["authorize_url"]},
        signed=signed,
    )  # fmt: skip
    response.headers["cache-control"] = "no-store"
    return response
