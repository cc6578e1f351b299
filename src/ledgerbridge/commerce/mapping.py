"""A connection's mapping rules: field adjustments and filters applied to an order before the
policies see it.

An adjustment sets one field of the order from a template over the order (Jinja2, sandboxed:
a template can read the order and nothing else, and cannot call into Python). A filter skips
the orders that match a condition. The rules are checked when they are saved (a bad path,
operator or template is refused with the place it is at), carry a version and a hash of their
content, and applying them reports every field they changed or the filter that skipped the
order, for the sync log.

Paths are dotted field names of the order (``customer.company``); ``*`` stands for every
element of a list (``lines.*.description``). A line's adjustment sees the line as ``line``.
Filters read the order as the shop sent it, before any adjustment, and can also read
``destination``, ``is_paid`` and ``customer.customer_kind``, which the order derives.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import types
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from jinja2 import StrictUndefined, Template, TemplateError, TemplateSyntaxError
from jinja2 import nodes as jinja_nodes
from jinja2.sandbox import SandboxedEnvironment, SecurityError
from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator
from pydantic_core import PydanticCustomError

from ledgerbridge.model.commerce import Order
from ledgerbridge.model.common import Canonical, field_error
from ledgerbridge.model.reasons import describe_validation_error

__all__ = [
    "FieldAdjustment",
    "FieldChange",
    "MappingOutcome",
    "MappingRules",
    "OrderFilter",
    "apply_mapping",
]

Operator = Literal[
    "eq", "ne", "in", "not_in", "contains", "gt", "ge", "lt", "le", "exists", "missing"
]
_NO_VALUE = frozenset({"exists", "missing"})
_LIST_VALUE = frozenset({"in", "not_in"})
_PROTECTED = frozenset({"id", "source_id"})
"""Fields an adjustment may not set: they tie the order to the shop's record."""
_DERIVED = frozenset({("destination",), ("is_paid",), ("customer", "customer_kind")})

_LONGEST_TEXT = 10_000
"""The most characters one step of a template, and its result, may have."""
_FILTERS = frozenset(
    {
        "abs", "capitalize", "count", "d", "default", "first", "float", "int", "join", "last",
        "length", "list", "lower", "map", "max", "min", "reject", "rejectattr", "replace",
        "round", "select", "selectattr", "sort", "string", "sum", "title", "trim", "truncate",
        "unique", "upper",
    }
)  # fmt: skip
"""Filters a template may use: text and list helpers whose result stays small. Left out are
those that build text of a size given by an argument (``center``, ``indent``, ``format``,
``wordwrap``), markup and random ones."""
_STATEMENTS = (jinja_nodes.Output, jinja_nodes.If)
"""A template holds expressions and if-blocks only: without loops and assignments, the work
and the text a template can make are bounded by its own length."""


def _bounded(value: Any) -> Any:
    if isinstance(value, str | list) and len(value) > _LONGEST_TEXT:
        raise SecurityError("a template may not build a value beyond 10,000 characters")
    return value


