"""Installation settings, from the environment (``LEDGERBRIDGE_*``) or a ``.env`` file."""

from __future__ import annotations

import ipaddress
import socket
from pathlib import Path
from typing import Self
from urllib.parse import urlsplit

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LEDGERBRIDGE_", env_file=".env", extra="ignore")

    database_url: str = "sqlite:///./ledgerbridge.db"
    secret_keys: str | None = Field(
        default=None,
        description="Comma-separated Fernet keys; the first encrypts, all decrypt (rotation).",
    )
    secret_key_file: Path = Path("./ledgerbridge.key")
    public_url: str = Field(
        default="http://127.0.0.1:8000",
        description="Base URL at which accounting systems reach this installation's callbacks "
        "(Change URL, webhooks, OAuth login). When not set: http://<host>:<port> of the address "
        "the server binds, the machine's name when it binds every interface.",
    )
    host: str = "127.0.0.1"
    port: int = 8000
    processes: int = Field(
        default=1,
        ge=1,
        description="Processes `serve` answers the API in, each with its own interpreter "
        "(PostgreSQL only: SQLite's writes are one process's). One per core is a good start.",
    )
    serve_jobs: bool = Field(
        default=True,
        description="Whether `serve` also runs jobs and ticks the schedules. Off (PostgreSQL "
        "only): its processes answer the API alone and `ledgerbridge worker` processes run "
        "the jobs, so a long import never slows an acknowledgement.",
    )
    metrics_token: str | None = Field(
        default=None,
        description="The bearer token a Prometheus scrape of `GET /metrics` sends. Unset: "
        "`/metrics` answers 404 (the figures span every tenant, so no tenant's API key opens "
        "them).",
    )
    worker_concurrency: int = 2
    poll_interval: float = 1.0
    job_lease_seconds: float = Field(
        default=60.0,
        gt=0,
        description="A running job whose worker stops renewing it for this long is run again "
        "(renewed every third of it by a background thread, whatever the job's pace).",
    )
    retention_days: int = Field(
        default=30,
        ge=1,
        description="Finished jobs, the sync log, processed inbox events, delivered webhooks "
        "and the change feed older than this are deleted daily (never what a reader still "
        "needs).",
    )
    max_body_bytes: int = Field(
        default=5 * 1024 * 1024,
        gt=0,
        description="Largest request body the API accepts (413 beyond it), callbacks included.",
    )
    files_watch_root: Path | None = Field(
        default=None,
        description="The folder under which files connections may watch a folder of their "
        "own (settings.watch_folder); none: no connection watches a folder, as a tenant "
        "would otherwise read and move files anywhere the hub may.",
    )
    mail_first_retry_seconds: float = Field(
        default=60.0,
        gt=0,
        description="Wait before an invoice mail's first retry after a temporary SMTP failure; "
        "it doubles per attempt up to 30 minutes (docs/invoice-mail.md).",
    )
    log_level: str = "INFO"
    tripletex_consumer_token: str | None = Field(
        default=None,
        description="The consumer token Tripletex issued to this installation (integration "
        "partner) for its production environment; tenants paste only their employee tokens. "
        "Also used in the test environment when no test token is set.",
    )
    tripletex_test_consumer_token: str | None = Field(
        default=None,
        description="The consumer token of Tripletex's test environment (a consumer token "
        "works in one environment only), for connections whose environment is test.",
    )

    @model_validator(mode="after")
    def _public_url_from_address(self) -> Self:
        """Callbacks go where the server listens unless told otherwise: ``serve --port 9000``
        must not hand out URLs on port 8000."""
        if "public_url" not in self.model_fields_set:
            self.public_url = f"http://{_url_host(self.host)}:{self.port}"
        return self


def _url_host(host: str) -> str:
    """The host of a URL that reaches a bound address: the machine's name for a wildcard
    address (every interface), brackets around an IPv6 literal."""
    if host in ("", "0.0.0.0", "::"):
        return socket.getfqdn()
    return f"[{host}]" if ":" in host else host


def public_url_warning(public_url: str) -> str | None:
    """Why accounting systems cannot reach ``public_url``, when the host is a loopback address
    (only this machine can call it); None when it may be reachable. Shown in a connection's
    status next to its Change URL, because a callback that cannot arrive is lost silently."""
    host = urlsplit(public_url).hostname or ""
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = host.endswith(".localhost")
    if not loopback:
        return None
    return (
        f"callbacks go to {public_url}, which only this machine can reach: accounting systems "
        "elsewhere cannot deliver changes; set LEDGERBRIDGE_PUBLIC_URL to the address they "
        "reach this installation at"
    )
