"""Logging set-up that keeps secrets out of log lines.

Secrets never go into log calls in the first place; the one secret that travels in a URL is the
token of a connection's callback URL (``/api/v1/inbound/<id>/<token>``), which access logs and
HTTP client logs would otherwise print. This filter masks it on every handler.
"""

from __future__ import annotations

import logging
import re

_INBOUND = re.compile(r"(/inbound/[^/\s?\"']+/)[^/\s?\"']+")


class RedactCallbackTokens(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = _INBOUND.sub(r"\1***", message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


def configure(level: str) -> None:
    logging.basicConfig(
        level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    for handler in logging.getLogger().handlers:
        handler.addFilter(RedactCallbackTokens())
    # uvicorn's own handlers do not propagate to the root logger.
    for name in ("uvicorn", "uvicorn.access", "uvicorn.error"):
        for handler in logging.getLogger(name).handlers:
            handler.addFilter(RedactCallbackTokens())
