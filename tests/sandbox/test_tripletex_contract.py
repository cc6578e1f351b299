"""Contract tests: every served operation against Tripletex's official OpenAPI file.

Schemathesis generates positive requests from the spec for each operation the sandbox serves,
sends them to the ASGI app with a real session, and validates every response: no server
errors, the documented content type, and 2xx bodies against the operation's response schema.
Error responses are checked against the spec's ``ApiError`` schema.

Exclusions, each a flaw in the spec rather than in the sandbox:

* ``status_code_conformance`` is off: the spec documents no error response for any operation
  (only 200/201/204) although its own description lists 400/401/403/404/409/422/429 codes.
* ``positive_data_acceptance`` is off: dates, comma-separated id lists, tokens and numbers in
  strings are typed as bare ``string``, so schema-valid values can be meaningless. The test
  still rewrites those values into meaningful ones (below) and requires at least one 2xx per
  operation, so every response schema is exercised.
* ``versionDigest`` is made nullable before loading operations: the spec's info text says it
  is "null if no result", which the real API sends, but the schema types it as a plain string.
* Integer query parameters carry string defaults (``"default": "0"``/``"1000"``); generated
  values are used as sent, which the server parses as integers either way.
* ``readOnly`` fields in request bodies (and ``Subscription`` marked ``readOnly`` as a whole)
  are generated anyway; the server ignores read-only fields as Tripletex does.

Rewrites keep generated data where it is meaningful and replace the rest: path ids point at
existing objects (fresh ones for one-shot actions such as ``:invoice``), dates and id lists get
valid values, ``fields``/``sorting`` use real field names, and body references name existing
objects.
"""

from __future__ import annotations

import base64
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.specs.openapi import checks as openapi_checks

from ledgerbridge.clock import ManualClock
from ledgerbridge.connectors.tripletex.mapping import CUSTOMER_FIELDS
from ledgerbridge.sandbox.tripletex import TripletexSandbox, create_app
from ledgerbridge.sandbox.tripletex.seed import SeededFirm, seed_accounting_firm
from tests.specs import spec_path

SPEC = spec_path("tripletex/tripletex-openapi-2.74.00.json")
START = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)
EXAMPLES = 20

pytestmark = pytest.mark.skipif(not SPEC.exists(), reason=f"official spec not found at {SPEC}")

# (method, path, model of the path id) for every operation the sandbox serves.
OPERATIONS: tuple[tuple[str, str, str | None], ...] = (
    ("PUT", "/token/session/:create", None),
    ("POST", "/token/session/:create", None),
    ("GET", "/token/session/>whoAmI", None),
    ("DELETE", "/token/session/{token}", None),
    ("GET", "/company/>withLoginAccess", None),
    ("GET", "/company/{id}", "Company"),
    ("GET", "/customer", None),
    ("POST", "/customer", None),
    ("GET", "/customer/{id}", "Customer"),
    ("PUT", "/customer/{id}", "Customer"),
    ("GET", "/product", None),
    ("POST", "/product", None),
    ("GET", "/product/{id}", "Product"),
    ("PUT", "/product/{id}", "Product"),
    ("GET", "/ledger/vatType", None),
    ("GET", "/ledger/vatType/{id}", "VatType"),
    ("GET", "/order", None),
    ("POST", "/order", None),
    ("GET", "/order/{id}", "Order"),
    ("DELETE", "/order/{id}", "Order"),
    ("PUT", "/order/{id}/:invoice", "Order"),
    ("GET", "/invoice", None),
    ("GET", "/invoice/{id}", "Invoice"),
    ("PUT", "/invoice/{id}/:createCreditNote", "Invoice"),
    ("PUT", "/invoice/{id}/:payment", "Invoice"),
    ("GET", "/invoice/paymentType", None),
    ("GET", "/ledger/voucher", None),
    ("GET", "/ledger/voucher/{id}", "Voucher"),
    ("GET", "/ledger/voucher/>voucherReception", None),
    ("GET", "/ledger/voucherType", None),
    ("GET", "/ledger/voucherType/{id}", "VoucherType"),
    ("GET", "/ledger/posting", None),
    ("GET", "/ledger/posting/{id}", "Posting"),
    ("GET", "/bank/statement", None),
    ("GET", "/bank/statement/{id}", "BankStatement"),
    ("GET", "/bank/statement/transaction", None),
    ("GET", "/bank/statement/transaction/{id}", "BankTransaction"),
    ("GET", "/document/{id}", "Document"),
    ("GET", "/event", None),
    ("GET", "/event/subscription", None),
    ("POST", "/event/subscription", None),
    ("GET", "/event/subscription/{id}", "Subscription"),
    ("PUT", "/event/subscription/{id}", "Subscription"),
    ("DELETE", "/event/subscription/{id}", "Subscription"),
)

