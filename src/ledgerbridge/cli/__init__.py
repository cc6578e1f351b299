"""The ``ledgerbridge`` command."""

from __future__ import annotations

import contextlib
import importlib
import signal
import sys
import threading
from pathlib import Path
from typing import Annotated, Any

import typer

from ledgerbridge.settings import Settings

app = typer.Typer(
    help=(
        "ledgerbridge keeps a business app (CRM, webshop, practice tool) and its accounting "
        "system aligned: Uniconta first, more to come.\n\n"
        "Start with `ledgerbridge demo`: it runs everything on this machine, with a simulated "
        "Uniconta, and shows a change travelling each way."
    ),
    no_args_is_help=True,
    add_completion=False,
)
sandbox_app = typer.Typer(
    help="Run a simulator on its own: an accounting system's API, a shop, an acquirer, the "
    "till or an SMTP server."
)
tenant_app = typer.Typer(help="Manage tenants of this installation.")
app.add_typer(sandbox_app, name="sandbox")
app.add_typer(tenant_app, name="tenant")


def _logging(settings: Settings) -> None:
    from ledgerbridge.logs import configure

    configure(settings.log_level)


@app.command()
def demo(
    once: Annotated[
        bool, typer.Option("--once", help="Exit 0 after the demo instead of serving")
    ] = False,
    port: Annotated[int, typer.Option(help="Port of the hub API (0 picks a free one)")] = 8000,
    flow: Annotated[
        str,
        typer.Option(
            help="`customers`: a CRM's customers and invoices with Uniconta; `webshop`: a "
            "WooCommerce shop's orders, refunds and stock with Uniconta"
        ),
    ] = "customers",
    debtors: Annotated[int, typer.Option(help="Debtors seeded in the Uniconta sandbox")] = 300,
    orders: Annotated[int, typer.Option(help="Orders seeded in the shop (--flow webshop)")] = 300,
    data_dir: Annotated[
        Path | None,
        typer.Option(
            help="Folder of the demo's database and key (default: "
            "$XDG_DATA_HOME/ledgerbridge/demo, else ~/.local/share/ledgerbridge/demo)"
        ),
    ] = None,
) -> None:
    """Run the whole flow locally: embedded server (SQLite file ledgerbridge-demo.db in the
    demo's data folder, emptied at each start), a seeded Uniconta sandbox, a tenant and a
    connection, the initial import with a progress bar, then one change each way. Keeps serving
    until Ctrl-C unless --once."""
    if flow == "webshop":
        from ledgerbridge.cli.demo_webshop import run_webshop_demo

        raise typer.Exit(run_webshop_demo(once=once, port=port, orders=orders, data_dir=data_dir))
    if flow != "customers":
        raise typer.BadParameter("choose customers or webshop", param_hint="--flow")
    from ledgerbridge.cli.demo import run_demo

    raise typer.Exit(run_demo(once=once, port=port, debtors=debtors, data_dir=data_dir))


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Bind address (default from settings)")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default from settings)")] = None,
    processes: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Processes answering the API on the same port (PostgreSQL only; default 1, "
            "or LEDGERBRIDGE_PROCESSES)",
        ),
    ] = None,
    jobs: Annotated[
        bool | None,
        typer.Option(
            "--jobs/--no-jobs",
            help="Also run jobs and tick the schedules (default); --no-jobs leaves them to "
            "`ledgerbridge worker` processes (PostgreSQL only)",
        ),
    ] = None,
) -> None:
    """The API, the scheduler and an in-process worker in one process. Uses
    LEDGERBRIDGE_DATABASE_URL (default: SQLite file ./ledgerbridge.db), migrated at start-up.
    On SQLite (embedded mode) it must be the only process on its database. On PostgreSQL its
    worker is a procrastinate worker like those of `ledgerbridge worker` (both can run), the
    API can be answered by several processes (--processes) and the jobs left to workers
    (--no-jobs). Callback URLs use LEDGERBRIDGE_PUBLIC_URL, else the address it binds."""
    import os

    import uvicorn

    from ledgerbridge.settings import public_url_warning

    given: dict[str, Any] = {"host": host, "port": port, "processes": processes, "serve_jobs": jobs}
    # Derives the public URL from the address given here, unless one is set.
    settings = Settings(**{name: value for name, value in given.items() if value is not None})
    _logging(settings)
    embedded = settings.database_url.startswith("sqlite")
    if embedded and (settings.processes > 1 or not settings.serve_jobs):
        typer.echo(
            "--processes above 1 and --no-jobs need PostgreSQL: on SQLite one process answers "
            "the API and runs the jobs (set LEDGERBRIDGE_DATABASE_URL to "
            "postgresql+psycopg://user@host/db).",
            err=True,
        )
        raise typer.Exit(2)
    warning = public_url_warning(settings.public_url)
    if warning:
        typer.echo(f"warning: {warning}", err=True)
    run = {"host": settings.host, "port": settings.port, "log_config": None,
           "log_level": settings.log_level.lower()}  # fmt: skip
    if settings.processes == 1:
        from ledgerbridge.api.serving import serving_app

        served = serving_app(settings)
        server = uvicorn.Server(uvicorn.Config(served, **run))  # type: ignore[arg-type]
        served.state.stop_server = lambda: setattr(server, "should_exit", True)
        with contextlib.suppress(KeyboardInterrupt):
            server.run()
        if not server.started:
            raise typer.Exit(3)  # uvicorn's own status when it cannot start (a port taken)
        if served.state.job_loop_died:
            typer.echo("the job loop stopped on an error (see the log above); exiting", err=True)
            raise typer.Exit(1)
        return
    from ledgerbridge.store.db import create_db_engine, create_session_factory, migrate
    from ledgerbridge.store.secrets import SecretBox, check_keys

    # Before the processes start: a database that cannot be reached stops serve here with one
    # error (the processes then find nothing to migrate), and the key file, when there is no
    # LEDGERBRIDGE_SECRET_KEYS, is made by one process instead of raced for by N.
    engine = create_db_engine(settings.database_url)
    migrate(engine)
    check_keys(
        create_session_factory(engine),
        SecretBox.from_settings(settings.secret_keys, settings.secret_key_file),
    )
    engine.dispose()
    # Each process reads its settings from the environment: what was given here goes there.
    os.environ.update(
        {f"LEDGERBRIDGE_{name.upper()}": str(value) for name, value in given.items()
         if value is not None}
    )  # fmt: skip
    uvicorn.run(
        "ledgerbridge.api.serving:app_from_environment",
        factory=True,
        workers=settings.processes,
        **run,  # type: ignore[arg-type]
    )


