"""A Tripletex connection's settings and secrets."""

from __future__ import annotations

from datetime import date
from typing import Annotated, ClassVar, Literal

from pydantic import Field

from ledgerbridge.connectors.settings import ConnectionSettings, Strict, Text, Url

Environment = Literal["production", "test"]


class Summary(Strict):
    """The monthly summary the statistics stream builds per linked client."""

    title: str | None = Field(None, max_length=500, description="Name of the app's summary task")
    topic: str | None = Field(None, max_length=500, description="Topic of the summary task")
    recurrence: Literal["monthly"] = "monthly"
    import_day: (
        Literal["last_work_day", "last_calendar_day"] | Annotated[int, Field(ge=1, le=28)]
    ) = Field(
        "last_work_day",
        description="last_work_day, last_calendar_day, or a day 1-28 of the following month",
    )
    fields: dict[str, str | None] = Field(
        default_factory=dict,
        description="Statistic → the app's custom field (blank: not imported)",
    )
    reload_requested_at: str | None = Field(
        None, max_length=100, description="A new value asks the next statistics job to reload"
    )


class TripletexCompany(Strict):
    id: int | None = None
    name: str | None = None


class TripletexSettings(ConnectionSettings):
    learned: ClassVar[frozenset[str]] = frozenset({"tripletex_company", "tripletex_employee_id"})

    environment: Environment = Field(description="production or test")
    base_urls: dict[Environment, Url] = Field(
        default_factory=dict, description="API root per environment (a sandbox)"
    )
    employee_token_expires_on: date | None = Field(
        None, description="The expiry date chosen when the employee token was generated"
    )
    token_warning_days: int = Field(
        14, ge=0, le=365, description="Warn this many days before the token expires"
    )
    client_links: dict[str, str] = Field(
        default_factory=dict, description="Hub party id → Tripletex customer id"
    )
    summary: Summary | None = None
    payment_type_id: Text | None = Field(
        None, description="Tripletex payment type of payments sent"
    )
    tripletex_company: TripletexCompany | None = None
    tripletex_employee_id: int | None = None


class TripletexSecrets(Strict):
    employee_token: Text = Field(description="The firm's employee token (Selskap → API-tilgang)")
