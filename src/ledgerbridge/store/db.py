"""Database engine, sessions and schema migration at start-up."""

from __future__ import annotations

import functools
import operator
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import orjson
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from ledgerbridge.store.base import UTCDateTime
from ledgerbridge.store.write_turns import WriteTurns


def _json_text(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


def create_db_engine(url: str, **kwargs: Any) -> sa.Engine:
    """An engine tuned per backend.

    SQLite gets WAL and a busy timeout so the API threads and the in-process worker can write
    without "database is locked"; PostgreSQL gets a small pool with pre-ping. Both write and
    read JSON columns with orjson: an import stores four JSON documents per record, and the
    standard encoder was a sixth of its time.
    """
    kwargs.setdefault("json_serializer", _json_text)
    kwargs.setdefault("json_deserializer", orjson.loads)
    if url.startswith("sqlite"):
        engine = sa.create_engine(
            url, connect_args={"check_same_thread": False, "timeout": 30}, **kwargs
        )

        @sa.event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            # Let SQLAlchemy issue BEGIN itself so that IMMEDIATE locking below is honoured.
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        turns = WriteTurns(timeout_s=30)
        _TURNS[engine.dialect] = turns

        @sa.event.listens_for(engine, "begin")
        def _sqlite_begin(conn: sa.Connection) -> None:
            # Writers take the write lock up front (no lock-upgrade failures between writers),
            # each in its turn; readers start a deferred transaction and, in WAL mode, never
            # wait for a writer.
            if not conn.get_execution_options().get(_WRITE_OPTION, False):
                conn.exec_driver_sql("BEGIN")
                return
            raw = _raw(conn.connection)
            turns.take(raw)
            try:
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            except BaseException:
                turns.give_back(raw)
                raise

        _give_back_after(engine, turns)
        return engine
    return sa.create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=10, **kwargs)


_WRITE_OPTION = "ledgerbridge_write"
_TURNS: weakref.WeakKeyDictionary[Any, WriteTurns] = weakref.WeakKeyDictionary()
"""Each SQLite engine's turns, by its dialect (which the engine's option-bearing copies, such
as a writing session's bind, share)."""


def write_turns(engine: sa.Engine) -> WriteTurns | None:
    """The turns at the write lock of a SQLite engine (None on PostgreSQL)."""
    return _TURNS.get(engine.dialect)


def urgent_writer_waits(session: Session) -> bool:
    """Whether an urgent writer (a callback being acknowledged) waits for the write lock this
    session's transaction holds: a long write that can commit in parts commits here, so the
    acknowledgement waits for one part, not for the whole. Never on PostgreSQL, whose
    writers do not queue for one lock."""
    turns = write_turns(cast(sa.Engine, session.get_bind()))
    return turns is not None and turns.waiting()[0] > 0


def _raw(connection: Any) -> Any:
    """The sqlite3 connection behind SQLAlchemy's pool proxy (or the connection itself)."""
    return getattr(connection, "dbapi_connection", connection)


def _give_back_after(engine: sa.Engine, turns: WriteTurns) -> None:
    """A write's turn ends once its COMMIT or ROLLBACK is done (not when SQLAlchemy announces
    it), or when its connection is closed or dropped."""
    dialect = engine.dialect
    commit, rollback = dialect.do_commit, dialect.do_rollback

    def do_commit(connection: Any) -> None:
        try:
            commit(connection)
        finally:
            turns.give_back(_raw(connection))

    def do_rollback(connection: Any) -> None:
        try:
            rollback(connection)
        finally:
            turns.give_back(_raw(connection))

    setattr(dialect, "do_commit", do_commit)  # noqa: B010 (an instance's method, replaced)
    setattr(dialect, "do_rollback", do_rollback)  # noqa: B010

    @sa.event.listens_for(engine, "invalidate")
    def _invalidated(dbapi_connection: Any, _record: Any, _exc: Any) -> None:
        turns.give_back(dbapi_connection)

    @sa.event.listens_for(engine, "close")
    def _closed(dbapi_connection: Any, _record: Any) -> None:
        turns.give_back(dbapi_connection)