# Model each list or single response carries, for choosing real field names in ``fields``.
RESPONSE_MODEL = {
    "/token/session/:create": "SessionToken",
    "/token/session/>whoAmI": "LoggedInUserInfo",
    "/company/>withLoginAccess": "Client",
    "/customer": "Customer",
    "/product": "Product",
    "/ledger/vatType": "VatType",
    "/order": "Order",
    "/invoice": "Invoice",
    "/invoice/paymentType": "PaymentType",
    "/ledger/voucher": "Voucher",
    "/ledger/voucher/>voucherReception": "Voucher",
    "/ledger/voucherType": "VoucherType",
    "/ledger/posting": "Posting",
    "/bank/statement": "BankStatement",
    "/bank/statement/transaction": "BankTransaction",
    "/event/subscription": "Subscription",
    "/event": "EventCatalogue",
}
FIELDS_CHOICES: dict[str, tuple[str, ...]] = {
    "SessionToken": ("*", "token,expirationDate", "*,employeeToken(*)"),
    "LoggedInUserInfo": ("*", "employeeId,companyId", "*,company(name,organizationNumber)"),
    "Client": ("*", "id,name,customerCompanyId", "*,currency(code)"),
    "Company": ("*", "id,name,organizationNumber", "*,changes"),
    "Customer": (
        "*",
        "id,version,name",
        "*,postalAddress(*),changes",
        "name,currency(*)",
        CUSTOMER_FIELDS,
    ),
    "Product": ("*", "id,name,number", "*,vatType(*),productUnit(name)"),
    "VatType": ("*", "id,number,percentage", "*,changes"),
    "Order": ("*", "id,number", "*,orderLines(*),customer(name)"),
    "Invoice": ("*", "id,invoiceNumber,amount", "*,orderLines(*),voucher(number,postings(*))"),
    "PaymentType": ("*", "id,description", "*,debitAccount(number,name)"),
    "Voucher": ("*", "id,number,date", "*,voucherType(name),postings(amount,account(number))"),
    "VoucherType": ("*", "id,name"),
    "Posting": ("*", "id,amount,date", "*,account(*),voucher(number)"),
    "BankStatement": ("*", "id,fromDate,toDate", "*,transactions(*)"),
    "BankTransaction": ("*", "id,postedDate,amountCurrency", "*,sourceVoucher(number)"),
    "Document": ("*", "id,fileName,mimeType"),
    "Subscription": ("*", "id,event,targetUrl,status"),
    "EventCatalogue": ("*", ""),
}
SORTING_CHOICES = ("", "id", "-id", "id,-version")
DATE_PARAMS = {
    "dateFrom": "2025-01-01",
    "dateTo": "2026-04-01",
    "invoiceDateFrom": "2025-01-01",
    "orderDateFrom": "2025-01-01",
    "orderDateTo": "2026-04-01",
    "invoiceDateTo": "2026-04-01",
    "invoiceDate": "2026-03-10",
    "date": "2026-03-10",
    "paymentDate": "2026-03-11",
    "vatDate": "2026-03-10",
    "expirationDate": "2026-03-20",
}
ID_LIST_PARAMS = {
    "id",
    "ids",
    "customerAccountNumber",
    "accountManagerId",
    "voucherId",
    "typeId",
    "supplierId",
    "currencyId",
    "vatTypeId",
    "productUnitId",
    "departmentId",
    "accountId",
}
NUMBER_TEXT_PARAMS = {"invoiceNumber", "customerId"}
CLOSED_PORT_URL = "http://127.0.0.1:9/tripletex-hook"


