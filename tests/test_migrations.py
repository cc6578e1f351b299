"""The Alembic revisions build exactly the schema the models declare, on both backends."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from ledgerbridge.store import tables  # noqa: F401
from ledgerbridge.store.base import Base
from ledgerbridge.store.db import alembic_config
from ledgerbridge.store.tables.hub import HubRecord, business_key_is, holds_word
from ledgerbridge.store.tables.runtime import Schedule
from ledgerbridge.store.tables.tenancy import Connection, Tenant


def _ours(obj: object, name: str | None, type_: str, reflected: bool, compare_to: object) -> bool:
    """procrastinate's schema (PostgreSQL only) is its own, applied by migration 0004; the
    business-key indexes of migration 0015 are on expressions the models cannot declare for
    both backends (``test_business_key_checks_use_their_index`` checks them), as is migration
    0021's index of connection names in lower case (``test_connection_names_are_told_apart``)."""
    return not (name or "").startswith(
        ("procrastinate_", "ix_hub_records_key_", "uq_connections_tenant_name")
    )


@pytest.mark.filterwarnings("ignore:Skipped unsupported reflection of expression-based index")
def test_migrated_schema_matches_the_models(engine: sa.Engine) -> None:
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "include_object": _ours}
        )
        assert compare_metadata(context, Base.metadata) == []


@pytest.mark.parametrize(
    ("entity", "field"),
    [("party", "debtor_number"), ("party", "creditor_number"), ("product", "sku"),
     ("invoice", "number"), ("custom_field", "key"), ("invoice", "credits_invoice_id")],
)  # fmt: skip
def test_business_key_checks_use_their_index(engine: sa.Engine, entity: str, field: str) -> None:
    """The uniqueness check of a hub write finds its key through its own index, not by reading
    every record of the entity (a write cost 44 ms with 20,000 parties)."""
    query = sa.select(HubRecord.id).where(
        HubRecord.tenant_id == "t", business_key_is(engine.dialect.name, entity, field, "K-1")
    )
    compiled = query.compile(engine, compile_kwargs={"literal_binds": True})
    with engine.connect() as connection:
        if engine.dialect.name == "postgresql":
            connection.exec_driver_sql("SET enable_seqscan = off")
            plan = connection.exec_driver_sql(f"EXPLAIN {compiled}").scalars().all()
        else:
            plan = [row[3] for row in connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}")]
    assert any(f"ix_hub_records_key_{entity}_{field}" in line for line in plan), plan


def test_a_page_of_records_is_read_in_id_order(engine: sa.Engine) -> None:
    """A page of an entity's records comes off an index in id order: no sort of every record
    of the entity (86 ms a page with 100,000 parties on SQLite before, 0.7 ms after)."""
    query = (
        sa.select(HubRecord.id)
        .where(HubRecord.tenant_id == "t", HubRecord.entity == "party", HubRecord.id > "a")
        .where(HubRecord.deleted.is_(False))
        .order_by(HubRecord.id)
        .limit(101)
    )
    compiled = query.compile(engine, compile_kwargs={"literal_binds": True})
    with engine.connect() as connection:
        if engine.dialect.name == "postgresql":
            connection.exec_driver_sql("SET enable_seqscan = off")
            plan = connection.exec_driver_sql(f"EXPLAIN {compiled}").scalars().all()
            assert not any("Sort" in line for line in plan), plan
        else:
            plan = [row[3] for row in connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}")]
            assert not any("TEMP B-TREE" in line for line in plan), plan
    assert any("ix_hub_records_tenant_entity_id" in line for line in plan), plan


def test_search_text_is_filled_for_records_already_there(engine: sa.Engine) -> None:
    """Migration 0017 fills ``search_text`` for the records a database already holds, so a
    search finds them as it found them before the column existed."""
    data = {"name": "Jakobsens ANLÆG ApS", "debtor_number": "K-7", "lines": [{"qty": 2}]}
    now = datetime(2026, 12, 1, tzinfo=UTC)
    before = sa.table(  # hub_records as revision 0016 left it
        "hub_records", *(sa.column(c.name, c.type) for c in HubRecord.__table__.columns
                         if c.name != "search_text"),
    )  # fmt: skip
    with engine.connect() as connection:
        command.downgrade(alembic_config(connection), "0016")
        connection.execute(sa.insert(Tenant.__table__).values(id="t", name="T", created_at=now))
        connection.execute(
            sa.insert(before).values(
                id="r", tenant_id="t", entity="party", data=data, content_hash="h", version=1,
                origin="api", deleted=False, created_at=now, updated_at=now,
            )
        )  # fmt: skip
        connection.commit()
        command.upgrade(alembic_config(connection), "head")
        connection.commit()
        found = connection.scalars(
            sa.select(HubRecord.id).where(holds_word("anlæg"), holds_word("k-7"))
        ).all()
        stored = connection.scalar(sa.select(HubRecord.search_text))
    assert found == ["r"]
    # one value a line, no field names (PostgreSQL's JSONB keeps the keys in its own order)
    assert sorted(stored.split("\n")) == ["2", "jakobsens anlæg aps", "k-7"]


