"""The journal of a multi-step create, and the transient faults a run tolerates.

A create that takes several calls (an order, its lines, its posting) keeps, on its write
intent, one entry per step: ``started`` before the call leaves, ``done`` with the result once
confirmed, ``refused`` when the system refused it. The journal is what lets a create resume
from its last confirmed step after a crash, a lost answer or a throttled call, and what tells
which steps must be looked up before anything is sent again.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, TypeVar

from ledgerbridge.connectors.base import (
    JSON,
    AmbiguousWrite,
    ConnectorError,
    CreatePlan,
    RemoteUnavailable,
    StepCall,
)

STARTED = "started"
DONE = "done"
REFUSED = "refused"

OPEN_STATUSES = ("pending", "refused", "ambiguous", "failed")
"""Intents not known to be complete: ``pending`` (in progress or interrupted), ``refused``
(a step was refused; resumed when the record is tried again), and ``ambiguous`` / ``failed``
left by versions that had no journal."""
RESUMABLE_STATUSES = ("pending", "ambiguous", "failed")
"""Open intents every push resumes by itself; a refused one waits for a change or a retry."""
ADOPTED = "adopted"
"""A create resolved by finding a remote record that existed before (not ours) and linking
it: the record is linked, and the update that brings it to the hub's values is still to be
confirmed. Every push resumes it until that update is written (or found needless, or given
an issue); then it is ``done``."""

AWAITING_CREATE = "awaiting_create_recovery"
"""Inbound skip of a remote record that an unconfirmed create of ours may have made: it is
linked to its hub record when the create is resolved, never imported as a new one."""

TRANSIENT = (RemoteUnavailable, AmbiguousWrite)
"""Faults that say nothing about the record itself (429, 5xx, a dropped connection)."""

T = TypeVar("T")


def journal_of(steps: dict[str, Any] | None, plan: CreatePlan) -> dict[str, Any]:
    """An intent's journal; one recorded before steps were journaled has every step started
    (how far it got is unknown, so each is looked up before anything is sent)."""
    if steps is None:
        return {step.name: {"state": STARTED} for step in plan.steps}
    return {name: dict(entry) for name, entry in steps.items()}


def confirmed_steps(plan: CreatePlan, journal: dict[str, Any], record: str) -> str:
    """What the record's confirmed steps wrote, in users' words (the sales order, the order
    lines); empty when nothing is. Steps safe to repeat (reads and checks, without ``find``)
    kept nothing in the system and are left out."""
    repeatable = {step.name for step in plan.steps if step.find is None}
    return ", ".join(
        f"the {plan.label(name, record)}"
        for name, entry in journal.items()
        if entry.get("state") == DONE and name not in repeatable
    )


def state_of(journal: dict[str, Any], step: str) -> str | None:
    entry = journal.get(step)
    return str(entry["state"]) if entry else None


def results_of(journal: dict[str, Any]) -> dict[str, JSON]:
    return {
        name: dict(entry.get("result") or {})
        for name, entry in journal.items()
        if entry.get("state") == DONE
    }


def complete(plan: CreatePlan, journal: dict[str, Any], payload: JSON, key: str) -> bool:
    """Every step the record needs is confirmed."""
    call = StepCall(payload, key, results_of(journal))
    return all(state_of(journal, s.name) == DONE or not s.needed(call) for s in plan.steps)


def chunks(items: Sequence[T], size: int) -> Iterator[list[T]]:
    for start in range(0, len(items), max(1, size)):
        yield list(items[start : start + size])


class Faults:
    """Transient faults met by one run. A run goes on with other records after one (a fault on
    one record's call says nothing about the next), but stops once the system asked it to wait
    (429 with Retry-After) or after ``limit`` of them; the job then retries later, and what was
    confirmed meanwhile is kept."""

    def __init__(self, limit: int = 5) -> None:
        self.limit = limit
        self.seen: list[ConnectorError] = []

    def note(self, exc: ConnectorError) -> None:
        self.seen.append(exc)

    @property
    def stop(self) -> bool:
        throttled = any(isinstance(e, RemoteUnavailable) and e.retry_after for e in self.seen)
        return throttled or len(self.seen) >= self.limit

    def raise_first(self) -> None:
        """End the run with the first fault met, if any (the job is retried with backoff)."""
        if self.seen:
            raise self.seen[0]
