"""The chaos harness's invoice-mail target, short: orders booked into the Uniconta sandbox under
10 % faults, their invoices mailed through an SMTP server that fails, drops and goes away,
two ``kill -9`` of the engine: no customer mailed twice, no invoice mailed to nobody without
an open issue."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from benchmarks.chaos import QUICK, Report, run_scenario, table

pytestmark = pytest.mark.slow


def _explain(report: Report) -> str:
    return (
        f"{table([report])}\nfailures: {report.failures}\nfaults: {report.faults}"
        f"\nopen issues: {report.issue_reasons}\nengine log (end):\n{report.log_tail}"
    )


def test_mail_under_faults_and_kills_sends_nothing_twice_and_loses_nothing(
    db_url: str, tmp_path: Path
) -> None:
    # Mails retried after a fault wait 1, 2, 4 … s (LEDGERBRIDGE_MAIL_FIRST_RETRY_SECONDS=1), so
    # settling takes longer than the other targets' 45 s on a busy machine.
    report = run_scenario("mail", db_url, replace(QUICK, timeout=150.0), tmp_path)
    assert report.records == QUICK.records, _explain(report)
    assert report.kills == QUICK.kills, _explain(report)
    assert any(k.startswith("smtp_") and v for k, v in report.faults.items()), _explain(report)
    assert report.failures == [], _explain(report)
    assert report.linked + report.with_issue == report.records, _explain(report)
