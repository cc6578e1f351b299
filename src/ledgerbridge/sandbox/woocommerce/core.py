"""Shared pieces of the WooCommerce sandbox: its error shape, money, dates and JSON encoding.

WordPress answers every REST failure with ``{"code", "message", "data": {"status"}}``; a bad
parameter adds ``data.params`` naming each parameter and the reason, as ``rest_invalid_param``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

CENT = Decimal("0.01")
PRECISION = Decimal("0.000001")
"""WooCommerce keeps unrounded amounts at six decimals (``wc_get_rounding_precision``)."""
LARGEST = Decimal(10) ** 12
"""Amounts from this on are refused: no shop sells that much, and six decimals must fit."""


class WooError(Exception):
    """A refusal rendered as WordPress's REST error body."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        params: dict[str, str] | None = None,
        data: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.params = params
        self.data = data or {}

    def body(self) -> dict[str, Any]:
        """``{"code", "message", "data": {"status", "params"?, …}}`` (``data`` adds what the
        error carries, such as a duplicated SKU's ``resource_id``)."""
        data: dict[str, Any] = {"status": self.status, **self.data}
        if self.params:
            data["params"] = dict(self.params)
        return {"code": self.code, "message": self.message, "data": data}


def invalid_param(name: str, reason: str) -> WooError:
    """400 ``rest_invalid_param`` for one parameter, worded as WordPress does."""
    return WooError(400, "rest_invalid_param", f"Invalid parameter(s): {name}", {name: reason})


def not_one_of(name: str, options: Sequence[str], shown: str | None = None) -> WooError:
    """400 for a value outside an enum, worded as ``rest_validate_enum`` (``%l`` lists)."""
    items = list(options)
    listed = (
        " and ".join(items) if len(items) <= 2 else ", ".join(items[:-1]) + ", and " + items[-1]
    )
    return invalid_param(name, f"{shown or name} is not one of {listed}.")


def invalid_id(post_type: str, status: int = 404) -> WooError:
    """``woocommerce_rest_<type>_invalid_id``: an id that names nothing (400 on update)."""
    return WooError(status, f"woocommerce_rest_{post_type}_invalid_id", "Invalid ID.")


def rnd(value: Decimal, quantum: Decimal = CENT) -> Decimal:
    """Half-up rounding, as PHP's ``round`` (WooCommerce's ``wc_round_tax_total``)."""
    return value.quantize(quantum, rounding=ROUND_HALF_UP)


def money(value: Decimal) -> str:
    """An amount as the API prints it: a string with two decimals (``dp`` 2)."""
    return f"{rnd(value):.2f}"


def trimmed(value: Decimal) -> str:
    """An amount without trailing zeros, as in ``taxes[].total`` (``"0.9"``, ``"0.334"``)."""
    text = f"{value.normalize():f}"
    return text if text not in ("-0",) else "0"


def decimal(value: Any, name: str) -> Decimal:
    """A number from a request (JSON number or numeric string), or a 400 naming ``name``."""
    if isinstance(value, bool) or value is None:
        raise invalid_param(name, f"{name} is not a valid number.")
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation as exc:
        raise invalid_param(name, f"{name} is not a valid number.") from exc
    if not number.is_finite():
        raise invalid_param(name, f"{name} is not a valid number.")
    if abs(number) >= LARGEST:
        raise invalid_param(name, f"{name} must be less than {LARGEST:,}.")
    return number


def integer(value: Any, name: str, minimum: int | None = None) -> int:
    """An integer from a request; WordPress accepts numeric strings too."""
    if isinstance(value, bool):
        raise invalid_param(name, f"{name} is not of type integer.")
    if isinstance(value, int):
        number = value
    elif (isinstance(value, str) and re.fullmatch(r"\s*-?\d+\s*", value)) or (
        isinstance(value, float) and value.is_integer()
    ):
        number = int(value)
    else:
        raise invalid_param(name, f"{name} is not of type integer.")
    if minimum is not None and number < minimum:
        raise invalid_param(name, f"{name} must be greater than or equal to {minimum}")
    return number


def boolean(value: Any, name: str) -> bool:
    """A boolean from a request; WordPress reads ``"true"``/``"1"``/``"false"``/``"0"`` too."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str | int) and str(value).lower() in ("true", "1", "false", "0"):
        return str(value).lower() in ("true", "1")
    raise invalid_param(name, f"{name} is not of type boolean.")


def text(value: Any, name: str) -> str:
    """A string from a request."""
    if not isinstance(value, str):
        raise invalid_param(name, f"{name} is not of type string.")
    return value


class SiteTime:
    """The site's time zone: ``date_*`` fields are local, ``date_*_gmt`` are UTC, both without
    offset."""

    def __init__(self, zone: str) -> None:
        self.zone = ZoneInfo(zone)

    def local(self, moment: datetime) -> str:
        """``YYYY-MM-DDTHH:MM:SS`` in the site's zone."""
        return moment.astimezone(self.zone).strftime("%Y-%m-%dT%H:%M:%S")

    @staticmethod
    def gmt(moment: datetime) -> str:
        """``YYYY-MM-DDTHH:MM:SS`` in UTC."""
        return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")

    def pair(self, name: str, moment: datetime | None) -> dict[str, str | None]:
        """``{name: local, name_gmt: utc}``, both ``None`` for an unset date."""
        if moment is None:
            return {name: None, f"{name}_gmt": None}
        return {name: self.local(moment), f"{name}_gmt": self.gmt(moment)}

    def parse(self, value: str, name: str, gmt: bool) -> datetime:
        """An ISO 8601 date-time filter; without an offset it is site time (or UTC when
        ``dates_are_gmt``)."""
        raw = value.strip()
        if raw.endswith(("Z", "z")):
            raw = raw[:-1] + "+00:00"
        try:
            moment = datetime.fromisoformat(raw)
        except ValueError as exc:
            raise invalid_param(name, "Invalid date.") from exc
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC if gmt else self.zone)
        return moment.astimezone(UTC)


def seconds(moment: datetime) -> datetime:
    """WordPress stores dates to the second."""
    return moment.astimezone(UTC).replace(microsecond=0)


def fresh(value: Any) -> Any:
    """A deep copy of JSON data (a JSON round trip: several times faster than ``deepcopy``)."""
    return json.loads(json.dumps(value))


def dumps(payload: Any) -> bytes:
    """JSON as ``wp_json_encode`` writes it: ASCII only, slashes escaped, no spaces."""
    encoded = json.dumps(payload, separators=(",", ":"), ensure_ascii=True)
    return encoded.replace("/", "\\/").encode("ascii")
