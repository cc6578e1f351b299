"""The Qonto set-up checks: the credentials reach an organization (one call). Each refusal names
the field to fix."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from ledgerbridge.connectors.base import AuthenticationFailed, CallMeter, SetupRefused, Verified
from ledgerbridge.connectors.kit.wiring import Settings, Transport
from ledgerbridge.connectors.qonto.client import API_KEY_FORM, DEFAULT_BASE_URL, QontoClient


def authorization(secrets: Mapping[str, Any]) -> str:
    """The ``Authorization`` value of an API key as Qonto wants it (``<organization-slug>:
    <secret-key>``, no scheme, no Base64)."""
    key = str(secrets.get("api_key") or "")
    if ":" not in key:
        raise AuthenticationFailed(
            "the connection is not logged in to Qonto: log in to Qonto, or give an API key; "
            f"{API_KEY_FORM}"
        )
    return key


def logged_in(secrets: Mapping[str, Any]) -> bool:
    """Whether the secrets hold an OAuth login (tokens)."""
    return bool(secrets.get("access_token") or secrets.get("refresh_token"))


LOG_IN = (
    "the connection is saved but not logged in to Qonto yet: log in to Qonto to finish it "
    "(the connection's Log in to Qonto)"
)
NO_LOGIN = (
    "to log in to Qonto, give the OAuth client ID and client secret of your Qonto app; or an "
    f"API key: {API_KEY_FORM}"
)


def oauth_app_given(settings: Settings, secrets: Settings) -> bool:
    """Whether the set-up names the app a person logs in to Qonto with: its client ID and
    secret go together, so one without the other is refused on the one missing rather than
    saved to fail at the login."""
    client_id, client_secret = settings.get("oauth_client_id"), secrets.get("oauth_client_secret")
    if client_id and not client_secret:
        raise SetupRefused(
            "give the OAuth client secret Qonto issued with this client ID",
            field="secrets.oauth_client_secret",
        )
    if client_secret and not client_id:
        raise SetupRefused(
            "give the OAuth client ID that goes with this client secret",
            field="settings.oauth_client_id",
        )
    return bool(client_id)


def verify(
    settings: Settings, secrets: Settings, meter: CallMeter, transport: Transport = None
) -> Verified:
    """Read the organization the credentials reach, and remember its id and slug. A connection
    that will log in with OAuth is saved first, and reaches Qonto once the user has logged in."""
    if logged_in(secrets):
        value = f"Bearer {secrets.get('access_token')}"
    elif not secrets.get("api_key"):
        if not oauth_app_given(settings, secrets):
            raise SetupRefused(NO_LOGIN, field="settings.oauth_client_id")
        return Verified(settings={}, warnings=[LOG_IN])
    else:
        value = authorization(secrets)
    client = QontoClient(
        base_url=str(settings.get("base_url") or DEFAULT_BASE_URL),
        authorization=lambda: value,
        meter=meter,
        staging_token=secrets.get("staging_token"),
        transport=transport,
    )
    try:
        organization = client.organization()
    finally:
        client.close()
    warnings: list[str] = []
    if not logged_in(secrets):
        warnings.append(
            "an API key lets Qonto be read, but Qonto only accepts new clients and invoices "
            "from an OAuth login: log in to Qonto to send customers"
        )
    return Verified(
        settings={
            "organization_id": organization.get("id"),
            "organization_slug": organization.get("slug"),
            "organization_country": organization.get("legal_country"),
            "iban": main_iban(organization),
        },
        warnings=warnings,
    )


NO_VAT_GROUPS = (
    "invoices are switched on, but no VAT group is set: every invoice would wait with "
    "vat_group_missing, as VAT rates are matched to VAT groups by percentage and country; add "
    "the VAT groups the invoices use to settings.vat_groups (code, rate and country) first"
)


def status_warnings(settings: Mapping[str, Any], today: date) -> list[str]:
    """Invoices or credit notes switched on without a VAT group cannot sync at all: the status
    and the import's preflight say so before any invoice is tried."""
    entities = settings.get("entities") or {}
    invoiced = any((entities.get(s) or {}).get("enabled") for s in ("invoices", "credit_notes"))
    return [NO_VAT_GROUPS] if invoiced and not settings.get("vat_groups") else []


def main_iban(organization: Mapping[str, Any]) -> str | None:
    """The IBAN invoices are paid to: the organization's main account."""
    accounts = list(organization.get("bank_accounts") or [])
    main = next((a for a in accounts if a.get("main")), accounts[0] if accounts else {})
    iban = main.get("iban")
    return str(iban) if iban else None
