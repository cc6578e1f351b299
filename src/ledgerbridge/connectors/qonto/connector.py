"""Qonto connector: hub customers as Qonto clients, pushed on every hub change and pulled back
periodically by ``updated_at``.

Reads are incremental: the cursor is ``<updated_at>|<rows already read at that instant>``,
and a read asks for clients updated at or after that instant, oldest first, skipping the rows
already read. Qonto has no uniqueness rule on clients, so every create first searches for the
client by its tax identification number, VAT number, e-mail or name, and each create carries
an idempotency key derived from the hub record and its content.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any, Literal
from urllib.parse import quote

from ledgerbridge.connectors.base import (
    JSON,
    ROW_NOTE,
    CallbackRefused,
    CallMeter,
    ChangeNotice,
    Connector,
    EntityMapping,
    Page,
    RemoteRejected,
)
from ledgerbridge.connectors.kit.cursors import ChangedSince
from ledgerbridge.connectors.kit.wiring import Settings, Transport
from ledgerbridge.connectors.qonto.client import (
    DEFAULT_BASE_URL,
    MAX_PER_PAGE,
    QontoClient,
    idempotency_key,
)
from ledgerbridge.connectors.qonto.mapping import (
    HUB_ID,
    ClientMapping,
    Codes,
    CreditNoteMapping,
    InvoiceMapping,
    client_name,
    content_key,
    currency_note,
    identity_key,
)
from ledgerbridge.connectors.qonto.oauth import TokenKeeper
from ledgerbridge.connectors.qonto.setup import authorization, main_iban

STREAM_ENTITIES: dict[str, str] = {
    "customers": "party",
    "invoices": "invoice",
    "credit_notes": "invoice",
}

RESOURCES: dict[str, tuple[str, str]] = {
    "customers": ("clients", "client"),
    "invoices": ("client_invoices", "client_invoice"),
    "credit_notes": ("credit_notes", "credit_note"),
}
"""Stream → (Qonto resource path and list key, single-record wrapper)."""

CHANGE_FILTERS = {"invoices": "updated_at", "credit_notes": "created_at"}
"""Streams read by a change time Qonto cannot sort on: every page of the records changed
since the last read, in creation order (credit notes never change once made)."""

WEBHOOK_STREAMS = {"v1/clients": "customers", "v1/client-invoices": "invoices"}
"""Webhook event types → stream."""

INVOICE_LOOKBACK = timedelta(days=7)
"""How far back a lost invoice create is looked for: the next push resolves it within minutes,
a week covers a long outage without reading the whole history."""

KEY_FILTERS = {"tin": "tax_identification_number", "vat": "vat_number", "email": "email"}
"""Identity key prefix → the exact ``GET /v2/clients`` filter it is searched with."""


def parse_cursor(after: str | None) -> tuple[str | None, int]:
    """``<updated_at>|<rows read at it>`` → its parts (no cursor: from the beginning)."""
    if not after:
        return None, 0
    moment, _, seen = after.partition("|")
    return moment or None, int(seen or 0)


class QontoConnector(Connector):
    system = "qonto"
    default_streams = frozenset({"customers"})
    """Invoices and credit notes need VAT groups (and maybe units) mapped first, so they are
    switched on explicitly."""

    def open(
        self, settings: Settings, secrets: Settings, meter: CallMeter, transport: Transport
    ) -> None:
        renew: Callable[[], bool] | None = None
        if secrets.get("refresh_token") or secrets.get("access_token"):
            keeper = TokenKeeper(settings, secrets, self.clock, transport, self._secrets_changed)
            authorize: Callable[[], str] = keeper
            renew = keeper.renew
        else:
            authorize = partial(authorization, secrets)
        self.client = QontoClient(
            base_url=str(settings.get("base_url") or DEFAULT_BASE_URL),
            authorization=authorize,
            meter=meter,
            renew=renew,
            staging_token=secrets.get("staging_token"),
            transport=transport,
        )
        # Learned when the connection was saved with credentials, or at the OAuth login.
        self._codes = codes = Codes(
            settings.get("vat_groups"),
            settings.get("unit_mapping"),
            settings.get("organization_country") or secrets.get("organization_country"),
        )
        self._iban: str | None = settings.get("iban") or secrets.get("organization_iban")
        self._gone: set[str] = set()
        """Ids this run read and Qonto no longer has (deleted there): see ``create_many``."""
        self.mappings: Mapping[str, EntityMapping] = {
            "customers": ClientMapping(),
            "invoices": InvoiceMapping(codes, lambda: self._iban),
            "credit_notes": CreditNoteMapping(codes, lambda: self._iban),
        }

    def close(self) -> None:
        self.client.close()

    def _secrets_changed(self, changed: JSON) -> None:
        if self.on_secrets is not None:
            self.on_secrets(changed)

    def test(self) -> str:
        organization = self.client.organization()
        name = organization.get("legal_name") or organization.get("slug") or "?"
        return f"Qonto organization {name}"

    # ------------------------------------------------------------------ reads

    def prepare(self, streams: list[str]) -> None:
        """Invoices are paid to the organization's main account, and its country's VAT is
        charged: read them once per run when the settings do not hold them."""
        wanted = {"invoices", "credit_notes"} & set(streams)
        if wanted and (self._iban is None or self._codes.home_country is None):
            organization = self.client.organization()
            self._iban = self._iban or main_iban(organization)
            country = organization.get("legal_country")
            self._codes.home_country = self._codes.home_country or (
                str(country).upper() if country else None
            )

    def count(self, stream: str) -> int | None:
        resource, _ = RESOURCES[stream]
        return self.client.list(resource, {}, per_page=1).total_count

    def read_page(self, stream: str, after: str | None, limit: int) -> Page:
        if stream in CHANGE_FILTERS:
            return self._read_changed(stream, after, limit)
        resource, _ = RESOURCES[stream]
        since, seen = parse_cursor(after)
        per_page = max(1, min(limit, MAX_PER_PAGE))
        params = {"sort_by": "updated_at:asc"}
        if since is not None:
            params["filter[updated_at_from]"] = since
        page = self.client.list(resource, params, page=seen // per_page + 1, per_page=per_page)
        rows = page.items[seen % per_page :]
        newest, count = since, seen
        for row in page.items[: seen % per_page]:
            if row.get("updated_at") != since:
                # A row read before moved on: the read restarts from what it has now.
                return Page(records=[], after=since, more=True)
        for row in rows:
            stamp = str(row.get("updated_at") or "")
            if stamp == newest:
                count += 1
            else:
                newest, count = stamp, 1
        position = f"{newest}|{count}" if newest else None
        return Page(records=rows, after=position, more=page.next_page is not None)

    def _read_changed(self, stream: str, after: str | None, limit: int) -> Page:
        """A changed-since scan (``kit.cursors``) whose position is the page: pages of the
        records changed at or after ``since`` in creation order; the next scan starts at the
        newest change seen (those records are read again, and found unchanged)."""
        resource, _ = RESOURCES[stream]
        field = CHANGE_FILTERS[stream]
        scan = ChangedSince.parse(after)
        params = {"sort_by": "created_at:asc"}
        if scan.since:
            params[f"filter[{field}_from]"] = scan.since
        page = self.client.list(resource, params, page=scan.page(), per_page=limit)
        scan = scan.saw(row.get(field) for row in page.items)
        if page.next_page is not None:
            return Page(page.items, scan.at(page.next_page), True)
        return Page(page.items, scan.done(), False)

    def fetch_many(self, stream: str, remote_ids: list[str]) -> dict[str, JSON]:
        resource, wrapper = RESOURCES[stream]
        found: dict[str, JSON] = {}
        for remote_id in dict.fromkeys(remote_ids):
            row = self.client.get(resource, wrapper, remote_id)
            if row is not None:
                found[remote_id] = row
            else:
                self._gone.add(remote_id)
        return found

    def find_by_business_key(self, stream: str, keys: list[str]) -> dict[str, JSON]:
        """Clients by identity key; invoices by number or content key among those created
        lately (Qonto cannot search invoices by either)."""
        if stream == "invoices":
            return self._find_invoices(set(keys))
        if stream != "customers":
            return {}
        found: dict[str, JSON] = {}
        for key in dict.fromkeys(keys):
            row = self._find_client(key)
            if row is not None:
                found[key] = row
        return found

    def _find_invoices(self, keys: set[str]) -> dict[str, JSON]:
        """Invoices created in the last ``INVOICE_LOOKBACK`` whose number or content key is
        asked for, oldest first: after a lost answer the invoice Qonto made is found even once
        its idempotency key has expired (30 minutes), and is never made a second time."""
        since = (self.clock.now() - INVOICE_LOOKBACK).astimezone(UTC)
        params = {
            "filter[created_at_from]": since.isoformat().replace("+00:00", "Z"),
            "sort_by": "created_at:asc",
        }
        found: dict[str, JSON] = {}
        page_number: int | None = 1
        while page_number is not None and len(found) < len(keys):
            page = self.client.list("client_invoices", params, page=page_number)
            for row in page.items:
                for key in (str(row.get("number") or ""), content_key(row)):
                    if key in keys:
                        found.setdefault(key, row)
            page_number = page.next_page
        return found

    def _find_client(self, key: str) -> JSON | None:
        """The oldest client with this identity key, searched with Qonto's filters."""
        prefix, _, value = key.partition(":")
        if not value:
            return None
        if prefix in KEY_FILTERS:
            params = {f"filter[{KEY_FILTERS[prefix]}]": value}
        elif prefix == "name" and len(value) >= 2:
            params = {"filter[name]": value}
        else:
            return None
        params["sort_by"] = "created_at:asc"
        page_number: int | None = 1
        while page_number is not None:
            page = self.client.list("clients", params, page=page_number)
            for row in page.items:
                if identity_key(row) == key or (
                    prefix == "name" and (client_name(row) or "").casefold() == value.casefold()
                ):
                    return row
            page_number = page.next_page
        return None

    # ------------------------------------------------------------------ writes

    def create_many(self, stream: str, payloads: list[JSON]) -> list[JSON]:
        resource, wrapper = RESOURCES[stream]
        stored: list[JSON] = []
        for payload in payloads:
            hub_id = str(payload.get(HUB_ID) or "")
            body = {k: v for k, v in payload.items() if k != HUB_ID and v is not None}
            existing = self._find_client(identity_key(body)) if stream == "customers" else None
            if existing is not None:
                # The same party already is a Qonto client: completed, never duplicated.
                stored.append(self.client.update(resource, wrapper, str(existing["id"]), body))
                continue
            key = idempotency_key(hub_id or json.dumps(body, sort_keys=True), body)
            made = self.client.create(resource, wrapper, body, key)
            if str(made.get("id")) in self._gone:
                # Qonto's stored answer to the same create made before, whose client was
                # deleted since (a person asked to make it again within the key's 30
                # minutes): created under a key of its own, as stable for a retry.
                key = idempotency_key(f"{hub_id}:{made['id']}", body)
                made = self.client.create(resource, wrapper, body, key)
            note = currency_note(body, made) if stream == "invoices" else None
            stored.append({**made, ROW_NOTE: note} if note else made)
        return stored

    def update_many(self, stream: str, payloads: list[JSON]) -> list[JSON]:
        resource, wrapper = RESOURCES[stream]
        stored: list[JSON] = []
        for payload in payloads:
            remote_id = payload.get("id")
            if not remote_id:
                raise RemoteRejected(f"{wrapper} update without an id")
            body = {k: v for k, v in payload.items() if k not in (HUB_ID, "id")}
            stored.append(self.client.update(resource, wrapper, str(remote_id), body))
        return stored

    def parse_notification(self, query: Mapping[str, str], body: bytes) -> list[ChangeNotice]:
        """A Qonto webhook envelope ``{id, type, data: {…, "event"}}`` as a change notice."""
        try:
            envelope = json.loads(body) if body else None
        except ValueError:
            return []
        if not isinstance(envelope, dict) or not isinstance(envelope.get("data"), dict):
            return []
        stream = WEBHOOK_STREAMS.get(str(envelope.get("type")))
        data = dict(envelope["data"])
        event = data.pop("event", "updated")
        if stream is None or not data.get("id"):
            return []
        operation: Literal["upsert", "delete"] = "delete" if event == "deleted" else "upsert"
        return [
            ChangeNotice(
                stream=stream,
                remote_id=str(data["id"]),
                operation=operation,
                data=data if operation == "upsert" else None,
            )
        ]


