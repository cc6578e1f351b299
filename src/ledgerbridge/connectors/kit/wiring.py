"""What a connector and its set-up are made from, typed once: a connection's settings and
secrets, and where its HTTP calls go."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

Settings = Mapping[str, Any]
"""A connection's settings, or its secrets, as a connector reads them."""
Transport = httpx.BaseTransport | None
"""Where a connector's HTTP calls go: None for the network, a sandbox's or a test's otherwise."""
