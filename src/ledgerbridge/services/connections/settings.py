"""Checking what a user gives a connection: its settings against the system's settings model,
its secrets against the secrets model, its time zone. A refusal names the JSON path and the
reason (``settings.vat_groups[0].rate: …``)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ValidationError

from ledgerbridge.connectors.base import SetupRefused
from ledgerbridge.connectors.kit.paths import path_problem
from ledgerbridge.connectors.registry import SystemSpec, conflict_fields, directions
from ledgerbridge.connectors.settings import EXPIRY_SUFFIX
from ledgerbridge.model.reasons import in_words
from ledgerbridge.services.errors import Invalid

JSON = dict[str, Any]
UNION_BRANCHES = frozenset({"int", "str", "bool", "float", "decimal", "date"})
BRANCH_PREFIXES = ("function-", "constrained-")
"""How pydantic names a union's branches in an error's location (with the plain types above)."""


def check_timezone(timezone: str) -> None:
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        # OSError: a name too long to be a file name of the zone database.
        raise Invalid(f"unknown time zone '{timezone[:100]}'", field="timezone") from None


def merge(current: Mapping[str, Any], patch: Mapping[str, Any]) -> JSON:
    """A JSON merge patch (RFC 7396): objects are merged key by key, at every depth, so a
    change to ``summary.reload_requested_at`` keeps the summary's other fields; ``null``
    removes a key (its default applies again); any other value replaces."""
    merged = dict(current)
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        elif isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def refuse_learned(spec: SystemSpec, given: Mapping[str, Any]) -> None:
    """Settings the credentials check stores (the user's roles) are the system's word, not the
    user's: a given one would let a check be bypassed."""
    for key in sorted(set(given) & spec.settings.learned):
        raise Invalid(
            f"settings.{key} is set by the hub when it checks the credentials with "
            f"{spec.name}; it cannot be given",
            field=f"settings.{key}",
        )


def refuse_past_expiry(
    spec: SystemSpec, settings: Mapping[str, Any], stored: Mapping[str, Any], today: date
) -> None:
    """A credential's expiry date given now (new or changed) must be after today: the
    credential stops working on that date (the reading the status's "expired" shares), so one
    dated today or earlier would stop the connection at its first run. A date stored earlier
    that has come since is left alone (the status says the credential expired)."""
    for key, value in settings.items():
        if not key.endswith(EXPIRY_SUFFIX) or value is None or value == stored.get(key):
            continue
        if date.fromisoformat(str(value)) <= today:
            field = spec.settings.model_fields[key]
            meant = (field.description or "the credential's expiry date").rstrip(".")
            raise Invalid(
                f"settings.{key}: {value} is not after today ({today.isoformat()}); it is "
                f"{meant[0].lower()}{meant[1:]}, and {spec.title} refuses a credential from "
                "that date on: generate a new one and give the date chosen for it",
                field=f"settings.{key}",
            )


def drop_stale_expiry(
    stored: Mapping[str, Any],
    merged: JSON,
    patch: Mapping[str, Any] | None,
    secrets_: JSON,
    stored_secrets: Mapping[str, Any],
) -> tuple[JSON, list[str]]:
    """A new secret replaces the one its expiry date (``<secret>_expires_on``) dated: when the
    same change gives no date of its own, the stored one is the previous token's, and kept it
    would warn on the wrong day while the new token expires unannounced. It is removed, and
    the answer says to give the new one's date. The same token saved again keeps its date."""
    warnings: list[str] = []
    for name, value in secrets_.items():
        key = f"{name}{EXPIRY_SUFFIX}"
        if not value or not stored.get(key) or key in (patch or {}):
            continue
        if str(value).strip() == str(stored_secrets.get(name) or "").strip():
            continue
        merged = {k: v for k, v in merged.items() if k != key}
        warnings.append(
            f"settings.{key} ({stored[key]}) was the previous {name.replace('_', ' ')}'s "
            f"expiry date and is removed with it: give the new one's date "
            f'(PATCH {{"settings": {{"{key}": "YYYY-MM-DD"}}}}, or the Credentials page), '
            "so that the connection warns before it expires"
        )
    return merged, warnings


def refuse_unusable_paths(
    spec: SystemSpec,
    settings: Mapping[str, Any],
    stored: Mapping[str, Any],
    watch_root: Path | None,
) -> None:
    """A folder or file a setting names (a watched folder, a logo) is checked when it is
    given (new or changed): a folder outside the installation's ``watch_root``, missing, of
    the wrong kind, unreadable or not an image the PDF can use is refused on its field, with
    the path. One stored earlier is left alone."""
    for dotted, kind in spec.settings.paths.items():
        value = _at(settings, dotted)
        if value is None or value == _at(stored, dotted):
            continue
        problem = path_problem(kind, str(value), watch_root)
        if problem is not None:
            raise Invalid(f"settings.{dotted}: {problem}", field=f"settings.{dotted}")


def _at(settings: Mapping[str, Any], dotted: str) -> Any:
    value: Any = settings
    for key in dotted.split("."):
        value = value.get(key) if isinstance(value, Mapping) else None
    return value


def checked_settings(spec: SystemSpec, settings: Mapping[str, Any]) -> JSON:
    """The settings as the system's model reads them (values in their JSON form, only the keys
    given: the system's defaults stay its own), then the system's own checks."""
    model = _validated(spec.settings, settings, "settings")
    cleaned = model.model_dump(mode="json", exclude_unset=True)
    for stream, choice in cleaned.get("entities", {}).items():
        _check_stream(spec, stream, choice)
    for kind in cleaned.get("schedules", {}):
        if kind not in spec.pulls:
            raise Invalid(
                f"settings.schedules.{kind}: {spec.name} has no scheduled job '{kind}'; its "
                f"jobs: {', '.join(spec.pulls)}",
                field=f"settings.schedules.{kind}",
            )
    _check_conflicts(spec, cleaned.get("conflicts", {}))
    if spec.check_settings is not None:
        try:
            spec.check_settings(cleaned)
        except SetupRefused as exc:
            raise Invalid(exc.message, field=exc.field) from exc
    return cleaned


def _check_stream(spec: SystemSpec, stream: str, choice: Mapping[str, Any]) -> None:
    path = f"settings.entities.{stream}"
    mapping = spec.streams.get(stream)
    if mapping is None:
        raise Invalid(
            f"{path}: {spec.name} has no stream '{stream}'; its streams: {', '.join(spec.streams)}",
            field=path,
        )
    allowed = directions(mapping)
    direction = choice.get("direction", "both")
    if direction != "both" and direction not in allowed:
        raise Invalid(
            f"{path}.direction: {stream} syncs {allowed[0]} only",
            field=f"{path}.direction",
        )


def _check_conflicts(spec: SystemSpec, conflicts: Mapping[str, Mapping[str, str]]) -> None:
    """A conflict rule names an entity the system syncs both ways and one of its fields."""
    known = conflict_fields(spec.streams)
    for entity, rules in conflicts.items():
        path = f"settings.conflicts.{entity}"
        if entity not in known:
            raise Invalid(
                f"{path}: {spec.name} syncs no '{entity}' both ways; conflict rules apply to "
                f"{', '.join(known) or 'none of its entities'}",
                field=path,
            )
        for name in rules:
            if name != "*" and name not in known[entity]:
                raise Invalid(
                    f"{path}.{name}: {spec.name} does not carry the {entity} field '{name}'; "
                    f"its fields: {', '.join(known[entity])} (or * for all)",
                    field=f"{path}.{name}",
                )


def checked_secrets(spec: SystemSpec, given: Mapping[str, Any], *, partial: bool) -> None:
    """Secrets a user gives: known names with usable values; all the required ones unless
    ``partial`` (a change of some of them)."""
    if not partial:
        _validated(spec.secrets, given, "secrets")
        return
    fields = spec.secrets.model_fields
    for name, value in given.items():
        if name not in fields:
            raise Invalid(
                f"secrets.{name}: {spec.name} takes no such secret; it takes "
                f"{', '.join(fields) or 'none'}",
                field=f"secrets.{name}",
            )
        _validated(spec.secrets, {**_placeholders(spec.secrets), name: value}, "secrets")


def _placeholders(model: type[BaseModel]) -> JSON:
    return {n: "x" for n, f in model.model_fields.items() if f.is_required()}


def _validated(model: type[BaseModel], data: Mapping[str, Any], root: str) -> BaseModel:
    try:
        return model.model_validate(dict(data))
    except ValidationError as exc:
        raise _invalid(exc, root) from None


def _invalid(exc: ValidationError, root: str) -> Invalid:
    """Every wrong value, each as ``settings.vat_groups[0].rate: <reason>``; a value that fits
    none of a union's forms gets the reason of each."""
    reasons: dict[tuple[str, str], list[str]] = {}
    for error in exc.errors(include_url=False):
        reasons.setdefault(_where(error["loc"], root), []).append(_reason(error, root))
    first, *others = [
        Invalid(f"{path}: {'; or '.join(dict.fromkeys(found))}", field=field)
        for (path, field), found in reasons.items()
    ]
    first.also = others
    return first


def _where(loc: tuple[int | str, ...], root: str) -> tuple[str, str]:
    """(the JSON path shown, the dotted field the API's error names)."""
    path, field = root, root
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part in UNION_BRANCHES or "[" in part or part.startswith(BRANCH_PREFIXES):
            continue  # which branch of a union refused it, not a key
        else:
            path += f".{part}"
        field += f".{part}"
    return path, field


EMPTY = frozenset({"string_type", "int_type", "float_type", "decimal_type", "date_type"})
"""Refusals of a required value given as null: "required", not "Input should be a valid
string"."""


def _reason(error: Any, root: str) -> str:
    if error["type"] == "extra_forbidden":
        return "unknown setting" if root == "settings" else "unknown secret"
    if error["type"] == "missing" or (error.get("input") is None and error["type"] in EMPTY):
        return "required"  # left empty in a form (null in a merge patch) as much as absent
    return in_words(error)