SIGNATURE_TOLERANCE = timedelta(minutes=5)
"""How far a webhook's signed time may be from ours: an old signed body sent again later is
refused even though its signature is right."""


def check_webhook(
    secrets: Mapping[str, Any], headers: Mapping[str, str], body: bytes, now: datetime
) -> str | None:
    """Verify ``X-Qonto-Signature: t=<unix seconds>,v1=<hex>``, the HMAC-SHA256 of
    ``"<t>.<raw body>"`` with the subscription's secret; returns the event id."""
    secret = str(secrets.get("webhook_secret") or "")
    header = next((v for k, v in headers.items() if k.lower() == "x-qonto-signature"), "")
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    if not secret or not parts.get("t") or not parts.get("v1"):
        raise CallbackRefused("missing X-Qonto-Signature or webhook secret")
    signed = f"{parts['t']}.".encode() + body
    expected = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, parts["v1"].strip()):
        raise CallbackRefused("the X-Qonto-Signature does not match")
    try:
        sent = datetime.fromtimestamp(int(parts["t"]), tz=UTC)
    except ValueError:
        raise CallbackRefused("the X-Qonto-Signature time is not a number") from None
    if abs(now - sent) > SIGNATURE_TOLERANCE:
        raise CallbackRefused("the X-Qonto-Signature time is too far from now")
    try:
        envelope = json.loads(body)
    except ValueError:
        return None
    event_id = envelope.get("id") if isinstance(envelope, dict) else None
    return str(event_id) if event_id else None


DEFAULT_APP_URL = "https://app.qonto.com"
RECORD_PATHS = {
    "customers": "/organizations/{slug}/clients/{id}",
    "invoices": "/organizations/{slug}/receivable-invoices/{id}",
    "credit_notes": "/organizations/{slug}/receivable-invoices/credit-notes/{id}",
}
"""Pages of the Qonto web app, per stream; ``settings.record_urls`` overrides them."""


def record_url(settings: Mapping[str, Any], stream: str, remote_id: str) -> str | None:
    """The record's page in the Qonto web app (the navigation button of a synced record)."""
    paths = {**RECORD_PATHS, **(settings.get("record_urls") or {})}
    path = paths.get(stream)
    slug = settings.get("organization_slug")
    if path is None or not slug:
        return None
    app = str(settings.get("app_url") or DEFAULT_APP_URL).rstrip("/")
    return app + str(path).format(slug=quote(str(slug)), id=quote(remote_id))
