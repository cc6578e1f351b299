"""OData v4 query options: a small ``$filter`` parser/compiler and ``$orderby``/``$select``.

The parser is a tokenizer plus recursive descent (no ``eval``) that type-checks against the entity
catalogue, so a client learns about an unknown property or a type mismatch from a 400 exactly as
from a real OData service, and never from silently empty results.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, TypeVar

from ledgerbridge.sandbox.uniconta.entities import (
    EntityDef,
    FieldType,
    Kind,
    parse_datetime,
)

Row = Mapping[str, Any]
# A lower bound a filter puts on a property: (property, inclusive, value).
Bound = tuple[str, bool, Any]
RowT = TypeVar("RowT", bound=Mapping[str, Any])
Evaluator = Callable[[Row], Any]


class QueryError(ValueError):
    """A query option that cannot be parsed or does not fit the entity (HTTP 400)."""


_TOKEN_RE = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<string>'(?:[^']|'')*')
  | (?P<datetime>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2})?)
  | (?P<date>\d{4}-\d{2}-\d{2})
  | (?P<number>-?\d+(?:\.\d+)?)
  | (?P<enumlit>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)+'(?:[^']|'')*')
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<punct>[(),])
    """,
    re.VERBOSE,
)

_COMPARISONS = {"eq", "ne", "gt", "ge", "lt", "le"}
_STRING_FUNCTIONS = {"contains", "startswith", "endswith"}
_CASE_FUNCTIONS = {"tolower", "toupper"}


@dataclass(frozen=True)
class _Token:
    """One lexical token and where it starts, for error messages."""

    kind: str
    text: str
    pos: int


def _tokenize(text: str) -> list[_Token]:
    """Split a filter into tokens, failing on the first character that starts none."""
    tokens: list[_Token] = []
    pos = 0
    while pos < len(text):
        match = _TOKEN_RE.match(text, pos)
        if match is None:
            raise QueryError(f"Syntax error at position {pos} in $filter: unexpected {text[pos]!r}")
        kind = match.lastgroup
        assert kind is not None
        if kind != "ws":
            following = text[match.end() : match.end() + 1]
            if kind in ("number", "date", "datetime") and (following.isalnum() or following == "_"):
                raise QueryError(f"Syntax error at position {pos} in $filter: bad literal")
            tokens.append(_Token(kind, match.group(), pos))
        pos = match.end()
    return tokens


@dataclass(frozen=True)
class _Typed:
    """A compiled sub-expression: its evaluator and static type (``None`` type = null literal)."""

    fn: Evaluator
    ftype: FieldType | None
    is_literal: bool = False
    literal: Any = None
    raw_string: str | None = None
    enum_type: str | None = None
    prop: str | None = None
    bounds: tuple[Bound, ...] = ()
    one_of: _OneOf | None = None


@dataclass(frozen=True)
class _OneOf:
    """``Prop eq a or Prop eq b or …`` as one set look-up: a client asking for a batch of
    records by key sends a hundred such terms, whose nested closures, called for every row,
    cost the sandbox more than the rest of the request."""

    prop: str
    value: Evaluator
    values: frozenset[Any]

    def typed(self) -> _Typed:
        value, values = self.value, self.values
        return _Typed(lambda row: value(row) in values, _BOOL_TYPE, one_of=self)


_BOOL_TYPE = FieldType(Kind.BOOL)
_STRING_TYPE = FieldType(Kind.STRING)
_DECIMAL_TYPE = FieldType(Kind.DECIMAL)
_DATETIME_TYPE = FieldType(Kind.DATETIME)
_DATE_TYPE = FieldType(Kind.DATE)


def _unquote(literal: str) -> str:
    """Body of a single-quoted OData string with ``''`` unescaped."""
    return literal[1:-1].replace("''", "'")


