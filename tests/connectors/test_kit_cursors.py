"""The cursor of a "changed since, with overlap" scan: what it reads from, where the next scan
starts, and where it stands; cursors written before keep their meaning."""

from __future__ import annotations

from ledgerbridge.connectors.kit.cursors import ChangedSince


def test_no_cursor_is_a_first_scan_of_everything() -> None:
    scan = ChangedSince.parse(None)
    assert scan == ChangedSince("", "", "") and scan.starting and scan.page() == 1


def test_a_scan_notes_the_newest_change_it_saw_and_the_next_starts_there() -> None:
    scan = ChangedSince.parse("2026-01-01T00:00:00Z||")
    scan = scan.saw(["2026-01-02T10:00:00Z", None, "2026-01-03T09:00:00Z", ""])
    assert scan.at(2) == "2026-01-01T00:00:00Z|2026-01-03T09:00:00Z|2"
    scan = ChangedSince.parse(scan.at(2)).saw(["2026-01-02T11:00:00Z"])
    assert scan.upcoming == "2026-01-03T09:00:00Z" and scan.page() == 2 and not scan.starting
    assert scan.done() == "2026-01-03T09:00:00Z|2026-01-03T09:00:00Z|"
    assert ChangedSince.parse(scan.done()).starting


def test_a_scan_that_saw_nothing_starts_again_where_it_started() -> None:
    scan = ChangedSince.parse("2026-01-01T00:00:00Z||").saw([])
    assert scan.done() == "2026-01-01T00:00:00Z||"


def test_the_next_start_may_be_chosen_and_the_position_hold_the_separator() -> None:
    scan = ChangedSince.parse("2026-05-01T08:00:00").starts_next("2026-05-02T07:59:00")
    assert scan.since == "2026-05-01T08:00:00" and scan.starting
    cursor = scan.at("inactive|200")
    assert ChangedSince.parse(cursor).position == "inactive|200"
    assert scan.done() == "2026-05-02T07:59:00|2026-05-02T07:59:00|"
    assert scan.done("2026-05-02T07:00:00") == "2026-05-02T07:00:00|2026-05-02T07:59:00|"


def test_cursors_of_the_page_numbered_form_keep_their_page() -> None:
    scan = ChangedSince.parse("2026-01-01T00:00:00|2026-01-01T00:00:05|3")
    assert (scan.since, scan.upcoming, scan.page()) == (
        "2026-01-01T00:00:00", "2026-01-01T00:00:05", 3)  # fmt: skip
