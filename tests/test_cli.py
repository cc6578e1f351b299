"""The command line as a user runs it: real processes, real ports."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet

from ledgerbridge.cli import SANDBOXES
from ledgerbridge.runtime.http import free_port
from ledgerbridge.runtime.system import System
from ledgerbridge.settings import Settings, public_url_warning
from ledgerbridge.store.db import create_db_engine
from ledgerbridge.store.secrets import SecretBox, SecretsKeyError

LEDGERBRIDGE = str(Path(sys.executable).parent / "ledgerbridge")


def _run(
    *args: str, cwd: Path | None = None, timeout: float = 120, **extra_env: str
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEDGERBRIDGE_")}
    env.update(extra_env)
    return subprocess.run(
        [LEDGERBRIDGE, *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=timeout
    )


def test_help_explains_every_command() -> None:
    result = _run("--help")
    assert result.returncode == 0
    commands = ["demo", "serve", "worker", "sandbox", "tenant", "migrate", "ui-link"]
    for command in [*commands, "rotate-secrets"]:
        assert command in result.stdout


def test_demo_once_runs_the_whole_flow_and_exits_0(tmp_path: Path) -> None:
    checkout, data = tmp_path / "checkout", tmp_path / "data"
    checkout.mkdir()
    result = _run(
        "demo", "--once", "--port", "0", "--debtors", "120", cwd=checkout, XDG_DATA_HOME=str(data)
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "customers       120 created" in out
    assert "Initial import done" in out
    assert "Mapped X99: its records synced by themselves" in out
    assert "App → Uniconta" in out
    assert "Uniconta → app" in out
    assert "Echoes recognised and not sent back: 1" in out
    assert "/docs" in out and "/sync-log" in out
    assert re.search(r"Web UI: +http://127\.0\.0\.1:\d+/ui/login/\S+", out), out
    # Its database and key go to the user's data directory, nothing into the working one.
    assert (data / "ledgerbridge" / "demo" / "ledgerbridge-demo.db").exists()
    assert (data / "ledgerbridge" / "demo" / "ledgerbridge-demo.key").exists()
    assert list(checkout.iterdir()) == []
    assert "Traceback" not in result.stderr


def test_demo_webshop_books_the_shop_into_uniconta_and_exits_0(tmp_path: Path) -> None:
    result = _run(
        "demo", "--flow", "webshop", "--once", "--port", "0", "--orders", "80",
        "--data-dir", str(tmp_path / "data"), cwd=tmp_path, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "WooCommerce sandbox on http://127.0.0.1:" in out
    assert "invoice, paid" in out and "credit note" in out
    assert "0 orders left as drafts" in out
    assert "Rounding:" in out and "got a line on AFRUND" in out
    assert "state_not_triggering" in out  # orders on hold are explained, not booked
    for case in ("German consumer (OSS)", "EU business, VAT number", "public body with EAN",
                 "renewal: failed, then paid"):  # fmt: skip
        assert case in out
    assert "U_DE19" in out and "UEUV" in out
    assert "counted to 42 in Uniconta; the shop now shows 42" in out
    # The Stripe payout: every card payment matched, the unknown order on the error account.
    assert "PayMatch: 8 payments matched to their invoices, 1 on the error account 5990" in out
    assert re.search(r"Zettle: 12 sales at the till \(DKK ([\d.]+)\) → 12 booked invoices on "
                     r"debtor KASSE \(DKK \1\), 1 credit note", out), out  # fmt: skip
    # The sale paid part by card, part in cash is booked open and registered part by part.
    assert "payment_split" not in out, out
    assert re.search(r"sale \d+ paid part by card, part in cash: invoice \d+ booked open, a "
                     r"payment line per part \(20\.00, [\d.]+ DKK\) in cash journal PAYMATCH",
                     out), out  # fmt: skip
    mailed = re.search(r"Invoice mail: (\d+) booked invoices mailed .*, (\d+) messages in", out)
    assert mailed and int(mailed[1]) == int(mailed[2]) > 0, out
    assert len(list((tmp_path / "data" / "mail").glob("*.eml"))) == int(mailed[2])
    assert re.search(r"Web UI: +http://127\.0\.0\.1:\d+/ui/login/\S+", out), out
    assert "Traceback" not in result.stderr


def test_ui_link_prints_a_one_time_sign_in_link(tmp_path: Path) -> None:
    env = {
        "LEDGERBRIDGE_DATABASE_URL": f"sqlite:///{tmp_path / 'lb.db'}",
        "LEDGERBRIDGE_PUBLIC_URL": "https://sync.example.dk",
    }
    none_yet = _run("ui-link", cwd=tmp_path, **env)
    assert none_yet.returncode == 2
    assert "no tenant yet" in none_yet.stderr
    assert _run("tenant", "create", "Nordlys", "--owner", "o@nordlys.example", cwd=tmp_path, **env)
    first = _run("ui-link", cwd=tmp_path, **env)
    assert first.returncode == 0, first.stderr
    assert re.fullmatch(r"https://sync\.example\.dk/ui/login/[\w-]{40,}\n", first.stdout)
    _run("tenant", "create", "Fjord", "--owner", "o@fjord.example", cwd=tmp_path, **env)
    several = _run("ui-link", cwd=tmp_path, **env)
    assert several.returncode == 2
    assert "several tenants: choose one with --tenant" in several.stderr
    assert "Traceback" not in first.stderr + several.stderr


def test_worker_refuses_sqlite_with_a_reason(tmp_path: Path) -> None:
    result = _run("worker", cwd=tmp_path)
    assert result.returncode == 2
    assert "needs PostgreSQL" in result.stderr


def _serving(args: list[str], url: str, **request: object) -> httpx.Response:
    """Start a sandbox command, make one request once it listens, stop it."""
    process = subprocess.Popen(
        [LEDGERBRIDGE, "sandbox", *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        for _ in range(150):
            try:
                return httpx.get(url, **request)  # type: ignore[arg-type]
            except httpx.TransportError:
                time.sleep(0.1)
        raise AssertionError(f"{args[0]} sandbox did not start")
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.mark.parametrize("name", [*SANDBOXES, "smtp"])
def test_sandbox_help_and_errors_name_the_command_typed(name: str) -> None:
    """`ledgerbridge sandbox NAME --help` is the README's way to a simulator's options: its
    usage line names the command as typed, not a bare `ledgerbridge` that has no such options."""
    result = _run("sandbox", name, "--help")
    assert result.returncode == 0
    assert result.stdout.startswith(f"usage: ledgerbridge sandbox {name} [-h]")


def test_sandbox_option_error_names_the_command_typed() -> None:
    result = _run("sandbox", "uniconta", "--port", "abc")
    assert result.returncode == 2
    assert "ledgerbridge sandbox uniconta: error: argument --port: invalid int value: 'abc'" in (
        result.stderr
    )


def test_sandbox_command_serves_the_uniconta_api() -> None:
    port = free_port()
    response = _serving(
        ["uniconta", "--port", str(port), "--debtors", "5", "--password", "pw"],
        f"http://127.0.0.1:{port}/odata/12345/DebtorClient",
        auth=("0012345/apiuser", "pw"),
    )
    assert response.status_code == 200
    assert len(response.json()["value"]) == 5


def test_sandbox_commands_serve_tripletex_qonto_and_yuki() -> None:
    for name, path in (
        ("tripletex", "/production/v2/token/session/>whoAmI"),
        ("qonto", "/v2/organization"),
        ("yuki", "/ws/Contact.asmx?WSDL"),
    ):
        port = free_port()
        response = _serving([name, "--port", str(port)], f"http://127.0.0.1:{port}{path}")
        # Served, and the API's own answer to an unauthenticated call or the WSDL.
        assert response.status_code in (200, 401, 403), (name, response.status_code)


def test_tenant_create_refuses_a_wrong_owner_address_in_one_line(tmp_path: Path) -> None:
    """A mistyped address is said in one line naming it, with status 2, not a traceback; the
    command corrected then works."""
    refused = _run("tenant", "create", "Nordlys", "--owner", "o.nordlys.example", cwd=tmp_path)
    assert refused.returncode == 2
    assert refused.stderr == (
        "error: 'o.nordlys.example' is not an email address (name@example.com)\n"
    )
    assert "Traceback" not in refused.stdout + refused.stderr
    created = _run("tenant", "create", "Nordlys", "--owner", "o@nordlys.example", cwd=tmp_path)
    assert created.returncode == 0, created.stderr


@pytest.mark.parametrize("command", [["migrate"], ["tenant", "create", "X", "--owner", "o@x.dk"]])
def test_a_database_url_of_the_wrong_form_is_one_error_line(
    tmp_path: Path, command: list[str]
) -> None:
    """`postgres://` (the form other tools take) or a typo in LEDGERBRIDGE_DATABASE_URL is said
    in one line with the forms that work and the password hidden, not a traceback."""
    url = "postgres://ledgerbridge:s3cret@db-host/ledgerbridge"
    result = _run(*command, cwd=tmp_path, LEDGERBRIDGE_DATABASE_URL=url)
    assert result.returncode == 2
    assert result.stderr.startswith(
        "error: LEDGERBRIDGE_DATABASE_URL postgres://ledgerbridge:***@db-host/ledgerbridge is "
        "not a database URL ledgerbridge can use ("
    )
    assert "postgresql+psycopg://USER:PASSWORD@HOST/DATABASE" in result.stderr
    assert "s3cret" not in result.stderr and "Traceback" not in result.stderr


def test_serve_on_another_port_hands_out_callback_urls_on_that_port(tmp_path: Path) -> None:
    """Without LEDGERBRIDGE_PUBLIC_URL the callback URLs follow the address served, and a
    loopback one is warned about: no accounting system elsewhere can call it."""
    created = _run(
        "tenant", "create", "Nordlys Handel", "--owner", "o@nordlys.example", cwd=tmp_path
    )
    assert created.returncode == 0, created.stderr
    api_key = created.stdout.split("api key", 1)[1].strip()
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEDGERBRIDGE_")}
    process = subprocess.Popen(
        [LEDGERBRIDGE, "serve", "--port", str(port)],
        cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    hub = f"http://127.0.0.1:{port}"
    try:
        api = httpx.Client(base_url=f"{hub}/api/v1", headers={"Authorization": f"Bearer {api_key}"})
        for _ in range(150):
            try:
                api.get("/health")
                break
            except httpx.TransportError:
                time.sleep(0.1)
        connection = api.post(
            "/connections",
            json={
                "system": "qonto", "name": "Qonto", "timezone": "Europe/Paris",
                "settings": {"oauth_client_id": "crm-app"},
                "secrets": {"oauth_client_secret": "crm-secret"},
            },
        )  # fmt: skip
        assert connection.status_code == 201, connection.text
        assert connection.json()["change_url"].startswith(f"{hub}/api/v1/inbound/")
        login = api.post(f"/connections/{connection.json()['id']}/oauth/authorize").json()
        assert login["redirect_uri"] == f"{hub}/api/v1/oauth/callback"
        api.close()
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=20)
    assert f"warning: callbacks go to {hub}, which only this machine can reach" in stderr


@pytest.mark.parametrize(
    ("url", "unreachable"),
    [
        ("http://127.0.0.1:8000", True),
        ("http://localhost:9000", True),
        ("http://[::1]:9000", True),
        ("https://hub.example.com", False),
        ("http://10.0.0.5:8000", False),
    ],
)
def test_a_loopback_public_url_is_warned_about(url: str, unreachable: bool) -> None:
    assert (public_url_warning(url) is not None) is unreachable


def test_the_public_url_follows_the_bound_address_unless_set(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("LEDGERBRIDGE_PUBLIC_URL", raising=False)
    assert Settings(port=9001).public_url == "http://127.0.0.1:9001"
    assert Settings(host="::1", port=9001).public_url == "http://[::1]:9001"
    assert Settings(public_url="https://hub.example.com", port=9001).public_url == (
        "https://hub.example.com"
    )


def test_ui_link_points_at_the_port_serve_was_given(tmp_path: Path) -> None:
    env = {"LEDGERBRIDGE_DATABASE_URL": f"sqlite:///{tmp_path / 'lb.db'}"}
    assert _run("tenant", "create", "Nordlys", "--owner", "o@nordlys.example", cwd=tmp_path, **env)
    by_port = _run("ui-link", "--port", "18800", cwd=tmp_path, **env)
    assert by_port.returncode == 0, by_port.stderr
    assert re.fullmatch(r"http://127\.0\.0\.1:18800/ui/login/[\w-]{40,}\n", by_port.stdout)
    by_env = _run("ui-link", cwd=tmp_path, LEDGERBRIDGE_PORT="18801", **env)
    assert re.fullmatch(r"http://127\.0\.0\.1:18801/ui/login/[\w-]{40,}\n", by_env.stdout)
    by_url = _run("ui-link", "--base-url", "https://sync.example.dk/", cwd=tmp_path, **env)
    assert re.fullmatch(r"https://sync\.example\.dk/ui/login/[\w-]{40,}\n", by_url.stdout)
    not_a_url = _run("ui-link", "--base-url", "sync.example.dk", cwd=tmp_path, **env)
    assert not_a_url.returncode == 2
    assert "is not an http(s):// address" in not_a_url.stderr
    assert "Traceback" not in not_a_url.stderr


def test_rotate_secrets_re_encrypts_every_secret_so_the_old_key_can_go(tmp_path: Path) -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    url = f"sqlite:///{tmp_path / 'lb.db'}"
    system = System(Settings(database_url=url, secret_keys=old))
    try:
        issued = system.tenancy.create_tenant("Nordlys", "o@nordlys.example")
        owner = system.tenancy.authenticate(issued.api_key)
        assert owner is not None
        system.connections.create(
            owner, system="files", name="Filer", timezone=None, settings={}, secrets_={}
        )
        system.webhooks.subscribe(owner, "https://app.nordlys.example/hooks", ["*"])
    finally:
        system.close()

    wrong = _run("rotate-secrets", LEDGERBRIDGE_DATABASE_URL=url, LEDGERBRIDGE_SECRET_KEYS=new)
    assert wrong.returncode == 2
    assert "cannot be decrypted" in wrong.stderr and "Traceback" not in wrong.stderr
    rotated = _run(
        "rotate-secrets", LEDGERBRIDGE_DATABASE_URL=url, LEDGERBRIDGE_SECRET_KEYS=f"{new},{old}"
    )
    assert rotated.returncode == 0, rotated.stderr
    assert rotated.stdout == "2 secret(s) re-encrypted with the first key\n"

    engine = create_db_engine(url)
    with engine.connect() as conn:
        sealed = [
            *conn.execute(sa.text("SELECT secrets FROM connections")).scalars(),
            *conn.execute(sa.text("SELECT secret FROM webhook_subscriptions")).scalars(),
        ]
    engine.dispose()
    assert len(sealed) == 2
    for token in sealed:
        assert SecretBox([new]).open(token)
        with pytest.raises(SecretsKeyError):
            SecretBox([old]).open(token)


@pytest.mark.parametrize("command", [["serve"], ["worker"], ["migrate"]])
def test_a_setting_of_the_wrong_form_is_named_as_it_is_set(
    tmp_path: Path, command: list[str]
) -> None:
    """A mistyped setting is named as the variable the user set, with what to type instead
    (not the validation library's "Input should be a valid integer") and the value given, one
    line each, and nothing starts."""
    result = _run(
        *command, cwd=tmp_path, LEDGERBRIDGE_PORT="80OO", LEDGERBRIDGE_JOB_LEASE_SECONDS="-5"
    )
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "error: LEDGERBRIDGE_PORT: must be a whole number such as 3 (given: '80OO')",
        "error: LEDGERBRIDGE_JOB_LEASE_SECONDS: must be more than 0 (given: '-5')",
    ]


def test_a_secret_key_that_is_no_fernet_key_is_named_in_one_error_line(tmp_path: Path) -> None:
    """A key cut short when pasted into LEDGERBRIDGE_SECRET_KEYS is named by its place, with
    how to make one, and the command stops with status 2 instead of a traceback."""
    good = Fernet.generate_key().decode()
    result = _run(
        "tenant", "create", "X", "--owner", "o@x.dk", cwd=tmp_path,
        LEDGERBRIDGE_SECRET_KEYS=f"{good},{good[:20]}",
    )  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.startswith(
        "error: key 2 of 2 in LEDGERBRIDGE_SECRET_KEYS is not a Fernet key (32 url-safe "
        "base64-encoded bytes): make one with python -c "
    )
    assert good[:20] not in result.stderr and "Traceback" not in result.stderr


def test_a_process_whose_keys_do_not_open_the_stored_secrets_refuses_to_start(
    tmp_path: Path,
) -> None:
    """`serve` (and `worker`) started from another directory, without
    LEDGERBRIDGE_SECRET_KEYS, makes a key file of its own there: it says so and stops, where
    every job would otherwise fail on the credentials."""
    home, elsewhere = tmp_path / "home", tmp_path / "elsewhere"
    home.mkdir()
    elsewhere.mkdir()
    url = f"sqlite:///{tmp_path / 'lb.db'}"
    system = System(Settings(database_url=url, secret_key_file=home / "ledgerbridge.key"))
    try:
        issued = system.tenancy.create_tenant("Nordlys", "o@nordlys.example")
        owner = system.tenancy.authenticate(issued.api_key)
        assert owner is not None
        system.connections.create(
            owner, system="files", name="Filer", timezone=None, settings={}, secrets_={}
        )
    finally:
        system.close()

    served = _run(
        "serve", "--port", str(free_port()), cwd=elsewhere, timeout=60,
        LEDGERBRIDGE_DATABASE_URL=url,
    )  # fmt: skip
    assert served.returncode == 2
    assert (
        f"1 of the 1 stored secrets cannot be decrypted with the key file "
        f"{elsewhere / 'ledgerbridge.key'}" in served.stderr
    )
    assert "Traceback" not in served.stderr
    at_home = _run("ui-link", cwd=home, LEDGERBRIDGE_DATABASE_URL=url)
    assert at_home.returncode == 0, at_home.stderr


def test_an_unreachable_database_is_one_line_naming_it_without_its_password(
    tmp_path: Path,
) -> None:
    url = f"postgresql+psycopg://ledgerbridge:s3cret@127.0.0.1:{free_port()}/ledgerbridge"
    for command in (["migrate"], ["worker"]):
        result = _run(*command, cwd=tmp_path, LEDGERBRIDGE_DATABASE_URL=url)
        assert result.returncode == 1, result.stderr
        assert result.stderr.startswith(
            "error: cannot use the database postgresql+psycopg://ledgerbridge:***@127.0.0.1:"
        )
        assert "Connection refused" in result.stderr
        assert "Traceback" not in result.stderr and "s3cret" not in result.stderr
        assert len(result.stderr.strip().splitlines()) <= 3
