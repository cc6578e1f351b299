"""A WooCommerce connection's settings and secrets."""

from __future__ import annotations

from decimal import Decimal

from pydantic import Field, ValidationInfo, field_validator

from ledgerbridge.connectors.settings import (
    READ_FROM_SYSTEM,
    ConnectionSettings,
    Strict,
    Text,
    Url,
)
from ledgerbridge.connectors.woocommerce.client import API_PATH


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
    tax_classes: dict[Text, Text] | None = Field(
        None,
        description="The shop tax class (its slug: standard, reduced-rate, zero-rate) of each "
        'accounting VAT code ({"U0": "zero-rate"}): a product with that VAT code is sent '
        "with that class, and its price with that class's VAT; a product whose code is not "
        "named keeps the class it has in the shop",
    )

    @field_validator("base_url")
    @classmethod
    def _shop_address(cls, value: str) -> str:
        """The shop's address as given, or its REST API's address copied from WooCommerce
        (``…/wp-json/wc/v3``): the API path is the client's to add, so it is taken off."""
        address = value.rstrip("/")
        return address.removesuffix(API_PATH).rstrip("/")

    @field_validator("tax_classes")
    @classmethod
    def _known_classes(
        cls, value: dict[str, str] | None, info: ValidationInfo
    ) -> dict[str, str] | None:
        """A class the shop does not have would be refused product by product: it is
        refused here, where the shop's classes are known (``vat_rates``)."""
        known = info.data.get("vat_rates")
        if value is None or known is None:
            return value
        unknown = sorted({slug for slug in value.values() if slug not in known})
        if unknown:
            raise ValueError(
                f"the shop has no tax class {', '.join(unknown)} (its classes: "
                f"{', '.join(sorted(known)) or 'none'}); add it in WooCommerce → Settings → "
                "Tax and give its rate in settings.vat_rates"
            )
        return value


class WooCommerceSecrets(Strict):
    """A REST API key made in WooCommerce → Settings → Advanced → REST API (read/write)."""

    consumer_key: Text = Field(description="ck_…")
    consumer_secret: Text = Field(description="cs_…")
