"""SOAP 1.1/1.2 envelopes as an ASP.NET ASMX service reads and writes them.

Parameters are matched by namespace and exact local name, as .NET's XmlSerializer does: a
``sessionId`` sent where the operation declares ``sessionID`` is simply not seen, so a client
that gets the case wrong fails the way it would against Yuki.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from lxml import etree

from ledgerbridge.sandbox.yuki.state import YukiFault

TNS = "http://www.theyukicompany.com/"
SOAP11_NS = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP12_NS = "http://www.w3.org/2003/05/soap-envelope"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
XSD_NS = "http://www.w3.org/2001/XMLSchema"
SOAP11_MEDIA_TYPE = "text/xml; charset=utf-8"
SOAP12_MEDIA_TYPE = "application/soap+xml; charset=utf-8"
READ_ERROR = "Server was unable to read request. ---> There is an error in XML document. ---> "

_PARSER = etree.XMLParser(
    resolve_entities=False, no_network=True, load_dtd=False, huge_tree=True, remove_comments=True
)

# The result is either text, elements to put inside <OpResult>, or nothing at all.
Result = str | Sequence[etree._Element] | None


@dataclass(frozen=True)
class Envelope:
    """A parsed request: SOAP version ("1.1"/"1.2") and the operation element in the Body."""

    version: str
    operation: etree._Element


def parse_envelope(raw: bytes) -> Envelope:
    """Parse a request body into its SOAP version and first Body child."""
    try:
        root = etree.fromstring(raw, _PARSER)
    except etree.XMLSyntaxError as exc:
        raise YukiFault(f"{READ_ERROR}{exc}") from exc
    namespace = etree.QName(root).namespace
    if etree.QName(root).localname != "Envelope" or namespace not in (SOAP11_NS, SOAP12_NS):
        raise YukiFault(f"{READ_ERROR}The root element is not a SOAP Envelope.")
    version = "1.1" if namespace == SOAP11_NS else "1.2"
    body = root.find(f"{{{namespace}}}Body")
    operation = _first_element(body) if body is not None else None
    if operation is None:
        raise YukiFault(f"{READ_ERROR}The SOAP Body is empty.")
    return Envelope(version, operation)


def version_of(raw: bytes) -> str:
    """Best guess of the SOAP version for a fault about an unparseable request."""
    return "1.2" if SOAP12_NS.encode() in raw[:2048] else "1.1"


def requested_action(version: str, soap_action: str | None, content_type: str) -> str | None:
    """The action a request names: the SOAPAction header (1.1) or the ``action`` parameter of
    the Content-Type (1.2). Surrounding quotes are dropped.
    """
    if version == "1.1":
        return soap_action.strip().strip('"') if soap_action is not None else None
    for part in content_type.split(";")[1:]:
        key, _, value = part.strip().partition("=")
        if key.lower() == "action":
            return value.strip().strip('"')
    return None


def _first_element(parent: etree._Element) -> etree._Element | None:
    """First child that is an element (comments and processing instructions skipped)."""
    for child in parent:
        if isinstance(child.tag, str):
            return child
    return None


class Params:
    """The parameters of one operation element, read with ASMX's rules.

    A missing value-type parameter gets its .NET default (0, false, the first enum member),
    a missing string is ``None``; a malformed value is a read error (a SOAP fault).
    """

    def __init__(self, operation: etree._Element) -> None:
        self._values: dict[str, etree._Element] = {}
        for child in operation:
            if isinstance(child.tag, str):
                qname = etree.QName(child)
                if qname.namespace == TNS and qname.localname not in self._values:
                    self._values[qname.localname] = child

    def _element(self, name: str) -> etree._Element | None:
        """The parameter's element, or ``None`` when absent or ``xsi:nil``."""
        element = self._values.get(name)
        if element is None or element.get(f"{{{XSI_NS}}}nil") in ("true", "1"):
            return None
        return element

    def string(self, name: str) -> str | None:
        """A string parameter, or ``None`` when absent."""
        element = self._element(name)
        return None if element is None else (element.text or "")

    def integer(self, name: str) -> int:
        """An ``s:int`` parameter; 0 when absent."""
        text = self.string(name)
        if text is None:
            return 0
        try:
            return int(text.strip())
        except ValueError as exc:
            raise YukiFault(
                f"{READ_ERROR}Input string '{text}' for {name} was not in a correct format."
            ) from exc

    def boolean(self, name: str) -> bool:
        """An ``s:boolean`` parameter; false when absent."""
        text = self.string(name)
        if text is None:
            return False
        value = text.strip()
        if value not in ("true", "false", "1", "0"):
            raise YukiFault(
                f"{READ_ERROR}The string '{text}' for {name} is not a valid Boolean value."
            )
        return value in ("true", "1")

    def date_time(self, name: str) -> datetime | None:
        """An ``s:dateTime`` parameter (naive when it carries no offset); ``None`` if absent."""
        text = self.string(name)
        if text is None:
            return None
        value = text.strip()
        try:
            return datetime.fromisoformat(value)
        except ValueError as exc:
            raise YukiFault(
                f"{READ_ERROR}The string '{text}' for {name} is not a valid AllXsd value."
            ) from exc

    def enum(self, name: str, type_name: str, members: Sequence[str]) -> str:
        """An enumeration parameter; the first member when absent (the .NET default)."""
        text = self.string(name)
        if text is None:
            return members[0]
        if text not in members:
            raise YukiFault(
                f"{READ_ERROR}Instance validation error: '{text}' is not a valid "
                f"value for {type_name}."
            )
        return text

    def document(self, name: str) -> etree._Element | None:
        """The XML document nested in an ``xmlDoc``-style parameter.

        The document must be a child element; XML sent as escaped text is refused.
        """
        element = self._element(name)
        if element is None:
            return None
        doc = _first_element(element)
        if doc is None and (element.text or "").strip():
            raise YukiFault(
                f"{name} must contain the XML document as child elements, not as escaped text."
            )
        return doc


