"""A WooCommerce connection's settings and secrets."""

from __future__ import annotations

from decimal import Decimal

from pydantic import Field

from ledgerbridge.connectors.settings import (
    READ_FROM_SYSTEM,
    ConnectionSettings,
    Strict,
    Text,
    Url,
)


class WooCommerceSettings(ConnectionSettings):
    base_url: Url = Field(
        description="The shop's address (https://shop.example.dk); the REST API is under "
        "/wp-json/wc/v3"
    )
    stock_warehouse: Text | None = Field(
        None,
        description="The accounting system's warehouse whose stock the shop shows; empty: "
        "the stock of every warehouse, added up",
    )
    send_service_items: bool = Field(
        False,
        description="Whether the accounting system's service items (shipping, fees, the "
        "rounding and refund items: ItemType Service in Uniconta) become shop products, as "
        "virtual products; off: they stay out of the shop",
    )
    prices_include_vat: bool | None = Field(
        None,
        description="Whether the shop's product prices are entered with VAT (WooCommerce → "
        "Settings → Tax → Prices entered with tax); the hub's prices are without VAT. Read "
        "from the shop when the connection is made",
        json_schema_extra=READ_FROM_SYSTEM,
    )
    vat_rates: dict[str, Decimal] | None = Field(
        None,
        description="The VAT rate in percent of each of the shop's tax classes in its own "
        'country ({"standard": 25, "reduced-rate": 12}), added to or taken from product '
        "prices when they are entered with VAT. Read from the shop's tax table when the "
        "connection is made",
        json_schema_extra=READ_FROM_SYSTEM,
    )


class WooCommerceSecrets(Strict):
    """A REST API key made in WooCommerce → Settings → Advanced → REST API (read/write)."""

    consumer_key: Text = Field(description="ck_…")
    consumer_secret: Text = Field(description="cs_…")
