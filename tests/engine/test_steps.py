"""The step journal's rules and the faults a run tolerates (pure functions: no I/O)."""

from __future__ import annotations

from ledgerbridge.connectors.base import (
    JSON,
    AmbiguousWrite,
    CreatePlan,
    RemoteUnavailable,
    StepCall,
    WriteStep,
)
from ledgerbridge.engine.steps import DONE, STARTED, Faults, complete, journal_of, results_of


def _no_call(calls: list[StepCall]) -> list[JSON]:
    raise AssertionError("the journal rules make no call")


PLAN = CreatePlan(
    steps=(
        WriteStep("order", _no_call),
        WriteStep("lines", _no_call, needed=lambda call: bool(call.payload.get("lines"))),
        WriteStep("post", _no_call, needed=lambda call: bool(call.payload.get("post"))),
    ),
    stored=lambda call: dict(call.done["order"]),
)


def test_an_intent_recorded_before_the_journal_has_every_step_to_look_up() -> None:
    journal = journal_of(None, PLAN)
    assert journal == {name: {"state": STARTED} for name in ("order", "lines", "post")}
    assert results_of(journal) == {}


def test_a_record_is_complete_once_every_step_it_needs_is_confirmed() -> None:
    done = {"order": {"state": DONE, "result": {"OrderNumber": 7}}}
    assert complete(PLAN, done, {"lines": [], "post": False}, "LB-1")
    assert not complete(PLAN, done, {"lines": [{"Qty": 1}], "post": False}, "LB-1")
    with_lines = {**done, "lines": {"state": DONE, "result": {"lines": [{"Qty": 1}]}}}
    assert complete(PLAN, with_lines, {"lines": [{"Qty": 1}], "post": False}, "LB-1")
    assert not complete(PLAN, {**with_lines, "post": {"state": STARTED}},
                        {"lines": [{"Qty": 1}], "post": True}, "LB-1")  # fmt: skip
    assert results_of(with_lines) == {"order": {"OrderNumber": 7}, "lines": {"lines": [{"Qty": 1}]}}


def test_a_run_goes_on_after_a_fault_but_stops_when_asked_to_wait_or_after_five() -> None:
    faults = Faults()
    faults.note(AmbiguousWrite("no answer"))
    assert not faults.stop
    faults.note(RemoteUnavailable("throttled", retry_after=30))
    assert faults.stop
    many = Faults()
    for n in range(5):
        assert not many.stop
        many.note(RemoteUnavailable(f"502 number {n}"))
    assert many.stop
    try:
        many.raise_first()
    except RemoteUnavailable as exc:
        assert str(exc) == "502 number 0"
    else:
        raise AssertionError("the first fault ends the run")
