"""The Uniconta set-up checks: who the user is, which companies it reaches, which VAT codes
the company has. Each check answers with a message a user can act on."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import httpx

from ledgerbridge.connectors.base import JSON, CallMeter, CodeKind, SetupRefused, Verified
from ledgerbridge.connectors.kit.wiring import Settings, Transport
from ledgerbridge.connectors.uniconta.client import (
    DEFAULT_BASE_URL,
    NoCompanyAccess,
    UnicontaClient,
)
from ledgerbridge.connectors.uniconta.mapping import COMMON_UNITS

SERVER_USER_NEEDED = (
    "Uniconta user '{user}' is a {kind} user. Integrations need a user of type Server "
    "(Uniconta › Users › User type): create a dedicated Server user for this integration."
)
RESELLER_NEEDED = (
    "Uniconta user '{user}' lacks the Reseller role, which invoice sync needs: invoices cannot "
    "be enabled until the role is assigned in Uniconta."
)


@dataclass
class Login:
    user: JSON
    companies: list[JSON]
    warnings: list[str] = field(default_factory=list)

    @property
    def is_server_user(self) -> bool:
        return str(self.user.get("UserType", "")) == "Server"

    @property
    def has_reseller_role(self) -> bool:
        return "Reseller" in (self.user.get("Roles") or [])


def login(
    username: str,
    password: str,
    meter: CallMeter,
    base_url: str | None = None,
    transport: httpx.BaseTransport | None = None,
    company_id: int | None = None,
) -> Login:
    """Log in and list the companies; two calls. Without ``company_id`` the login is the
    plain user name (no company chosen yet); with it, the login a connection's runs use."""
    client = UnicontaClient(
        base_url=base_url or DEFAULT_BASE_URL,
        company_id=company_id or 0,
        username=username,
        password=password,
        meter=meter,
        transport=transport,
        company_in_login=company_id is not None,
    )
    try:
        result = Login(user=client.user(), companies=client.companies())
    finally:
        client.close()
    if not result.has_reseller_role:
        result.warnings.append(RESELLER_NEEDED.format(user=username))
    return result


def verify(
    settings: Settings, secrets: Settings, meter: CallMeter, transport: Transport = None
) -> Verified:
    """Checks made when a connection is saved: a Server user (refused otherwise), with access
    to the chosen company, and whether it has the Reseller role invoices need. Made with the
    login the runs use (``00<company_id>/<username>``), so that saved credentials work; a
    user without rights to the company logs in without it to say which companies it has."""
    username, password = str(settings["username"]), str(secrets["password"])
    base_url = settings.get("base_url")
    try:
        result = login(username, password, meter, base_url, transport, int(settings["company_id"]))
    except NoCompanyAccess:
        result = login(username, password, meter, base_url, transport)
    if not result.is_server_user:
        raise SetupRefused(
            SERVER_USER_NEEDED.format(
                user=settings["username"], kind=result.user.get("UserType") or "Standard"
            ),
            field="settings.username",
        )
    reachable = {int(c["CompanyId"]) for c in result.companies if c.get("CompanyId") is not None}
    if int(settings["company_id"]) not in reachable:
        raise SetupRefused(
            f"Uniconta user '{settings['username']}' has no access to company "
            f"{settings['company_id']}; it reaches {sorted(reachable)}",
            field="settings.company_id",
        )
    return Verified(
        settings={
            "uniconta_user": {
                "type": result.user.get("UserType"),
                "roles": list(result.user.get("Roles") or []),
            }
        },
        warnings=result.warnings,
    )


def check_settings(settings: Mapping[str, Any]) -> None:
    """Invoice sync needs the Reseller role (checked when invoices are enabled)."""
    invoices = (settings.get("entities") or {}).get("invoices") or {}
    roles = (settings.get("uniconta_user") or {}).get("roles")
    if invoices.get("enabled") and roles is not None and "Reseller" not in roles:
        raise SetupRefused(
            RESELLER_NEEDED.format(user=settings.get("username")),
            field="settings.entities.invoices",
        )


CODE_TABLES: dict[CodeKind, tuple[str, str, str]] = {
    "journal": ("GLDailyJournalClient", "Journal", "journal"),
    "account": ("GLAccountClient", "Account", "GL account"),
    "payment_term": ("PaymentTermClient", "Payment", "payment term"),
    "customer_group": ("DebtorGroupClient", "Group", "debtor group"),
    "customer": ("DebtorClient", "Account", "debtor"),
    "item": ("InvItemClient", "Item", "item"),
}
"""Where each kind of code a route names lives in Uniconta: entity, key, and its name in
messages."""


def code_missing(kind: CodeKind, code: str) -> str:
    """A code the company lacks, named as Uniconta's users name it (journal, debtor, item), not
    by the API's class."""
    _, _, label = CODE_TABLES[kind]
    return f"{label} '{code}' does not exist in Uniconta"


def vat_codes(client: UnicontaClient) -> list[JSON]:
    """The company's VAT codes, for the mapping screen."""
    return [
        {"code": r.get("Vat"), "name": r.get("Name"), "rate": r.get("Rate"),
         "type": r.get("VatType")}
        for r in client.query("GLVatClient", orderby="Vat")
    ]  # fmt: skip


def streams_needing_vat_mapping(settings: Mapping[str, Any]) -> tuple[str, ...]:
    """Only items read from Uniconta need its VAT codes mapped: invoices (both ways) and the
    items the hub's products are written to carry the company's own codes as they are."""
    return ("products",) if settings.get("products_master", "uniconta") == "uniconta" else ()


def default_units() -> dict[str, str]:
    return dict(COMMON_UNITS)


NO_BOOKING_SERVICE = (
    "no booking service: invoices are left as orders ready to book in Uniconta (Uniconta's "
    "REST API cannot book them); set booking_url to a booking service to book automatically"
)


def status_warnings(settings: Mapping[str, Any], today: date) -> list[str]:
    """A connection that sends invoices without a booking service leaves them as orders for a
    person to book: its status says so, every day, as long as it stays that way."""
    invoices = (settings.get("entities") or {}).get("invoices") or {}
    sends = invoices.get("enabled") and invoices.get("direction", "both") != "inbound"
    return [NO_BOOKING_SERVICE] if sends and not settings.get("booking_url") else []
