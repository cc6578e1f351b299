"""Collection reads: WordPress's paging (``page``, ``per_page`` 1–100, ``offset``), date filters
(``after``, ``before``, ``modified_after``, ``modified_before``, ``dates_are_gmt``), ``include``
/``exclude``, ``search`` and ordering, with ``X-WP-Total`` and ``X-WP-TotalPages``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from starlette.datastructures import QueryParams

from ledgerbridge.sandbox.woocommerce.core import (
    SiteTime,
    boolean,
    integer,
    invalid_param,
    not_one_of,
)


@dataclass(frozen=True)
class Row:
    """One record to list: its JSON and the dates it is filtered and sorted on."""

    data: dict[str, Any]
    created: datetime
    modified: datetime
    search: str = ""
    render: Callable[[], dict[str, Any]] | None = None
    """Builds the answered copy; without it ``data`` is answered. Only the page is rendered,
    so a long list is filtered on the stored records without copying them all."""


@dataclass(frozen=True)
class Page:
    """One page and the headers that describe the whole result."""

    items: list[dict[str, Any]]
    total: int
    pages: int
    page: int


def values(query: QueryParams, name: str) -> list[str]:
    """An array parameter: ``name[]=a&name[]=b``, ``name=a&name=b`` or ``name=a,b``."""
    raw = query.getlist(name) + query.getlist(f"{name}[]")
    return [part.strip() for item in raw for part in item.split(",") if part.strip()]


def ids(query: QueryParams, name: str) -> list[int]:
    """An array of ids."""
    return [integer(v, name) for v in values(query, name)]


def paginate(
    rows: Sequence[Row],
    query: QueryParams,
    site: SiteTime,
    *,
    orderby: str,
    order: str,
    orderings: dict[str, Callable[[Row], Any]],
    dated: bool = True,
) -> Page:
    """Filter, sort and cut ``rows`` as a WordPress collection does."""
    page = integer(query.get("page", "1"), "page", 1)
    per_page = integer(query.get("per_page", "10"), "per_page")
    if not 1 <= per_page <= 100:
        raise invalid_param(
            "per_page", "per_page must be between 1 (inclusive) and 100 (inclusive)"
        )
    offset = integer(query["offset"], "offset", 0) if "offset" in query else None
    direction = query.get("order", order)
    if direction not in ("asc", "desc"):
        raise not_one_of("order", ("asc", "desc"))
    key_name = query.get("orderby", orderby)
    if key_name not in orderings:
        raise not_one_of("orderby", list(orderings))
    selected = list(rows)
    include = ids(query, "include")
    if include:
        selected = [r for r in selected if r.data["id"] in include]
    exclude = ids(query, "exclude")
    if exclude:
        selected = [r for r in selected if r.data["id"] not in exclude]
    if dated:
        gmt = (
            boolean(query["dates_are_gmt"], "dates_are_gmt") if "dates_are_gmt" in query else False
        )
        for name, attribute, after in (
            ("after", "created", True),
            ("before", "created", False),
            ("modified_after", "modified", True),
            ("modified_before", "modified", False),
        ):
            if name in query:
                bound = site.parse(query[name], name, gmt)
                selected = [
                    r
                    for r in selected
                    if (getattr(r, attribute) > bound if after else getattr(r, attribute) < bound)
                ]
    search = query.get("search", "").strip().lower()
    if search:
        selected = [r for r in selected if search in r.search.lower()]
    key = orderings[key_name]
    if key_name == "include" and include:
        selected.sort(key=lambda r: include.index(r.data["id"]))
    else:
        # WordPress adds the id to date orderings so pages never overlap: a stable sort by the
        # key after one by id (no tuple per row, which matters for long lists).
        selected.sort(key=lambda r: r.data["id"], reverse=direction == "desc")
        selected.sort(key=key, reverse=direction == "desc")
    total = len(selected)
    start = offset if offset is not None else (page - 1) * per_page
    return Page(
        [row.render() if row.render else row.data for row in selected[start : start + per_page]],
        total,
        math.ceil(total / per_page) if total else 0,
        page,
    )
