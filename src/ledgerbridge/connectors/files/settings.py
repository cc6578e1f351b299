"""A files connection's settings: how its order and refund files are read, and where it
finds files dropped into a folder.

The mappings are kept as the JSON a user saved through ``PUT
/connections/{id}/file-mappings/{kind}``, which checks them against
``commerce.files.FileMapping`` (the commerce layer sits above the connectors, so this model
only holds them). A file is read with the mapping of its kind as stored; one that no longer
reads (changed through the generic settings patch) fails that file with ``mapping_invalid``.
"""

from __future__ import annotations

from pathlib import PurePath
from typing import Annotated, Any, ClassVar

from pydantic import AfterValidator, Field

from ledgerbridge.connectors.settings import ConnectionSettings, PathKind, Strict

KINDS = ("orders", "refunds")


def _absolute(value: str) -> str:
    if not PurePath(value).is_absolute():
        raise ValueError("must be an absolute path on the hub's server")
    if "\x00" in value:
        raise ValueError("must not hold a NUL character")
    return value


Folder = Annotated[str, Field(min_length=1, max_length=1000), AfterValidator(_absolute)]


class FileMappings(Strict):
    """The saved mapping of each kind of file (``commerce.files.FileMapping`` as JSON)."""

    orders: dict[str, Any] | None = Field(None, description="How order files are read")
    refunds: dict[str, Any] | None = Field(None, description="How refund files are read")


class FilesSettings(ConnectionSettings):
    paths: ClassVar[dict[str, PathKind]] = {"watch_folder": "folder"}

    file_mappings: FileMappings | None = Field(
        None,
        description="Saved with PUT /connections/{id}/file-mappings/{kind}",
    )
    watch_folder: Folder | None = Field(
        None,
        description="A folder on the hub's server scanned every minute: each new *.csv or "
        "*.xml file is imported, then moved into processed/ (or failed/ with its problems)",
    )


class FilesSecrets(Strict):
    """Files need no credentials."""
