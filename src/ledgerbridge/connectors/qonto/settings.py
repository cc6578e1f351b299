"""A Qonto connection's settings and secrets."""

from __future__ import annotations

from decimal import Decimal
from typing import ClassVar

from pydantic import Field

from ledgerbridge.connectors.settings import ConnectionSettings, Strict, Text, Url
from ledgerbridge.model import CountryCode


class VatGroup(Strict):
    """A VAT rate of a country, as Qonto invoices carry it."""

    code: Text = Field(description="The group's code, e.g. FR20")
    rate: Decimal = Field(ge=0, le=100, description="In percent, e.g. 20 or 5.5")
    country: CountryCode = Field(description="ISO 3166 country code, e.g. FR")


class QontoSettings(ConnectionSettings):
    learned: ClassVar[frozenset[str]] = frozenset(
        {"organization_id", "organization_slug", "organization_country", "iban"}
    )

    oauth_url: Url | None = Field(None, description="Qonto's OAuth host")
    oauth_client_id: Text | None = Field(None, description="Needed to log in with OAuth")
    oauth_scope: Text | None = Field(None, description="Scopes asked at login")
    app_url: Url | None = Field(None, description="Qonto's web app, for deep links")
    record_urls: dict[str, str] = Field(
        default_factory=dict, description="Stream → page path with {id}, for deep links"
    )
    vat_groups: list[VatGroup] = Field(
        default_factory=list, description="The VAT groups invoices are matched to"
    )
    unit_mapping: dict[Text, Text] = Field(
        default_factory=dict, description="Qonto unit → hub unit, added to the common ones"
    )
    organization_id: str | None = None
    organization_slug: str | None = None
    organization_country: str | None = None
    iban: str | None = None


class QontoSecrets(Strict):
    """An API key, tokens from a login, or the OAuth client's secret to log in with."""

    api_key: Text | None = Field(None, description="<organization-slug>:<secret-key>")
    access_token: Text | None = None
    refresh_token: Text | None = None
    oauth_client_secret: Text | None = None
    staging_token: Text | None = Field(None, description="Qonto's sandbox staging token")
    webhook_secret: Text | None = None