@app.command(
    epilog=(
        "Running N workers: start this command N times, on one machine or many, with the same "
        "LEDGERBRIDGE_DATABASE_URL (postgresql+psycopg://user:password@host/db) and "
        "LEDGERBRIDGE_SECRET_KEYS; each process runs LEDGERBRIDGE_WORKER_CONCURRENCY jobs at "
        "once (threads; default 2), and one process per core is a good start. Jobs of one "
        "connection never run at the same time, whichever worker takes them. Every worker "
        "also ticks the schedules (each slot is queued once). If a worker dies (crash, kill "
        "-9, machine lost), its heartbeat stops; after LEDGERBRIDGE_JOB_LEASE_SECONDS (60) "
        "another worker runs its jobs again, resuming from their saved cursors, and the "
        "runs it left are shown as interrupted. SIGTERM or Ctrl-C ends a running import, "
        "pull or push at its next page and gives its job back for the next worker (other "
        "jobs finish first). A worker whose job loop stops on an error exits with status 1, "
        "for its supervisor (systemd, a container runtime) to start it again."
    )
)
def worker() -> None:
    """A worker process on PostgreSQL: runs sync jobs (procrastinate) and ticks the schedules.
    Start as many as you like, on any machines."""
    from ledgerbridge.runtime.system import System, freeze_start_up_heap

    settings = Settings()
    if settings.database_url.startswith("sqlite"):
        typer.echo(
            "ledgerbridge worker needs PostgreSQL: set LEDGERBRIDGE_DATABASE_URL to "
            "postgresql+psycopg://user@host/db (SQLite runs its worker inside `serve`).",
            err=True,
        )
        raise typer.Exit(2)
    _logging(settings)
    system = System(settings)
    freeze_start_up_heap()
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    system.start_background()
    typer.echo(
        f"worker {system.worker.worker_id} running {settings.worker_concurrency} job(s) at "
        "once; Ctrl-C to stop"
    )
    # Woken every second: a signal the kernel handed to another thread is then acted on,
    # and a worker whose job loop died exits (non-zero) for its supervisor to restart it.
    failed = False
    while not stop.wait(1.0):
        if not system.background_alive():
            typer.echo("the job loop stopped on an error (see the log above); exiting", err=True)
            failed = True
            break
    system.close()
    if failed:
        raise typer.Exit(1)


@app.command()
def migrate() -> None:
    """Bring the database schema up to date (serve and worker also do this at start-up)."""
    from ledgerbridge.store.db import create_db_engine
    from ledgerbridge.store.db import migrate as run_migrations

    engine = create_db_engine(Settings().database_url)
    run_migrations(engine)
    engine.dispose()
    typer.echo("schema is up to date")