def _bounded_filter(function: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(function)  # keeps Jinja's pass_context / pass_environment marks
    def bounded(*args: Any, **kwargs: Any) -> Any:
        return _bounded(function(*args, **kwargs))

    return bounded


class _Sandbox(SandboxedEnvironment):
    """Jinja2's sandbox with no globals (``range``, ``lipsum``), a list of filters, and
    repetition and powers bounded, so that a template cannot make a worker build a huge
    value or loop for long."""

    intercepted_binops = frozenset({"*", "**"})

    def __init__(self) -> None:
        super().__init__(undefined=StrictUndefined, autoescape=False)
        self.globals.clear()
        self.filters = {
            name: _bounded_filter(function)
            for name, function in self.filters.items()
            if name in _FILTERS
        }

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "**" and isinstance(right, int | float) and abs(right) > 100:
            raise SecurityError("an exponent above 100 is not allowed in a template")
        if operator == "*":
            sizes = [len(side) for side in (left, right) if isinstance(side, str | list)]
            counts = [side for side in (left, right) if isinstance(side, int)]
            if sizes and counts and sizes[0] * max(counts[0], 0) > _LONGEST_TEXT:
                raise SecurityError("a template may not build a value beyond 10,000 characters")
        return super().call_binop(context, operator, left, right)


_ENVIRONMENT = _Sandbox()


@functools.lru_cache(maxsize=256)
def _compile(template: str) -> Template:
    """The compiled template; ``TemplateError`` when it does not compile or holds a statement
    other than an if-block."""
    for node in _ENVIRONMENT.parse(template).find_all(jinja_nodes.Stmt):
        if not isinstance(node, _STATEMENTS):
            raise TemplateSyntaxError(
                f"only expressions and if-blocks are allowed, not {type(node).__name__.lower()}",
                node.lineno,
            )
    return _ENVIRONMENT.from_string(template)


def _unwrap(annotation: Any) -> Any:
    """The type inside ``X | None`` and ``Annotated[X, …]``."""
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            annotation = get_args(annotation)[0]
        elif origin in (Union, types.UnionType):
            inner = [arg for arg in get_args(annotation) if arg is not type(None)]
            if len(inner) != 1:
                return annotation
            annotation = inner[0]
        else:
            return annotation


def _resolve(path: str, *, settable: bool) -> None:
    """Raise ``ValueError`` unless ``path`` names a scalar field of an order (through lists
    with ``*``); a settable path must not name an identity field."""
    parts = tuple(path.split("."))
    if not settable and parts in _DERIVED:
        return
    current: Any = Order
    for index, part in enumerate(parts):
        where = ".".join(parts[: index + 1])
        if get_origin(current) is list:
            if part != "*":
                raise ValueError(f"{where!r}: a list's elements are addressed as '*'")
            current = _unwrap(get_args(current)[0])
            continue
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            raise ValueError(f"{where!r}: {'.'.join(parts[:index])!r} has no fields")
        field = current.model_fields.get(part)
        if field is None:
            raise ValueError(f"{where!r}: no such field")
        if settable and index == 0 and part in _PROTECTED:
            raise ValueError(f"{where!r} identifies the order and cannot be set")
        current = _unwrap(field.annotation)
    if get_origin(current) is list or (
        isinstance(current, type) and issubclass(current, BaseModel)
    ):
        raise ValueError(f"{path!r} is not a single value: name one of its fields")


class FieldAdjustment(Canonical):
    """Set ``target`` to what ``template`` renders (an empty result clears the field)."""

    target: str = Field(min_length=1, max_length=200)
    template: str = Field(max_length=2000)

    @field_validator("target")
    @classmethod
    def _known_target(cls, value: str) -> str:
        try:
            _resolve(value, settable=True)
        except ValueError as exc:
            raise field_error("mapping_path", exc) from None
        return value

    @field_validator("template")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            _compile(value)
        except TemplateError as exc:
            raise PydanticCustomError(
                "mapping_template", "the template does not compile: {reason}", {"reason": str(exc)}
            ) from None
        return value

    @property
    def per_line(self) -> bool:
        return self.target.startswith("lines.*.")


class OrderFilter(Canonical):
    """Skip an order whose ``field`` compares to ``value`` by ``operator``. Through a list
    (``lines.*.sku``) the condition holds when it holds for any element."""

    field: str = Field(min_length=1, max_length=200)
    operator: Operator
    value: str | int | float | bool | list[str | int | float | bool] | None = None

    @field_validator("field")
    @classmethod
    def _known_field(cls, value: str) -> str:
        try:
            _resolve(value, settable=False)
        except ValueError as exc:
            raise field_error("mapping_path", exc) from None
        return value

    @model_validator(mode="after")
    def _value_fits_operator(self) -> OrderFilter:
        if self.operator in _NO_VALUE and self.value is not None:
            raise PydanticCustomError(
                "mapping_filter_value", "{operator} takes no value", {"operator": self.operator}
            )
        if self.operator in _LIST_VALUE and not isinstance(self.value, list):
            raise PydanticCustomError(
                "mapping_filter_value", "{operator} takes a list", {"operator": self.operator}
            )
        if self.operator not in _NO_VALUE | _LIST_VALUE and (
            self.value is None or isinstance(self.value, list)
        ):
            raise PydanticCustomError(
                "mapping_filter_value",
                "{operator} takes one value",
                {"operator": self.operator},
            )
        return self

    def matches(self, values: list[Any]) -> bool:
        present = [value for value in values if value not in (None, "")]
        if self.operator == "exists":
            return bool(present)
        if self.operator == "missing":
            return not present
        return any(self._holds(value) for value in present)

    def _holds(self, actual: Any) -> bool:
        expected = self.value
        if isinstance(expected, list):
            found = any(_equal(actual, item) for item in expected)
            return found if self.operator == "in" else not found
        if self.operator == "eq":
            return _equal(actual, expected)
        if self.operator == "ne":
            return not _equal(actual, expected)
        if self.operator == "contains":
            return str(expected).casefold() in str(actual).casefold()
        left, right = _comparable(actual), _comparable(expected)
        if type(left) is not type(right):
            return False
        if self.operator == "gt":
            return left > right  # type: ignore[operator]
        if self.operator == "ge":
            return left >= right  # type: ignore[operator]
        if self.operator == "lt":
            return left < right  # type: ignore[operator]
        return left <= right  # type: ignore[operator]


def _comparable(value: Any) -> Decimal | str:
    """A number as a number (``"10.50"`` and ``10.5`` are equal), anything else as text; a
    moment in ISO form, so that it compares in order with a date written ``2026-06-01``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.date):
        return value.isoformat()
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return str(value)


def _equal(actual: Any, expected: Any) -> bool:
    return _comparable(actual) == _comparable(expected)


class MappingRules(Canonical):
    """A connection's adjustments and filters, versioned: ``revise`` numbers a changed set."""

    version: int = Field(default=1, ge=1)
    adjustments: list[FieldAdjustment] = Field(default_factory=list, max_length=100)
    filters: list[OrderFilter] = Field(default_factory=list, max_length=100)

    @property
    def content_hash(self) -> str:
        """SHA-256 of the rules without their version: equal rules hash equal."""
        content = self.model_dump(mode="json", exclude={"version"})
        text = json.dumps(content, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()

    def revise(self, new: MappingRules) -> MappingRules:
        """The rules to save when ``new`` replaces these: the same version when nothing
        changed, the next one otherwise."""
        if new.content_hash == self.content_hash:
            return self
        return new.model_copy(update={"version": self.version + 1})


@dataclass(frozen=True)
class FieldChange:
    """One field an adjustment changed, at its concrete path (``lines.0.description``)."""

    path: str
    before: Any
    after: Any


@dataclass(frozen=True)
class MappingOutcome:
    """What the rules did to one order.

    ``reason``: ``mapped`` (``order`` is the adjusted order, ``changes`` lists what changed),
    ``mapping_filter`` (skipped by the filter at ``rule``), ``mapping_template_failed`` (the
    adjustment at ``rule`` could not render) or ``mapping_result_invalid`` (the adjusted order
    breaks the model: ``detail`` names the field).
    """

    reason: Literal["mapped", "mapping_filter", "mapping_template_failed", "mapping_result_invalid"]
    version: int
    rules_hash: str
    order: Order | None = None
    changes: tuple[FieldChange, ...] = ()
    rule: str | None = None
    detail: str = ""

    @property
    def skipped(self) -> bool:
        return self.order is None


def _readable(order: Order) -> dict[str, Any]:
    """The order as templates and filters see it: amounts as numbers (``{{ total * 2 }}`` is
    arithmetic, not text repeated), with the values the order derives."""
    data = order.model_dump()
    data["destination"] = order.destination
    data["is_paid"] = order.is_paid
    data["customer"]["customer_kind"] = order.customer.customer_kind
    return data


def _values(data: Any, parts: list[str]) -> list[Any]:
    """Every value at the path; ``*`` fans out over a list."""
    if not parts:
        return [data]
    head, rest = parts[0], parts[1:]
    if head == "*":
        return [value for item in data or [] for value in _values(item, rest)]
    if isinstance(data, list) and head.isdigit() and int(head) < len(data):
        return _values(data[int(head)], rest)
    if not isinstance(data, dict):
        return [None]
    return _values(data.get(head), rest)


def _set(data: dict[str, Any], parts: list[str], value: Any) -> None:
    for part in parts[:-1]:
        if data.get(part) is None:
            data[part] = {}
        data = data[part]
    data[parts[-1]] = value


def _render(adjustment: FieldAdjustment, context: dict[str, Any]) -> str | None:
    text = _bounded(_compile(adjustment.template).render(context))
    return text.strip() or None


def apply_mapping(order: Order, rules: MappingRules) -> MappingOutcome:
    """Filter, then adjust: the first matching filter skips the order; otherwise every
    adjustment is rendered over the order as the shop sent it, in order, and the result is
    checked as an order again."""
    version, rules_hash = rules.version, rules.content_hash
    source = _readable(order)
    for index, rule in enumerate(rules.filters):
        if rule.matches(_values(source, rule.field.split("."))):
            condition = f"{rule.field} {rule.operator}"
            if rule.value is not None:
                condition += f" {json.dumps(rule.value)}"
            return MappingOutcome(
                "mapping_filter", version, rules_hash, rule=f"filters[{index}]", detail=condition
            )
    data = order.model_dump(mode="json")
    touched: list[str] = []
    for index, adjustment in enumerate(rules.adjustments):
        parts = adjustment.target.split(".")
        try:
            if adjustment.per_line:
                for number, line in enumerate(source["lines"]):
                    value = _render(adjustment, {**source, "line": line})
                    _set(data["lines"][number], parts[2:], value)
                    touched.append(".".join(["lines", str(number), *parts[2:]]))
            else:
                _set(data, parts, _render(adjustment, source))
                touched.append(adjustment.target)
        except (TemplateError, ArithmeticError, TypeError, ValueError) as exc:
            return MappingOutcome(
                "mapping_template_failed",
                version,
                rules_hash,
                rule=f"adjustments[{index}]",
                detail=str(exc),
            )
    try:
        adjusted = Order.model_validate(data)
    except ValidationError as exc:
        return MappingOutcome(
            "mapping_result_invalid", version, rules_hash,
            detail=describe_validation_error(exc, "order"),
        )  # fmt: skip
    before = order.model_dump(mode="json")
    after = adjusted.model_dump(mode="json")
    changes: dict[str, FieldChange] = {}
    for path in touched:
        old = _values(before, path.split("."))[0]
        new = _values(after, path.split("."))[0]
        if old != new:
            changes[path] = FieldChange(path, old, new)
    return MappingOutcome("mapped", version, rules_hash, adjusted, tuple(changes.values()))
