"""Which connector serves which system, and what each needs to be configured."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Literal

import httpx
from pydantic import BaseModel

from ledgerbridge.clock import Clock
from ledgerbridge.connectors.base import (
    JSON,
    CallMeter,
    CodeKind,
    Connector,
    DataField,
    EntityMapping,
    OAuthFlow,
    Verified,
)
from ledgerbridge.connectors.files.connector import STREAM_ENTITIES as FILES_STREAM_ENTITIES
from ledgerbridge.connectors.files.connector import (
    FilesConnector,
    OrderFileMapping,
    RefundFileMapping,
)
from ledgerbridge.connectors.files.settings import FilesSecrets, FilesSettings
from ledgerbridge.connectors.kit.credentials import counter_key
from ledgerbridge.connectors.qonto import mapping as qonto_mapping
from ledgerbridge.connectors.qonto import oauth as qonto_oauth
from ledgerbridge.connectors.qonto import setup as qonto_setup
from ledgerbridge.connectors.qonto.client import DEFAULT_BASE_URL as QONTO_URL
from ledgerbridge.connectors.qonto.connector import STREAM_ENTITIES as QONTO_STREAM_ENTITIES
from ledgerbridge.connectors.qonto.connector import QontoConnector
from ledgerbridge.connectors.qonto.connector import check_webhook as qonto_check_webhook
from ledgerbridge.connectors.qonto.connector import record_url as qonto_record_url
from ledgerbridge.connectors.qonto.settings import QontoSecrets, QontoSettings
from ledgerbridge.connectors.settings import ConnectionSettings
from ledgerbridge.connectors.stripe import mapping as stripe_mapping
from ledgerbridge.connectors.stripe import webhooks as stripe_webhooks
from ledgerbridge.connectors.stripe.client import DEFAULT_BASE_URL as STRIPE_URL
from ledgerbridge.connectors.stripe.connector import STREAM_ENTITIES as STRIPE_STREAM_ENTITIES
from ledgerbridge.connectors.stripe.connector import StripeConnector
from ledgerbridge.connectors.stripe.connector import verify as stripe_verify
from ledgerbridge.connectors.stripe.settings import StripeSecrets, StripeSettings
from ledgerbridge.connectors.tripletex import mapping as tripletex_mapping
from ledgerbridge.connectors.tripletex import setup as tripletex_setup
from ledgerbridge.connectors.tripletex import webhooks as tripletex_webhooks
from ledgerbridge.connectors.tripletex.client import base_url as tripletex_base_url
from ledgerbridge.connectors.tripletex.connector import STREAM_ENTITIES as TRIPLETEX_STREAM_ENTITIES
from ledgerbridge.connectors.tripletex.connector import TripletexConnector
from ledgerbridge.connectors.tripletex.settings import TripletexSecrets, TripletexSettings
from ledgerbridge.connectors.tripletex.statistics import DATA_FIELDS as TRIPLETEX_DATA_FIELDS
from ledgerbridge.connectors.uniconta import mapping as uniconta_mapping
from ledgerbridge.connectors.uniconta import setup as uniconta_setup
from ledgerbridge.connectors.uniconta.client import DEFAULT_BASE_URL as UNICONTA_URL
from ledgerbridge.connectors.uniconta.connector import STREAM_ENTITIES, UnicontaConnector
from ledgerbridge.connectors.uniconta.journal import JournalPostingMapping
from ledgerbridge.connectors.uniconta.settings import UnicontaSecrets, UnicontaSettings
from ledgerbridge.connectors.vipps_mobilepay import mapping as vipps_mapping
from ledgerbridge.connectors.vipps_mobilepay.client import DEFAULT_BASE_URL as VIPPS_URL
from ledgerbridge.connectors.vipps_mobilepay.connector import (
    STREAM_ENTITIES as VIPPS_STREAM_ENTITIES,
)
from ledgerbridge.connectors.vipps_mobilepay.connector import VippsConnector
from ledgerbridge.connectors.vipps_mobilepay.connector import verify as vipps_verify
from ledgerbridge.connectors.vipps_mobilepay.settings import VippsSecrets, VippsSettings
from ledgerbridge.connectors.woocommerce import mapping as woo_mapping
from ledgerbridge.connectors.woocommerce import payouts as woo_payouts
from ledgerbridge.connectors.woocommerce import webhooks as woo_webhooks
from ledgerbridge.connectors.woocommerce.connector import STREAM_ENTITIES as WOO_STREAM_ENTITIES
from ledgerbridge.connectors.woocommerce.connector import WooCommerceConnector
from ledgerbridge.connectors.woocommerce.connector import record_url as woo_record_url
from ledgerbridge.connectors.woocommerce.connector import verify as woo_verify
from ledgerbridge.connectors.woocommerce.settings import WooCommerceSecrets, WooCommerceSettings
from ledgerbridge.connectors.yuki import mapping as yuki_mapping
from ledgerbridge.connectors.yuki import setup as yuki_setup
from ledgerbridge.connectors.yuki.client import DEFAULT_BASE_URL as YUKI_URL
from ledgerbridge.connectors.yuki.connector import STREAM_ENTITIES as YUKI_STREAM_ENTITIES
from ledgerbridge.connectors.yuki.connector import YukiConnector
from ledgerbridge.connectors.yuki.settings import YukiSecrets, YukiSettings
from ledgerbridge.connectors.zettle import mapping as zettle_mapping
from ledgerbridge.connectors.zettle import webhooks as zettle_webhooks
from ledgerbridge.connectors.zettle.client import HOSTS as ZETTLE_HOSTS
from ledgerbridge.connectors.zettle.connector import STREAM_ENTITIES as ZETTLE_STREAM_ENTITIES
from ledgerbridge.connectors.zettle.connector import ZettleConnector
from ledgerbridge.connectors.zettle.connector import verify as zettle_verify
from ledgerbridge.connectors.zettle.settings import ZettleSecrets, ZettleSettings
from ledgerbridge.model import ENTITY_TYPES

ConnectorFactory = Callable[
    [Mapping[str, Any], Mapping[str, Any], CallMeter, httpx.BaseTransport | None, Clock],
    Connector,
]


CallbackCheck = Callable[[Mapping[str, Any], Mapping[str, str], bytes, datetime], str | None]
"""(secrets, request headers, raw body, now) → the event's id."""