@app.command("rotate-secrets")
def rotate_secrets() -> None:
    """Re-encrypt every stored secret (connections' credentials, webhook signing secrets) with
    the first key of LEDGERBRIDGE_SECRET_KEYS. To retire a key: put a new key first
    (LEDGERBRIDGE_SECRET_KEYS=new,old) in every process's environment and restart them, run
    this, then remove the old key and restart again."""
    from ledgerbridge.store.db import create_db_engine, create_session_factory
    from ledgerbridge.store.secrets import SecretBox, SecretsKeyError, reseal_stored

    settings = Settings()
    engine = create_db_engine(settings.database_url)
    try:
        box = SecretBox.from_settings(settings.secret_keys, settings.secret_key_file)
        resealed = reseal_stored(create_session_factory(engine), box)
    except SecretsKeyError as exc:
        typer.echo(f"error: {exc}: keep the old key in LEDGERBRIDGE_SECRET_KEYS", err=True)
        raise typer.Exit(2) from exc
    finally:
        engine.dispose()
    typer.echo(f"{resealed} secret(s) re-encrypted with the first key")


@tenant_app.command("create")
def tenant_create(
    name: Annotated[str, typer.Argument(help="Tenant (customer organisation) name")],
    owner: Annotated[str, typer.Option(help="Owner's email address")],
) -> None:
    """Create a tenant with its owner, and print the owner's API key (shown once)."""
    from ledgerbridge.runtime.system import System
    from ledgerbridge.services.errors import ServiceError

    system = System(Settings())
    try:
        issued = system.tenancy.create_tenant(name, owner)
    except ServiceError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(2) from exc
    finally:
        system.close()
    typer.echo(f"tenant  {issued.tenant_id}\nowner   {owner}\napi key {issued.api_key}")


@app.command("ui-link")
def ui_link(
    tenant: Annotated[
        str | None, typer.Option(help="Tenant id (needed when the installation has several)")
    ] = None,
    email: Annotated[
        str | None, typer.Option(help="Whose link (default: the tenant's first owner)")
    ] = None,
    host: Annotated[
        str | None, typer.Option(help="The address `serve --host` binds (default from settings)")
    ] = None,
    port: Annotated[
        int | None,
        typer.Option(
            min=1, max=65535, help="The port `serve --port` listens on (default from settings)"
        ),
    ] = None,
    base_url: Annotated[
        str | None,
        typer.Option(help="Where the server is reached, e.g. https://sync.example.dk"),
    ] = None,
) -> None:
    """Print a one-time link that signs a person in to the web UI (valid 30 minutes, once).
    Uses the settings `serve` uses (LEDGERBRIDGE_DATABASE_URL, LEDGERBRIDGE_PUBLIC_URL, else
    LEDGERBRIDGE_HOST and LEDGERBRIDGE_PORT): give the same --host and --port as `serve`, or
    the server's address as --base-url, so that the link reaches the running server."""
    from ledgerbridge.runtime.system import System
    from ledgerbridge.services.errors import ServiceError

    if base_url is not None and not base_url.startswith(("http://", "https://")):
        typer.echo(f"error: --base-url {base_url!r} is not an http(s):// address", err=True)
        raise typer.Exit(2)
    given: dict[str, Any] = {"host": host, "port": port, "public_url": base_url}
    # Derives the link's address from --host and --port, as `serve` does, unless one is set.
    settings = Settings(**{name: value for name, value in given.items() if value is not None})
    system = System(settings)
    try:
        token = system.sign_in.login_link(tenant, email)
    except ServiceError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(2) from exc
    finally:
        system.close()
    typer.echo(f"{settings.public_url.rstrip('/')}/ui/login/{token}")


SANDBOXES = {
    "uniconta": "Uniconta's OData/REST API: Basic auth 00<company>/<user>, the 5,000-calls-a-day "
    "rule, Change URL callbacks; --booking-port also serves the booking service (UnicontaRest) "
    "that posts invoices, --webshop a webshop's terms, groups, VAT and OSS codes.",
    "tripletex": "Tripletex's API v2 from its official OpenAPI file: session tokens, "
    "accountant access, paging, optimistic locking, rate limits, signed webhooks.",
    "qonto": "Qonto's Business API: OAuth 2.0 with refresh-token rotation, clients, invoices, "
    "credit notes, idempotency keys, rate limits, signed webhooks.",
    "yuki": "Yuki's SOAP web services with their WSDLs: sessions, contacts, sales invoices, "
    "outstanding items, the daily call limit.",
    "woocommerce": "WooCommerce's REST API v3: consumer key/secret, orders with tax lines, "
    "refunds, customers, products and stock, signed webhooks with their repeats and misses, "
    "Subscriptions renewals.",
    "vipps-mobilepay": "Vipps MobilePay's Report API: access tokens, ledgers, the funds and fees "
    "topics by date and as feeds, captures, refunds, fees and payouts, data lag.",
    "stripe": "Stripe's API for payout reconciliation: secret key, payouts, balance transactions "
    "with their charges, refunds, disputes and fees, automatic and manual payouts, signed "
    "webhooks with repeats and misses.",
    "zettle": "Zettle's OAuth assertion grant, Purchase API v2 (sales, discounts, refunds, hash "
    "paging), Finance API v2 (card payments, fees, payouts) and Pusher webhooks.",
}


