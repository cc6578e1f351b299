"""What the connectors' clients share: HTTP failure handling and retries (``http``) and the keys
of the vendors' call counters (``credentials``)."""
