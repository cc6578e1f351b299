"""WooCommerce (REST API v3): a shop's orders, refunds and products into the hub, stock out."""
