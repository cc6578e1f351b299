"""Qonto sandbox over real HTTP: OAuth code flow, refresh rotation, expiry and revocation,
API-key mode, the staging token, rate limits.

One uvicorn serves the module; each test installs its own sandbox with a manual clock.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from ledgerbridge.clock import ManualClock
from ledgerbridge.sandbox.qonto import QontoSandbox, SandboxServer

START = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)
REDIRECT = "https://crm.example/qonto/callback"
CLIENT_ID = "crm-app"
SECRET = "crm-secret"
ALL_SCOPES = (
    "openid offline_access organization.read client.read client.write client_invoices.read "
    "client_invoice.write webhook"
)
INVALID_GRANT_START = "The provided authorization grant (e.g., authorization code"


@pytest.fixture(scope="module")
def server() -> Iterator[SandboxServer]:
    """One loopback server for the module."""
    with SandboxServer(QontoSandbox()) as running:
        yield running


@pytest.fixture
def clock() -> ManualClock:
    """Manual clock on a Tuesday morning in March 2026."""
    return ManualClock(START)


@pytest.fixture
def sandbox(server: SandboxServer, clock: ManualClock) -> Iterator[QontoSandbox]:
    """A fresh sandbox with one OAuth app, served by the module's server."""
    box = QontoSandbox(clock)
    box.add_oauth_app(CLIENT_ID, SECRET, [REDIRECT])
    server.use(box)
    yield box
    box.close()


@pytest.fixture
def http(server: SandboxServer, sandbox: QontoSandbox) -> Iterator[httpx.Client]:
    """Plain HTTP client on the sandbox (no credentials)."""
    with httpx.Client(base_url=server.base_url) as client:
        yield client


