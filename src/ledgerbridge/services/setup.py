"""The set-up steps that come before a connection exists: log in to the accounting system
and list what the user can connect (Uniconta: its companies; Yuki: the access key's domains
and their administrations)."""

from __future__ import annotations

from typing import Any

import httpx
from pydantic import TypeAdapter, ValidationError

from ledgerbridge.connectors.base import AuthenticationFailed, ConnectorError, SetupRefused
from ledgerbridge.connectors.kit.http import Unreachable
from ledgerbridge.connectors.registry import SYSTEMS
from ledgerbridge.connectors.settings import Url
from ledgerbridge.connectors.uniconta import setup as uniconta_setup
from ledgerbridge.connectors.yuki import setup as yuki_setup
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
        _check_base_url(base_url)
        if not username.strip():
            raise Invalid("enter the Uniconta user's name", field="username")
        if not password:
            raise Invalid("enter the Uniconta user's password", field="password")
        spec = SYSTEMS["uniconta"]
        key = spec.credential_key({"base_url": base_url or "", "username": username})

        def meter(calls: int) -> None:
            self._ledger.consume(key, spec.daily_call_limit, spec.quota_timezone, calls)

        try:
            result = uniconta_setup.login(username, password, meter, base_url, self._transport)
        except AuthenticationFailed as exc:
            raise Invalid(str(exc), field="password") from exc
        except Unreachable as exc:
            raise Invalid(str(exc), field="base_url") from exc
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

    def yuki_login(
        self,
        principal: Principal,
        access_key: str,
        base_url: str | None,
        domain_id: str | None,
    ) -> dict[str, Any]:
        """Step 1 of the Yuki set-up: the domains the access key reaches and each one's
        administrations, to pick ``settings.domain_id`` and ``settings.administration_id``
        from. The calls count against each domain's daily limit."""
        principal.require_admin("setting up an integration")
        _check_base_url(base_url)
        spec = SYSTEMS["yuki"]

        def meter(domain: str, calls: int) -> None:
            key = spec.credential_key({"base_url": base_url or "", "domain_id": domain})
            self._ledger.consume(key, spec.daily_call_limit, spec.quota_timezone, calls)

        try:
            domains = yuki_setup.login(access_key.strip(), meter, base_url, domain_id)
        except SetupRefused as exc:
            raise Invalid(exc.message, field=exc.field) from exc
        except AuthenticationFailed as exc:
            raise Invalid(
                f"{str(exc).rstrip('.')}; copy the key from Yuki (Settings › Integrations › "
                "Webservice)",
                field="access_key",
            ) from exc
        except Unreachable as exc:
            raise Invalid(str(exc), field="base_url") from exc
        except ConnectorError as exc:
            raise Invalid(f"could not reach Yuki: {exc}", field="base_url") from exc
        return {"domains": domains}


def _check_base_url(base_url: str | None) -> None:
    """A host given for the login is checked as a connection's ``base_url`` is, before any
    call: a mistyped one is named on its field, not as a failed request."""
    if base_url is None:
        return
    try:
        TypeAdapter(Url).validate_python(base_url)
    except ValidationError as exc:
        reason = exc.errors(include_url=False)[0]["ctx"]["error"]
        raise Invalid(f"base_url: {reason}", field="base_url") from None
