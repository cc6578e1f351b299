"""The callback URL token is masked wherever a URL is logged."""

from __future__ import annotations

import logging

from ledgerbridge.logs import RedactCallbackTokens


def test_callback_token_is_masked() -> None:
    record = logging.LogRecord(
        "uvicorn.access", logging.INFO, __file__, 1,
        '%s - "%s %s HTTP/1.1" %d', ("127.0.0.1", "GET",
        "/api/v1/inbound/3f2a/SECRETtoken123?Table=Debtor&Key=1", 200), None,
    )  # fmt: skip
    RedactCallbackTokens().filter(record)
    assert "SECRETtoken123" not in record.getMessage()
    assert "/api/v1/inbound/3f2a/***?Table=Debtor" in record.getMessage()
