"""Stripe as an acquirer: its payouts and the movements each pays out."""