def response_envelope(version: str, operation: str, result: Result) -> bytes:
    """``<OpResponse><OpResult>…</OpResult></OpResponse>`` in a SOAP envelope.

    ``None`` leaves out the result element (void operations, null strings).
    """
    envelope, body = _envelope(version)
    response = etree.SubElement(body, f"{{{TNS}}}{operation}Response", nsmap={None: TNS})
    if result is not None:
        holder = etree.SubElement(response, f"{{{TNS}}}{operation}Result")
        if isinstance(result, str):
            holder.text = result
        else:
            holder.extend(result)
    return etree.tostring(envelope, xml_declaration=True, encoding="utf-8")


def fault_envelope(version: str, fault: YukiFault) -> bytes:
    """A SOAP fault body, in the form of the version the request used."""
    envelope, body = _envelope(version)
    ns = SOAP11_NS if version == "1.1" else SOAP12_NS
    element = etree.SubElement(body, f"{{{ns}}}Fault")
    if version == "1.1":
        etree.SubElement(element, "faultcode").text = f"soap:{fault.code}"
        etree.SubElement(element, "faultstring").text = fault.faultstring
        etree.SubElement(element, "detail").text = fault.detail or None
    else:
        code = etree.SubElement(element, f"{{{ns}}}Code")
        value = "Sender" if fault.code == "Client" else "Receiver"
        etree.SubElement(code, f"{{{ns}}}Value").text = f"soap:{value}"
        reason = etree.SubElement(element, f"{{{ns}}}Reason")
        text = etree.SubElement(reason, f"{{{ns}}}Text")
        text.set("{http://www.w3.org/XML/1998/namespace}lang", "en")
        text.text = fault.faultstring
        etree.SubElement(element, f"{{{ns}}}Detail").text = fault.detail or None
    return etree.tostring(envelope, xml_declaration=True, encoding="utf-8")


def media_type(version: str) -> str:
    """Content-Type of a response in that SOAP version."""
    return SOAP11_MEDIA_TYPE if version == "1.1" else SOAP12_MEDIA_TYPE


def _envelope(version: str) -> tuple[etree._Element, etree._Element]:
    """An empty envelope (prefix ``soap``, with ``xsi``/``xsd`` declared) and its Body."""
    ns = SOAP11_NS if version == "1.1" else SOAP12_NS
    envelope = etree.Element(f"{{{ns}}}Envelope", nsmap={"soap": ns, "xsi": XSI_NS, "xsd": XSD_NS})
    return envelope, etree.SubElement(envelope, f"{{{ns}}}Body")


def unqualified(parent: etree._Element | None, tag: str, text: str | None = None) -> etree._Element:
    """An element in no namespace that says so (``xmlns=""``) under a default-namespace parent,
    as Yuki writes the XML inside ``…Result`` elements.
    """
    if parent is None:
        element = etree.Element(tag, nsmap={None: ""})
    else:
        element = etree.SubElement(parent, tag, nsmap={None: ""})
    element.text = text
    return element
