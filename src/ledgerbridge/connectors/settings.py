"""What every system's connection settings share: the stream choices, the schedules, the call
budget and the base URL. Each system's ``settings.py`` extends ``ConnectionSettings`` with its
own fields, and its secrets model lists the secrets a user may give.

The models validate what a user sends (unknown keys are refused, so a typo is not silently
ignored); the stored settings keep only what was given, so a system's defaults stay its own.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from croniter import CroniterBadDateError, croniter
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

DIRECTIONS = ("both", "inbound", "outbound")
Direction = Literal["both", "inbound", "outbound"]


def _url(value: str) -> str:
    if not value.lower().startswith(("https://", "http://")):
        raise ValueError("must be an http(s) URL")
    return value


def _cron(value: str) -> str:
    if len(value.split()) != 5 or not croniter.is_valid(value):
        raise ValueError("must be a 5-field cron expression, e.g. '0 */6 * * *'")
    try:
        croniter(value).get_next()
    except CroniterBadDateError:
        raise ValueError("never runs (no such date)") from None
    return value


Url = Annotated[str, AfterValidator(_url)]
Cron = Annotated[str, AfterValidator(_cron)]
Text = Annotated[str, Field(min_length=1, max_length=500)]
Name = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^(\*|[a-z][a-z0-9_]*)$")]
ConflictRule = Literal["accounting", "app", "latest", "hold"]
PathKind = Literal["folder", "image"]
"""What a path a setting names must be: a folder the hub watches, or an image for a PDF."""


EXPIRY_SUFFIX = "_expires_on"
"""A setting that dates a credential (Tripletex's ``employee_token_expires_on``): asked with
the secrets, since a new token comes with a new date, and refused when a date given is not
after today (a credential stops working on that date)."""


READ_FROM_SYSTEM: dict[str, Any] = {"x-read-from-system": True}
"""A setting the connection reads from the system when it is saved without it (a shop's price
basis), which a user may still give through the API: a form does not ask for it, since an
empty box would be an answer."""


class Strict(BaseModel):
    """Unknown keys are refused: a misspelt setting would otherwise do nothing, silently. An id
    given as a number is kept as text (``"domain_id": 42``)."""

    model_config = ConfigDict(extra="forbid", coerce_numbers_to_str=True)


class StreamChoice(Strict):
    """A connection's choice for one stream (``settings.entities.<stream>``)."""

    enabled: bool | None = Field(
        None, description="Whether the stream syncs; absent: the system's default"
    )
    direction: Direction = Field(
        "both", description="both, inbound (system → hub) or outbound (hub → system)"
    )


class ConnectionSettings(Strict):
    """Settings every system has."""

    learned: ClassVar[frozenset[str]] = frozenset()
    """Settings the hub stores itself when it checks the credentials (who the user is, the
    organisation reached): shown, never given."""
    paths: ClassVar[dict[str, PathKind]] = {}
    """Settings naming a path on the hub's server (dotted: ``invoice_mail.logo_path``) and
    what it must be: checked when given (``connectors.kit.paths``), not when only read."""

    base_url: Url | None = Field(None, description="Another host for the system's API")
    entities: dict[str, StreamChoice] = Field(
        default_factory=dict, description="Per stream: enabled and direction"
    )
    schedules: dict[str, Cron] = Field(
        default_factory=dict,
        description="Per scheduled job kind: a cron expression in the connection's time zone "
        "that replaces the default",
    )
    daily_call_limit: int | None = Field(
        None, ge=1, description="Calls a day this connection's credentials may make"
    )
    page_size: int | None = Field(None, ge=1, le=10_000, description="Records read per call")
    conflicts: dict[Name, dict[Name, ConflictRule]] = Field(
        default_factory=dict,
        description="Per entity and field (or '*' for every field): which side wins when both "
        "changed the field between two syncs: accounting, app, latest (the later change) or "
        "hold (a person decides). Without a rule a read takes the system's value and a push "
        "sends the app's",
    )


class NoSecrets(Strict):
    """A system whose connections need no secret from the user."""


def schema_of(model: type[BaseModel]) -> dict[str, Any]:
    """The JSON Schema a client builds its form from; learned settings are marked read-only."""
    schema = model.model_json_schema()
    learned: frozenset[str] = getattr(model, "learned", frozenset())
    for name in learned:
        schema.get("properties", {}).get(name, {})["readOnly"] = True
    return schema
