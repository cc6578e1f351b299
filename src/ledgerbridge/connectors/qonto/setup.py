"""The Qonto set-up checks: the credentials reach an organization (one call). Each refusal names
the field to fix."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from ledgerbridge.connectors.base import CallMeter, SetupRefused, Verified
from ledgerbridge.connectors.qonto.client import DEFAULT_BASE_URL, QontoClient


def authorization(secrets: Mapping[str, Any]) -> str:
    """The ``Authorization`` value: an OAuth access token, else the API key as Qonto wants it
    (``<organization-slug>:<secret-key>``, no scheme, no Base64)."""
    token = secrets.get("access_token")
    if token:
        return f"Bearer {token}"
    key = str(secrets.get("api_key") or "")
    if ":" not in key:
        raise SetupRefused(
            "Qonto needs an API key of the form <organization-slug>:<secret-key> (Settings → "
            "Integrations → API key in the Qonto app), or a login to Qonto",
            field="secrets.api_key",
        )
    return key


def check_settings(settings: Mapping[str, Any]) -> None:
    """Settings alone: a base URL, when given, is an HTTP(S) URL."""
    base_url = settings.get("base_url")
    if base_url is not None and not str(base_url).startswith(("https://", "http://")):
        raise SetupRefused("settings.base_url must be an http(s) URL", field="settings.base_url")


def verify(
    settings: Mapping[str, Any],
    secrets: Mapping[str, Any],
    meter: CallMeter,
    transport: httpx.BaseTransport | None = None,
) -> Verified:
    """Read the organization the credentials reach, and remember its id and slug."""
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
    if not secrets.get("access_token"):
        warnings.append(
            "an API key lets Qonto be read, but Qonto only accepts new clients and invoices "
            "from an OAuth login: log in to Qonto to send customers"
        )
    return Verified(
        settings={
            "organization_id": organization.get("id"),
            "organization_slug": organization.get("slug"),
        },
        warnings=warnings,
    )
