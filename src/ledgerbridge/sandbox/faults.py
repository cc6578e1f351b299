"""Fault injection shared by every sandbox: the failures real accounting APIs produce every day.

A served sandbox is wrapped by ``FaultInjector.wrap``. Each API request (never the control API
under ``/_sandbox/``, and never the calls that keep a session alive unless ``sessions`` is set)
draws from a seeded generator; with probability ``rate`` it gets one of the plan's kinds:

- ``5xx``: the vendor's own server error, before the request is processed (nothing applied);
- ``429``: the vendor's own "slow down" answer with its retry hint (nothing applied);
- ``reset``: the TCP connection is reset before the request is processed (nothing applied);
- ``lost``: the request is processed and committed, then the connection is reset instead of
  answering: the client cannot tell it from ``reset``, which is what makes it dangerous;
- ``slow``: the answer comes ``slow_ms`` late.

``latency_ms`` delays every API answer (not a fault). ``PUT /_sandbox/faults`` replaces the plan
(JSON object with the ``FaultPlan`` fields) and resets the counters; ``GET`` reads them. The
command line takes the same fields as ``key=value`` pairs (``rate=0.1,seed=7,methods=writes``).

Resets need the socket under the request, so they work under uvicorn (every ``LoopbackServer``
and ``serve``), not under an in-process test client.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import re
import socket
import struct
import threading
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, replace
from enum import StrEnum
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CONTROL_PATH = "/_sandbox/faults"
"""Where the plan is read and replaced; never faulted, like the rest of ``/_sandbox/``."""

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class FaultKind(StrEnum):
    """What can happen to one request."""

    ERROR = "5xx"
    THROTTLE = "429"
    RESET = "reset"
    LOST = "lost"
    SLOW = "slow"


class FaultSpecError(ValueError):
    """A plan that cannot be used; ``field`` names the offending setting."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(f"{field_name}: {message}")
        self.field = field_name
        self.message = message


@dataclass(frozen=True)
class FaultPlan:
    """Which requests fail, how and how often. The default injects nothing."""

    rate: float = 0.0
    """Probability that a request in scope gets a fault, shared evenly by ``kinds``."""
    kinds: tuple[FaultKind, ...] = tuple(FaultKind)
    seed: int = 0
    """Same seed, same requests in the same order: same faults."""
    methods: frozenset[str] = frozenset()
    """HTTP methods in scope (empty: all); ``writes`` stands for POST, PUT, PATCH and DELETE."""
    path: str = ""
    """Regular expression searched in the path; empty: every path."""
    sessions: bool = False
    """Fault the log-in and token calls too (left alone by default so sessions stay alive)."""
    slow_ms: int = 2000
    retry_after: int = 1
    """Seconds announced by a ``429``."""
    latency_ms: int = 0
    """Added to every API answer, fault or not."""

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> FaultPlan:
        """A plan from JSON-like values (numbers may be strings); unknown keys are refused."""
        known = {f for f in cls.__dataclass_fields__}
        for key in data:
            if key not in known:
                raise FaultSpecError(
                    str(key), f"unknown setting; known: {', '.join(sorted(known))}"
                )
        plan = cls()
        values: dict[str, Any] = {}
        if "rate" in data:
            values["rate"] = _number("rate", data["rate"], float, 0.0, 1.0)
        if "kinds" in data:
            values["kinds"] = _kinds(data["kinds"])
        if "seed" in data:
            values["seed"] = _number("seed", data["seed"], int, 0, 2**63)
        if "methods" in data:
            values["methods"] = _methods(data["methods"])
        if "path" in data:
            values["path"] = _pattern(data["path"])
        if "sessions" in data:
            values["sessions"] = _flag("sessions", data["sessions"])
        for name in ("slow_ms", "retry_after", "latency_ms"):
            if name in data:
                values[name] = _number(name, data[name], int, 0, 600_000)
        return replace(plan, **values)

    @classmethod
    def parse(cls, spec: str) -> FaultPlan:
        """A plan from ``key=value`` pairs separated by commas (lists joined by ``+``), or from a
        JSON object."""
        text = spec.strip()
        if text.startswith("{"):
            try:
                data = json.loads(text)
            except json.JSONDecodeError as exc:
                raise FaultSpecError("faults", f"not valid JSON: {exc}") from exc
            if not isinstance(data, dict):
                raise FaultSpecError("faults", "must be a JSON object")
            return cls.from_mapping(data)
        pairs: dict[str, Any] = {}
        for item in filter(None, (part.strip() for part in text.split(","))):
            key, sep, value = item.partition("=")
            if not sep:
                raise FaultSpecError(item, "expected key=value")
            name = key.strip().replace("-", "_")
            pairs[name] = value.strip().split("+") if name in ("kinds", "methods") else value
        return cls.from_mapping(pairs)

    def to_dict(self) -> dict[str, Any]:
        """The plan as the control API shows it."""
        data = asdict(self)
        data["kinds"] = [str(kind) for kind in self.kinds]
        data["methods"] = sorted(self.methods)
        return data


