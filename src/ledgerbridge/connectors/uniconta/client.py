"""The Uniconta wire: HTTP Basic ``00<CompanyId>/<user>``, OData reads, REST entity writes.

Every request is announced to the call meter first, because Uniconta counts calls per user per
day (5,000 included) and slows down everyone over the limit for 24 hours.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import httpx

from ledgerbridge.connectors.base import (
    JSON,
    AuthenticationFailed,
    CallMeter,
    RemoteUnavailable,
)
from ledgerbridge.connectors.kit.http import (
    decoded,
    error_json,
    httpx_failure,
    status_failure,
    with_retries,
)

DEFAULT_BASE_URL = "https://odata.uniconta.com"


def odata_quote(value: str) -> str:
    """An OData string literal (single quotes doubled)."""
    return "'" + value.replace("'", "''") + "'"


CREDENTIALS_REFUSED = "Uniconta refused the credentials: check the user name and password"
"""What a 401 says wherever it surfaces (the set-up's login, a saved password, a run), with
what to check."""


class NoCompanyAccess(AuthenticationFailed):
    """The login is right, but its user has no rights to the company it names (403)."""


class UnicontaClient:
    def __init__(
        self,
        *,
        base_url: str,
        company_id: int,
        username: str,
        password: str,
        meter: CallMeter,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
        company_in_login: bool = True,
    ) -> None:
        self.company_id = company_id
        self._meter = meter
        login = f"00{company_id}/{username}" if company_in_login else username
        self._http = httpx.Client(
            base_url=base_url.rstrip("/"),
            auth=httpx.BasicAuth(login, password),
            timeout=timeout,
            transport=transport,
            headers={"Accept": "application/json"},
        )

    def close(self) -> None:
        self._http.close()

    def service_document(self) -> list[JSON]:
        body = self._request("GET", f"/odata/{self.company_id}", write=False)
        return list(body.get("value", [])) if isinstance(body, dict) else []

    def query(
        self,
        entity: str,
        *,
        filter: str | None = None,
        orderby: str | None = None,
        top: int | None = None,
        skip: int | None = None,
    ) -> list[JSON]:
        params: dict[str, str] = {}
        if filter:
            params["$filter"] = filter
        if orderby:
            params["$orderby"] = orderby
        if top is not None:
            params["$top"] = str(top)
        if skip:
            params["$skip"] = str(skip)
        path = f"/odata/{self.company_id}/{entity}"
        body = self._request("GET", path, params=params, write=False)
        if not isinstance(body, dict) or not isinstance(body.get("value"), list):
            raise RemoteUnavailable(f"unexpected OData response for {entity}")
        return list(body["value"])

    def count(self, entity: str) -> int | None:
        """Rows of an entity, from OData's ``$count`` (None when the server does not say)."""
        path = f"/odata/{self.company_id}/{entity}"
        body = self._request("GET", path, params={"$count": "true", "$top": "0"}, write=False)
        count = body.get("@odata.count") if isinstance(body, dict) else None
        return int(count) if count is not None else None

    def companies(self) -> list[JSON]:
        """The companies this user may reach (the login step of the set-up)."""
        body = self._request("GET", "/odata/CompanyClient", write=False)
        return list(body.get("value", [])) if isinstance(body, dict) else []

    def user(self) -> JSON:
        """The logged-in user: its type (Server or Standard) and roles (Reseller …)."""
        body = self._request("GET", "/odata/UserClient", write=False)
        values = body.get("value", []) if isinstance(body, dict) else []
        return dict(values[0]) if values else {}

    def delete(self, entity: str, rows: Sequence[JSON]) -> None:
        self._request("DELETE", f"/api/Entities/Delete/{entity}", json=list(rows), write=True)

    def insert(self, entity: str, rows: Sequence[JSON]) -> list[JSON]:
        body = self._request("POST", f"/api/Entities/Insert/{entity}", json=list(rows), write=True)
        return list(body) if isinstance(body, list) else [body]

    def insert_list(self, entity: str, rows: Sequence[JSON]) -> list[JSON]:
        """``InsertList``: a JSON array, all or none. It may answer 204 without the rows
        (inferred from third-party use): then the result is empty and the caller reads back."""
        body = self._request(
            "POST", f"/api/Entities/InsertList/{entity}", json=list(rows), write=True
        )
        return list(body) if isinstance(body, list) else []

    def update(self, entity: str, rows: Sequence[JSON]) -> list[JSON]:
        body = self._request("PUT", f"/api/Entities/Update/{entity}", json=list(rows), write=True)
        return list(body) if isinstance(body, list) else [body]

    def _request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, str] | None = None,
        json: Any = None,
        write: bool,
    ) -> Any:
        return with_retries(lambda: self._attempt(method, path, params, json, write))

    def _attempt(
        self, method: str, path: str, params: dict[str, str] | None, json: Any, write: bool
    ) -> Any:
        self._meter(1)
        try:
            response = self._http.request(method, path, params=params, json=json)
        except httpx.TransportError as exc:
            raise httpx_failure("Uniconta", method, path, exc, write=write) from exc
        status = response.status_code
        if status == 401:
            raise AuthenticationFailed(CREDENTIALS_REFUSED)
        if status == 403:
            raise NoCompanyAccess("the Uniconta user has no access to this company")
        failure = status_failure("Uniconta", method, path, status, response.headers, write=write)
        if failure is not None:
            raise failure
        return decoded(response, _error_message)


def _error_message(response: httpx.Response) -> str:
    body = error_json(response)
    if body is None:
        return f"HTTP {response.status_code}: {response.text[:300]}"
    if isinstance(body, dict):
        if "error" in body and isinstance(body["error"], dict):
            return str(body["error"].get("message") or body["error"])
        code, message = body.get("ErrorCode"), body.get("Message")
        if code or message:
            return f"{code}: {message}" if code else str(message)
    return f"HTTP {response.status_code}: {str(body)[:300]}"
