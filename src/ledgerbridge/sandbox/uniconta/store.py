"""Company tables, their parent indexes and the undo log that makes a write all-or-nothing.

A REST batch, a posting or a seed import touches several tables (an order line changes its
order's totals, posting creates an invoice, its lines and an open item and deletes the order).
Each of these runs in one ``Transaction``: every change is recorded, and a refusal half way
restores the tables and the number series exactly as they were.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from ledgerbridge.sandbox.uniconta.entities import CATALOGUE, ENTITIES, EntityDef
from ledgerbridge.sandbox.uniconta.odata import OrderKey, sort_rows

Row = dict[str, Any]
Key = Any

FIRST_ORDER_NUMBER = 1000
FIRST_INVOICE_NUMBER = 5000


@dataclass
class Counters:
    """Number series of one company. RowId is shared by every table, so it orders creation."""

    row_id: int = 1
    order_number: int = FIRST_ORDER_NUMBER
    invoice_number: int = FIRST_INVOICE_NUMBER


@dataclass
class Payment:
    """A payment registered against an invoice, as bank reconciliation would book it."""

    invoice: int
    amount: Decimal
    date: date


class Company:
    """One Uniconta company: a table per catalogue entity, number series and Change URL.

    Rows are never mutated in place; a change stores a new dict. Readers may therefore keep a
    list of rows after the lock is released.
    """

    def __init__(self, company_id: int, name: str, country: str, currency: str) -> None:
        self.company_id = company_id
        self.name = name
        self.country = country
        self.currency = currency
        self.tables: dict[str, dict[Key, Row]] = {entity: {} for entity in ENTITIES}
        self._children: dict[str, dict[Any, dict[Key, None]]] = {
            entity.name: {} for entity in CATALOGUE if entity.parent
        }
        self._sorted: dict[str, dict[tuple[OrderKey, ...], list[Row]]] = {}
        self.counters = Counters()
        self.change_url: str | None = None
        self.post_body = False
        self.failing_postings: list[str] = []
        self.payments: list[Payment] = []
        self.mails: list[dict[str, Any]] = []

    def put(self, definition: EntityDef, row: Row) -> Row | None:
        """Store a row under its key, keep the parent index current; return the old row."""
        key = definition.key_of(row)
        table = self.tables[definition.name]
        old = table.get(key)
        table[key] = row
        if definition.parent is not None:
            parent = definition.parent
            if old is not None and old.get(parent) != row.get(parent):
                self._unindex(definition, key, old)
            self._children[definition.name].setdefault(row.get(parent), {})[key] = None
        self._sorted.pop(definition.name, None)
        return old

    def pop(self, definition: EntityDef, key: Key) -> Row:
        """Remove and return a row (the caller has checked that it exists)."""
        row = self.tables[definition.name].pop(key)
        if definition.parent is not None:
            self._unindex(definition, key, row)
        self._sorted.pop(definition.name, None)
        return row

    def restore(self, definition: EntityDef, key: Key, old: Row | None) -> None:
        """Undo one change: put the old row back, or remove a row that did not exist."""
        if old is None:
            self.pop(definition, key)
        else:
            self.put(definition, old)

    def children(self, definition: EntityDef, parent_value: Any) -> list[Row]:
        """Rows whose ``parent`` property equals ``parent_value``, in key order."""
        keys = self._children[definition.name].get(parent_value)
        if not keys:
            return []
        table = self.tables[definition.name]
        return [table[key] for key in sorted(keys)]

    def rows_in_order(self, definition: EntityDef, order: Sequence[OrderKey] = ()) -> list[Row]:
        """Rows sorted by ``order`` (key order when empty), cached until the next write.

        Keyset paging asks for the same order page after page, so sorting 150,000 invoice
        lines once instead of per request is what keeps paging fast.
        """
        cache = self._sorted.setdefault(definition.name, {})
        wanted = tuple(order)
        rows = cache.get(wanted)
        if rows is None:
            table = self.tables[definition.name]
            if wanted:
                rows = sort_rows(self.rows_in_order(definition), list(wanted), definition)
            else:
                rows = [table[key] for key in sorted(table)]
            cache[wanted] = rows
        return rows

    def _unindex(self, definition: EntityDef, key: Key, row: Row) -> None:
        """Drop a key from the parent group it was filed under."""
        assert definition.parent is not None
        parent_value = row.get(definition.parent)
        groups = self._children[definition.name]
        group = groups.get(parent_value)
        if group is not None:
            group.pop(key, None)
            if not group:
                del groups[parent_value]

    def __repr__(self) -> str:
        return f"Company({self.company_id}, {self.name!r})"


class Transaction:
    """Changes to one company that are kept together or undone together.

    ``events`` collects the Change URL notifications of master-data changes; they are only
    sent once the whole transaction has succeeded.
    """

    def __init__(self, company: Company) -> None:
        self.company = company
        self.events: list[tuple[EntityDef, Row, str]] = []
        self._undo: list[tuple[EntityDef, Key, Row | None]] = []
        self._counters = dataclasses.replace(company.counters)

    @property
    def counters(self) -> Counters:
        """The company's number series (restored on rollback)."""
        return self.company.counters

    def get(self, entity: str, key: Key) -> Row | None:
        """Current row of an entity by key, including this transaction's own changes."""
        return self.company.tables[entity].get(key)

    def exists(self, entity: str, key: Key) -> bool:
        """Whether a row with that key exists."""
        return key in self.company.tables[entity]

    def children(self, entity: str, parent_value: Any) -> list[Row]:
        """Child rows of a parent (lines of an order, stock rows of an item)."""
        return self.company.children(ENTITIES[entity], parent_value)

    def put(self, definition: EntityDef, row: Row) -> Row:
        """Store a row in catalogue property order with nulls dropped; return it."""
        stored = {name: row[name] for name in definition.fields if row.get(name) is not None}
        old = self.company.put(definition, stored)
        self._undo.append((definition, definition.key_of(stored), old))
        return stored

    def remove(self, definition: EntityDef, key: Key) -> Row:
        """Delete a row by key and return it."""
        row = self.company.pop(definition, key)
        self._undo.append((definition, key, row))
        return row

    def notify(self, definition: EntityDef, row: Row, operation: str) -> None:
        """Record a Change URL notification; only master data is announced."""
        if definition.master_data:
            self.events.append((definition, row, operation))

    def rollback(self) -> None:
        """Undo every change in reverse order and reset the number series."""
        for definition, key, old in reversed(self._undo):
            self.company.restore(definition, key, old)
        self._undo.clear()
        self.events.clear()
        self.company.counters = self._counters
