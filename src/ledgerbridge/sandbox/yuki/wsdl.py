"""The WSDL documents the sandbox serves at ``/ws/<Service>.asmx?WSDL``.

``Archive.asmx.wsdl`` is Yuki's own, byte for byte; the others are reconstructed (see the
comment at the top of each). The operations a WSDL declares are the SOAP actions the sandbox
recognises for that service.
"""

from __future__ import annotations

import functools
import re
from importlib import resources

from lxml import etree

SERVICES = ("Accounting", "AccountingInfo", "Archive", "Contact", "Sales", "Vat")
_WSDL_NS = "http://schemas.xmlsoap.org/wsdl/"
_ADDRESS = re.compile(rb'(<(?:soap|soap12|http):address location=")[^"]*(")')


@functools.cache
def wsdl_bytes(service: str) -> bytes:
    """The WSDL file as shipped in the package."""
    return (resources.files(__package__) / "wsdl" / f"{service}.asmx.wsdl").read_bytes()


@functools.cache
def operation_docs(service: str) -> dict[str, str]:
    """Operations of the service's SOAP port type, in WSDL order, with their documentation."""
    root = etree.fromstring(wsdl_bytes(service))
    port_type = root.find(f"{{{_WSDL_NS}}}portType[@name='{service}Soap']")
    if port_type is None:
        raise ValueError(f"{service} WSDL has no {service}Soap port type")
    docs: dict[str, str] = {}
    for operation in port_type.iterfind(f"{{{_WSDL_NS}}}operation"):
        doc = operation.find(f"{{{_WSDL_NS}}}documentation")
        docs[operation.get("name", "")] = (doc.text or "") if doc is not None else ""
    return docs


def served_wsdl(service: str, location: str) -> bytes:
    """The WSDL with every port address pointing at ``location``, as ASMX renders it for the
    host the client asked, so a client following the WSDL calls the sandbox.
    """
    replacement = rb"\g<1>" + location.encode().replace(b"\\", b"\\\\") + rb"\g<2>"
    return _ADDRESS.sub(replacement, wsdl_bytes(service))
