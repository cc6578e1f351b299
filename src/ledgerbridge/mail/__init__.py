"""Invoice mail: the templates (``render``), the PDF layouts ledgerbridge prints itself
(``pdf``) and the SMTP sender (``smtp``).

Pure parts over plain values and the canonical model: what to send and when is the runtime's
(``runtime/mail.py``), how a connection configures it the connector settings'.
"""