def authorize(http: httpx.Client, scope: str = ALL_SCOPES, **extra: str) -> dict[str, list[str]]:
    """Follow ``/oauth2/auth`` once and return the query of the redirect back to the app."""
    params = {
        "client_id": CLIENT_ID,
        "redirect_uri": REDIRECT,
        "response_type": "code",
        "scope": scope,
        "state": "state-1234567",
        **extra,
    }
    response = http.get("/oauth2/auth", params=params)
    assert response.status_code == 302, response.text
    location = urlsplit(response.headers["location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == REDIRECT
    return parse_qs(location.query)


def token(http: httpx.Client, **form: str) -> httpx.Response:
    """``POST /oauth2/token`` with the app's credentials in the form."""
    return http.post(
        "/oauth2/token", data={"client_id": CLIENT_ID, "client_secret": SECRET, **form}
    )


def connect(http: httpx.Client, scope: str = ALL_SCOPES) -> dict[str, Any]:
    """Full authorization-code flow; return the token response."""
    code = authorize(http, scope)["code"][0]
    response = token(http, grant_type="authorization_code", code=code, redirect_uri=REDIRECT)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def refresh(http: httpx.Client, refresh_token: str) -> httpx.Response:
    """``grant_type=refresh_token``."""
    return token(http, grant_type="refresh_token", refresh_token=refresh_token)


def organization(http: httpx.Client, authorization: str) -> httpx.Response:
    """``GET /v2/organization`` with the given Authorization header."""
    return http.get("/v2/organization", headers={"Authorization": authorization})


def bearer(access_token: str) -> str:
    """``Bearer <token>``."""
    return f"Bearer {access_token}"


# --------------------------------------------------------------- code flow


def test_code_flow_issues_documented_token_set(http: httpx.Client) -> None:
    back = authorize(http)
    assert back["state"] == ["state-1234567"]
    assert back["scope"] == [ALL_SCOPES]
    assert back["code"][0].startswith("ory_ac_")

    response = token(
        http, grant_type="authorization_code", code=back["code"][0], redirect_uri=REDIRECT
    )
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert list(body) == [
        "access_token",
        "expires_in",
        "id_token",
        "refresh_token",
        "scope",
        "token_type",
    ]
    assert body["access_token"].startswith("ory_at_")
    assert body["refresh_token"].startswith("ory_rt_")
    assert body["expires_in"] == 3600
    assert body["token_type"] == "bearer"
    assert body["id_token"].count(".") == 2

    answer = organization(http, bearer(body["access_token"]))
    assert answer.status_code == 200
    assert answer.json()["organization"]["slug"] == "atelier-lumiere-sas-4821"


def test_client_secret_basic_is_accepted_too(http: httpx.Client) -> None:
    code = authorize(http)["code"][0]
    response = http.post(
        "/oauth2/token",
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT},
        auth=(CLIENT_ID, SECRET),
    )
    assert response.status_code == 200, response.text


def test_without_offline_access_there_is_no_refresh_token(http: httpx.Client) -> None:
    body = connect(http, "organization.read")
    assert "refresh_token" not in body
    assert "id_token" not in body
    assert body["scope"] == "organization.read"


def test_code_is_single_use_and_replay_revokes_its_tokens(http: httpx.Client) -> None:
    code = authorize(http)["code"][0]
    first = token(http, grant_type="authorization_code", code=code, redirect_uri=REDIRECT)
    assert first.status_code == 200
    again = token(http, grant_type="authorization_code", code=code, redirect_uri=REDIRECT)
    assert again.status_code == 400
    assert again.json()["error"] == "invalid_grant"
    assert again.json()["error_description"].startswith(INVALID_GRANT_START)
    assert organization(http, bearer(first.json()["access_token"])).status_code == 401


def test_code_expires_after_ten_minutes(http: httpx.Client, clock: ManualClock) -> None:
    code = authorize(http)["code"][0]
    clock.advance(timedelta(minutes=10, seconds=1))
    response = token(http, grant_type="authorization_code", code=code, redirect_uri=REDIRECT)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"
    assert "expired" in response.json()["error_description"]


def test_code_bound_to_redirect_uri(http: httpx.Client) -> None:
    code = authorize(http)["code"][0]
    response = token(
        http, grant_type="authorization_code", code=code, redirect_uri="https://evil.example/cb"
    )
    assert response.json()["error"] == "invalid_grant"


@pytest.mark.parametrize(
    ("form", "status", "error"),
    [
        ({"client_secret": "wrong"}, 401, "invalid_client"),
        ({"client_id": "nobody"}, 401, "invalid_client"),
        ({"grant_type": "password"}, 400, "unsupported_grant_type"),
        ({"grant_type": ""}, 400, "invalid_request"),
        ({"grant_type": "authorization_code", "code": "ory_ac_unknown"}, 400, "invalid_grant"),
    ],
)
def test_token_endpoint_errors(
    http: httpx.Client, form: dict[str, str], status: int, error: str
) -> None:
    response = token(http, **{"grant_type": "authorization_code", **form})
    assert response.status_code == status
    assert response.json()["error"] == error
    assert response.json()["error_description"]


def test_token_endpoint_wants_a_form(http: httpx.Client) -> None:
    response = http.post(
        "/oauth2/token",
        json={"client_id": CLIENT_ID, "client_secret": SECRET, "grant_type": "refresh_token"},
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


def test_authorize_errors(http: httpx.Client, sandbox: QontoSandbox) -> None:
    unknown = http.get("/oauth2/auth", params={"client_id": "nobody", "response_type": "code"})
    assert unknown.status_code == 401
    assert unknown.json()["error"] == "invalid_client"
    wrong_uri = http.get(
        "/oauth2/auth",
        params={"client_id": CLIENT_ID, "redirect_uri": "https://evil.example/cb"},
    )
    assert wrong_uri.status_code == 400
    assert "location" not in wrong_uri.headers

    assert authorize(http, state="short")["error"] == ["invalid_state"]
    assert authorize(http, scope="client.read bank.everything")["error"] == ["invalid_scope"]
    assert authorize(http, response_type="token")["error"] == ["unsupported_response_type"]
    sandbox.set_consent(False)
    denied = authorize(http)
    assert denied["error"] == ["access_denied"]
    assert denied["state"] == ["state-1234567"]


# ------------------------------------------------------ lifetimes, rotation


def test_access_token_lives_one_hour(http: httpx.Client, clock: ManualClock) -> None:
    access = connect(http)["access_token"]
    clock.advance(timedelta(minutes=59, seconds=59))
    assert organization(http, bearer(access)).status_code == 200
    clock.advance(timedelta(seconds=1))
    expired = organization(http, bearer(access))
    assert expired.status_code == 401
    assert expired.json()["errors"][0]["code"] == "unauthorized"
    assert "expired" in expired.json()["errors"][0]["detail"]


def test_refresh_rotates_and_old_token_has_sixty_second_grace(
    http: httpx.Client, clock: ManualClock
) -> None:
    tokens = connect(http)
    old_refresh = tokens["refresh_token"]
    first = refresh(http, old_refresh)
    assert first.status_code == 200
    rotated = first.json()
    assert rotated["refresh_token"] != old_refresh
    assert rotated["access_token"] != tokens["access_token"]
    assert organization(http, bearer(tokens["access_token"])).status_code == 401
    assert organization(http, bearer(rotated["access_token"])).status_code == 200

    clock.advance(timedelta(seconds=60))
    within_grace = refresh(http, old_refresh)
    assert within_grace.status_code == 200
    grace_tokens = within_grace.json()

    clock.advance(timedelta(seconds=1))
    late = refresh(http, old_refresh)
    assert late.status_code == 400
    assert late.json()["error"] == "invalid_grant"
    assert late.json()["error_description"].startswith(INVALID_GRANT_START)
    # Reuse after the grace period is treated as theft: the whole consent is revoked.
    assert organization(http, bearer(grace_tokens["access_token"])).status_code == 401
    assert refresh(http, rotated["refresh_token"]).json()["error"] == "invalid_grant"


def test_rotated_tokens_chain_forever(http: httpx.Client, clock: ManualClock) -> None:
    current = connect(http)["refresh_token"]
    for _ in range(3):
        clock.advance(timedelta(days=80))
        response = refresh(http, current)
        assert response.status_code == 200
        current = response.json()["refresh_token"]


def test_refresh_token_expires_after_ninety_days(http: httpx.Client, clock: ManualClock) -> None:
    refresh_token = connect(http)["refresh_token"]
    clock.advance(timedelta(days=90))
    response = refresh(http, refresh_token)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"
    assert "expired" in response.json()["error_description"]


def test_refresh_token_of_another_client_is_refused(
    http: httpx.Client, sandbox: QontoSandbox
) -> None:
    sandbox.add_oauth_app("other-app", "other-secret", [REDIRECT])
    refresh_token = connect(http)["refresh_token"]
    response = http.post(
        "/oauth2/token",
        data={
            "client_id": "other-app",
            "client_secret": "other-secret",
            "grant_type": "refresh_token",
            "refresh_token": refresh_token,
        },
    )
    assert response.json()["error"] == "invalid_grant"


def test_user_disconnecting_revokes_every_token(http: httpx.Client, sandbox: QontoSandbox) -> None:
    tokens = connect(http)
    assert sandbox.revoke_refresh_token(tokens["refresh_token"]) is True
    response = refresh(http, tokens["refresh_token"])
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"
    assert "revoked" in response.json()["error_description"]
    revoked = organization(http, bearer(tokens["access_token"]))
    assert revoked.status_code == 401
    assert "revoked" in revoked.json()["errors"][0]["detail"]
    assert sandbox.revoke_refresh_token("ory_rt_unknown") is False


def test_revoking_an_app_ends_all_its_consents(http: httpx.Client, sandbox: QontoSandbox) -> None:
    first, second = connect(http), connect(http)
    assert sandbox.revoke_app(CLIENT_ID) == 2
    assert organization(http, bearer(first["access_token"])).status_code == 401
    assert refresh(http, second["refresh_token"]).json()["error"] == "invalid_grant"


def test_swapped_clock_drives_expiry(http: httpx.Client, sandbox: QontoSandbox) -> None:
    access = connect(http)["access_token"]
    sandbox.set_clock(ManualClock(START + timedelta(hours=2)))
    assert organization(http, bearer(access)).status_code == 401


def test_revocation_endpoints(http: httpx.Client) -> None:
    tokens = connect(http)
    answer = http.post("/_sandbox/oauth/revoke", json={"refresh_token": tokens["refresh_token"]})
    assert answer.json() == {"revoked": True}
    assert refresh(http, tokens["refresh_token"]).json()["error"] == "invalid_grant"

    other = connect(http)
    response = http.post(
        "/oauth2/revoke",
        data={"token": other["access_token"], "client_id": CLIENT_ID, "client_secret": SECRET},
    )
    assert response.status_code == 200
    assert organization(http, bearer(other["access_token"])).status_code == 401
    assert refresh(http, other["refresh_token"]).status_code == 200


def test_missing_scope_is_forbidden(http: httpx.Client) -> None:
    access = connect(http, "offline_access client.read")["access_token"]
    allowed = http.get("/v2/clients", headers={"Authorization": bearer(access)})
    assert allowed.status_code == 200
    refused = http.post(
        "/v2/clients",
        headers={"Authorization": bearer(access)},
        json={"kind": "company", "name": "Dupont SAS"},
    )
    assert refused.status_code == 403
    assert refused.json()["errors"][0]["code"] == "forbidden"
    assert "client.write" in refused.json()["errors"][0]["detail"]
    assert organization(http, bearer(access)).status_code == 403


# ------------------------------------------------------------ API-key mode


def test_api_key_reads_and_is_mostly_read_only(http: httpx.Client, sandbox: QontoSandbox) -> None:
    key = sandbox.api_key
    assert key.startswith("atelier-lumiere-sas-4821:")
    assert organization(http, key).status_code == 200
    client = sandbox.create_client({"kind": "company", "name": "Durand Conseil"})
    headers = {"Authorization": key}
    assert http.get("/v2/clients", headers=headers).status_code == 200
    assert http.get("/v2/client_invoices", headers=headers).status_code == 200

    created = http.post("/v2/clients", headers=headers, json={"kind": "company", "name": "X"})
    assert created.status_code == 403
    assert "OAuth" in created.json()["errors"][0]["detail"]
    deleted = http.delete(f"/v2/clients/{client['id']}", headers=headers)
    assert deleted.status_code == 403
    hooks = http.get("/v2/webhook_subscriptions", headers=headers)
    assert hooks.status_code == 403

    patched = http.patch(
        f"/v2/clients/{client['id']}", headers=headers, json={"email": "compta@durand.fr"}
    )
    assert patched.status_code == 200
    assert patched.json()["client"]["email"] == "compta@durand.fr"

    calls = sandbox.calls()
    assert [call.auth for call in calls] == ["api_key"] * len(calls)


@pytest.mark.parametrize(
    "authorization",
    [
        "atelier-lumiere-sas-4821:wrong",
        "someone-else:{secret}",
        "Basic {secret}",
        "Bearer ory_at_unknown",
        "",
    ],
)
def test_bad_credentials_are_unauthorized(
    http: httpx.Client, sandbox: QontoSandbox, authorization: str
) -> None:
    header = authorization.format(secret=sandbox.api_secret)
    response = organization(http, header) if header else http.get("/v2/organization")
    assert response.status_code == 401
    body = response.json()
    assert body["errors"][0]["code"] == "unauthorized"
    assert body["trace_id"] == response.headers["x-tyk-trace-id"]


def test_regenerated_api_key_replaces_the_old_one(
    http: httpx.Client, sandbox: QontoSandbox
) -> None:
    old = sandbox.api_key
    new = sandbox.regenerate_api_key()
    assert organization(http, old).status_code == 401
    assert organization(http, new).status_code == 200


def test_api_key_write_routes_are_configurable(server: SandboxServer, clock: ManualClock) -> None:
    box = QontoSandbox(clock, api_key_write_routes={"POST /v2/clients"})
    server.use(box)
    with httpx.Client(base_url=server.base_url, headers={"Authorization": box.api_key}) as http:
        assert http.post("/v2/clients", json={"kind": "company", "name": "A"}).status_code == 200
        client_id = box.clients()[0]["id"]
        assert http.patch(f"/v2/clients/{client_id}", json={"name": "B"}).status_code == 403
    box.close()


# ------------------------------------------------------ staging, limits


def test_missing_staging_token_gets_html(server: SandboxServer, clock: ManualClock) -> None:
    box = QontoSandbox(clock, staging_token="staging-123")
    box.add_oauth_app(CLIENT_ID, SECRET, [REDIRECT])
    server.use(box)
    with httpx.Client(base_url=server.base_url) as http:
        bare = organization(http, box.api_key)
        assert bare.status_code == 200
        assert bare.headers["content-type"].startswith("text/html")
        staged = http.get(
            "/v2/organization",
            headers={"Authorization": box.api_key, "X-Qonto-Staging-Token": "staging-123"},
        )
        assert staged.json()["organization"]["id"] == box.organization_id
        code = box.issue_code(CLIENT_ID, "organization.read", REDIRECT)
        form = {
            "client_id": CLIENT_ID,
            "client_secret": SECRET,
            "grant_type": "authorization_code",
            "code": code,
        }
        assert http.post("/oauth2/token", data=form).headers["content-type"].startswith("text/html")
        ok = http.post("/oauth2/token", data=form, headers={"X-Qonto-Staging-Token": "staging-123"})
        assert ok.status_code == 200
    box.close()


def test_rate_limit_answers_429_with_retry_after(server: SandboxServer, clock: ManualClock) -> None:
    box = QontoSandbox(clock, rate_limits=((3, 10.0), (5, 600.0)))
    server.use(box)
    with httpx.Client(base_url=server.base_url, headers={"Authorization": box.api_key}) as http:
        assert [http.get("/v2/organization").status_code for _ in range(3)] == [200] * 3
        refused = http.get("/v2/organization")
        assert refused.status_code == 429
        assert refused.headers["retry-after"] == "10"
        error = refused.json()["errors"][0]
        assert error["code"] == "too_many_requests"
        assert "3 requests per 10 seconds" in error["detail"]

        clock.advance(timedelta(seconds=10))
        assert [http.get("/v2/organization").status_code for _ in range(2)] == [200, 200]
        long_window = http.get("/v2/organization")
        assert long_window.status_code == 429
        assert "5 requests per 10 minutes" in long_window.json()["errors"][0]["detail"]
        assert int(long_window.headers["retry-after"]) == 590
    assert [call.status for call in box.calls()].count(429) == 2
    box.close()


def test_too_many_401_responses_throttle_the_ip(server: SandboxServer, clock: ManualClock) -> None:
    box = QontoSandbox(clock, auth_failure_limit=3)
    server.use(box)
    with httpx.Client(base_url=server.base_url) as http:
        statuses = [organization(http, "nobody:nothing").status_code for _ in range(4)]
        assert statuses == [401, 401, 401, 401]
        throttled = organization(http, box.api_key)
        assert throttled.status_code == 429
        assert "401" in throttled.json()["errors"][0]["detail"]
        clock.advance(timedelta(hours=1))
        assert organization(http, box.api_key).status_code == 200
    box.close()