def test_connections_keep_the_streams_they_ran_with(engine: sa.Engine) -> None:
    """Migration 0018: a stream left out of ``entities`` now keeps the system's default, so
    each connection's old choices are written out and none starts or stops a stream."""
    now = datetime(2026, 12, 1, tzinfo=UTC)
    given = {
        "a": ("uniconta", {"entities": {"invoices": {"enabled": True},
                                        "customers": {"direction": "inbound"}}, "x": 1}),
        "b": ("qonto", {"base_url": "https://q.example"}),
        "c": ("tripletex", {"entities": {"products": {"enabled": False}}}),
    }  # fmt: skip
    with engine.connect() as connection:
        command.downgrade(alembic_config(connection), "0017")
        connection.execute(sa.insert(Tenant.__table__).values(id="t", name="T", created_at=now))
        for id_, (system, settings) in given.items():
            connection.execute(
                sa.insert(Connection.__table__).values(
                    id=id_, tenant_id="t", system=system, name=id_, timezone="UTC",
                    settings=settings, secrets="", credential_key=id_, inbound_token_hash="",
                    active=True, import_state="done", created_at=now, updated_at=now,
                )
            )  # fmt: skip
        connection.commit()
        command.upgrade(alembic_config(connection), "head")
        connection.commit()
        stored = dict(connection.execute(sa.select(Connection.id, Connection.settings)).all())
    assert stored["a"] == {"x": 1, "entities": {
        "invoices": {"enabled": True}, "customers": {"direction": "inbound", "enabled": True},
        "suppliers": {"enabled": False}, "contacts": {"enabled": False}}}  # fmt: skip
    assert stored["b"] == {"base_url": "https://q.example"}  # no choices: the defaults, as before
    assert stored["c"]["entities"] == {
        "products": {"enabled": False},
        "vat_codes": {"enabled": False},
        "customers": {"enabled": False},
        "period_statistics": {"enabled": False},
    }


def test_connection_names_are_told_apart(engine: sa.Engine) -> None:
    """Migration 0021: names a tenant held twice (in any case of letters) are told apart, the
    later connections numbered; then the database refuses a name in use."""
    given = [  # (id, tenant, name, created on day)
        ("a", "t", "Nordlys", 1), ("b", "t", "nordlys", 2), ("c", "t", "Nordlys (2)", 3),
        ("d", "t", "Nordlys", 4), ("e", "u", "Nordlys", 5), ("f", "t", "Fjord", 6),
    ]  # fmt: skip
    with engine.connect() as connection:
        command.downgrade(alembic_config(connection), "0020")
        for tenant in ("t", "u"):
            connection.execute(
                sa.insert(Tenant.__table__).values(
                    id=tenant, name=tenant, created_at=datetime(2026, 12, 1, tzinfo=UTC)
                )
            )
        for id_, tenant, name, day in given:
            connection.execute(
                sa.insert(Connection.__table__).values(
                    id=id_, tenant_id=tenant, system="files", name=name, timezone="UTC",
                    settings={}, secrets="", credential_key=id_, inbound_token_hash="",
                    active=True, import_state="done",
                    created_at=datetime(2026, 12, day, tzinfo=UTC),
                    updated_at=datetime(2026, 12, day, tzinfo=UTC),
                )
            )  # fmt: skip
        connection.commit()
        command.upgrade(alembic_config(connection), "head")
        connection.commit()
        stored = dict(connection.execute(sa.select(Connection.id, Connection.name)).all())
        assert stored == {
            "a": "Nordlys", "b": "nordlys (3)", "c": "Nordlys (2)", "d": "Nordlys (4)",
            "e": "Nordlys", "f": "Fjord",
        }  # fmt: skip
        with pytest.raises(sa.exc.IntegrityError):
            connection.execute(
                sa.update(Connection.__table__).where(Connection.id == "f").values(name="NORDLYS")
            )


def test_a_system_only_read_loses_its_push_schedule(engine: sa.Engine) -> None:
    """Migration 0022: the five-minute push of a connection to a system nothing is written to
    (Stripe here) is removed; its reads stay, and a system written to keeps its push."""
    made = datetime(2026, 12, 1, tzinfo=UTC)
    with engine.connect() as connection:
        command.downgrade(alembic_config(connection), "0021")
        connection.execute(sa.insert(Tenant.__table__).values(id="t", name="t", created_at=made))
        for id_, system in (("s", "stripe"), ("u", "uniconta")):
            connection.execute(
                sa.insert(Connection.__table__).values(
                    id=id_, tenant_id="t", system=system, name=system, timezone="UTC",
                    settings={}, secrets="", credential_key=id_, inbound_token_hash="",
                    active=True, import_state="done", created_at=made, updated_at=made,
                )
            )  # fmt: skip
            for kind in ("push", "pull"):
                connection.execute(
                    sa.insert(Schedule.__table__).values(
                        id=f"{id_}-{kind}", connection_id=id_, tenant_id="t", kind=kind,
                        cron="*/5 * * * *", timezone="UTC", payload={}, enabled=True,
                        next_run_at=made, created_at=made, updated_at=made,
                    )
                )  # fmt: skip
        connection.commit()
        command.upgrade(alembic_config(connection), "head")
        connection.commit()
        left = connection.execute(sa.select(Schedule.connection_id, Schedule.kind)).all()
    assert sorted(left) == [("s", "pull"), ("u", "pull"), ("u", "push")]
