"""A WooCommerce connection's settings and secrets."""

from __future__ import annotations

from pydantic import Field

from ledgerbridge.connectors.settings import ConnectionSettings, Strict, Text, Url


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


class WooCommerceSecrets(Strict):
    """A REST API key made in WooCommerce → Settings → Advanced → REST API (read/write)."""

    consumer_key: Text = Field(description="ck_…")
    consumer_secret: Text = Field(description="cs_…")
