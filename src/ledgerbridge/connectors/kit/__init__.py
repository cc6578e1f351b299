"""What every connector would otherwise write again: HTTP failure handling and retries
(``http``, which words a failed connection through ``ledgerbridge.network``), the keys of the
vendors' call counters (``credentials``), wire values (``values``), code tables (``codes``),
changed-since cursors (``cursors``), references taken from the model (``references``), phone
numbers with their calling code (``phones``) and what a connector is made from (``wiring``)."""
