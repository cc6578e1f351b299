"""The Tripletex set-up checks: the pasted employee token works in the chosen environment
(each troubleshooting case with its own message), and its expiry date is watched.

Consumer tokens belong to the installation, one per environment
(``LEDGERBRIDGE_TRIPLETEX_CONSUMER_TOKEN``, ``LEDGERBRIDGE_TRIPLETEX_TEST_CONSUMER_TOKEN``), and
reach a connection as the secrets ``consumer_token`` and ``test_consumer_token``; the tenant only
pastes its employee token.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from ledgerbridge.connectors.base import CallMeter, ConnectorError, SetupRefused, Verified
from ledgerbridge.connectors.kit.wiring import Settings, Transport
from ledgerbridge.connectors.tripletex.client import (
    CONSUMER_SETTINGS,
    ENVIRONMENTS,
    TokenRefused,
    TripletexClient,
    base_url,
)
from ledgerbridge.connectors.tripletex.statistics import METRICS, shared_customers, valid_rule

DEFAULT_WARNING_DAYS = 14
WHITESPACE_TRIMMED = (
    "The pasted employee token had leading or trailing whitespace; it was trimmed and the "
    "trimmed token is used. Copy tokens directly from Tripletex's API-tilgang panel."
)


def client_for(
    settings: Settings,
    secrets: Settings,
    meter: CallMeter,
    transport: Transport = None,
    environment: str | None = None,
    **extra: Any,
) -> TripletexClient:
    """A client for the connection's environment (or another one, to diagnose a token), with
    the installation's consumer token for that environment."""
    env = environment or str(settings.get("environment") or "production")
    consumer = (env == "test" and secrets.get("test_consumer_token")) or secrets.get(
        "consumer_token"
    )
    if not consumer:
        raise SetupRefused(
            f"this installation has no Tripletex consumer token for the {env} environment: "
            f"set {CONSUMER_SETTINGS[env]}",
            field="secrets.consumer_token",
        )
    return TripletexClient(
        base_url=base_url(settings, env),
        environment=env,
        consumer_token=str(consumer),
        employee_token=str(secrets["employee_token"]),
        meter=meter,
        transport=transport,
        **extra,
    )


def verify(
    settings: Settings, secrets: Settings, meter: CallMeter, transport: Transport = None
) -> Verified:
    """Test connection: a session from the tokens, then who am I (the company's name).
    A token unknown in the chosen environment is tried in the other one, to say which."""
    warnings: list[str] = []
    token = str(secrets["employee_token"])
    if token != token.strip():
        warnings.append(WHITESPACE_TRIMMED)
    client = client_for(settings, secrets, meter, transport)
    try:
        me = client.who_am_i()
    except TokenRefused as exc:
        if "does not know" in str(exc) or exc.field == "settings.environment":
            _diagnose_environment(settings, secrets, meter, transport, client.environment)
        raise SetupRefused(str(exc), field=exc.field) from exc
    finally:
        client.close()
    company = me.get("company") or {}
    return Verified(
        settings={
            "tripletex_company": {"id": company.get("id"), "name": company.get("name")},
            "tripletex_employee_id": me.get("employeeId"),
        },
        warnings=warnings,
    )


def check_links(
    settings: Settings, secrets: Settings, meter: CallMeter, transport: Transport = None
) -> None:
    """Every Tripletex customer a client is linked to (``settings.client_links``) is one of
    the firm's: one call, and one more for those not among the active customers."""
    wanted = sorted({str(customer) for customer in (settings.get("client_links") or {}).values()})
    if not wanted:
        return
    client = client_for(settings, secrets, meter, transport)
    try:
        found: set[str] = set()
        for extra in ({}, {"isInactive": "true"}):
            missing = [c for c in wanted if c not in found]
            if not missing:
                break
            query = {"id": ",".join(missing), "fields": "id", **extra}
            found |= {str(c["id"]) for c in client.list_all("/customer", query)}
    finally:
        client.close()
    unknown = [c for c in wanted if c not in found]
    if unknown:
        raise SetupRefused(
            f"settings.client_links names Tripletex customer {', '.join(unknown)}, which this "
            "firm does not have: pick each client's customer from the connection's list of "
            "customers (lists/customers)",
            field="settings.client_links",
        )


def _diagnose_environment(
    settings: Settings, secrets: Settings, meter: CallMeter, transport: Transport, chosen: str
) -> None:
    """Raises a wrong-environment refusal when the token works in the other environment."""
    other = next(env for env in ENVIRONMENTS if env != chosen)
    probe = client_for(settings, secrets, meter, transport, environment=other)
    try:
        probe.session_token()
    except ConnectorError:
        return  # refused there too, or not reached: the refusal in the chosen one stands
    finally:
        probe.close()
    raise SetupRefused(
        f"This employee token belongs to the Tripletex {other} environment, but {chosen} is "
        f"selected: choose {other} (test tokens never work against production, and vice "
        "versa).",
        field="settings.environment",
    )


