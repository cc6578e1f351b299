"""CSDL ``$metadata`` generated from the entity catalogue.

Uniconta's only machine-readable API description is its live ``$metadata`` document; a client
that reads it (or just follows ``@odata.context``) should find one here too.
"""

from __future__ import annotations

from ledgerbridge.sandbox.uniconta.entities import CATALOGUE, LOGIN_CATALOGUE
from ledgerbridge.sandbox.uniconta.enums import ALL_ENUMS

ENTITY_NAMESPACE = "Uniconta.ClientTools.DataModel"
_EDMX = "http://docs.oasis-open.org/odata/ns/edmx"
_EDM = "http://docs.oasis-open.org/odata/ns/edm"


def metadata_xml() -> str:
    """The CSDL (OData v4 XML) document describing every simulated entity set."""
    lines = [
        '<?xml version="1.0" encoding="utf-8"?>',
        f'<edmx:Edmx Version="4.0" xmlns:edmx="{_EDMX}">',
        "<edmx:DataServices>",
    ]
    namespaces = sorted({definition.namespace for definition in ALL_ENUMS})
    for namespace in namespaces:
        lines.append(f'<Schema Namespace="{namespace}" xmlns="{_EDM}">')
        for definition in ALL_ENUMS:
            if definition.namespace != namespace:
                continue
            lines.append(f'<EnumType Name="{definition.name}">')
            lines.extend(
                f'<Member Name="{member}" Value="{value}"/>'
                for value, member in enumerate(definition.members)
            )
            lines.append("</EnumType>")
        lines.append("</Schema>")
    lines.append(f'<Schema Namespace="{ENTITY_NAMESPACE}" xmlns="{_EDM}">')
    entities = (*CATALOGUE, *LOGIN_CATALOGUE)
    for entity in entities:
        lines.append(f'<EntityType Name="{entity.name}">')
        refs = "".join(f'<PropertyRef Name="{key}"/>' for key in entity.keys)
        lines.append(f"<Key>{refs}</Key>")
        for name, ftype in entity.fields.items():
            nullable = "true" if ftype.nullable and name not in entity.keys else "false"
            lines.append(f'<Property Name="{name}" Type="{ftype.edm_type}" Nullable="{nullable}"/>')
        lines.append("</EntityType>")
    lines.append('<EntityContainer Name="Container">')
    lines.extend(
        f'<EntitySet Name="{entity.name}" EntityType="{ENTITY_NAMESPACE}.{entity.name}"/>'
        for entity in entities
    )
    lines.extend(["</EntityContainer>", "</Schema>", "</edmx:DataServices>", "</edmx:Edmx>"])
    return "\n".join(lines) + "\n"