def _run_sandbox(name: str, args: list[str]) -> None:
    """Hand the remaining arguments to the simulator's own parser, under the command the user
    typed, so that its usage line and errors read ``ledgerbridge sandbox NAME`` and can be
    pasted back as they are."""
    sys.argv = [f"ledgerbridge sandbox {name}", *args]
    importlib.import_module(f"ledgerbridge.sandbox.{name.replace('-', '_')}.__main__").main(args)


def _sandbox_command(name: str) -> None:
    def run(ctx: typer.Context) -> None:
        _run_sandbox(name, list(ctx.args))

    sandbox_app.command(
        name,
        help=f"{SANDBOXES[name]} Options: --port N, --faults SPEC (fault injection, e.g. "
        "rate=0.1,seed=7), --latency-ms N, and --help for the rest.",
        context_settings={
            "allow_extra_args": True,
            "ignore_unknown_options": True,
            "help_option_names": [],
        },
    )(run)


for _name in SANDBOXES:
    _sandbox_command(_name)


@sandbox_app.command(
    "smtp",
    help="A local SMTP server (aiosmtpd) for invoice mail: writes each message as an .eml file "
    "into --dir and lists them (--list). Options: --port N, --starttls CERT KEY, "
    "--implicit-tls, --user/--password, and --help.",
    context_settings={
        "allow_extra_args": True, "ignore_unknown_options": True, "help_option_names": [],
    },
)  # fmt: skip
def sandbox_smtp(ctx: typer.Context) -> None:
    _run_sandbox("smtp", list(ctx.args))


def main() -> None:
    import pydantic
    import sqlalchemy as sa

    from ledgerbridge.model.reasons import in_words
    from ledgerbridge.store.secrets import SecretsKeyError

    try:
        app(prog_name="ledgerbridge")
    except SecretsKeyError as exc:
        # A set-up mistake with its remedy in the message: no traceback.
        typer.echo(f"error: {exc}", err=True)
        raise SystemExit(2) from exc
    except sa.exc.OperationalError as exc:
        # The database is down or the URL is wrong: what the driver said, not a traceback.
        url = sa.make_url(Settings().database_url).render_as_string(hide_password=True)
        reason = str(exc.orig).strip()
        typer.echo(f"error: cannot use the database {url} (LEDGERBRIDGE_DATABASE_URL): {reason}",
                   err=True)  # fmt: skip
        raise SystemExit(1) from exc
    except pydantic.ValidationError as exc:
        if exc.title != Settings.__name__:
            raise
        # A setting of the wrong form: each one named as it is set, with what to type instead.
        for error in exc.errors(include_url=False):
            name = "LEDGERBRIDGE_" + "_".join(str(part) for part in error["loc"]).upper()
            typer.echo(f"error: {name}: {in_words(error)} (given: {error['input']!r})", err=True)
        raise SystemExit(2) from exc
    except sa.exc.ArgumentError as exc:
        problem = _database_url_problem(Settings().database_url)
        if problem is None:
            raise
        typer.echo(f"error: {problem}", err=True)
        raise SystemExit(2) from exc


def _database_url_problem(url: str) -> str | None:
    """Why SQLAlchemy cannot use the configured database URL (a typo, or the `postgres://`
    form other tools accept), or None when the URL is not the cause."""
    import sqlalchemy as sa

    try:
        sa.make_url(url).get_dialect()
    except sa.exc.ArgumentError as exc:
        shown = url
        with contextlib.suppress(sa.exc.ArgumentError):
            shown = sa.make_url(url).render_as_string(hide_password=True)
        return (
            f"LEDGERBRIDGE_DATABASE_URL {shown} is not a database URL ledgerbridge can use "
            f"({exc}); give postgresql+psycopg://USER:PASSWORD@HOST/DATABASE or "
            "sqlite:///PATH"
        )
    return None


if __name__ == "__main__":
    main()