def _number(name: str, value: Any, kind: type[int] | type[float], low: float, high: float) -> Any:
    if isinstance(value, bool):
        raise FaultSpecError(name, "must be a number")
    try:
        number = kind(value)
    except (TypeError, ValueError) as exc:
        raise FaultSpecError(name, "must be a number") from exc
    if kind is int and isinstance(value, float) and value != number:
        raise FaultSpecError(name, "must be a whole number")
    if not low <= number <= high:
        raise FaultSpecError(name, f"must be between {low:g} and {high:g}")
    return number


def _items(name: str, value: Any) -> list[str]:
    if isinstance(value, str):
        value = value.split("+")
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise FaultSpecError(name, "must be a list of strings")
    return [item.strip() for item in value if item.strip()]


def _kinds(value: Any) -> tuple[FaultKind, ...]:
    kinds: list[FaultKind] = []
    for item in _items("kinds", value):
        try:
            kinds.append(FaultKind(item))
        except ValueError as exc:
            allowed = ", ".join(kind.value for kind in FaultKind)
            raise FaultSpecError("kinds", f"unknown kind {item!r}; known: {allowed}") from exc
    if not kinds:
        raise FaultSpecError("kinds", "must name at least one kind")
    return tuple(dict.fromkeys(kinds))


def _methods(value: Any) -> frozenset[str]:
    methods: set[str] = set()
    for item in _items("methods", value):
        upper = item.upper()
        if upper == "WRITES":
            methods |= WRITE_METHODS
        elif upper.isalpha():
            methods.add(upper)
        else:
            raise FaultSpecError("methods", f"not an HTTP method: {item!r}")
    return frozenset(methods)


def _pattern(value: Any) -> str:
    if not isinstance(value, str):
        raise FaultSpecError("path", "must be a regular expression")
    try:
        re.compile(value)
    except re.error as exc:
        raise FaultSpecError("path", f"not a valid regular expression: {exc}") from exc
    return value


