"""The app's custom fields: where imported figures land (a summary task's "sale entries")."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from ledgerbridge.model.common import Record

__all__ = ["CustomField", "CustomFieldKey"]

CustomFieldKey = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^\S(?:.*\S)?$")]
"""The app's own identifier of a field, as mappings and records name it ("Salgsbilag",
"sale_entries"): any text without surrounding spaces."""


class CustomField(Record):
    """A custom field the app shows on a kind of record.

    The hub keeps the definitions so a mapping screen can list them and create one on the spot
    ("New custom field"); the app learns of a new one through the change feed and webhooks,
    like any other record.
    """

    key: CustomFieldKey
    label: str = Field(min_length=1, max_length=200)
    value_type: Literal["count", "amount", "text"]
    applies_to: Literal["summary_task"] = "summary_task"
