"""Keys of the vendors' call counters: one key per counter the vendor really keeps, whatever
spelling of its address a connection was saved with."""

from __future__ import annotations

from urllib.parse import urlsplit

DEFAULT_PORTS = {"http": 80, "https": 443}


def host_of(url: str) -> str:
    """The host a base URL reaches, as the vendor's counter sees it: lower case, without the
    scheme, path or trailing slash, with the port only when it is not the scheme's default
    ("HTTPS://Odata.Uniconta.com:443/" → "odata.uniconta.com")."""
    text = url.strip()
    parts = urlsplit(text if "//" in text else f"https://{text}")
    host = (parts.hostname or "").lower()
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:
        port = None
    if port is not None and port != DEFAULT_PORTS.get(scheme):
        return f"{host}:{port}"
    return host


def counter_key(system: str, base_url: str, *identity: object) -> str:
    """``system:host:identity…``: the counter of ``identity`` (a user, a domain) at the host
    ``base_url`` reaches. Identities are compared without case or surrounding spaces, as the
    vendors compare log-ins and ids."""
    parts = [system, host_of(base_url), *(str(part or "").strip().lower() for part in identity)]
    return ":".join(parts)
