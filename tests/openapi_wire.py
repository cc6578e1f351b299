"""httpx exchanges seen as openapi-core's request and response protocols, and a transport
that records them: what the contract tests check against the vendors' OpenAPI files.

Kept once here because every contract test reads the wire the same way; only the host the
spec names differs (a sandbox answers at loopback, the spec at the vendor's server).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import httpx
from openapi_core.datatypes import RequestParameters
from werkzeug.datastructures import Headers, ImmutableMultiDict


@dataclass
class SpecRequest:
    """An ``httpx.Request`` as openapi-core's request, at ``host_url`` (the spec's server)."""

    request: httpx.Request
    host_url: str
    parameters: RequestParameters = field(init=False)

    def __post_init__(self) -> None:
        self.parameters = RequestParameters(
            query=ImmutableMultiDict(list(self.request.url.params.multi_items())),
            header=Headers(list(self.request.headers.items())),
            cookie={},
        )

    @property
    def path(self) -> str:
        return self.request.url.path

    @property
    def method(self) -> str:
        return self.request.method.lower()

    @property
    def content_type(self) -> str:
        return self.request.headers.get("content-type", "").split(";")[0].lower()

    @property
    def body(self) -> bytes | None:
        return self.request.content or None


@dataclass
class SpecResponse:
    """An ``httpx.Response`` as openapi-core's response (media type without parameters)."""

    response: httpx.Response

    @property
    def status_code(self) -> int:
        return self.response.status_code

    @property
    def content_type(self) -> str:
        return self.response.headers.get("content-type", "").split(";")[0]

    @property
    def headers(self) -> Headers:
        return Headers(list(self.response.headers.items()))

    @property
    def data(self) -> bytes:
        return self.response.content


class Recording(httpx.HTTPTransport):
    """A real transport that keeps every request and answer, read in full."""

    def __init__(self) -> None:
        super().__init__()
        self.exchanges: list[tuple[httpx.Request, httpx.Response]] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        request.read()
        response = super().handle_request(request)
        response.read()
        self.exchanges.append((request, response))
        return response
