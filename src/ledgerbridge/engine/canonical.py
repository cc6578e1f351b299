"""Canonical JSON, content hashes and validation through the model."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import orjson

from ledgerbridge.model import ENTITY_TYPES

JSON = dict[str, Any]


_CANONICAL_JSON = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)
"""The encoder ``json.dumps`` would build on each call with these options (an import hashes
every record twice)."""


def content_hash(data: Any) -> str:
    """SHA-256 of the canonical JSON form: equal content, equal hash, whatever the key order.

    orjson writes that form byte for byte as ``json`` does, several times faster, except for
    floats under 1e-4 (``0.00001`` where ``json`` writes ``1e-05``) and integers beyond 64 bits:
    hashes stored by earlier versions must stay equal, so those few take ``json``. (NaN, which
    orjson writes as null, comes from no API we read: JSON has no NaN, and the model's dumps
    write it as null already.)"""
    try:
        encoded = orjson.dumps(data, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS)
        same = b"0.0000" not in encoded and b"e-" not in encoded
    except TypeError:  # an integer beyond 64 bits
        same = False
    if not same:
        encoded = _CANONICAL_JSON.encode(data).encode()
    return hashlib.sha256(encoded).hexdigest()


def validate(entity: str, data: JSON) -> JSON:
    """Validate and normalise canonical data; raises pydantic's ``ValidationError``."""
    model = ENTITY_TYPES[entity]
    record = model.model_validate({k: v for k, v in data.items() if k != "id"})
    dumped: JSON = record.model_dump(mode="json", exclude={"id"}, exclude_computed_fields=True)
    return dumped
