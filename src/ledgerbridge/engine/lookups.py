"""Hub values an inbound record gets from other hub records, not from the remote: the product
of an invoice line found by name and VAT rate (``ProductLookup``).

Only the hub copy gets them. The link keeps the record as the remote has it, so the values
looked up never look like a change to send back, and a record the remote did not change is
not looked up again.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ledgerbridge.connectors.base import JSON, EntityMapping, ProductLookup
from ledgerbridge.engine.canonical import validate
from ledgerbridge.store.tables.hub import HubRecord

if TYPE_CHECKING:
    from ledgerbridge.engine.context import RunContext


def _name(value: Any) -> str | None:
    """Names compare with runs of whitespace as one space."""
    return " ".join(str(value).split()) or None if value is not None else None


def _rate(value: Any) -> Decimal | None:
    try:
        return Decimal(str(value)) if value is not None else None
    except InvalidOperation:
        return None


@dataclass
class ProductIndex:
    """A tenant's live products by name, and the rates of its VAT codes."""

    by_name: dict[str, list[JSON]] = field(default_factory=dict)
    rates: dict[str, set[Decimal]] = field(default_factory=dict)

    @classmethod
    def load(cls, session: Session, tenant_id: str) -> ProductIndex:
        rows = session.execute(
            sa.select(HubRecord.id, HubRecord.entity, HubRecord.data).where(
                HubRecord.tenant_id == tenant_id,
                HubRecord.entity.in_(("product", "vat_code")),
                HubRecord.deleted.is_(False),
            )
        )
        index = cls()
        for record_id, entity, data in rows:
            if entity == "vat_code":
                rate = _rate(data.get("rate"))
                if rate is not None:
                    index.rates.setdefault(str(data.get("code")), set()).add(rate)
                continue
            name = _name(data.get("name"))
            if name is not None:
                index.by_name.setdefault(name, []).append({**data, "id": record_id})
        return index

    def find(self, name: Any, rate: Any, vat_code: Any) -> JSON | None:
        """The one product of that name whose VAT code has that rate (or is the line's own
        code); an active one wins over inactive ones; None when there is none or several."""
        wanted = _rate(rate)
        matches = [
            product
            for product in self.by_name.get(_name(name) or "", [])
            if (vat_code is not None and product.get("vat_code") == vat_code)
            or (wanted is not None and wanted in self.rates.get(product.get("vat_code") or "", ()))
        ]
        if len(matches) > 1:
            matches = [product for product in matches if product.get("active", True)]
        return matches[0] if len(matches) == 1 else None


def with_products(lookup: ProductLookup, record: JSON, index: ProductIndex) -> JSON:
    """The record with each line's ``product_id`` and copied fields from its product."""
    lines: Iterable[JSON] = record.get("lines") or []
    found = []
    for line in lines:
        product = index.find(
            line.get(lookup.name_from), line.get(lookup.rate_from), line.get("vat_code")
        )
        copied = {to: (product or {}).get(source) for source, to in lookup.copies}
        found.append({**line, "product_id": product["id"] if product else None, **copied})
    return {**record, "lines": found}


def looked_up(session: Session, ctx: RunContext, mapping: EntityMapping, record: JSON) -> JSON:
    """A validated inbound record with what its mapping looks up in the hub, validated again.
    Products are read once per run (the run's ``product_index``)."""
    lookup = mapping.product_lookup
    if lookup is None or not record.get("lines"):
        return record
    if ctx.product_index is None:
        ctx.product_index = ProductIndex.load(session, ctx.tenant_id)
    if not ctx.product_index.by_name:
        return record  # no products: every line keeps none, as it came
    return validate(mapping.entity, with_products(lookup, record, ctx.product_index))
