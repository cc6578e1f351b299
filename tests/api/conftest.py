"""The hub API over loopback with a real database: the integration fixtures, shared."""

from tests.integration.conftest import (
    hub,
    hub_port,
    secret_key,
    settings,
    system,
    tenant,
    uniconta,
)

__all__ = ["hub", "hub_port", "secret_key", "settings", "system", "tenant", "uniconta"]
