"""Run the local SMTP sink: ``ledgerbridge sandbox smtp --port 2525 --dir ./mail``.

Each accepted message becomes an ``.eml`` file in ``--dir``; ``--list`` prints the messages
already there (sender, recipients, subject, attachments) and exits. ``--starttls CERT KEY``
offers STARTTLS with that certificate (``--implicit-tls`` for TLS from the first byte);
``--user``/``--password`` require a login.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import ssl
import threading
from pathlib import Path

from ledgerbridge.sandbox.smtp import SmtpSink, list_messages


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="Local SMTP sink writing .eml files")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=2525)
    parser.add_argument("--dir", type=Path, default=Path("mail"), help="where messages go")
    parser.add_argument("--list", action="store_true", help="list the kept messages and exit")
    parser.add_argument("--starttls", nargs=2, metavar=("CERT", "KEY"), default=None)
    parser.add_argument("--implicit-tls", action="store_true")
    parser.add_argument("--user", default=None)
    parser.add_argument("--password", default=None)
    return parser


def show(directory: Path) -> None:
    for path, message in list_messages(directory):
        files = [part.get_filename() for part in message.iter_attachments()]
        print(
            f"{path.name}  from {message['From']}  to {message['To']}  "
            f"subject {message['Subject']!r}  attachments {files}"
        )


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    if args.list:
        show(args.dir)
        return
    context = None
    if args.starttls:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(*args.starttls)
    sink = SmtpSink(
        args.dir, args.host, args.port, tls_context=context, implicit_tls=args.implicit_tls,
        username=args.user, password=args.password,
    )  # fmt: skip
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with sink:
        print(f"SMTP sink on {args.host}:{sink.port}, writing to {args.dir}", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            stop.wait()
    show(args.dir)


if __name__ == "__main__":
    main()
