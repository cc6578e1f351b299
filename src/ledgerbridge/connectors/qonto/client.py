"""The Qonto Business API v2 wire: wrapped resources, ``page``/``per_page`` paging with ``meta``,
JSON:API errors, per-IP rate limits and idempotency keys on creates.

Every request is announced to the call meter first, so the engine's quota ledger sees each call
Qonto counts against its 1,000-per-10-seconds and 10,000-per-10-minutes limits.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from ledgerbridge.connectors.base import (
    JSON,
    AuthenticationFailed,
    CallMeter,
    RemoteRejected,
    RemoteUnavailable,
)
from ledgerbridge.connectors.kit.http import (
    error_json,
    httpx_failure,
    status_failure,
    with_retries,
)
from ledgerbridge.connectors.kit.references import reference_gone

DEFAULT_BASE_URL = "https://thirdparty.qonto.com"
MAX_PER_PAGE = 100
IDEMPOTENCY_NAMESPACE = uuid.UUID("6b1f4a52-37c4-4c1e-9d55-0c7a2f1e9b41")
"""Namespace of the idempotency keys derived from a hub record and its content."""

LOGIN_AGAIN = "log in to Qonto again from the connection's settings"
API_KEY_FORM = (
    "a Qonto API key is written <login>:<secret-key> (pied-piper-7132:62885d39f3a0…), both "
    "shown in the Qonto web app (not the mobile app) under Settings, Integrations and "
    "Partnerships > API key: the login is the organization's name followed by a number, not an "
    "e-mail address"
)
"""How an API key is written and where it is found, for every message about a wrong one."""


def credentials_refused(sent: str) -> str:
    """What a 401 says to check: an OAuth login (a bearer token still refused after a renewal)
    is done again; an API key is checked as Qonto writes it, or replaced by the one Qonto
    shows after it was regenerated there."""
    if sent.startswith("Bearer "):
        return f"Qonto refused the login (401): {LOGIN_AGAIN}"
    return (
        f"Qonto refused the API key (401): check secrets.api_key; {API_KEY_FORM}. A key "
        "regenerated in Qonto replaces the old one: give the new one"
    )


Authorizer = Callable[[], str]
"""Returns the ``Authorization`` header value for the next request (an API key, or a bearer
token that may have just been renewed)."""


@dataclass(frozen=True)
class ListPage:
    """One page of a Qonto list and whether another follows (``meta.next_page``)."""

    items: list[JSON]
    next_page: int | None
    total_count: int | None


def idempotency_key(hub_id: str, payload: Mapping[str, Any]) -> str:
    """A key that is the same for the same record sent with the same content: a retry after an
    unanswered create gets Qonto's stored answer instead of a second client."""
    content = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    digest = hashlib.sha256(content.encode()).hexdigest()
    return str(uuid.uuid5(IDEMPOTENCY_NAMESPACE, f"{hub_id}:{digest}"))


