"""Vipps MobilePay (Report API): payouts of a ledger, read from its funds and fees feeds."""
