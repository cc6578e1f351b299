"""The ``ledgerbridge`` command."""

from __future__ import annotations

import signal
import threading
from typing import Annotated

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
sandbox_app = typer.Typer(help="Run a simulator of an accounting system's API on its own.")
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
    debtors: Annotated[int, typer.Option(help="Debtors seeded in the Uniconta sandbox")] = 300,
) -> None:
    """Run the whole flow locally: embedded server (SQLite file ledgerbridge-demo.db in the
    working directory), a seeded Uniconta sandbox, a tenant and a connection, the initial import
    with a progress bar, then one change each way. Keeps serving until Ctrl-C unless --once."""
    from ledgerbridge.cli.demo import run_demo

    raise typer.Exit(run_demo(once=once, port=port, debtors=debtors))


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Bind address (default from settings)")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default from settings)")] = None,
) -> None:
    """Embedded mode: the API, the scheduler and the worker in one process. Uses
    LEDGERBRIDGE_DATABASE_URL (default: SQLite file ./ledgerbridge.db), migrated at start-up."""
    import uvicorn

    from ledgerbridge.api.app import create_app
    from ledgerbridge.runtime.system import System

    settings = Settings()
    _logging(settings)
    system = System(settings)
    system.start_background(recover=settings.database_url.startswith("sqlite"))
    try:
        uvicorn.run(
            create_app(system), host=host or settings.host, port=port or settings.port,
            log_level=settings.log_level.lower(), log_config=None,
        )  # fmt: skip
    finally:
        system.close()


@app.command()
def worker() -> None:
    """A worker process: runs sync jobs and schedules against the PostgreSQL database in
    LEDGERBRIDGE_DATABASE_URL. Start as many as you like, on any machines; each connection
    still runs one job at a time."""
    from ledgerbridge.runtime.system import System

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
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    system.start_background(recover=False)
    typer.echo(f"worker {system.worker.worker_id} running; Ctrl-C to stop")
    stop.wait()
    system.close()


@app.command()
def migrate() -> None:
    """Bring the database schema up to date (serve and worker also do this at start-up)."""
    from ledgerbridge.store.db import create_db_engine
    from ledgerbridge.store.db import migrate as run_migrations

    engine = create_db_engine(Settings().database_url)
    run_migrations(engine)
    engine.dispose()
    typer.echo("schema is up to date")


@tenant_app.command("create")
def tenant_create(
    name: Annotated[str, typer.Argument(help="Tenant (customer organisation) name")],
    owner: Annotated[str, typer.Option(help="Owner's email address")],
) -> None:
    """Create a tenant with its owner, and print the owner's API key (shown once)."""
    from ledgerbridge.runtime.system import System

    system = System(Settings())
    try:
        issued = system.tenancy.create_tenant(name, owner)
    finally:
        system.close()
    typer.echo(f"tenant  {issued.tenant_id}\nowner   {owner}\napi key {issued.api_key}")


@sandbox_app.command("uniconta")
def sandbox_uniconta(
    port: Annotated[int, typer.Option(help="Port to listen on")] = 8765,
    host: Annotated[str, typer.Option(help="Bind address")] = "127.0.0.1",
    company: Annotated[int, typer.Option(help="Company id")] = 12345,
    user: Annotated[str, typer.Option(help="API user name")] = "apiuser",
    password: Annotated[str, typer.Option(help="API user password")] = "sandbox",
    debtors: Annotated[int, typer.Option(help="Debtors to seed")] = 300,
) -> None:
    """The Uniconta API simulator: OData reads, REST writes, Basic auth 00<company>/<user>,
    the 5,000-calls-a-day rule and Change URL callbacks."""
    from ledgerbridge.sandbox.uniconta import UnicontaSandbox, seed_debtors, serve

    sandbox = UnicontaSandbox()
    sandbox.add_company(company_id=company, name="Sandbox ApS")
    sandbox.add_user(company, user, password, user_type="Server", roles=("Reseller",))
    seed_debtors(sandbox, company, count=debtors, seed=1)
    typer.echo(
        f"Uniconta sandbox on http://{host}:{port}  company {company}  "
        f"user 00{company}/{user}  password {password}  ({debtors} debtors)"
    )
    serve(sandbox, host=host, port=port)


def main() -> None:
    app(prog_name="ledgerbridge")


if __name__ == "__main__":
    main()
