"""look-up indexes: business keys, links and issues by hub record

A write through the hub API checks that no other record claims its business key (a debtor
number, a SKU, an invoice number): without an index on the key inside the JSON document, each
check read every record of the entity. The record's sync state (shown with every answer) looked
its links and issues up by record id, which no index led with either.

The business-key indexes are partial (one entity each) and on an expression, which the models
cannot declare for both backends: they live here, and ``store.tables.hub.business_key`` writes
the same expression into the queries.

Revision ID: 0015
Revises: 0014
"""

from __future__ import annotations

from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

BUSINESS_KEYS = {
    "party": ("debtor_number", "creditor_number"),
    "product": ("sku",),
    "invoice": ("number",),
    "custom_field": ("key",),
}


def _expression(dialect: str, field: str) -> str:
    if dialect == "postgresql":
        return f"(data ->> '{field}')"
    return f"json_extract(data, '$.{field}')"


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    for entity, fields in BUSINESS_KEYS.items():
        for field in fields:
            op.execute(
                f"CREATE INDEX ix_hub_records_key_{entity}_{field} ON hub_records "
                f"(tenant_id, {_expression(dialect, field)}) WHERE entity = '{entity}'"
            )
    op.create_index("ix_links_record", "links", ["record_id"])
    op.create_index("ix_sync_issues_key", "sync_issues", ["key"])


def downgrade() -> None:
    op.drop_index("ix_sync_issues_key", "sync_issues")
    op.drop_index("ix_links_record", "links")
    for entity, fields in BUSINESS_KEYS.items():
        for field in fields:
            op.execute(f"DROP INDEX ix_hub_records_key_{entity}_{field}")