Verifier = Callable[
    [Mapping[str, Any], Mapping[str, Any], CallMeter, httpx.BaseTransport | None], Verified
]


@dataclass(frozen=True)
class Webhooks:
    """A system's webhooks for a connection whose credentials are saved (no OAuth login to
    hang them on): set up when the connection is created or its credentials change, the ones
    made with the previous credentials removed first."""

    subscribe: Callable[
        [Mapping[str, Any], Mapping[str, Any], str, CallMeter, httpx.BaseTransport | None, Clock],
        JSON,
    ]
    """(settings, secrets, the connection's callback URL, meter, HTTP transport, clock) →
    secrets to add (the signing secret, the subscription ids)."""
    unsubscribe: Callable[
        [Mapping[str, Any], Mapping[str, Any], CallMeter, httpx.BaseTransport | None, Clock],
        None,
    ]
    """(previous settings, previous secrets, meter, HTTP transport, clock): removes what
    ``subscribe`` set up with them."""


@dataclass(frozen=True)
class Pull:
    """A scheduled read of some streams."""

    streams: tuple[str, ...]
    cron: str
    """Default schedule, in the connection's time zone (a setting ``schedules.<kind>``
    overrides it)."""
    reserve: float = 0.0
    """Share of the daily call budget this pull must leave untouched: low-priority refreshes
    (products, stock) give way to invoices and customers when calls run short."""
    announce: bool = False
    """Tell the app when a run finishes (a ``connection.<kind>_completed`` webhook event with
    its counts): for work a user starts and waits for, such as a reload."""


