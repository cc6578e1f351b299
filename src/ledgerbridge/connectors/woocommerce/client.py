"""The WooCommerce REST API v3 wire: HTTP Basic with the consumer key and secret, WordPress
collections paged with ``page``/``per_page`` and counted in ``X-WP-Total``/``X-WP-TotalPages``,
errors as ``{"code", "message", "data": {"status"}}`` and batches of at most 100 objects.

WooCommerce itself has no rate limit; the host in front of a shop may answer 429 or 503, which
the kit's retries handle like any vendor's.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from ledgerbridge.connectors.base import (
    JSON,
    AuthenticationFailed,
    CallMeter,
    RemoteUnavailable,
)
from ledgerbridge.connectors.kit.http import (
    error_json,
    httpx_failure,
    json_body,
    status_failure,
    with_retries,
)

API_PATH = "/wp-json/wc/v3"
MAX_PER_PAGE = 100
"""WordPress's collection limit (``per_page`` 1 to 100)."""
BATCH_SIZE = 100
"""Objects one ``/batch`` call may carry (WooCommerce's default limit)."""


@dataclass(frozen=True)
class ListPage:
    """One page of a collection and the number of pages the query has (``X-WP-TotalPages``)."""

    items: list[JSON]
    total_pages: int
    total: int | None


class NotFound(Exception):
    """A read of a record the shop does not have (404)."""


class WooCommerceClient:
    def __init__(
        self,
        *,
        base_url: str,
        consumer_key: str,
        consumer_secret: str,
        meter: CallMeter,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._meter = meter
        self._http = httpx.Client(
            base_url=base_url.rstrip("/") + API_PATH,
            auth=httpx.BasicAuth(consumer_key, consumer_secret),
            timeout=timeout,
            transport=transport,
            headers={"Accept": "application/json"},
        )

    def close(self) -> None:
        self._http.close()

    def page_of(
        self, path: str, params: Mapping[str, str] | None = None, *, page: int = 1, per_page: int
    ) -> ListPage:
        """One page of a collection."""
        query = {**(params or {}), "page": str(page), "per_page": str(min(per_page, MAX_PER_PAGE))}
        response = self._call("GET", path, params=query, write=False)
        body = self._body("GET", path, response)
        if not isinstance(body, list):
            raise RemoteUnavailable(f"WooCommerce answered GET {path} without a list")
        pages = _header_int(response.headers, "X-WP-TotalPages")
        total = _header_int(response.headers, "X-WP-Total")
        return ListPage(
            [dict(item) for item in body if isinstance(item, dict)],
            pages if pages is not None else page,
            total,
        )

    def list_all(self, path: str, params: Mapping[str, str] | None = None) -> list[JSON]:
        """Every page of a small collection (webhooks, a product's variations)."""
        rows: list[JSON] = []
        page = 1
        while True:
            found = self.page_of(path, params, page=page, per_page=MAX_PER_PAGE)
            rows.extend(found.items)
            if page >= found.total_pages or not found.items:
                return rows
            page += 1

    def get(self, path: str, params: Mapping[str, str] | None = None) -> JSON:
        """One record; ``NotFound`` when the shop does not have it."""
        response = self._call("GET", path, params=params, write=False)
        if response.status_code == 404:
            raise NotFound(path)
        body = self._body("GET", path, response)
        if not isinstance(body, dict):
            raise RemoteUnavailable(f"WooCommerce answered GET {path} without an object")
        return body

    def send(
        self,
        method: str,
        path: str,
        payload: JSON | None = None,
        params: Mapping[str, str] | None = None,
    ) -> Any:
        """A write (``POST``/``PUT``/``DELETE``); its answer's JSON."""
        response = self._call(method, path, params=params, json=payload, write=True)
        return self._body(method, path, response)

    def _call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        json: Any = None,
        write: bool,
    ) -> httpx.Response:
        def attempt() -> httpx.Response:
            self._meter(1)
            try:
                response = self._http.request(method, path, params=params, json=json)
            except httpx.TransportError as exc:
                raise httpx_failure("WooCommerce", method, path, exc, write=write) from exc
            if response.status_code in (401, 403):
                raise AuthenticationFailed(
                    f"WooCommerce refused the REST API key ({response.status_code}: "
                    f"{_message(response)}): check the consumer key and secret, and that the "
                    "key has Read/Write permission (WooCommerce → Settings → Advanced → REST API)"
                )
            failure = status_failure(
                "WooCommerce", method, path, response.status_code, response.headers,
                write=write, detail=_message(response) if response.status_code >= 500 else "",
            )  # fmt: skip
            if failure is not None:
                raise failure
            return response

        return with_retries(attempt)

    def _body(self, method: str, path: str, response: httpx.Response) -> Any:
        hint = " (is the shop's address right and are pretty permalinks on?)"
        return json_body(response, "WooCommerce", method, path, _message, hint=hint)


def _header_int(headers: Mapping[str, str], name: str) -> int | None:
    value = headers.get(name)
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _message(response: httpx.Response) -> str:
    """WooCommerce's error as ``code: message``; the start of the page when it is not JSON."""
    body = error_json(response)
    if isinstance(body, dict) and body.get("message"):
        code = body.get("code")
        return f"{code}: {body['message']}" if code else str(body["message"])
    return f"HTTP {response.status_code}: {response.text[:200]}"


def item_error(item: Any) -> str | None:
    """A batch item WooCommerce refused (``{"id": 0, "error": {...}}``): its message."""
    if not isinstance(item, dict) or not isinstance(item.get("error"), dict):
        return None
    error = item["error"]
    return f"{error.get('code')}: {error.get('message')}"
