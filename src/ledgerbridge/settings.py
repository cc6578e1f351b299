"""Installation settings, from the environment (``LEDGERBRIDGE_*``) or a ``.env`` file."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
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
        description="Base URL at which accounting systems reach this installation's callbacks.",
    )
    host: str = "127.0.0.1"
    port: int = 8000
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
