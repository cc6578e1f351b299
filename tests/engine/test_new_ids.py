"""Ids drawn many at a time are the random version-4 UUIDs ``uuid.uuid4`` makes."""

from __future__ import annotations

import uuid

from ledgerbridge.store.base import IdSupply, new_id, new_ids


def test_ids_drawn_together_are_distinct_version_4_uuids() -> None:
    ids = new_ids(2000)
    assert len(set(ids)) == 2000
    for value in ids:
        parsed = uuid.UUID(value)
        assert (parsed.version, parsed.variant) == (4, uuid.RFC_4122)
        assert str(parsed) == value  # lower-case, hyphenated, as stored before


def test_a_single_id_is_a_version_4_uuid() -> None:
    assert uuid.UUID(new_id()).version == 4


def test_a_page_supply_draws_again_when_spent() -> None:
    supply = IdSupply(3)
    ids = [supply() for _ in range(7)]
    assert len(set(ids)) == 7
    assert all(uuid.UUID(value).version == 4 for value in ids)