@dataclass(frozen=True)
class CodeMappings:
    """The code mappings a connection of the system keeps in its settings, each with the
    system's own defaults (None: the system maps no such codes)."""

    vat: bool = False
    """``settings.vat_mapping``: VAT codes."""
    vat_keys: Literal["system", "hub"] = "system"
    """Whose codes key ``settings.vat_mapping``: the system's (Uniconta: its code → the hub's)
    or the hub's (Yuki: hub code → its VAT type)."""
    units: Mapping[str, str] | None = None
    """``settings.unit_mapping``: the system's units → hub units, added to these."""
    payment_terms: Mapping[str, int] | None = None
    """``settings.payment_terms``: payment term codes → days, added to these."""
    vat_streams: Callable[[Mapping[str, Any]], tuple[str, ...]] = lambda settings: (
        "products",
        "invoices",
    )
    """(settings): the streams whose records are skipped while a VAT code of the system is
    not mapped, so the import warns about unmapped codes only when one of them is on."""


def directions(mapping: type[EntityMapping]) -> tuple[str, ...]:
    """The directions a stream may be set to (``settings.entities.<stream>.direction``); a
    one-way stream's ``both`` means that way."""
    if mapping.inbound and mapping.outbound:
        return ("both", "inbound", "outbound")
    return ("inbound",) if mapping.inbound else ("outbound",)


def conflict_fields(streams: Mapping[str, type[EntityMapping]]) -> dict[str, list[str]]:
    """Per canonical entity synced both ways, the fields a conflict rule may name (the
    canonical model's): only what both sides can change can be changed by both."""
    entities = {
        m.entity for m in streams.values() if m.inbound and m.outbound and not m.remote_wins
    }
    return {
        entity: sorted(name for name in ENTITY_TYPES[entity].model_fields if name != "id")
        for entity in sorted(entities)
    }


