"""Commerce flows: the policies that turn a shop's orders, refunds and payments into accounting
records, and the per-connection mapping rules applied to orders before them.

Pure functions over canonical records: they decide, they never call a system.
"""
