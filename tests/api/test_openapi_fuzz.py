"""Schemathesis against the hub's own OpenAPI, on the database the suite runs on.

Every operation gets schema-valid and schema-violating requests, under a tenant owner's key:
no answer may be a server error or a status code its operation does not declare, answers
must match their declared schemas and media types, and what the schema refuses must be
refused. A request whose ``Authorization`` schemathesis broke or left out keeps it so (it must
be refused); a well-formed one carries the real key.

Bounded: a fixed number of examples per operation, derandomized, so a run takes about a
minute per database. No call leaves the machine: the hub's HTTP transport refuses every
connection, as an installation without network would, so a generated ``base_url`` reaches
nothing.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
import stamina
from cryptography.fernet import Fernet
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi import checks

from ledgerbridge.api.app import create_app
from ledgerbridge.runtime.system import System
from ledgerbridge.settings import Settings

EXAMPLES = 20
"""Per operation and run; about 80 operations."""
CHECKS = [
    not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
    checks.negative_data_rejection,
]


def _offline(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("this installation has no network", request=request)


@pytest.fixture
def system(db_url: str, tmp_path: Path) -> Iterator[System]:
    stamina.set_testing(True, attempts=1)  # a refused connection is not waited for again
    built = System(
        Settings(
            database_url=db_url,
            secret_keys=Fernet.generate_key().decode(),
            secret_key_file=tmp_path / "unused.key",
            public_url="http://127.0.0.1:9",
        ),
        transport=httpx.MockTransport(_offline),
        webhook_transport=httpx.MockTransport(_offline),
    )
    try:
        yield built
    finally:
        built.close()
        stamina.set_testing(False)


class Tenant:
    """An owner's key, and records of each kind for generated ids to land on."""

    def __init__(self, system: System) -> None:
        self.key = system.tenancy.create_tenant("Nordlys Handel", "owner@nordlys.example").api_key
        self.ids: list[str] = []

    def seed(self, system: System) -> None:
        principal = system.tenancy.authenticate(self.key)
        assert principal is not None
        create = system.records.create
        party = create(principal, "party", {"name": "Nordlys", "is_customer": True}).id
        product = create(principal, "product", {"sku": "CH-1", "name": "Chair"}).id
        contact = create(principal, "contact_person", {"party_id": party, "name": "Mette"}).id
        self.ids = [party, product, contact]

    def prepare(self, case: Any) -> dict[str, str]:
        """Point some generated record ids at real records; the headers to send."""
        params = case.path_parameters or {}
        if "record_id" in params and self.ids:
            pick = zlib.crc32(str(params["record_id"]).encode()) % (2 * len(self.ids))
            if pick < len(self.ids):
                params["record_id"] = self.ids[pick]
        sent = str((case.headers or {}).get("Authorization", ""))
        if sent.startswith("Bearer ") and sent.isprintable():
            return {"Authorization": f"Bearer {self.key}"}
        return {}


def test_the_api_answers_as_its_openapi_says(system: System) -> None:
    app = create_app(system)
    tenant = Tenant(system)
    tenant.seed(system)
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    # An unknown query parameter is ignored, as HTTP APIs commonly do; the OpenAPI does not
    # forbid one, so it is not a schema violation to refuse.
    schema.config.generation.update(allow_extra_parameters=False)
    failures: dict[str, str] = {}
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 50

    answered: dict[str, set[int]] = {}
    for operation in operations:
        fuzz(operation, tenant, failures, answered)

    report = "\n\n".join(f"== {name}\n{text[:1500]}" for name, text in failures.items())
    assert not failures, f"{len(failures)} operation(s) failed:\n{report}"
    # The run reached past authentication: every listing a key alone can read answered 2xx.
    listings = [
        name
        for name in answered
        if name.startswith("GET ") and "{" not in name and not name.endswith("/oauth/callback")
    ]
    assert len(listings) > 10
    assert all(min(answered[name]) < 300 for name in listings), answered


def fuzz(
    operation: Any, tenant: Tenant, failures: dict[str, str], answered: dict[str, set[int]]
) -> None:
    """Generated requests to one operation; its first failure goes into ``failures``, and the
    status codes it gave into ``answered``."""
    name = f"{operation.method.upper()} {operation.path}"

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(
        case=st.one_of(
            operation.as_strategy(GenerationMode.POSITIVE),
            operation.as_strategy(GenerationMode.NEGATIVE),
        )
    )
    def run(case: Any) -> None:
        if name in failures:
            return
        headers = tenant.prepare(case)
        try:
            response = case.call_and_validate(headers=headers, checks=CHECKS)
            answered.setdefault(name, set()).add(response.status_code)
        except Exception as exc:  # a failed check, or the app raising: both reported
            failures[name] = f"{type(exc).__name__}: {exc}"

    run()
