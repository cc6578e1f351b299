"""The set-up steps that come before a connection exists: log in to the accounting system
and list what the user can connect (for Uniconta: its companies)."""

from __future__ import annotations

from typing import Any

import httpx

from ledgerbridge.connectors.base import AuthenticationFailed, ConnectorError
from ledgerbridge.connectors.registry import SYSTEMS
from ledgerbridge.connectors.uniconta import setup as uniconta_setup
from ledgerbridge.engine.quota import QuotaLedger
from ledgerbridge.services.errors import Invalid
from ledgerbridge.services.tenancy import Principal


class SetupService:
    def __init__(self, ledger: QuotaLedger, transport: httpx.BaseTransport | None = None) -> None:
        self._ledger = ledger
        self._transport = transport

    def uniconta_login(
        self, principal: Principal, username: str, password: str, base_url: str | None
    ) -> dict[str, Any]:
        """Step 1 of the Uniconta set-up: who is this user, and which companies can it
        reach. A user that is not a Server user is refused here, with the fix."""
        principal.require_admin("setting up an integration")
        spec = SYSTEMS["uniconta"]
        key = spec.credential_key({"base_url": base_url or "", "username": username})

        def meter(calls: int) -> None:
            self._ledger.consume(key, spec.daily_call_limit, spec.quota_timezone, calls)

        try:
            result = uniconta_setup.login(username, password, meter, base_url, self._transport)
        except AuthenticationFailed as exc:
            raise Invalid(f"{exc}: check the user name and password", field="password") from exc
        except ConnectorError as exc:
            raise Invalid(f"could not reach Uniconta: {exc}", field="base_url") from exc
        if not result.is_server_user:
            raise Invalid(
                uniconta_setup.SERVER_USER_NEEDED.format(
                    user=username, kind=result.user.get("UserType") or "Standard"
                ),
                field="username",
            )
        return {
            "user": {
                "login": result.user.get("LoginId") or username,
                "type": result.user.get("UserType"),
                "roles": list(result.user.get("Roles") or []),
            },
            "companies": [
                {
                    "company_id": c.get("CompanyId"),
                    "name": c.get("Name"),
                    "country": c.get("Country"),
                    "currency": c.get("CurrencyId"),
                }
                for c in result.companies
            ],
            "invoices_possible": result.has_reseller_role,
            "warnings": result.warnings,
        }