@dataclass
class World:
    """The seeded sandbox, its app, the session used for every call and the loaded schema."""

    sandbox: TripletexSandbox
    firm: SeededFirm
    company_id: int
    session_token: str
    schema: Any
    statuses: dict[str, list[int]] = field(default_factory=dict)

    @property
    def authorization(self) -> str:
        """Basic auth into the client company (accountant proxy login)."""
        raw = f"{self.company_id}:{self.session_token}".encode()
        return "Basic " + base64.b64encode(raw).decode()

    def ids(self, model: str) -> list[int]:
        """Ids of a model's rows in the client company (subscriptions: the session's own)."""
        with self.sandbox.lock:
            if model == "VatType":
                return list(self.sandbox.shared[model])
            if model == "Company":
                return [self.company_id]
            token = self.sandbox.authenticate("production", self.authorization, True).token
            rows = self.sandbox.book(self.company_id).rows(model)
            return [row["id"] for row in rows if row.get("_token", token.id) == token.id]


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    """One accounting firm with one fully seeded client; calls act in that client company."""
    sandbox = TripletexSandbox(clock=ManualClock(START), seed=7, rate_limit=1_000_000)
    firm = seed_accounting_firm(sandbox, clients=1, seed=7, lazy=False)
    session = sandbox.create_session(
        "production", firm.consumer_token, firm.employee_token, "2026-03-20"
    )
    schema = schemathesis.openapi.from_path(SPEC)
    for definition in schema.raw_schema["components"]["schemas"].values():
        digest = definition.get("properties", {}).get("versionDigest")
        if digest is not None:
            digest["nullable"] = True
    schema.app = create_app(sandbox)
    schema.config.update(base_url="http://localhost/production/v2")
    yield World(sandbox, firm, firm.client_ids[0], session.token, schema)
    sandbox.close()


def _pick(pool: list[Any], seed: Any) -> Any:
    """A deterministic choice from ``pool`` driven by a generated value."""
    index = seed if isinstance(seed, int) else len(str(seed))
    return pool[abs(index) % len(pool)]


class Rewriter:
    """Turns schema-valid but meaningless generated values into meaningful ones."""

    def __init__(self, world: World, method: str, path: str, model: str | None) -> None:
        self.world = world
        self.method = method
        self.path = path
        self.model = model
        self.sandbox = world.sandbox
        self.company_id = world.company_id
        definition = world.schema.raw_schema["paths"][path][method.lower()]
        self.types = {
            param["name"]: param.get("schema", {}).get("type")
            for param in definition.get("parameters", [])
        }

    def book_call(self, action: Callable[[Any], Any]) -> Any:
        """Run ``action(book)`` on the client company under the sandbox lock."""
        with self.sandbox.lock:
            return action(self.sandbox.book(self.company_id))

    def fresh_order(self) -> int:
        """An open order with one line, for ``:invoice``."""
        customer = self.world.ids("Customer")[0]
        product = self.world.ids("Product")[0]
        body = {
            "customer": {"id": customer},
            "orderDate": "2026-03-10",
            "deliveryDate": "2026-03-10",
            "orderLines": [{"product": {"id": product}, "count": 2}],
        }
        return int(self.book_call(lambda book: book.create_order(body, None))["id"])

    def fresh_invoice(self) -> int:
        """An uncredited invoice, for ``:createCreditNote``."""
        order = self.fresh_order()
        invoice = self.book_call(lambda book: book.invoice_order(order, date(2026, 3, 10), None))
        return int(invoice["id"])

    def fresh_subscription(self) -> int:
        """A subscription of the session's token, for DELETE."""
        auth = self.sandbox.authenticate("production", self.world.authorization, True)
        body = {"event": "product.update", "targetUrl": CLOSED_PORT_URL}
        return int(self.sandbox.create_subscription(auth, body, "http://localhost")["id"])

    def path_parameters(self, params: dict[str, Any]) -> None:
        """Point ``{id}``/``{token}`` at objects that exist."""
        if "token" in params:
            firm = self.world.firm
            session = self.sandbox.create_session(
                "production", firm.consumer_token, firm.employee_token, "2026-03-20"
            )
            params["token"] = session.token
        if "id" not in params or self.model is None:
            return
        if self.path.endswith(":invoice"):
            params["id"] = self.fresh_order()
        elif self.path.endswith(":createCreditNote"):
            params["id"] = self.fresh_invoice()
        elif self.model == "Order" and self.method == "DELETE":
            params["id"] = self.fresh_order()
        elif self.model == "Subscription" and self.method == "DELETE":
            params["id"] = self.fresh_subscription()
        else:
            pool = self.world.ids(self.model)
            if self.model == "Subscription" and not pool:
                pool = [self.fresh_subscription()]
            params["id"] = _pick(pool, params["id"])

    def query(self, query: dict[str, Any]) -> None:
        """Valid dates, id lists, tokens, field names and paging."""
        firm = self.world.firm
        for name in list(query):
            value = query[name]
            if name in DATE_PARAMS:
                query[name] = DATE_PARAMS[name]
            elif self.types.get(name) == "string" and (name in ID_LIST_PARAMS or name == "number"):
                query[name] = ",".join(
                    str(zlib.crc32(str(value).encode()) % 1000 + n) for n in (1, 2)
                )
            elif name in NUMBER_TEXT_PARAMS:
                query[name] = str(len(str(value)))
            elif name == "consumerToken":
                query[name] = firm.consumer_token
            elif name == "employeeToken":
                query[name] = firm.employee_token
            elif name in ("from", "count"):
                query[name] = abs(int(value)) % 50
            elif name == "fields":
                model = RESPONSE_MODEL.get(self.path, self.model or "")
                query[name] = _pick(FIELDS_CHOICES[model], value)
            elif name == "sorting":
                query[name] = _pick(list(SORTING_CHOICES), value)
            elif name == "bankStatementId":
                query[name] = _pick(self.world.ids("BankStatement"), value)
            elif name == "paymentTypeId":
                query[name] = _pick(self.world.ids("PaymentType"), value)
            elif name in ("changedSince",):
                query[name] = "2025-06-01T00:00:00"

    def body(self, body: Any) -> Any:
        """Keep generated scalars; make references, names and secrets meaningful."""
        if self.path == "/token/session/:create":
            firm = self.world.firm
            return {
                "consumerToken": firm.consumer_token,
                "employeeToken": firm.employee_token,
                "expirationDate": "2026-03-20",
            }
        if not isinstance(body, dict):
            return body
        cleaned = {k: v for k, v in body.items() if not isinstance(v, dict | list)}
        for name in ("id", "version", "customerNumber", "number"):
            cleaned.pop(name, None)
        if self.path.startswith("/customer"):
            cleaned["name"] = str(cleaned.get("name") or "Kunde").strip() or "Kunde"
        elif self.path.startswith("/product"):
            cleaned["name"] = str(cleaned.get("name") or "Vare").strip() or "Vare"
            cleaned["vatType"] = {"id": _pick(self.world.ids("VatType"), len(body))}
        elif self.path == "/order":
            cleaned.update(
                customer={"id": self.world.ids("Customer")[0]},
                orderDate="2026-03-10",
                deliveryDate="2026-03-10",
                orderLines=[{"product": {"id": self.world.ids("Product")[0]}, "count": 1}],
            )
        elif self.path.startswith("/event/subscription"):
            cleaned = {
                "event": "customer.update",
                "targetUrl": CLOSED_PORT_URL,
                "hmacSharedSecret": "hemmelig",
            }
        return cleaned


