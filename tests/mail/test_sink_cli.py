"""``ledgerbridge sandbox smtp`` as a user runs it: a real process on a real port."""

from __future__ import annotations

import subprocess
import sys
import time
from email.message import EmailMessage
from pathlib import Path

from ledgerbridge.mail import smtp
from ledgerbridge.runtime.http import free_port

LEDGERBRIDGE = str(Path(sys.executable).parent / "ledgerbridge")


def test_the_sink_keeps_each_message_as_eml_and_lists_them(tmp_path: Path) -> None:
    port, folder = free_port(), tmp_path / "mail"
    process = subprocess.Popen(
        [LEDGERBRIDGE, "sandbox", "smtp", "--port", str(port), "--dir", str(folder)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    mail = EmailMessage()
    mail["From"], mail["To"], mail["Subject"] = "shop@example.com", "jane@example.com", "Invoice 7"
    mail.set_content("Attached.")
    mail.add_attachment(b"%PDF-1.4", maintype="application", subtype="pdf", filename="i7.pdf")
    server = smtp.SmtpServer("127.0.0.1", port, security="none", timeout=5)
    try:
        for _ in range(150):
            outcome = smtp.send(server, mail, "shop@example.com", ["jane@example.com"])
            if outcome.status == "sent":
                break
            time.sleep(0.1)
        assert outcome.status == "sent", outcome
    finally:
        process.terminate()
        process.wait(timeout=10)
    assert len(list(folder.glob("*.eml"))) == 1
    listed = subprocess.run(
        [LEDGERBRIDGE, "sandbox", "smtp", "--dir", str(folder), "--list"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert listed.returncode == 0, listed.stderr
    assert "to jane@example.com" in listed.stdout and "'Invoice 7'" in listed.stdout
    assert "['i7.pdf']" in listed.stdout
