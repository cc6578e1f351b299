"""Where a sale's VAT is due, by the country code an order carries: the EU member states, and
the places with an ISO code of their own that are inside another country's VAT territory.

Only what a country code can tell is decided here. Parts of member states outside the EU's
VAT area that share their state's code (the Canary Islands, Ceuta and Melilla with ES;
Büsingen and Heligoland with DE; Campione d'Italia and Livigno with IT; Mount Athos with GR)
cannot be told from the rest of their state and are taxed as it is; those with a code of
their own (Åland AX, Réunion RE, Guadeloupe GP, the Faroe Islands FO, Greenland GL …) are not
in ``EU_COUNTRIES``, so a sale there is an export, as it is for VAT.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from stdnum.eu import vat as eu_vat

__all__ = ["EU_COUNTRIES", "VAT_TERRITORY_OF", "vat_country"]

EU_COUNTRIES: frozenset[str] = frozenset(
    {"GR" if code == "el" else code.upper() for code in eu_vat.MEMBER_STATES if code != "xi"}
)
"""ISO codes of the EU member states (Greece's VAT prefix EL read as GR; Northern Ireland's XI,
which shares only the goods rules, left out)."""

VAT_TERRITORY_OF: Mapping[str, str] = MappingProxyType({"MC": "FR", "IM": "GB"})
"""Countries whose sales are taxed as another's: Monaco is in France's VAT territory (French
VAT applies, and One Stop Shop declares a sale there as France's), the Isle of Man in the
United Kingdom's (UK VAT, outside the EU)."""


def vat_country(country: str | None) -> str | None:
    """The country whose VAT a sale to ``country`` is due in: Monaco's is France's."""
    if country is None:
        return None
    return VAT_TERRITORY_OF.get(country, country)
