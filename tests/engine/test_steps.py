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
from ledgerbridge.engine.steps import (
    DONE,
    STARTED,
    Faults,
    complete,
    confirmed_steps,
    journal_of,
    results_of,
)


def _no_call(calls: list[StepCall]) -> list[JSON]:
    raise AssertionError("the journal rules make no call")


def _no_find(calls: list[StepCall]) -> list[JSON | None]:
    raise AssertionError("the journal rules make no look-up")


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


def test_steps_are_named_in_users_words_by_their_label_or_after_the_record() -> None:
    plan = CreatePlan(
        steps=(
            WriteStep("items", _no_call, label="invoice's items"),
            WriteStep("order", _no_call, _no_find, label="sales order"),
            WriteStep("lines", _no_call, _no_find),
            WriteStep("post", _no_call, _no_find),
        ),
        stored=lambda call: {},
    )
    assert plan.label("order", "invoice") == "sales order"
    assert plan.label("lines", "invoice") == "invoice's lines", "a part of the record by default"
    one = CreatePlan((WriteStep("create", _no_call),), stored=lambda call: {})
    assert one.label("create", "debtor") == "debtor", "a lone step writes the record itself"
    journal = {
        "items": {"state": DONE, "result": {}},
        "order": {"state": DONE, "result": {}},
        "lines": {"state": DONE, "result": {}},
        "post": {"state": STARTED},
    }
    confirmed = confirmed_steps(plan, journal, "invoice")
    assert confirmed == "the sales order, the invoice's lines", "a check kept nothing"
    assert confirmed_steps(plan, {"order": {"state": STARTED}}, "invoice") == ""


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
