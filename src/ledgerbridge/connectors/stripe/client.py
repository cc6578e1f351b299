"""The Stripe API wire: the secret key as a Bearer token, the API version pinned with
``Stripe-Version`` (so a newer account default cannot change the shapes read), form-encoded
writes, lists ``{"data", "has_more"}`` paged with ``limit`` (at most 100) and
``starting_after``, errors ``{"error": {"type", "message", "code", "param"}}``.

Stripe's rate limit answer is a 429 (``code: rate_limit``); it and 5xx on reads are repeated by
the kit, after ``Retry-After`` when one is sent.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

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

DEFAULT_BASE_URL = "https://api.stripe.com"
API_VERSION = "2023-08-16"
"""The version of the official OpenAPI the mapping was written against."""
MAX_LIMIT = 100
"""Stripe's largest list page."""

Params = Sequence[tuple[str, str]]
"""Query parameters in order, keys repeated for lists (``expand[]``)."""


class NotFound(Exception):
    """A read of an object Stripe does not have (404 ``resource_missing``)."""


class StripeClient:
    def __init__(
        self,
        *,
        base_url: str,
        secret_key: str,
        meter: CallMeter,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._meter = meter
        self._http = httpx.Client(
            base_url=base_url.rstrip("/") + "/v1",
            headers={
                "Authorization": f"Bearer {secret_key}",
                "Stripe-Version": API_VERSION,
                "Accept": "application/json",
            },
            timeout=timeout,
            transport=transport,
        )

    def close(self) -> None:
        self._http.close()

    def get(self, path: str, params: Params = ()) -> JSON:
        """One object; ``NotFound`` when Stripe has none under that id."""
        response = self._call("GET", path, params=list(params))
        if response.status_code == 404:
            raise NotFound(path)
        return self._object("GET", path, response)

    def page(
        self, path: str, params: Params = (), *, limit: int, starting_after: str | None = None
    ) -> tuple[list[JSON], bool]:
        """One page of a list, newest first, and whether more follow."""
        query = [*params, ("limit", str(max(1, min(limit, MAX_LIMIT))))]
        if starting_after:
            query.append(("starting_after", starting_after))
        body = self.get(path, query)
        data = body.get("data")
        if not isinstance(data, list) or not isinstance(body.get("has_more"), bool):
            raise RemoteUnavailable(f"Stripe answered GET {path} without a list")
        return [dict(row) for row in data if isinstance(row, dict)], bool(body["has_more"])

    def every(self, path: str, params: Params = ()) -> Iterator[JSON]:
        """Every object of a list, 100 a call."""
        after: str | None = None
        while True:
            rows, more = self.page(path, params, limit=MAX_LIMIT, starting_after=after)
            yield from rows
            if not more or not rows:
                return
            after = str(rows[-1]["id"])

    def post(self, path: str, form: Params) -> JSON:
        """A form-encoded write."""
        response = self._call("POST", path, data=list(form))
        return self._object("POST", path, response)

    def delete(self, path: str) -> None:
        """Delete an object; one already gone is fine."""
        response = self._call("DELETE", path)
        if response.status_code != 404:
            self._object("DELETE", path, response)

    def _call(
        self,
        method: str,
        path: str,
        *,
        params: list[tuple[str, str]] | None = None,
        data: list[tuple[str, str]] | None = None,
    ) -> httpx.Response:
        write = method != "GET"

        def attempt() -> httpx.Response:
            self._meter(1)
            try:
                query = httpx.QueryParams(tuple(params or ()))
                if data is not None:
                    response = self._http.request(
                        method, path, params=query, content=_form(data),
                        headers={"Content-Type": "application/x-www-form-urlencoded"},
                    )  # fmt: skip
                else:
                    response = self._http.request(method, path, params=query)
            except httpx.TransportError as exc:
                raise httpx_failure("Stripe", method, path, exc, write=write) from exc
            if response.status_code == 401:
                raise AuthenticationFailed(
                    f"Stripe refused the secret key ({message(response)}): copy it again from "
                    "Dashboard → Developers → API keys"
                )
            failure = status_failure(
                "Stripe", method, path, response.status_code, response.headers,
                write=write, detail=message(response),
            )  # fmt: skip
            if failure is not None:
                raise failure
            return response

        return with_retries(attempt)

    def _object(self, method: str, path: str, response: httpx.Response) -> JSON:
        if response.status_code == 403:
            raise AuthenticationFailed(
                f"Stripe refused {method} {path} for this key ({message(response)}): a "
                "restricted key needs read access to payouts, balance and charges"
            )
        hint = " (is the base URL right?)"
        body: JSON = json_body(
            response, "Stripe", method, path, message, hint=hint, object_only=True
        )
        return body


def _form(pairs: list[tuple[str, str]]) -> bytes:
    return str(httpx.QueryParams(tuple(pairs))).encode()


def message(response: httpx.Response) -> str:
    """Stripe's error as ``type (code): message``; the start of the body when it is not
    Stripe's shape."""
    body = error_json(response)
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict) and error.get("message"):
        code = f" ({error['code']})" if error.get("code") else ""
        return f"{error.get('type', 'error')}{code}: {error['message']}"
    return f"HTTP {response.status_code}: {response.text[:200]}"


__all__ = ["API_VERSION", "DEFAULT_BASE_URL", "NotFound", "StripeClient", "message"]
