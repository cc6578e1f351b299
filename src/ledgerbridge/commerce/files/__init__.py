"""File integration: orders and refunds from CSV or XML files, for shops without an API.

A connection saves a ``FileMapping`` (the file's format and the column of each canonical
field); ``suggest_mapping`` proposes one from a file's content (its layout, column names,
number and date formats, and what they leave open) and ``preview`` shows the first rows as
they would be read before it is saved. ``read`` turns a whole file into canonical orders or
refunds and a problem for every line it could not read, naming the line and the column.
``content_key`` is the file's identity, so a file uploaded twice is imported once.
"""

from ledgerbridge.commerce.files.mapping import (
    FIELDS,
    CsvFormat,
    FieldSource,
    FieldSpec,
    FileKind,
    FileMapping,
    XmlFormat,
    suggest_fields,
)
from ledgerbridge.commerce.files.reader import (
    FileRead,
    Preview,
    PreviewRow,
    Suggestion,
    preview,
    read,
    suggest_mapping,
)
from ledgerbridge.commerce.files.sniff import Doubt
from ledgerbridge.commerce.files.source import FileLimits, FileRefused, Problem, content_key

__all__ = [
    "FIELDS",
    "CsvFormat",
    "Doubt",
    "FieldSource",
    "FieldSpec",
    "FileKind",
    "FileLimits",
    "FileMapping",
    "FileRead",
    "FileRefused",
    "Preview",
    "PreviewRow",
    "Problem",
    "Suggestion",
    "XmlFormat",
    "content_key",
    "preview",
    "read",
    "suggest_fields",
    "suggest_mapping",
]
