"""What every connector would otherwise write again: HTTP failure handling and retries
(``http``), failed connections in plain words (``network``, which the invoice mail's SMTP
uses too), the keys of the vendors' call counters (``credentials``), wire values
(``values``), code tables (``codes``), changed-since cursors (``cursors``), references taken
from the model (``references``) and what a connector is made from (``wiring``)."""