def _check_api_error(body: Any, status: int) -> None:
    """An error body must be the spec's ``ApiError`` object."""
    assert isinstance(body, dict), body
    assert body["status"] == status
    assert isinstance(body["code"], int)
    assert isinstance(body["message"], str)
    assert isinstance(body["requestId"], str)
    assert body["developerMessage"] is None or isinstance(body["developerMessage"], str)
    messages = body["validationMessages"]
    assert messages is None or all(
        isinstance(m["field"], str) and isinstance(m["message"], str) for m in messages
    )


@pytest.mark.parametrize(
    ("method", "path", "model"), OPERATIONS, ids=[f"{m} {p}" for m, p, _ in OPERATIONS]
)
def test_operation_conforms_to_the_official_spec(
    world: World, method: str, path: str, model: str | None
) -> None:
    """Positive cases from the spec; responses validated; at least one 2xx per operation."""
    operation = world.schema[path][method]
    rewriter = Rewriter(world, method, path, model)
    statuses: list[int] = []

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(GenerationMode.POSITIVE))
    def run(case: Any) -> None:
        if case.path_parameters:
            rewriter.path_parameters(case.path_parameters)
        if case.query:
            rewriter.query(case.query)
        if case.body is not None and method in ("POST", "PUT"):
            case.body = rewriter.body(case.body)
        response = case.call_and_validate(
            headers={"Authorization": world.authorization},
            excluded_checks=[
                openapi_checks.status_code_conformance,
                openapi_checks.positive_data_acceptance,
            ],
        )
        statuses.append(response.status_code)
        if response.status_code >= 400:
            assert response.status_code < 500
            _check_api_error(response.json(), response.status_code)

    run()
    world.statuses[f"{method} {path}"] = statuses
    assert any(200 <= status < 300 for status in statuses), statuses