class QontoClient:
    def __init__(
        self,
        *,
        base_url: str,
        authorization: Authorizer,
        meter: CallMeter,
        renew: Callable[[], bool] | None = None,
        staging_token: str | None = None,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._meter = meter
        self._authorization = authorization
        self._renew = renew
        headers = {"Accept": "application/json"}
        if staging_token:
            headers["X-Qonto-Staging-Token"] = staging_token
        self._http = httpx.Client(
            base_url=base_url.rstrip("/"), timeout=timeout, transport=transport, headers=headers
        )

    def close(self) -> None:
        self._http.close()

    def organization(self) -> JSON:
        body = self._request("GET", "/v2/organization", write=False)
        return dict(body.get("organization") or {})

    def list(
        self, resource: str, params: Mapping[str, str], *, page: int = 1, per_page: int = 100
    ) -> ListPage:
        """One page of ``GET /v2/<resource>``; ``resource`` is also the list's key."""
        query = {**params, "page": str(page), "per_page": str(min(per_page, MAX_PER_PAGE))}
        body = self._request("GET", f"/v2/{resource}", params=query, write=False)
        items = body.get(resource)
        if not isinstance(items, list):
            raise RemoteUnavailable(f"unexpected Qonto answer for {resource}: no '{resource}' list")
        meta = body.get("meta") or {}
        next_page = meta.get("next_page")
        total = meta.get("total_count")
        return ListPage(
            [dict(item) for item in items],
            int(next_page) if next_page else None,
            int(total) if total is not None else None,
        )

    def get(self, resource: str, wrapper: str, remote_id: str) -> JSON | None:
        """One record, or None when Qonto no longer has it."""
        try:
            body = self._request("GET", f"/v2/{resource}/{remote_id}", write=False)
        except _NotFound:
            return None
        return dict(body.get(wrapper) or {})

    def create(self, resource: str, wrapper: str, payload: JSON, key: str) -> JSON:
        body = self._request(
            "POST",
            f"/v2/{resource}",
            json=payload,
            headers={"X-Qonto-Idempotency-Key": key},
            write=True,
        )
        return dict(body.get(wrapper) or {})

    def subscribe(self, callback_url: str, event_type: str, secret: str) -> JSON:
        """A webhook subscription for one event type (answered bare, not wrapped)."""
        body = self._request(
            "POST",
            "/v2/webhook_subscriptions",
            json={"callback_url": callback_url, "types": [event_type], "secret": secret},
            write=True,
        )
        return dict(body or {})

    def unsubscribe(self, subscription_id: str) -> None:
        """Remove a webhook subscription; one that is gone already is fine."""
        try:
            self._request("DELETE", f"/v2/webhook_subscriptions/{subscription_id}", write=True)
        except RemoteRejected:
            return

    def update(self, resource: str, wrapper: str, remote_id: str, payload: JSON) -> JSON:
        body = self._request("PATCH", f"/v2/{resource}/{remote_id}", json=payload, write=True)
        return dict(body.get(wrapper) or {})

    def _request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        write: bool,
    ) -> Any:
        def attempt() -> Any:
            response = self._send(method, path, params, json, headers, write)
            if response.status_code == 401 and self._renew is not None and self._renew():
                # The access token was refused before its time (revoked by a refresh
                # elsewhere): once more with a renewed one.
                response = self._send(method, path, params, json, headers, write)
            return self._answer(method, path, response, write)

        return with_retries(attempt)

    def _send(
        self,
        method: str,
        path: str,
        params: Mapping[str, str] | None,
        json: Any,
        headers: Mapping[str, str] | None,
        write: bool,
    ) -> httpx.Response:
        self._meter(1)
        sent = {"Authorization": self._authorization(), **(headers or {})}
        try:
            return self._http.request(method, path, params=params, json=json, headers=sent)
        except httpx.TransportError as exc:
            raise httpx_failure("Qonto", method, path, exc, write=write) from exc

    def _answer(self, method: str, path: str, response: httpx.Response, write: bool) -> Any:
        status = response.status_code
        if status == 401:
            raise AuthenticationFailed(
                credentials_refused(response.request.headers.get("Authorization", ""))
            )
        if status == 403:
            raise AuthenticationFailed(
                f"Qonto does not allow {method} {path} with these credentials: "
                f"{_error_message(response)}"
            )
        detail = _error_message(response) if status == 429 else ""
        failure = status_failure(
            "Qonto", method, path, status, response.headers, write=write, detail=detail
        )
        if failure is not None:
            raise failure
        if status == 404 and method == "GET":
            raise _NotFound(path)
        if status >= 400:
            message = _error_message(response)
            if NOT_INVOICEABLE in message and "/client_invoices" in path:
                raise RemoteRejected(
                    f"Qonto invoices a client only once it has a currency, a language and a "
                    f"full billing address (street, city, zip code, country): {message}. Add "
                    "what it lacks to the customer in the app (it is sent to Qonto by itself); "
                    "the invoice is tried again by itself within the hour",
                    reason=CLIENT_NOT_INVOICEABLE,
                )
            if CLIENT_GONE in message and "/client_invoices" in path:
                raise reference_gone("Qonto", "client", message)
            raise RemoteRejected(message, reason="remote_rejected")
        if not response.content:
            return {}
        try:
            return response.json()
        except ValueError as exc:
            # The staging gateway answers 200 with an HTML page when its token is missing.
            raise RemoteUnavailable(
                f"Qonto answered {method} {path} with something other than JSON; check the "
                "staging token"
            ) from exc


NOT_INVOICEABLE = "cannot be invoiced until it has"
"""Qonto's refusal of an invoice whose client lacks what invoicing needs (verified)."""
CLIENT_NOT_INVOICEABLE = "client_not_invoiceable"
CLIENT_GONE = "client_id: Client not found"
"""Qonto's refusal of an invoice whose client was deleted (inferred wording, see
docs/sandbox-qonto.md)."""


class _NotFound(Exception):
    """A read of a record Qonto does not have."""


def _error_message(response: httpx.Response) -> str:
    """Qonto's JSON:API errors as one sentence naming each field: "name: can't be blank"."""
    body = error_json(response)
    if body is None:
        return f"HTTP {response.status_code}: {response.text[:300]}"
    errors = body.get("errors") if isinstance(body, dict) else None
    if not isinstance(errors, list) or not errors:
        return f"HTTP {response.status_code}: {str(body)[:300]}"
    parts: list[str] = []
    for error in errors:
        if not isinstance(error, dict):
            continue
        source = error.get("source") or {}
        where = str(source.get("pointer") or source.get("parameter") or "").strip("/")
        detail = error.get("detail") or error.get("code") or "invalid"
        field = where.replace("/", ".")
        parts.append(f"{field}: {detail}" if field else str(detail))
    trace = body.get("trace_id")
    message = "; ".join(parts)
    return f"{message} (trace {trace})" if trace else message
