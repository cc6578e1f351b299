"""Subscriptions are made all or none."""

from __future__ import annotations

import pytest

from ledgerbridge.connectors.base import RemoteUnavailable
from ledgerbridge.connectors.kit.subscriptions import subscribe_all


def test_every_topic_gets_one_subscription() -> None:
    deleted: list[list[str]] = []
    ids = subscribe_all(["order.created", "order.updated"], lambda t: f"id-{t}", deleted.append)
    assert ids == ["id-order.created", "id-order.updated"]
    assert deleted == []


def test_a_failure_deletes_those_made_and_goes_on() -> None:
    deleted: list[list[str]] = []

    def make(topic: str) -> str:
        if topic == "third":
            raise RemoteUnavailable("the system is down")
        return f"id-{topic}"

    with pytest.raises(RemoteUnavailable):
        subscribe_all(["first", "second", "third", "fourth"], make, deleted.append)
    assert deleted == [["id-first", "id-second"]]