@dataclass(frozen=True)
class SystemSpec:
    """Static facts about one accounting system."""

    name: str
    title: str
    """The system's name as people write it (Vipps MobilePay), for the UI."""
    factory: ConnectorFactory
    settings: type[ConnectionSettings]
    """What a connection's settings may hold (validated on every change)."""
    secrets: type[BaseModel]
    """The secrets a user gives (validated when given)."""
    timezone: str
    """Default zone of a connection's schedules: the system's home."""
    streams: Mapping[str, type[EntityMapping]]
    """Each stream's mapping, which says the directions it can sync."""
    daily_call_limit: int
    quota_timezone: str
    """The zone in which the vendor's quota day starts."""
    counted_per: Callable[[Mapping[str, Any]], tuple[str, ...]]
    """(settings) → what the vendor counts calls against: the base URL the connection
    reaches, then the user or domain the counter belongs to (nothing more when the vendor
    counts per address)."""
    page_size: int
    write_batch_size: int
    pulls: dict[str, Pull]
    """Scheduled reads by job kind."""
    entities: frozenset[str]
    """Canonical entities its streams carry: a hub change to one of them may need a push."""
    default_streams: frozenset[str] = frozenset()
    """Streams enabled when a connection does not choose."""
    verify: Verifier | None = None
    """Checks made with the credentials when a connection is saved."""
    check_settings: Callable[[Mapping[str, Any]], None] | None = None
    """Checks of the settings alone, on every change (raises ``SetupRefused``)."""
    oauth: OAuthFlow | None = None
    """How a connection logs in with OAuth 2.0, when the system offers it."""
    record_url: Callable[[Mapping[str, Any], str, str], str | None] | None = None
    """(settings, stream, remote id) → the record's page in the system's own app: the link a
    synced hub record shows to open it there."""
    callback_check: CallbackCheck | None = None
    """Checks an inbound callback's signature before it is stored (raises
    ``CallbackRefused``) and returns its event id, under which a resent event is stored only
    once; None when the event has no id."""
    installation_secrets: Mapping[str, str] = field(default_factory=dict)
    """Secrets that belong to the installation, not to a tenant (an integration partner's
    consumer token): secret name → installation setting. They are added to a connection's
    secrets when it is verified or opened, and never stored with it."""
    status_warnings: Callable[[Mapping[str, Any], date], list[str]] | None = None
    """Warnings about a connection's settings on a given local day (a token about to
    expire): shown in its status and sent to the app as a daily ``connection.warning``."""
    side: Literal["accounting", "app"] = "accounting"
    """Which side of the hub the system stands on: an accounting system books what the hub
    holds; a business app (a shop, a POS, an acquirer) is where records start. Routes send an
    app's records to an accounting connection, never to another app (see engine/routing)."""
    receives_callbacks: bool = True
    """Whether the system calls the connection's callback URL (change notices, webhooks):
    then a URL only this machine can reach is a warning in the status."""
    webhooks: Webhooks | None = None
    """Webhooks set up with saved credentials (see ``Webhooks``); OAuth systems use
    ``OAuthFlow.after_login`` instead."""
    data_fields: Mapping[str, DataField] = field(default_factory=dict)
    """Figures the system offers the app's custom fields (monthly statistics), by name; the
    connection maps them in ``settings.summary.fields`` (name → the app's custom field)."""
    codes: CodeMappings = CodeMappings()
    waiting_keys: Mapping[str, Callable[[str], str | None]] = field(default_factory=dict)
    """How a skip's message names what the record waits for, by skip reason, where not as
    ``unmapped_code`` reads a code from it (Qonto: ``vat_group_missing`` → the VAT group's rate
    and country, "21% NL"): the mappings screen counts the records waiting for each."""
    checked_codes: frozenset[CodeKind] = frozenset()
    """The kinds of the system's codes a route names that are checked with the system when
    the route is saved (``Connector.missing_codes``)."""
    lists: tuple[str, ...] = ()
    """The system's own lists a connection reads (``Connector.code_lists``)."""
    one_session_per_user: bool = False
    """The system hands out one API session per user: two connections with the same user may
    sign each other out, which saving the second one warns about."""
    credential_settings: tuple[str, ...] = ("base_url",)
    """Settings that decide what the credentials reach: a change is checked with the system
    before it is saved, as new secrets are."""
    account_settings: tuple[str, ...] = ()
    """Settings naming the account whose records the links point at (Yuki: the domain, whose
    relationship codes the contacts are linked by): once the connection has links, changing
    one is refused, since the links would then name records of another account."""
    rescan_settings: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """Settings that widen what an incremental stream brings in (Yuki: retrieving suppliers,
    the contact types imported), with the streams they widen: when one changes, the next pull
    reads those streams from the start, so records nobody changed since are brought in too."""
    linked_records: Mapping[str, str] = field(default_factory=dict)
    """Settings that map hub record ids to records of the system, by the entity of those ids
    (Tripletex: ``client_links``, client party → customer). When one changes, each id must be
    a live hub record of the tenant, and ``check_links`` is asked about the system's side."""
    check_links: (
        Callable[
            [Mapping[str, Any], Mapping[str, Any], CallMeter, httpx.BaseTransport | None], None
        ]
        | None
    ) = None
    """(settings, secrets, meter, HTTP transport): checks with the system that the records
    the ``linked_records`` settings name exist there (raises ``SetupRefused``)."""

    def credential_key(self, settings: Mapping[str, Any]) -> str:
        """The quota ledger's key for the vendor's real counter, shared by every connection
        and tenant that uses it, however its base URL or user name is spelt."""
        return counter_key(self.name, *self.counted_per(settings))

    @property
    def pushes(self) -> bool:
        """Whether any stream writes to the system: a system that is only read (an acquirer,
        a till, an order file) has no push to run, scheduled or asked for."""
        return any(mapping.outbound for mapping in self.streams.values())

    @property
    def job_kinds(self) -> tuple[str, ...]:
        """The jobs a user may run now (``POST /connections/{id}/jobs/{kind}``)."""
        return (*(("push",) if self.pushes else ()), "retry", *self.pulls)


