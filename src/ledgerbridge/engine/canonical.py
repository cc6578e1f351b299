"""Canonical JSON, content hashes and validation through the model."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from pydantic import ValidationError

from ledgerbridge.model import ENTITY_TYPES

JSON = dict[str, Any]


_CANONICAL_JSON = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)
"""The encoder ``json.dumps`` would build on each call with these options (an import hashes
every record twice)."""


def content_hash(data: Any) -> str:
    """SHA-256 of the canonical JSON form: equal content, equal hash, whatever the key order."""
    return hashlib.sha256(_CANONICAL_JSON.encode(data).encode()).hexdigest()


def validate(entity: str, data: JSON) -> JSON:
    """Validate and normalise canonical data; raises pydantic's ``ValidationError``."""
    model = ENTITY_TYPES[entity]
    record = model.model_validate({k: v for k, v in data.items() if k != "id"})
    dumped: JSON = record.model_dump(mode="json", exclude={"id"}, exclude_computed_fields=True)
    return dumped


def describe_validation_error(exc: ValidationError) -> str:
    """One line naming each bad field: for skip messages and logs."""
    parts = []
    for error in exc.errors():
        where = ".".join(str(p) for p in error["loc"]) or "record"
        parts.append(f"{where}: {error['msg']}")
    return "; ".join(parts)