class _Parser:
    """Recursive-descent parser that compiles straight to Python closures."""

    def __init__(self, text: str, entity: EntityDef) -> None:
        self.text = text
        self.entity = entity
        self.tokens = _tokenize(text)
        self.index = 0

    def parse(self) -> CompiledFilter:
        """Parse the whole filter; it must be one boolean expression."""
        if not self.tokens:
            raise QueryError("The $filter expression is empty")
        node = self._or()
        if self.index < len(self.tokens):
            token = self.tokens[self.index]
            raise QueryError(
                f"Syntax error at position {token.pos} in $filter: unexpected {token.text!r}"
            )
        self._require_bool(node, "The $filter expression")
        fn = node.fn
        return CompiledFilter(lambda row: fn(row) is True, node.bounds)

    def _peek(self) -> _Token | None:
        """Next token without consuming it."""
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def _next(self) -> _Token:
        """Consume the next token; running out is a syntax error."""
        token = self._peek()
        if token is None:
            raise QueryError("Syntax error in $filter: expression ends unexpectedly")
        self.index += 1
        return token

    def _expect(self, text: str) -> None:
        """Consume a required punctuation token."""
        if self._peek() is None:
            raise QueryError(f"Syntax error in $filter: expected {text!r} at the end")
        token = self._next()
        if token.text != text:
            raise QueryError(
                f"Syntax error at position {token.pos} in $filter: expected {text!r}, "
                f"found {token.text!r}"
            )

    def _keyword(self, *words: str) -> str | None:
        """Consume one of ``words`` if it is next."""
        token = self._peek()
        if token is not None and token.kind == "ident" and token.text in words:
            self.index += 1
            return token.text
        return None

    @staticmethod
    def _require_bool(node: _Typed, what: str) -> None:
        """Logical operators and the whole filter need boolean operands."""
        if node.ftype is None or node.ftype.kind is not Kind.BOOL:
            raise QueryError(f"{what} must be a boolean expression")

    def _or(self) -> _Typed:
        """``or`` binds loosest."""
        left = self._and()
        while self._keyword("or"):
            right = self._and()
            self._require_bool(left, "The operands of 'or'")
            self._require_bool(right, "The operands of 'or'")
            if left.one_of and right.one_of and left.one_of.prop == right.one_of.prop:
                merged = left.one_of.values | right.one_of.values
                left = _OneOf(left.one_of.prop, left.one_of.value, merged).typed()
                continue
            left = _Typed(_logical(left.fn, right.fn, either=True), _BOOL_TYPE)
        return left

    def _and(self) -> _Typed:
        """``and`` binds tighter than ``or``."""
        left = self._comparison()
        while self._keyword("and"):
            right = self._comparison()
            self._require_bool(left, "The operands of 'and'")
            self._require_bool(right, "The operands of 'and'")
            bounds = left.bounds + right.bounds
            left = _Typed(_logical(left.fn, right.fn, either=False), _BOOL_TYPE, bounds=bounds)
        return left

    def _comparison(self) -> _Typed:
        """At most one comparison operator between two unary expressions."""
        left = self._unary()
        op = self._keyword(*_COMPARISONS)
        if op is None:
            return left
        right = self._unary()
        return _compare(op, left, right)

    def _unary(self) -> _Typed:
        """``not`` binds tighter than comparisons, as in the OData grammar."""
        if self._keyword("not"):
            operand = self._unary()
            self._require_bool(operand, "The operand of 'not'")
            fn = operand.fn
            return _Typed(lambda row: fn(row) is not True, _BOOL_TYPE)
        return self._primary()

    def _primary(self) -> _Typed:
        """Parenthesised expression, literal, property or function call."""
        token = self._next()
        if token.text == "(":
            node = self._or()
            self._expect(")")
            return node
        if token.kind == "string":
            text = _unquote(token.text)
            return _Typed(lambda row: text, _STRING_TYPE, True, text, raw_string=text)
        if token.kind == "number":
            number = Decimal(token.text)
            return _Typed(lambda row: number, _DECIMAL_TYPE, True, number)
        if token.kind == "datetime":
            try:
                when = parse_datetime(token.text)
            except ValueError as exc:
                raise QueryError(f"{token.text!r} is not a valid date/time literal") from exc
            return _Typed(lambda row: when, _DATETIME_TYPE, True, when)
        if token.kind == "date":
            try:
                day = date.fromisoformat(token.text)
            except ValueError as exc:
                raise QueryError(f"{token.text!r} is not a valid date literal") from exc
            return _Typed(lambda row: day, _DATE_TYPE, True, day)
        if token.kind == "enumlit":
            return self._enum_literal(token)
        if token.kind == "ident":
            return self._identifier(token)
        raise QueryError(
            f"Syntax error at position {token.pos} in $filter: unexpected {token.text!r}"
        )

    @staticmethod
    def _enum_literal(token: _Token) -> _Typed:
        """Qualified enum literal such as ``Uniconta.Common.CountryCode'Denmark'``."""
        type_name, _, quoted = token.text.partition("'")
        member = _unquote("'" + quoted)
        return _Typed(
            lambda row: member, _STRING_TYPE, True, member, raw_string=member, enum_type=type_name
        )

    def _identifier(self, token: _Token) -> _Typed:
        """Keyword literal, function call or property (unknown properties are a 400)."""
        name = token.text
        if name in ("true", "false"):
            value = name == "true"
            return _Typed(lambda row: value, _BOOL_TYPE, True, value)
        if name == "null":
            return _Typed(lambda row: None, None, True, None)
        nxt = self._peek()
        if nxt is not None and nxt.text == "(":
            return self._function(token)
        ftype = self.entity.fields.get(name)
        if ftype is None:
            raise QueryError(
                f"Could not find a property named '{name}' on type '{self.entity.name}'"
            )
        return _Typed(lambda row: row.get(name), ftype, prop=name)

    def _function(self, token: _Token) -> _Typed:
        """String functions; anything else is reported by name."""
        name = token.text
        self._expect("(")
        args = [self._or()]
        while self._peek() is not None and self._peek().text == ",":  # type: ignore[union-attr]
            self.index += 1
            args.append(self._or())
        self._expect(")")
        if name in _STRING_FUNCTIONS:
            if len(args) != 2:
                raise QueryError(f"Function '{name}' takes 2 arguments, got {len(args)}")
            for arg in args:
                _require_string(arg, name)
            return _string_function(name, args[0].fn, args[1].fn)
        if name in _CASE_FUNCTIONS:
            if len(args) != 1:
                raise QueryError(f"Function '{name}' takes 1 argument, got {len(args)}")
            _require_string(args[0], name)
            inner = args[0].fn
            if name == "tolower":
                return _Typed(lambda row: _map_str(inner(row), str.lower), _STRING_TYPE)
            return _Typed(lambda row: _map_str(inner(row), str.upper), _STRING_TYPE)
        raise QueryError(f"Unknown function '{name}' in $filter")