@dataclass(frozen=True)
class ConnectorHandle:
    """What the runtime needs to open a connector for a connection."""

    connection_id: str
    tenant_id: str
    system: SystemSpec
    settings: JSON
    secrets: JSON
    timezone: str
    credential_key: str


def daily_call_limit(spec: SystemSpec, settings: Mapping[str, Any]) -> int:
    """The calls a day a connection's credentials may make: its ``daily_call_limit`` setting,
    else the system's. The one reading of the setting, for the runs' call budget, the status,
    the metrics and the set-up checks alike: a setting saved as ``null`` is the system's."""
    return int(settings.get("daily_call_limit") or spec.daily_call_limit)


SYSTEMS: dict[str, SystemSpec] = {
    "uniconta": SystemSpec(
        name="uniconta",
        title="Uniconta",
        factory=UnicontaConnector,
        settings=UnicontaSettings,
        secrets=UnicontaSecrets,
        timezone="Europe/Copenhagen",
        streams={
            "customers": uniconta_mapping.DebtorMapping,
            "suppliers": uniconta_mapping.CreditorMapping,
            "contacts": uniconta_mapping.ContactMapping,
            "products": uniconta_mapping.ProductMapping,
            "stock_levels": uniconta_mapping.StockMapping,
            "invoices": uniconta_mapping.InvoiceMapping,
            "payment_status": uniconta_mapping.PaymentStatusMapping,
            "cash_journal": JournalPostingMapping,
        },
        daily_call_limit=5000,
        quota_timezone="Europe/Copenhagen",
        page_size=1000,
        write_batch_size=100,
        pulls={
            # Callbacks bring master-data changes at once; this is the safety net.
            "pull": Pull(("customers", "suppliers", "contacts"), "0 */6 * * *"),
            "products": Pull(("products",), "30 */6 * * *", reserve=0.2),
            "invoices": Pull(("invoices",), "0 * * * *"),
            "stock": Pull(("stock_levels",), "0 5 * * *", reserve=0.2),
            "payments": Pull(("payment_status",), "0 3 * * *"),
        },
        entities=frozenset(STREAM_ENTITIES.values()),
        default_streams=UnicontaConnector.default_streams,
        verify=uniconta_setup.verify,
        check_settings=uniconta_setup.check_settings,
        status_warnings=uniconta_setup.status_warnings,
        codes=CodeMappings(
            vat=True,
            units=uniconta_mapping.COMMON_UNITS,
            payment_terms=uniconta_mapping.DEFAULT_PAYMENT_TERMS,
            vat_streams=uniconta_setup.streams_needing_vat_mapping,
        ),
        lists=("vat",),
        checked_codes=UnicontaConnector.checked_codes,
        one_session_per_user=True,
        credential_settings=("company_id", "username", "base_url"),
        # Uniconta counts calls per user, across the companies it reaches.
        counted_per=lambda settings: (
            str(settings.get("base_url") or UNICONTA_URL),
            str(settings.get("username") or ""),
        ),
    ),
    "yuki": SystemSpec(
        name="yuki",
        title="Yuki",
        factory=YukiConnector,
        settings=YukiSettings,
        secrets=YukiSecrets,
        timezone="Europe/Amsterdam",
        streams={
            "contacts": yuki_mapping.ContactMapping,
            "customers": yuki_mapping.CustomerFlagMapping,
            "invoices": yuki_mapping.InvoiceMapping,
        },
        daily_call_limit=1000,
        quota_timezone="Europe/Amsterdam",
        page_size=100,
        write_batch_size=500,
        receives_callbacks=False,
        pulls={
            # No callbacks: contacts changed in Yuki (and ticked Customer boxes) are read with
            # modifiedAfter, two calls when nothing changed (contacts with a box ticked, the
            # customers among them, and with none): hourly, one call a stream an idle hour
            # (the daily limit is 1,000 calls a domain).
            "pull": Pull(("contacts", "customers"), "0 * * * *"),
        },
        entities=frozenset(YUKI_STREAM_ENTITIES.values()),
        default_streams=YukiConnector.default_streams,
        verify=yuki_setup.verify,
        check_settings=yuki_setup.check_settings,
        codes=CodeMappings(vat=True, vat_keys="hub"),
        credential_settings=("domain_id", "administration_id", "base_url"),
        account_settings=("domain_id",),
        rescan_settings={"import_suppliers": ("contacts",), "contact_types": ("contacts",)},
        # Yuki counts calls per domain, whichever key or connection makes them.
        counted_per=lambda settings: (
            str(settings.get("base_url") or YUKI_URL),
            str(settings.get("domain_id") or ""),
        ),
    ),
    "qonto": SystemSpec(
        name="qonto",
        title="Qonto",
        factory=QontoConnector,
        settings=QontoSettings,
        secrets=QontoSecrets,
        timezone="Europe/Paris",
        streams={
            "customers": qonto_mapping.ClientMapping,
            "invoices": qonto_mapping.InvoiceMapping,
            "credit_notes": qonto_mapping.CreditNoteMapping,
        },
        # Qonto limits calls per IP address (10,000 per 10 minutes), not per day.
        daily_call_limit=1_000_000,
        quota_timezone="Europe/Paris",
        page_size=100,
        write_batch_size=50,
        pulls={
            # Qonto's changes to clients come back by updated_at: a call when nothing changed,
            # once an hour (clients have no webhook).
            "pull": Pull(("customers",), "15 * * * *"),
            # Credit notes have no webhook; invoices do, and this is their safety net: hourly,
            # a call per stream when nothing changed.
            "credit_notes": Pull(("invoices", "credit_notes"), "35 * * * *"),
        },
        entities=frozenset(QONTO_STREAM_ENTITIES.values()),
        default_streams=QontoConnector.default_streams,
        verify=qonto_setup.verify,
        status_warnings=qonto_setup.status_warnings,
        codes=CodeMappings(units=qonto_mapping.DEFAULT_UNITS),
        waiting_keys={"vat_group_missing": qonto_mapping.missing_vat_group},
        # The limits count per IP address, so every connection to one Qonto host shares them.
        counted_per=lambda settings: (str(settings.get("base_url") or QONTO_URL),),
        oauth=OAuthFlow(
            qonto_oauth.authorize_url, qonto_oauth.exchange_code, qonto_oauth.subscribe_webhooks
        ),
        callback_check=qonto_check_webhook,
        record_url=qonto_record_url,
    ),
    "tripletex": SystemSpec(
        name="tripletex",
        title="Tripletex",
        factory=TripletexConnector,
        settings=TripletexSettings,
        secrets=TripletexSecrets,
        timezone="Europe/Oslo",
        streams={
            "vat_codes": tripletex_mapping.VatTypeMapping,
            "customers": tripletex_mapping.CustomerMapping,
            "products": tripletex_mapping.ProductMapping,
            "invoices": tripletex_mapping.InvoiceMapping,
            "payments": tripletex_mapping.PaymentMapping,
            "payment_status": tripletex_mapping.PaymentStatusMapping,
            "period_statistics": tripletex_mapping.StatisticsMapping,
        },
        # No daily number is published: Tripletex limits per period and says so in headers.
        daily_call_limit=100_000,
        quota_timezone="Europe/Oslo",
        page_size=1000,
        write_batch_size=100,
        pulls={
            # Customers are read with changedSince, so an hourly pull is cheap.
            "pull": Pull(("customers",), "15 * * * *"),
            "products": Pull(("products", "vat_codes"), "45 */6 * * *", reserve=0.2),
            # Reads nothing except on a summary import day (settings.summary.import_day).
            # Also the reload (settings.summary.reload_requested_at, then this job).
            "statistics": Pull(("period_statistics",), "0 6 * * *", announce=True),
            # What is still owed on the invoices sent, as Uniconta's open items: daily.
            "payments": Pull(("payment_status",), "0 3 * * *"),
        },
        entities=frozenset(TRIPLETEX_STREAM_ENTITIES.values()),
        default_streams=TripletexConnector.default_streams,
        verify=tripletex_setup.verify,
        check_settings=tripletex_setup.check_settings,
        # Tripletex limits per employee and API consumer (the consumer is the installation's).
        counted_per=lambda settings: (
            tripletex_base_url(settings),
            str(settings.get("tripletex_employee_id") or ""),
        ),
        installation_secrets={
            "consumer_token": "tripletex_consumer_token",
            "test_consumer_token": "tripletex_test_consumer_token",
        },
        status_warnings=tripletex_setup.status_warnings,
        # Customer and product changes arrive at once; the pulls above are the safety net.
        webhooks=Webhooks(tripletex_webhooks.subscribe, tripletex_webhooks.unsubscribe),
        callback_check=tripletex_webhooks.check_signature,
        data_fields=TRIPLETEX_DATA_FIELDS,
        linked_records={"client_links": "party"},
        check_links=tripletex_setup.check_links,
        lists=("vat", "customers"),
        credential_settings=("environment", "base_urls"),
    ),
    "files": SystemSpec(
        name="files",
        title="Files (CSV, Excel)",
        factory=FilesConnector,
        settings=FilesSettings,
        secrets=FilesSecrets,
        timezone="UTC",
        streams={"orders": OrderFileMapping, "refunds": RefundFileMapping},
        # No API: nothing is called, so no budget is spent.
        daily_call_limit=1_000_000,
        quota_timezone="UTC",
        counted_per=lambda settings: ("file://local",),
        page_size=200,
        write_batch_size=100,
        # The watched folder is scanned every minute (a no-op without settings.watch_folder).
        pulls={"file_scan": Pull(("orders", "refunds"), "* * * * *")},
        entities=frozenset(FILES_STREAM_ENTITIES.values()),
        default_streams=FilesConnector.default_streams,
        side="app",
        receives_callbacks=False,
        credential_settings=(),
    ),
    "woocommerce": SystemSpec(
        name="woocommerce",
        title="WooCommerce",
        factory=WooCommerceConnector,
        settings=WooCommerceSettings,
        secrets=WooCommerceSecrets,
        timezone="Europe/Copenhagen",
        side="app",
        streams={
            "products": woo_mapping.ProductMapping,
            "stock": woo_mapping.StockMapping,
            "orders": woo_mapping.OrderMapping,
            "refunds": woo_mapping.RefundMapping,
            "payouts": woo_payouts.DepositMapping,
        },
        # WooCommerce has no call quota (the shop's host may throttle, which Retry-After
        # handles): this is a budget of our own, so a runaway loop cannot hammer a shop.
        daily_call_limit=50_000,
        quota_timezone="Europe/Copenhagen",
        page_size=100,
        write_batch_size=100,
        pulls={
            # Webhooks bring orders at once; this is the safety net (and revives webhooks).
            "pull": Pull(("orders", "refunds"), "*/15 * * * *"),
            "products": Pull(("products",), "20 */6 * * *", reserve=0.2),
            # WooPayments deposits (when the stream is on): no webhook for them, so hourly.
            "payouts": Pull(("payouts",), "37 * * * *"),
        },
        entities=frozenset(WOO_STREAM_ENTITIES.values()),
        default_streams=WooCommerceConnector.default_streams,
        verify=woo_verify,
        # Each shop is its own counter: its host.
        counted_per=lambda settings: (str(settings.get("base_url") or ""),),
        webhooks=Webhooks(woo_webhooks.subscribe, woo_webhooks.unsubscribe),
        callback_check=woo_webhooks.check_signature,
        record_url=woo_record_url,
    ),
    "vipps_mobilepay": SystemSpec(
        name="vipps_mobilepay",
        title="Vipps MobilePay",
        factory=VippsConnector,
        settings=VippsSettings,
        secrets=VippsSecrets,
        timezone="Europe/Oslo",
        side="app",
        streams={"payouts": vipps_mapping.PayoutMapping},
        # No published daily quota (429 with Retry-After when throttled): a budget of our own.
        daily_call_limit=10_000,
        quota_timezone="Europe/Oslo",
        page_size=1000,
        write_batch_size=100,
        pulls={
            # No webhooks: the guide asks for a poll about hourly, not on the hour.
            "pull": Pull(("payouts",), "23 * * * *"),
        },
        entities=frozenset(VIPPS_STREAM_ENTITIES.values()),
        default_streams=VippsConnector.default_streams,
        verify=vipps_verify,
        receives_callbacks=False,
        credential_settings=("client_id", "ledger_id", "msn", "base_url"),
        # The keys are counted per client id at the API's host.
        counted_per=lambda settings: (
            str(settings.get("base_url") or VIPPS_URL),
            str(settings.get("client_id") or ""),
        ),
    ),
    "stripe": SystemSpec(
        name="stripe",
        title="Stripe",
        factory=StripeConnector,
        settings=StripeSettings,
        secrets=StripeSecrets,
        timezone="Europe/Copenhagen",
        side="app",
        streams={"payouts": stripe_mapping.PayoutMapping},
        # Stripe limits calls per second (25 in test mode, 100 live), not per day: this is a
        # budget of our own, so a runaway loop cannot hammer an account.
        daily_call_limit=20_000,
        quota_timezone="UTC",
        page_size=100,
        write_batch_size=1,
        pulls={
            # Webhooks bring payouts as they are paid or change; this is the safety net.
            "pull": Pull(("payouts",), "7 * * * *"),
        },
        entities=frozenset(STRIPE_STREAM_ENTITIES.values()),
        default_streams=StripeConnector.default_streams,
        verify=stripe_verify,
        # Stripe counts calls per account; the key's digest stands for it.
        counted_per=lambda settings: (
            str(settings.get("base_url") or STRIPE_URL),
            str(settings.get("key_fingerprint") or ""),
        ),
        webhooks=Webhooks(stripe_webhooks.subscribe, stripe_webhooks.unsubscribe),
        callback_check=stripe_webhooks.check_signature,
    ),
    "zettle": SystemSpec(
        name="zettle",
        title="Zettle",
        factory=ZettleConnector,
        settings=ZettleSettings,
        secrets=ZettleSecrets,
        timezone="Europe/Stockholm",
        side="app",
        streams={
            "purchases": zettle_mapping.PurchaseMapping,
            "refunds": zettle_mapping.RefundMapping,
            "payouts": zettle_mapping.PayoutMapping,
        },
        # Zettle publishes no call quota (it answers 429): a budget of our own.
        daily_call_limit=50_000,
        quota_timezone="Europe/Stockholm",
        page_size=1000,
        write_batch_size=100,
        pulls={
            # PurchaseCreated webhooks bring sales at once; this is the safety net.
            "pull": Pull(("purchases", "refunds"), "*/15 * * * *"),
            "payouts": Pull(("payouts",), "10 * * * *"),
        },
        entities=frozenset(ZETTLE_STREAM_ENTITIES.values()),
        default_streams=ZettleConnector.default_streams,
        verify=zettle_verify,
        # Each merchant (organization) is its own counter.
        counted_per=lambda settings: (
            str(settings.get("base_url") or ZETTLE_HOSTS["purchase"]),
            str(settings.get("organization_uuid") or ""),
        ),
        webhooks=Webhooks(zettle_webhooks.subscribe, zettle_webhooks.unsubscribe),
        callback_check=zettle_webhooks.check_signature,
    ),
}


def streams_only(system: str, *streams: str) -> dict[str, dict[str, bool]]:
    """``settings.entities`` that switch on exactly ``streams``: a stream left out of
    ``entities`` keeps its default, so the system's other default streams are said off."""
    return {
        **{stream: {"enabled": False} for stream in sorted(SYSTEMS[system].default_streams)},
        **{stream: {"enabled": True} for stream in streams},
    }
