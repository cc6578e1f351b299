"""What to do about a connection's last error: the known failures (a refused or expired
credential, a spent quota, an unmapped code, an unreachable host, …) as a plain sentence and
the page where it is fixed. The connectors' messages say what happened; this says where to go.
The status carries it as ``last_error_fix``, so the API and the UI show the same advice."""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Fix:
    text: str
    """What to do, in one sentence."""
    page: str
    """The connection's page where it is done: ``credentials``, ``mappings``, ``issues``,
    ``usage``, ``activity`` (a tab path under ``/ui/connections/{id}/``)."""
    action: str
    """The link's words."""

    def view(self) -> dict[str, str]:
        return {"text": self.text, "page": self.page, "action": self.action}


RULES: tuple[tuple[re.Pattern[str], Fix], ...] = (
    (
        re.compile(
            r"expired|expires on|older than 90 days|log in to \w+ again|not logged in", re.I
        ),
        Fix(
            "The login or token has expired: enter a new one (or log in again) on the "
            "Credentials page; the connection resumes by itself.",
            "credentials",
            "Renew the credentials",
        ),
    ),
    (
        re.compile(
            r"revoked|refused the (credentials|api key|secret key|rest api key|access token|"
            r"api keys|login)|does not know this (employee )?token|wrong password|"
            r"refused a (new|fresh) (session|access token)|refused access|not a jwt|"
            r"no session for the access key",
            re.I,
        ),
        Fix(
            "The system no longer accepts the saved credentials (changed password, revoked "
            "key or token): enter the current ones on the Credentials page.",
            "credentials",
            "Update the credentials",
        ),
    ),
    (
        re.compile(r"deactivated", re.I),
        Fix(
            "The user the token or login belongs to is deactivated in the system: reactivate "
            "it there, or create a token for an integration user that stays active and enter "
            "it on the Credentials page.",
            "credentials",
            "Update the credentials",
        ),
    ),
    (
        re.compile(r"no access to|does not allow|needs read access", re.I),
        Fix(
            "The user or key lacks a permission this connection needs: grant it in the "
            "system (its administration), or use a user that has it, then test again.",
            "credentials",
            "Check the credentials",
        ),
    ),
    (
        re.compile(r"rate limiting|too many requests", re.I),
        Fix(
            "The system asked for fewer calls for a moment (throttling, not the day's "
            "budget): runs wait the time it asks and go on by themselves; Activity shows "
            "the next run.",
            "activity",
            "See the runs",
        ),
    ),
    (
        re.compile(r"quota|calls used up|daily (call )?limit|daily calls are used", re.I),
        Fix(
            "The day's call budget is spent: work resumes by itself when the quota day "
            "turns; see Usage for the calls per day, or raise the daily call limit.",
            "usage",
            "See the usage",
        ),
    ),
    (
        re.compile(r"unmapped|has no mapping|no iso code mapping|has no \w+ equivalent", re.I),
        Fix(
            "A code the records use is not mapped yet: map it on the Mappings page, and the "
            "skipped records sync by themselves.",
            "mappings",
            "Map the codes",
        ),
    ),
    (
        re.compile(
            r"unreachable|could not reach|no answer from|timed out|connection refused|"
            r"name resolution",
            re.I,
        ),
        Fix(
            "The system could not be reached: check its address (base URL) on the "
            "Credentials page and that it is up; runs retry by themselves.",
            "credentials",
            "Check the address",
        ),
    ),
    (
        re.compile(r"internal error|database error", re.I),
        Fix(
            "Something failed inside ledgerbridge: the server's log has the detail; the job "
            "is retried, and Activity shows whether the next run succeeds.",
            "activity",
            "See the runs",
        ),
    ),
)


def known_fix(message: str) -> Fix | None:
    """The advice for a known failure or warning; None for any other."""
    for pattern, fix in RULES:
        if pattern.search(message):
            return fix
    return None


def fix_for(message: str | None) -> Fix | None:
    """The advice for a run's error message (a general one when the failure is not a known
    one), or None when there is no message."""
    if not message:
        return None
    return known_fix(message) or Fix(
        "The system refused the work: the message says why; fix it in the system or on the "
        "Issues page and retry.",
        "issues",
        "See the issues",
    )
