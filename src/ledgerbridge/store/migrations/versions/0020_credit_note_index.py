"""credit notes by the invoice they credit

A refund is checked against what the order's invoice was credited already, so the hub looks up
an invoice's credit notes (``credits_invoice_id``) at each refund. Without an index that read
every invoice of the tenant: 105 ms a refund with 100,000 invoices on SQLite, growing with the
books. A partial index on the key, holding credit notes only, finds them at once and costs an
invoice that credits nothing no index entry.

Revision ID: 0020
Revises: 0019
"""

from __future__ import annotations

from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None

NAME = "ix_hub_records_key_invoice_credits_invoice_id"


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        key = "(data ->> 'credits_invoice_id')"
    else:
        key = "json_extract(data, '$.credits_invoice_id')"
    op.execute(
        f"CREATE INDEX {NAME} ON hub_records (tenant_id, entity, {key}) "
        f"WHERE entity = 'invoice' AND {key} IS NOT NULL"
    )


def downgrade() -> None:
    op.execute(f"DROP INDEX {NAME}")
