"""Zettle (PayPal Zettle) POS: sales and refunds in, card payouts in."""
