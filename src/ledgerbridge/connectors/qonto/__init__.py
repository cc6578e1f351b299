"""Qonto: European business finance platform; customers and invoices synced with a CRM."""