class SessionFactory(sessionmaker[Session]):
    """``factory()`` gives a session for reading; ``factory.begin()`` a transaction that writes.

    The distinction matters on SQLite only, where a writing transaction must hold the write
    lock from its first statement.
    """

    def __init__(self, engine: sa.Engine) -> None:
        super().__init__(engine, expire_on_commit=False)
        self._writer = sessionmaker(
            engine.execution_options(**{_WRITE_OPTION: True}), expire_on_commit=False
        )

    def begin(self) -> Any:
        return self._writer.begin()


def create_session_factory(engine: sa.Engine) -> sessionmaker[Session]:
    return SessionFactory(engine)


MIGRATIONS = Path(__file__).parent / "migrations"
_MIGRATION_LOCK = 0x1ED6E4B1D6E
"""PostgreSQL advisory lock key: processes starting together migrate one after another."""


def alembic_config(connection: sa.Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def migrate(engine: sa.Engine) -> None:
    """Bring the schema to the latest Alembic revision (run at every start-up)."""
    with engine.connect() as connection:
        if connection.dialect.name == "postgresql":
            connection.exec_driver_sql(f"SELECT pg_advisory_lock({_MIGRATION_LOCK})")
            connection.commit()
        try:
            command.upgrade(alembic_config(connection), "head")
            connection.commit()
        finally:
            if connection.dialect.name == "postgresql":
                connection.exec_driver_sql(f"SELECT pg_advisory_unlock({_MIGRATION_LOCK})")
                connection.commit()


def refresh_statistics(sessions: sessionmaker[Session], models: list[type[Any]]) -> None:
    """Have PostgreSQL's planner see tables just filled in bulk (an import). Autovacuum
    refreshes its statistics only a minute or more later; until then queries are planned on
    those of the empty tables: a hub write's business-key check read every party through the
    tenant's index instead of the key's own (18 ms a ``PATCH`` with 20,000 parties, against
    0.05). ``ANALYZE`` reads a sample of each table and blocks no reader or writer. SQLite
    plans without statistics, by its own rules: nothing to do there."""
    with sessions() as session:
        if session.get_bind().dialect.name != "postgresql":
            return
        names = ", ".join(f'"{cast(sa.Table, model.__table__).name}"' for model in models)
        session.execute(sa.text(f"ANALYZE {names}"))
        session.commit()


IDLE_LIMIT_MS = 10_000
"""How long a guarded transaction may sit idle (no statement running) before PostgreSQL ends
it and releases its row locks."""


def end_when_idle(session: Session) -> None:
    """Let PostgreSQL end this transaction once it sits idle past ``IDLE_LIMIT_MS``. For the
    short transactions every worker contends for (a run's fence, the quota count before each
    API call): a worker frozen between such a statement and its commit (a paused VM, a stop
    signal) would otherwise hold the row, and with it every other worker's runs, for as long
    as it stays frozen. None of them waits on anything but the database."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(sa.text(f"SET LOCAL idle_in_transaction_session_timeout = {IDLE_LIMIT_MS}"))


def dialect_insert(session: Session) -> Any:
    """The backend's ``insert`` construct, which offers ``ON CONFLICT`` (upserts)."""
    return postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert


def insert_new(session: Session, table: Any, values: dict[str, Any], keys: list[str]) -> bool:
    """Insert a row unless one with the same ``keys`` exists; True if this call inserted it.

    One statement (``ON CONFLICT DO NOTHING``), so two writers racing on the same key never
    meet a unique-constraint error: the loser simply learns the row is there.
    """
    insert = dialect_insert(session)
    statement = insert(table).values(**values).on_conflict_do_nothing(index_elements=keys)
    return session.execute(statement.returning(sa.literal_column("1"))).first() is not None


FEW_ROWS = 16
"""Up to this many rows go to PostgreSQL as one INSERT: one round trip where a COPY takes two
(an API write's one change row)."""


def insert_rows(session: Session, model: type[Any], rows: list[dict[str, Any]]) -> None:
    """Insert plain rows into a model's table, in the session's transaction: no ORM object per
    row, and no RETURNING (the rows carry their keys, or nobody reads the autoincremented
    ones). Every row has the first row's keys; the columns it leaves out take their Python
    defaults. The rows go straight to the driver: SQLite takes one executemany of a short
    prepared INSERT, PostgreSQL a COPY (a few rows: one INSERT), each value converted once as
    SQLAlchemy would bind it (its per-row parameter handling was a fifth of an import on
    SQLite; COPY costs a third of psycopg's pipelined executemany per row: 8 against 26 µs)."""
    if not rows:
        return
    table = cast(sa.Table, model.__table__)
    connection = session.connection()
    dialect = connection.dialect
    given = set(rows[0])
    columns = [c for c in table.columns if c.name in given or c.default is not None]
    names = ", ".join(f'"{c.name}"' for c in columns)
    driver = cast(Any, connection.connection.driver_connection)  # in the session's transaction
    if dialect.name == "postgresql":
        cells = [_cell(c, c.name in given, _copy_value(c)) for c in columns]
        if len(rows) <= FEW_ROWS:
            row_marks = f"({', '.join('%s' for _ in columns)})"
            with driver.cursor() as cursor:
                cursor.execute(
                    f'INSERT INTO "{table.name}" ({names}) VALUES '
                    + ", ".join(row_marks for _ in rows),
                    [cell(row) for row in rows for cell in cells],
                )
            return
        with (
            driver.cursor() as cursor,
            cursor.copy(f'COPY "{table.name}" ({names}) FROM STDIN') as copy,
        ):
            for row in rows:
                copy.write_row([cell(row) for cell in cells])
        return
    cells = [_cell(c, c.name in given, _sqlite_value(c, dialect)) for c in columns]
    marks = ", ".join("?" for _ in columns)
    cursor = driver.cursor()
    try:
        cursor.executemany(
            f'INSERT INTO "{table.name}" ({names}) VALUES ({marks})',
            [[cell(row) for cell in cells] for row in rows],
        )
    finally:
        cursor.close()


Convert = Callable[[Any], Any]


def _cell(column: sa.Column[Any], given: bool, convert: Convert | None) -> Callable[[Any], Any]:
    """How a row gets ``column``'s value: its own, or the column's Python default where the
    rows leave it out; then converted for the driver."""
    name = column.name
    if given:
        if convert is None:
            return operator.itemgetter(name)  # most cells: no Python frame per value
        return lambda row: convert(row[name])
    default = cast(Any, column.default)
    if default.is_callable:
        if convert is None:
            return lambda _row: default.arg(None)
        return lambda _row: convert(default.arg(None))
    value = default.arg if convert is None else convert(default.arg)
    return lambda _row: value


def _copy_value(column: sa.Column[Any]) -> Convert | None:
    """COPY takes Python values as psycopg adapts them, but JSON as the engine encodes it."""
    return _json_text if isinstance(column.type, sa.JSON) else None


def _sqlite_value(column: sa.Column[Any], dialect: sa.Dialect) -> Convert | None:
    """The value SQLAlchemy would hand sqlite3: JSON as the engine encodes it, the rest through
    the type's own bind processor; a UTC datetime's answers are kept for the few moments a
    page's rows share (seven per record), since converting them is the costly part."""
    if isinstance(column.type, sa.JSON):
        return _json_text
    processor = cast(Convert | None, column.type._cached_bind_processor(dialect))
    if processor is not None and isinstance(column.type, UTCDateTime):
        return functools.lru_cache(maxsize=64)(processor)
    return processor