def check_settings(settings: Mapping[str, Any]) -> None:
    """The environment, the token's expiry date, the warning lead time and the client links
    are well formed."""
    environment = settings.get("environment", "production")
    if environment not in ENVIRONMENTS:
        raise SetupRefused(
            f"settings.environment must be one of {', '.join(ENVIRONMENTS)}",
            field="settings.environment",
        )
    expires = settings.get("employee_token_expires_on")
    if expires is not None:
        try:
            date.fromisoformat(str(expires))
        except ValueError:
            raise SetupRefused(
                "settings.employee_token_expires_on must be a date (YYYY-MM-DD): the expiry "
                "date chosen when the token was generated",
                field="settings.employee_token_expires_on",
            ) from None
    links = settings.get("client_links", {})
    if not isinstance(links, dict) or not all(
        isinstance(party, str) and str(customer).isdigit() for party, customer in links.items()
    ):
        raise SetupRefused(
            "settings.client_links maps each client (hub party id) to the id of its Tripletex "
            'customer, e.g. {"<party id>": "1000051"}',
            field="settings.client_links",
        )
    shared = shared_customers(links)
    if shared:
        customer, parties = next(iter(shared.items()))
        raise SetupRefused(
            f"clients {' and '.join(parties)} are all linked to Tripletex customer {customer}; "
            "a customer's statistics belong to one client: link each client to its own "
            "customer",
            field="settings.client_links",
        )
    _check_summary(settings.get("summary") or {})
    days = settings.get("token_warning_days", DEFAULT_WARNING_DAYS)
    if not isinstance(days, int) or isinstance(days, bool) or not 0 <= days <= 365:
        raise SetupRefused(
            "settings.token_warning_days must be a whole number of days (0-365)",
            field="settings.token_warning_days",
        )


NO_FIELD_MAPPED = (
    "no work statistic is mapped to a custom task field, so no monthly summary is imported: "
    "configure the data fields (settings.summary.fields, GET /connections/{id}/data-fields) "
    "with the summary's title, topic and import day, then wait for the import day or Reload "
    "data to back-fill the last 12 months"
)
NO_CLIENT_LINKED = (
    "no client is linked to its Tripletex customer, so no monthly summary is imported: link "
    "each client (settings.client_links, the customers from GET /connections/{id}/lists/"
    "customers), then wait for the import day or Reload data to back-fill the last 12 months"
)


def status_warnings(settings: Mapping[str, Any], today: date) -> list[str]:
    """What the connection's status and its daily ``connection.warning`` say: the token about
    to expire, clients sharing a Tripletex customer (saved before that was refused), and,
    while monthly summaries are read, what keeps them from arriving (a connection that tests
    well imports none until a data field is mapped and a client linked)."""
    warnings = token_warnings(settings, today)
    statistics = ((settings.get("entities") or {}).get("period_statistics") or {}).get("enabled")
    if statistics is not False:
        fields = (settings.get("summary") or {}).get("fields") or {}
        if not any(str(target or "").strip() for target in fields.values()):
            warnings.append(NO_FIELD_MAPPED)
        if not settings.get("client_links"):
            warnings.append(NO_CLIENT_LINKED)
    for customer, parties in shared_customers(settings.get("client_links") or {}).items():
        warnings.append(
            f"clients {' and '.join(parties)} are all linked to Tripletex customer {customer}: "
            f"only {parties[0]} gets its statistics; link the others to their own customers"
        )
    return warnings


def token_warnings(settings: Mapping[str, Any], today: date) -> list[str]:
    """A warning from ``token_warning_days`` days before the employee token expires."""
    expires = settings.get("employee_token_expires_on")
    if not expires:
        return []
    expiry = date.fromisoformat(str(expires))
    days = int(settings.get("token_warning_days", DEFAULT_WARNING_DAYS))
    left = (expiry - today).days
    if left <= 0:
        return [
            f"The Tripletex employee token expired on {expiry.isoformat()}: syncing has "
            "stopped. Generate a new employee token in Tripletex (Selskap → API-tilgang), "
            "paste it, test the connection and save."
        ]
    if left <= days:
        return [
            f"The Tripletex employee token expires on {expiry.isoformat()} (in {left} "
            f"day{'s' if left != 1 else ''}): generate a new one in Tripletex (Selskap → "
            "API-tilgang), paste it, test the connection and save before then."
        ]
    return []


def _check_summary(summary: Any) -> None:
    """Monthly summary settings: title, topic, recurrence (monthly), import day and the
    mapping of statistics to the app's custom fields (blank: not imported)."""
    field = "settings.summary"
    if not isinstance(summary, dict):
        raise SetupRefused("settings.summary must be an object", field=field)
    if summary.get("recurrence", "monthly") != "monthly":
        raise SetupRefused("summaries recur monthly only", field=f"{field}.recurrence")
    if not valid_rule(summary.get("import_day", "last_work_day")):
        raise SetupRefused(
            "settings.summary.import_day is last_work_day, last_calendar_day or a day 1-28 of "
            "the following month",
            field=f"{field}.import_day",
        )
    fields = summary.get("fields") or {}
    unknown = sorted(set(fields) - set(METRICS)) if isinstance(fields, dict) else ["?"]
    if unknown:
        raise SetupRefused(
            f"unknown statistics {', '.join(unknown)}; known: {', '.join(METRICS)}",
            field=f"{field}.fields",
        )
    targets = [str(t).strip() for t in fields.values() if t is not None and str(t).strip()]
    shared = sorted({t for t in targets if targets.count(t) > 1})
    if shared:
        raise SetupRefused(
            f"custom field {', '.join(shared)} is mapped from more than one statistic; each "
            "custom field holds one figure",
            field=f"{field}.fields",
        )
