"""Files: orders and refunds a shop without an API sends as CSV or XML files (uploaded, or
dropped into a watched folder). The connector only names the streams and how their records
are keyed; reading the files is ``commerce.files``, importing them the runtime's file jobs."""
