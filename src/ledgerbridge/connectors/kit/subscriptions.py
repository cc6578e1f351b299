"""Webhook subscriptions made through a system's API, all or none."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from ledgerbridge.connectors.base import ConnectorError


def subscribe_all(
    topics: Iterable[str], make: Callable[[str], str], delete: Callable[[list[str]], None]
) -> list[str]:
    """One subscription per topic (``make`` returns its id). When one fails, those made are
    deleted again before the failure goes on: a connection is never left half subscribed,
    with events of some topics arriving and others silently missing."""
    made: list[str] = []
    try:
        for topic in topics:
            made.append(make(topic))
    except ConnectorError:
        delete(made)
        raise
    return made
