"""The Report API wire: an access token from ``POST /accesstoken/get`` (client_id,
client_secret and Ocp-Apim-Subscription-Key as headers), then ``Authorization: Bearer`` and the
subscription key on every call. A token lives an hour in the test environment and a day in
production; one the API refuses (401) is fetched again once, then the keys are wrong.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx

from ledgerbridge.clock import Clock
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
    json_body,
    status_failure,
    with_retries,
)

DEFAULT_BASE_URL = "https://api.vipps.no"
TOKEN_MARGIN = timedelta(minutes=2)
"""A token this close to its expiry is renewed before a call rather than refused during it."""
SYSTEM_HEADERS = {"Vipps-System-Name": "ledgerbridge", "Vipps-System-Version": "1"}


@dataclass(frozen=True)
class FeedPage:
    """One answer of a ``…/feed`` call: its entries, the cursor of the next page, and whether
    the feed's end is reached for now (``tryLater``)."""

    items: list[JSON]
    cursor: str
    try_later: bool


class VippsClient:
    def __init__(
        self,
        *,
        base_url: str,
        client_id: str,
        client_secret: str,
        subscription_key: str,
        meter: CallMeter,
        clock: Clock,
        msn: str | None = None,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._meter = meter
        self._clock = clock
        self._keys = {
            "client_id": client_id,
            "client_secret": client_secret,
            "Ocp-Apim-Subscription-Key": subscription_key,
            **({"Merchant-Serial-Number": msn} if msn else {}),
        }
        self._token: str | None = None
        self._expires: datetime | None = None
        self.tokens_fetched = 0
        self._http = httpx.Client(
            base_url=base_url.rstrip("/"),
            timeout=timeout,
            transport=transport,
            headers={
                "Accept": "application/json",
                "Ocp-Apim-Subscription-Key": subscription_key,
                **SYSTEM_HEADERS,
            },
        )

    def close(self) -> None:
        self._http.close()

    # ------------------------------------------------------------------ reads

    def ledgers(self, recipient_handle: str | None = None) -> list[JSON]:
        """Every ledger the keys reach, following the cursor."""
        rows: list[JSON] = []
        params: dict[str, str] = (
            {"settlesForRecipientHandles": recipient_handle} if recipient_handle else {}
        )
        while True:
            body = self.get("/settlement/v1/ledgers", params)
            rows.extend(item for item in body.get("items") or [] if isinstance(item, dict))
            cursor = body.get("cursor")
            if not cursor:
                return rows
            params = {"cursor": str(cursor)}

    def feed(self, ledger_id: str, topic: str, cursor: str) -> FeedPage:
        """One page of a topic's feed from ``cursor`` (empty: the start)."""
        path = f"/report/v2/ledgers/{ledger_id}/{topic}/feed"
        body = self.get(path, {"cursor": cursor} if cursor else {})
        items = body.get("items")
        if not isinstance(items, list):
            raise RemoteUnavailable(f"Vipps MobilePay answered GET {path} without items")
        return FeedPage(
            [dict(item) for item in items if isinstance(item, dict)],
            str(body.get("cursor") or cursor),
            bool(body.get("tryLater")),
        )

    def get(self, path: str, params: Mapping[str, str] | None = None) -> JSON:
        """A read as JSON; a token refused once is fetched again."""
        for attempt in range(2):
            response = self._call(path, params)
            if response.status_code != 401:
                break
            self._token = None
            if attempt:
                raise AuthenticationFailed(
                    f"Vipps MobilePay refused the access token ({_message(response)}): check "
                    "that the merchant has given these keys access to the ledger"
                )
        if response.status_code == 404:
            raise RemoteRejected(f"GET {path}: {_message(response)}", reason="not_found")
        body: JSON = json_body(response, "Vipps MobilePay", "GET", path, _message, object_only=True)
        return body

    # ------------------------------------------------------------------ calls

    def token(self) -> str:
        """The access token, fetched when there is none or it is about to expire."""
        now = self._clock.now()
        if self._token is not None and self._expires is not None and now < self._expires:
            return self._token
        response = self._send("POST", "/accesstoken/get", None, headers=self._keys)
        if response.status_code in (400, 401, 403):
            raise AuthenticationFailed(
                f"Vipps MobilePay refused the API keys ({response.status_code}: "
                f"{_message(response)}): check client_id, client_secret and the "
                "Ocp-Apim-Subscription-Key in the portal (Developer → API keys)"
            )
        if response.status_code >= 400:
            raise RemoteRejected(f"POST /accesstoken/get: {_message(response)}")
        try:
            body = response.json()
            token = str(body["access_token"])
            seconds = float(body.get("expires_in") or 3600)
        except (ValueError, KeyError, TypeError) as exc:
            raise RemoteUnavailable("Vipps MobilePay answered a token request without one") from exc
        self._token = token
        self._expires = now + timedelta(seconds=seconds) - TOKEN_MARGIN
        self.tokens_fetched += 1
        return token

    def _call(self, path: str, params: Mapping[str, str] | None) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.token()}"}
        return self._send("GET", path, params, headers=headers)

    def _send(
        self,
        method: str,
        path: str,
        params: Mapping[str, str] | None,
        *,
        headers: Mapping[str, str],
    ) -> httpx.Response:
        """One request with the kit's retries: reads, and the token request, which changes
        nothing, so both may be repeated."""

        def attempt() -> httpx.Response:
            self._meter(1)
            try:
                response = self._http.request(method, path, params=params, headers=headers)
            except httpx.TransportError as exc:
                raise httpx_failure("Vipps MobilePay", method, path, exc, write=False) from exc
            failure = status_failure(
                "Vipps MobilePay", method, path, response.status_code, response.headers,
                write=False, detail=_message(response) if response.status_code >= 500 else "",
            )  # fmt: skip
            if failure is not None:
                raise failure
            return response

        return with_retries(attempt)


def _message(response: httpx.Response) -> str:
    """The error's words: the 401 ``message``, a problem's ``detail``, the 500
    ``errorMessage``; the start of the body otherwise."""
    body: Any = error_json(response)
    if isinstance(body, dict):
        for key in ("detail", "message", "errorMessage", "error_description", "title"):
            if body.get(key):
                return str(body[key])
    return f"HTTP {response.status_code}: {response.text[:200]}"