def _flag(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("1", "true", "yes", "on", "0", "false", "no"):
        return value.lower() in ("1", "true", "yes", "on")
    raise FaultSpecError(name, "must be true or false")


@dataclass(frozen=True)
class VendorFaults:
    """How one vendor says "server error" and "slow down", and which calls keep a session
    alive. Each sandbox declares one; the mechanics stay here."""

    error: Callable[[Scope], Response]
    throttle: Callable[[Scope, int], Response]
    is_session: Callable[[Scope], bool] = field(default=lambda scope: False)


def header(scope: Scope, name: str) -> str:
    """A request header from an ASGI scope (``""`` when absent); ``name`` in lower case."""
    wanted = name.encode("latin-1")
    for key, value in scope.get("headers", ()):
        if key.lower() == wanted:
            return bytes(value).decode("latin-1")
    return ""


class FaultInjector:
    """The plan, its seeded generator and the counters of one served sandbox."""

    def __init__(self, vendor: VendorFaults, plan: FaultPlan | None = None) -> None:
        self.vendor = vendor
        self._lock = threading.Lock()
        self.configure(plan or FaultPlan())

    def configure(self, plan: FaultPlan) -> None:
        """Use ``plan`` from the next request on, with fresh counters and generator."""
        with self._lock:
            self.plan = plan
            self._path = re.compile(plan.path) if plan.path else None
            self._random = random.Random(plan.seed)
            self._requests = 0
            self._in_scope = 0
            self._counts = dict.fromkeys(FaultKind, 0)

    def counters(self) -> dict[str, Any]:
        """Requests seen, requests in scope and faults injected by kind, with the plan."""
        with self._lock:
            return {
                "plan": self.plan.to_dict(),
                "requests": self._requests,
                "in_scope": self._in_scope,
                "injected": {str(kind): count for kind, count in self._counts.items()},
                "total": sum(self._counts.values()),
            }

    def draw(self, scope: Scope) -> tuple[FaultKind | None, FaultPlan]:
        """The fault for this request, if any, counted as injected, and the plan it was drawn
        under (a plan replaced meanwhile does not mix into this request)."""
        with self._lock:
            plan = self.plan
            self._requests += 1
            if plan.rate <= 0:
                return None, plan
            if plan.methods and scope["method"] not in plan.methods:
                return None, plan
            if self._path is not None and not self._path.search(scope["path"]):
                return None, plan
            if not plan.sessions and self.vendor.is_session(scope):
                return None, plan
            self._in_scope += 1
            if self._random.random() >= plan.rate:
                return None, plan
            kind = plan.kinds[self._random.randrange(len(plan.kinds))]
            self._counts[kind] += 1
            return kind, plan

    def wrap(self, app: ASGIApp) -> ASGIApp:
        """``app`` behind this injector, with the control API at ``CONTROL_PATH``."""

        async def faulty(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != "http":
                await app(scope, receive, send)
                return
            path: str = scope["path"]
            if path == CONTROL_PATH:
                await self._control(scope, receive, send)
                return
            if path.startswith("/_sandbox/"):
                await app(scope, receive, send)
                return
            kind, plan = self.draw(scope)
            if plan.latency_ms:
                await asyncio.sleep(plan.latency_ms / 1000)
            if kind is FaultKind.ERROR:
                await self.vendor.error(scope)(scope, receive, send)
            elif kind is FaultKind.THROTTLE:
                await self.vendor.throttle(scope, plan.retry_after)(scope, receive, send)
            elif kind is FaultKind.RESET:
                await _reset(send)
            elif kind is FaultKind.LOST:
                await app(scope, receive, _discard)
                await _reset(send)
            else:
                if kind is FaultKind.SLOW:
                    await asyncio.sleep(plan.slow_ms / 1000)
                await app(scope, receive, send)

        return faulty

    async def _control(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        response: Response
        if request.method == "GET":
            response = JSONResponse(self.counters())
        elif request.method == "PUT":
            try:
                body = json.loads(await request.body() or b"{}")
                if not isinstance(body, dict):
                    raise FaultSpecError("body", "must be a JSON object")
                self.configure(FaultPlan.from_mapping(body))
            except FaultSpecError as exc:
                response = JSONResponse({"field": exc.field, "detail": exc.message}, 422)
            except ValueError as exc:  # not JSON, or not UTF-8
                response = JSONResponse({"field": "body", "detail": f"not valid JSON: {exc}"}, 422)
            else:
                response = JSONResponse(self.counters())
        else:
            response = JSONResponse(
                {"detail": "use GET or PUT"}, 405, headers={"Allow": "GET, PUT"}
            )
        await response(scope, receive, send)


async def _discard(message: Message) -> None:
    """Send target of a lost answer: the app runs to the end, nothing reaches the client."""


async def _reset(send: Send) -> None:
    """Reset the request's TCP connection (RST, no answer).

    uvicorn's ``send`` is a method of the request cycle that holds the transport; there is no
    other way to reach the socket from ASGI.
    """
    transport = getattr(getattr(send, "__self__", None), "transport", None)
    if not isinstance(transport, asyncio.Transport):
        raise RuntimeError("connection faults need a sandbox served by uvicorn")
    sock = transport.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()
    # abort() schedules connection_lost; yielding once lets it mark the request disconnected,
    # so uvicorn does not answer on its own with a 500 when this app returns.
    await asyncio.sleep(0)


def add_fault_options(parser: argparse.ArgumentParser) -> None:
    """``--faults`` and ``--latency-ms``, the same for every sandbox's command line."""
    parser.add_argument(
        "--faults",
        default="",
        metavar="SPEC",
        help="fault injection, e.g. rate=0.1,seed=7,kinds=5xx+429+reset+lost+slow,methods=writes"
        f" (or a JSON object); change it later with PUT {CONTROL_PATH}",
    )
    parser.add_argument("--latency-ms", type=int, default=0, help="delay added to every API answer")


def fault_plan(parser: argparse.ArgumentParser, args: argparse.Namespace) -> FaultPlan:
    """The plan the options ask for; a bad one stops the command with the setting named."""
    try:
        plan = FaultPlan.parse(args.faults)
        if args.latency_ms:
            plan = replace(plan, latency_ms=_number("latency_ms", args.latency_ms, int, 0, 600_000))
    except FaultSpecError as exc:
        parser.error(f"--faults: {exc}")
    return plan