def _logical(lf: Evaluator, rf: Evaluator, *, either: bool) -> Evaluator:
    """Compiled ``or`` (either=True) or ``and``; a null operand counts as false."""
    if either:
        return lambda row: lf(row) is True or rf(row) is True
    return lambda row: lf(row) is True and rf(row) is True


def _map_str(value: Any, fn: Callable[[str], str]) -> Any:
    """Apply a string function, propagating null."""
    return fn(value) if isinstance(value, str) else None


def _require_string(arg: _Typed, function: str) -> None:
    """String functions take string arguments only."""
    if arg.ftype is None or arg.ftype.kind is not Kind.STRING:
        raise QueryError(f"Function '{function}' needs string arguments")


def _string_function(name: str, haystack: Evaluator, needle: Evaluator) -> _Typed:
    """contains/startswith/endswith; a null argument yields null (treated as false)."""

    def fn(row: Row) -> bool | None:
        """Evaluate for one row."""
        h, n = haystack(row), needle(row)
        if not isinstance(h, str) or not isinstance(n, str):
            return None
        if name == "contains":
            return n in h
        if name == "startswith":
            return h.startswith(n)
        return h.endswith(n)

    return _Typed(fn, _BOOL_TYPE)


def _comparable(ftype: FieldType) -> str:
    """Comparison family of a type; operands of one comparison must share it."""
    if ftype.kind in (Kind.INT, Kind.DECIMAL):
        return "number"
    if ftype.kind is Kind.ENUM:
        return "enum"
    return ftype.kind.name.lower()


def _coerce_to_enum(field: _Typed, literal: _Typed) -> _Typed:
    """Check a string/enum literal against an enum property and return it as a member name."""
    assert field.ftype is not None and field.ftype.enum is not None
    definition = field.ftype.enum
    member = literal.raw_string
    type_name = literal.enum_type
    if type_name is not None and type_name not in (definition.qualified_name, definition.name):
        raise QueryError(f"Enum type '{type_name}' does not match {definition.qualified_name}")
    if member is None or not definition.has(member):
        raise QueryError(
            f"The value {member!r} is not a member of enum type '{definition.qualified_name}'"
        )
    return _Typed(lambda row: member, field.ftype, True, member)


