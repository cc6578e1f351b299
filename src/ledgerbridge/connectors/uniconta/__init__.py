"""Uniconta: Nordic cloud ERP, reached through its OData/REST API."""
