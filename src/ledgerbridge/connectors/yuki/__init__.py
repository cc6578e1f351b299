"""Yuki: Dutch and Belgian online bookkeeping, reached through its SOAP web services."""