def _as_timestamp(node: _Typed) -> _Typed:
    """A date literal compared with a timestamp property means midnight UTC of that day."""
    day = node.literal
    when = datetime(day.year, day.month, day.day, tzinfo=UTC)
    return _Typed(lambda row: when, _DATETIME_TYPE, True, when)


def _is_date_literal(node: _Typed) -> bool:
    """Whether a node is a date-only literal such as ``2026-01-01``."""
    return node.is_literal and node.ftype is not None and node.ftype.kind is Kind.DATE


def _compare(op: str, left: _Typed, right: _Typed) -> _Typed:
    """Type-check and compile one comparison with OData null semantics."""
    if left.ftype is not None and left.ftype.kind is Kind.DATETIME and _is_date_literal(right):
        right = _as_timestamp(right)
    elif right.ftype is not None and right.ftype.kind is Kind.DATETIME and _is_date_literal(left):
        left = _as_timestamp(left)
    if left.ftype is not None and left.ftype.kind is Kind.ENUM and right.raw_string is not None:
        right = _coerce_to_enum(left, right)
    elif right.ftype is not None and right.ftype.kind is Kind.ENUM and left.raw_string is not None:
        left = _coerce_to_enum(right, left)
    elif left.enum_type is not None or right.enum_type is not None:
        raise QueryError("An enum literal can only be compared with an enum property")
    if left.ftype is not None and right.ftype is not None:
        lfam, rfam = _comparable(left.ftype), _comparable(right.ftype)
        if lfam != rfam or (lfam == "enum" and left.ftype.enum is not right.ftype.enum):
            raise QueryError(
                f"Operator '{op}' cannot compare {left.ftype.edm_type} with {right.ftype.edm_type}"
            )
        if lfam == "bool" and op not in ("eq", "ne"):
            raise QueryError(f"Operator '{op}' is not defined for Edm.Boolean")
    enum_def = None
    for side in (left, right):
        if side.ftype is not None and side.ftype.kind is Kind.ENUM:
            enum_def = side.ftype.enum
    lf, rf = left.fn, right.fn
    if enum_def is not None:
        ordinal = enum_def.ordinal
        lf = _mapped(left.fn, ordinal)
        rf = _mapped(right.fn, ordinal)
    return _Typed(
        _comparison_fn(op, lf, rf), _BOOL_TYPE, bounds=_bound(op, left, right),
        one_of=_equals(op, left, right),
    )  # fmt: skip


def _equals(op: str, left: _Typed, right: _Typed) -> _OneOf | None:
    """``Prop eq literal`` on a text or whole-number property, whose ``==`` a set look-up
    answers alike."""
    if op != "eq" or left.prop is None or not right.is_literal or right.literal is None:
        return None
    if left.ftype is None or left.ftype.kind not in (Kind.STRING, Kind.INT):
        return None
    return _OneOf(left.prop, left.fn, frozenset([right.literal]))


def _bound(op: str, left: _Typed, right: _Typed) -> tuple[Bound, ...]:
    """The lower bound ``Prop gt|ge|eq literal`` (or ``literal lt|le|eq Prop``) puts on a
    property, so a query over rows sorted by it can start at the first candidate.
    """
    if op in ("gt", "ge", "eq"):
        prop, literal, inclusive = left, right, op != "gt"
    elif op in ("lt", "le"):
        prop, literal, inclusive = right, left, op != "lt"
    else:
        return ()
    if prop.prop is None or not literal.is_literal or literal.literal is None:
        return ()
    assert prop.ftype is not None
    if prop.ftype.kind in (Kind.ENUM, Kind.BOOL, Kind.STRINGS):
        return ()
    return ((prop.prop, inclusive, literal.literal),)


def _mapped(fn: Evaluator, mapper: Callable[[str], int]) -> Evaluator:
    """Evaluator whose non-null result is passed through ``mapper`` (enum name to ordinal)."""

    def inner(row: Row) -> Any:
        """Evaluate for one row."""
        value = fn(row)
        return None if value is None else mapper(value)

    return inner


