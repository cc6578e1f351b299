"""The inbound callback endpoint that accounting systems call: stored, then processed."""

from __future__ import annotations

import hmac
import secrets
import time
from collections.abc import Mapping

from ledgerbridge.runtime.jobqueue.port import Command
from ledgerbridge.services.connections.base import Part, system_spec, token_hash
from ledgerbridge.store.db import insert_new
from ledgerbridge.store.tables.sync import InboxEvent
from ledgerbridge.store.tables.tenancy import Connection
from ledgerbridge.store.write_turns import urgent_writes


def _token_matches(row: Connection | None, hashed: str) -> bool:
    return row is not None and hmac.compare_digest(row.inbound_token_hash, hashed)


KNOWN_FOR_S = 60.0
"""How long a callback URL found by ``knows`` is taken as known without reading it again."""
KNOWN_URLS_KEPT = 1000


class Callbacks(Part):
    def knows(self, connection_id: str, token: str) -> bool:
        """Whether the URL is a connection's callback URL, checked before the body is read
        (one indexed read). ``receive`` checks again in the transaction that stores."""
        hashed = token_hash(token)
        with self._sessions() as session:
            known = _token_matches(session.get(Connection, connection_id), hashed)
        if known:
            if len(self._known_urls) >= KNOWN_URLS_KEPT:
                self._known_urls.clear()
            self._known_urls[connection_id, hashed] = time.monotonic() + KNOWN_FOR_S
        return known

    def known_lately(self, connection_id: str, token: str) -> bool:
        """Whether ``knows`` found this URL in the last minute: a system calling again skips
        that read and its trip to a thread, which made up a third of an acknowledgement
        under load. Nothing is stored on its word: ``receive`` checks the token in the
        transaction that stores, so a URL changed since is still refused."""
        until = self._known_urls.get((connection_id, token_hash(token)))
        return until is not None and until > time.monotonic()

    def receive(
        self,
        connection_id: str,
        token: str,
        query: Mapping[str, str],
        body: bytes,
        headers: Mapping[str, str] | None = None,
    ) -> bool:
        """Store an inbound callback, then queue its processing. False if the token is wrong
        (the caller answers 404, revealing nothing). A system that signs its callbacks has
        them checked first (``CallbackRefused``: nothing stored), and an event it sends
        again under the same id is stored only once. Its write goes before other writers
        waiting on SQLite (``store.write_turns``): the sender waits for the answer."""
        with urgent_writes(), self._sessions.begin() as session:
            row = session.get(Connection, connection_id)
            if row is None or not _token_matches(row, token_hash(token)):
                return False
            check = system_spec(row.system).callback_check
            event_key = None
            if check is not None:
                event_key = check(
                    self._box.open(row.secrets), headers or {}, body, self._clock.now()
                )
            # One atomic insert: a duplicate delivery, even one racing this one, stores nothing.
            inserted = insert_new(
                session,
                InboxEvent,
                {
                    "connection_id": connection_id,
                    "event_key": event_key or secrets.token_hex(16),
                    "payload": {"query": dict(query), "body": body.decode("utf-8", "replace")},
                    "received_at": self._clock.now(),
                },
                ["connection_id", "event_key"],
            )
            if not inserted:
                return True
            # In the same transaction: the event and the job that processes it commit together.
            self._queue.enqueue(
                Command(
                    "inbox",
                    connection_id=connection_id,
                    tenant_id=row.tenant_id,
                    dedupe_key=f"inbox:{connection_id}",
                    priority=20,
                ),
                session=session,
            )
        return True
