"""ledgerbridge: keeps a business app and its accounting system aligned."""