def _comparison_fn(op: str, lf: Evaluator, rf: Evaluator) -> Evaluator:
    """Compiled comparison: eq/ne treat null as a value, ordering with a null is false."""
    if op == "eq":
        return lambda row: lf(row) == rf(row)
    if op == "ne":
        return lambda row: lf(row) != rf(row)

    def ordered(row: Row) -> bool:
        """Evaluate for one row."""
        a, b = lf(row), rf(row)
        if a is None or b is None:
            return False
        if op == "gt":
            return bool(a > b)
        if op == "ge":
            return bool(a >= b)
        if op == "lt":
            return bool(a < b)
        return bool(a <= b)

    return ordered


@dataclass(frozen=True)
class CompiledFilter:
    """A ``$filter`` as a row predicate, plus the lower bounds its top-level ``and`` terms put
    on properties (``RowId gt 1234``), which let keyset paging seek instead of scan.
    """

    predicate: Callable[[Row], bool]
    bounds: tuple[Bound, ...]


def compile_filter(text: str, entity: EntityDef) -> Callable[[Row], bool]:
    """Compile a ``$filter`` string to a row predicate, raising ``QueryError`` when invalid."""
    return _Parser(text, entity).parse().predicate


def compile_query_filter(text: str, entity: EntityDef) -> CompiledFilter:
    """Compile a ``$filter`` string to a predicate and its lower bounds."""
    return _Parser(text, entity).parse()


def seek(rows: Sequence[RowT], field: str, bounds: Sequence[Bound]) -> int:
    """Index of the first row that can satisfy the bounds on ``field``; ``rows`` must be sorted
    ascending by ``field`` with nulls first (which never satisfy a bound).
    """

    def key(row: RowT) -> tuple[int, Any]:
        """Sort key of a row: nulls first, then the value."""
        value = row.get(field)
        return (0, 0) if value is None else (1, value)

    start = 0
    for name, inclusive, value in bounds:
        if name == field:
            find = bisect_left if inclusive else bisect_right
            start = max(start, find(rows, (1, value), key=key))
    return start


@dataclass(frozen=True)
class OrderKey:
    """One ``$orderby`` item."""

    field: str
    descending: bool


def parse_orderby(text: str, entity: EntityDef) -> list[OrderKey]:
    """Parse ``Field [asc|desc][, Field2 ...]`` against the entity's properties."""
    keys: list[OrderKey] = []
    for part in text.split(","):
        words = part.split()
        if not words or len(words) > 2:
            raise QueryError(f"Invalid $orderby item {part.strip()!r}")
        name = words[0]
        direction = words[1].lower() if len(words) == 2 else "asc"
        if direction not in ("asc", "desc"):
            raise QueryError(f"Invalid $orderby direction {words[1]!r}; use asc or desc")
        if name not in entity.fields:
            raise QueryError(
                f"Could not find a property named '{name}' on type '{entity.name}' in $orderby"
            )
        if entity.fields[name].kind is Kind.STRINGS:
            raise QueryError(f"Cannot order by the collection property '{name}'")
        keys.append(OrderKey(name, direction == "desc"))
    return keys


def sort_rows(rows: Sequence[RowT], keys: list[OrderKey], entity: EntityDef) -> list[RowT]:
    """Stable multi-key sort; nulls sort first ascending (SQL Server order), enums by ordinal."""
    result = list(rows)
    for key in reversed(keys):
        ftype = entity.fields[key.field]
        definition = ftype.enum
        name = key.field

        def sort_key(row: RowT, name: str = name, definition: Any = definition) -> tuple[int, Any]:
            """Nulls first, then the value (enums by ordinal)."""
            value = row.get(name)
            if value is None:
                return (0, 0)
            if definition is not None:
                return (1, definition.ordinal(value))
            if isinstance(value, date | Decimal | bool | int | str):
                return (1, value)
            return (1, str(value))

        result.sort(key=sort_key, reverse=key.descending)
    return result


def parse_select(text: str, entity: EntityDef) -> list[str]:
    """Parse ``$select`` into property names, rejecting unknown ones."""
    names = [part.strip() for part in text.split(",")]
    for name in names:
        if name == "*":
            continue
        if name not in entity.fields:
            raise QueryError(
                f"Could not find a property named '{name}' on type '{entity.name}' in $select"
            )
    if "*" in names:
        return list(entity.fields)
    return names


def parse_non_negative(option: str, text: str) -> int:
    """Parse ``$top``/``$skip`` values."""
    if not text.isdigit():
        raise QueryError(f"Invalid value {text!r} for {option}: expected a non-negative integer")
    return int(text)
