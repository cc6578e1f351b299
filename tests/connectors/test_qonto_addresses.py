"""Qonto address line 1 ⇄ street, house number and suffix: corpus, edge cases and round trips.

Normalisation on both sides of the round-trip properties: runs of whitespace become one space,
none is kept before a comma, and leading and trailing whitespace go.
"""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledgerbridge.connectors.qonto.addresses import (
    StreetParts,
    join_street,
    override_street,
    split_street,
)

# (country, line, street, number, suffix, certain)
CORPUS: list[tuple[str, str, str | None, str | None, str | None, bool]] = [
    # Netherlands
    ("NL", "Keizersgracht 123-A", "Keizersgracht", "123", "A", True),
    ("NL", "Keizersgracht 123A", "Keizersgracht", "123", "A", True),
    ("NL", "Keizersgracht 123 bis", "Keizersgracht", "123", "bis", True),
    ("NL", "Plein 1940-1945 12", "Plein 1940-1945", "12", None, True),
    ("NL", "Prinsengracht 263 hs", "Prinsengracht", "263", "hs", True),
    ("NL", "Van Woustraat 1 III", "Van Woustraat", "1", "III", True),
    ("NL", "Damrak 12-14", "Damrak", "12", "14", False),
    ("NL", "Postbus", "Postbus", None, None, True),
    ("NL", "Postbus 1234", "Postbus", "1234", None, True),
    ("NL", "2e Hugo de Grootstraat 5", "2e Hugo de Grootstraat", "5", None, True),
    ("NL", "1e Jan Steenstraat 112 a", "1e Jan Steenstraat", "112", "a", True),
    ("NL", "Laan van Meerdervoort 1078", "Laan van Meerdervoort", "1078", None, True),
    ("NL", "Stationsplein 45 bg", "Stationsplein", "45", "bg", True),
    ("NL", "Herengracht  502 ", "Herengracht", "502", None, True),
    ("NL", "Straat 101 Nr 12", "Straat 101", "12", None, True),
    # Belgium, French- and Dutch-speaking
    ("BE", "Rue de la Loi 16 bte 3", "Rue de la Loi", "16", "bte 3", True),
    ("BE", "Rue de la Loi 16 bus 4", "Rue de la Loi", "16", "bus 4", True),
    ("BE", "16, Rue de la Loi", "Rue de la Loi", "16", None, True),
    ("BE", "Rue Royale 12/3", "Rue Royale", "12", "3", True),
    ("BE", "Avenue Louise 54 boîte 12", "Avenue Louise", "54", "boîte 12", True),
    ("BE", "Meir 50 bus 2A", "Meir", "50", "bus 2A", True),
    ("BE", "Grote Markt 1", "Grote Markt", "1", None, True),
    ("BE", "Kouter 7B", "Kouter", "7", "B", True),
    ("BE", "Chaussée de Waterloo 1234", "Chaussée de Waterloo", "1234", None, True),
    # France (number first, comma optional)
    ("FR", "16 rue de la Paix", "rue de la Paix", "16", None, True),
    ("FR", "16, rue de la Paix", "rue de la Paix", "16", None, True),
    ("FR", "16 bis rue de la Paix", "rue de la Paix", "16", "bis", True),
    ("FR", "3ter, avenue Foch", "avenue Foch", "3", "ter", True),
    ("FR", "55 Rue du Faubourg Saint-Honoré", "Rue du Faubourg Saint-Honoré", "55", None, True),
    ("FR", "8 B boulevard Haussmann", "boulevard Haussmann", "8", "B", True),
    ("FR", "2 place du 8 Mai 1945", "place du 8 Mai 1945", "2", None, False),
    ("FR", "Lieu-dit Le Bourg", "Lieu-dit Le Bourg", None, None, True),
    # Denmark
    ("DK", "Hovedgaden 12, 3. tv", "Hovedgaden", "12", "3. tv", True),
    ("DK", "Vesterbrogade 10, st. th.", "Vesterbrogade", "10", "st. th.", True),
    ("DK", "Nørregade 7, 1.", "Nørregade", "7", "1.", True),
    ("DK", "Åboulevarden 3A, 2. mf", "Åboulevarden", "3", "A, 2. mf", False),
    ("DK", "Strøget 48", "Strøget", "48", None, True),
    # Sweden
    ("SE", "Storgatan 12 lgh 1102", "Storgatan", "12", "lgh 1102", True),
    ("SE", "Drottninggatan 5 A", "Drottninggatan", "5", "A", True),
    ("SE", "Sveavägen 44", "Sveavägen", "44", None, True),
    ("SE", "Box 7834", "Box", "7834", None, True),
    # Norway
    ("NO", "Karl Johans gate 22 H0301", "Karl Johans gate", "22", "H0301", True),
    ("NO", "Storgata 5B", "Storgata", "5", "B", True),
    ("NO", "Dronning Eufemias gate 16", "Dronning Eufemias gate", "16", None, True),
    # Germany
    ("DE", "Hauptstraße 5", "Hauptstraße", "5", None, True),
    ("DE", "Berliner Allee 12-14", "Berliner Allee", "12", "14", False),
    ("DE", "Unter den Linden 77", "Unter den Linden", "77", None, True),
    ("DE", "Am Markt 3 b", "Am Markt", "3", "b", True),
    ("DE", "Postfach 10 12 34", "Postfach 10 12", "34", None, False),
]


@pytest.mark.parametrize(("country", "line", "street", "number", "suffix", "certain"), CORPUS)
def test_corpus(
    country: str,
    line: str,
    street: str | None,
    number: str | None,
    suffix: str | None,
    certain: bool,
) -> None:
    parts = split_street(line, country=country)
    assert (parts.street, parts.number, parts.suffix, parts.certain) == (
        street,
        number,
        suffix,
        certain,
    )
    assert parts.original == line
    assert join_street(parts, country=country) == line


def test_corpus_size_and_certainty() -> None:
    """The corpus covers every supported country and keeps its doubtful lines few."""
    assert len(CORPUS) >= 40
    assert {row[0] for row in CORPUS} >= {"NL", "BE", "FR", "DK", "SE", "NO", "DE"}
    assert sum(not row[5] for row in CORPUS) == 5


@pytest.mark.parametrize(
    ("line", "number", "suffix"),
    [("12/3", "12", "3"), ("5 hs", "5", "hs"), ("1 III", "1", "III"), ("12-14", "12", "14")],
)
def test_number_without_street_is_uncertain(line: str, number: str, suffix: str) -> None:
    parts = split_street(line)
    assert (parts.street, parts.number, parts.suffix, parts.certain) == (
        None,
        number,
        suffix,
        False,
    )
    assert join_street(parts) == line


@pytest.mark.parametrize(
    ("line", "country", "street", "number"),
    [
        ("2 place du 8 Mai 1945", "FR", "place du 8 Mai 1945", "2"),
        ("2 place du 8 Mai 1945", "NL", "2 place du 8 Mai", "1945"),
        ("2 place du 8 Mai 1945", None, "2 place du 8 Mai", "1945"),
    ],
)
def test_both_orders_possible_prefers_the_country_and_flags_it(
    line: str, country: str | None, street: str, number: str
) -> None:
    parts = split_street(line, country=country)
    assert (parts.street, parts.number, parts.certain) == (street, number, False)


def test_comma_after_leading_number_settles_the_order() -> None:
    parts = split_street("2, place du 8 Mai 1945")
    assert (parts.street, parts.number, parts.certain) == ("place du 8 Mai 1945", "2", True)


def test_digits_the_rules_cannot_place_stay_in_the_street() -> None:
    parts = split_street("1e Jan Steenstraat")
    assert (parts.street, parts.number, parts.suffix, parts.certain) == (
        "1e Jan Steenstraat",
        None,
        None,
        False,
    )


def test_empty_line() -> None:
    assert split_street("  ") == StreetParts(None, None, None, True, "  ")


@pytest.mark.parametrize(
    ("street", "number", "suffix", "country", "line"),
    [
        ("Keizersgracht", "123", "A", "NL", "Keizersgracht 123A"),
        ("Keizersgracht", "5", "hs", "NL", "Keizersgracht 5 hs"),
        ("Rue Royale", "12", "3", "BE", "Rue Royale 12/3"),
        ("Damrak", "12", "3", "NL", "Damrak 12-3"),
        ("Hovedgaden", "12", "3. tv", "DK", "Hovedgaden 12, 3. tv"),
        ("Storgatan", "12", "lgh 1102", "SE", "Storgatan 12 lgh 1102"),
        ("Karl Johans gate", "22", "H0301", "NO", "Karl Johans gate 22 H0301"),
        ("Hauptstraße", "5", None, "DE", "Hauptstraße 5"),
        ("rue de la Paix", "16", "bis", "FR", "16 bis rue de la Paix"),
        ("rue de la Paix", "16", None, "FR", "16 rue de la Paix"),
        ("Postbus", None, None, "NL", "Postbus"),
        (None, "12", None, "NL", "12"),
        ("  Keizers   gracht ", " 7 ", None, "NL", "Keizers gracht 7"),
    ],
)
def test_join_fresh_fields_per_country(
    street: str | None, number: str | None, suffix: str | None, country: str, line: str
) -> None:
    """Fields edited on the CRM side carry no original and are written the country's way."""
    assert join_street(StreetParts(street, number, suffix, True, ""), country=country) == line


def test_edited_fields_of_a_certain_split_are_joined_afresh() -> None:
    parts = split_street("Keizersgracht 123-A", country="NL")
    edited = StreetParts("Herengracht", parts.number, parts.suffix, True, parts.original)
    assert join_street(edited, country="NL") == "Herengracht 123A"


def test_override_joins_back_to_the_original() -> None:
    line = "Straat 101 Nr 12"
    parts = override_street(line, street="Straat 101 Nr", number="12", suffix=None)
    assert (parts.street, parts.number, parts.suffix, parts.certain) == (
        "Straat 101 Nr",
        "12",
        None,
        False,
    )
    assert join_street(parts, country="NL") == line


# Property tests ----------------------------------------------------------------------------

# No per-example deadline: a slow first example (strategies warming up on a busy machine) is not
# a failure of the property.
_PROPERTY = settings(deadline=None)

_RESERVED = {"bis", "ter", "quater", "huis", "boven", "boite", "boîte", "nummer"}
_WORD = st.from_regex(r"[A-ZÆØÅÄÖÜÉ][a-zæøåäöüéèßô]{3,11}", fullmatch=True).filter(
    lambda word: word.lower() not in _RESERVED
)
_CONNECTIVE = st.sampled_from(["de", "la", "du", "van", "den", "gate", "Johans", "Saint-Jean"])
_STREET = st.lists(st.one_of(_WORD, _CONNECTIVE), min_size=0, max_size=3).flatmap(
    lambda rest: _WORD.map(lambda first: " ".join([first, *rest]))
)
_NUMBER = st.integers(min_value=1, max_value=99999).map(str)
_WHITESPACE = st.sampled_from([" ", "  ", "\t", "\u00a0", " \u00a0 "])
_EDGE = st.sampled_from(["", " ", "\t", "  "])

# (country, suffix, certain): every suffix shape each street-first country writes.
_STREET_FIRST_SUFFIX = st.one_of(
    st.tuples(
        st.sampled_from(["NL", "BE", "DK", "SE", "NO", "DE"]),
        st.one_of(
            st.none(),
            st.from_regex(r"[A-Za-z]", fullmatch=True),
            st.sampled_from(["bis", "ter", "hs", "bg", "II", "III", "IV"]),
        ),
        st.just(True),
    ),
    st.tuples(st.just("NL"), st.integers(1, 9999).map(str), st.just(False)),
    st.tuples(
        st.just("BE"),
        st.one_of(
            st.integers(1, 9999).map(str),
            st.builds("{} {}".format, st.sampled_from(["bus", "bte"]), st.integers(1, 999)),
        ),
        st.just(True),
    ),
    st.tuples(
        st.just("DK"),
        st.builds(
            "{}{}".format,
            st.sampled_from(["st.", "1.", "2.", "12."]),
            st.sampled_from(["", " tv", " th", " mf", " 4"]),
        ),
        st.just(True),
    ),
    st.tuples(st.just("SE"), st.integers(1000, 9999).map("lgh {}".format), st.just(True)),
    st.tuples(st.just("NO"), st.from_regex(r"[HUKL][0-9]{4}", fullmatch=True), st.just(True)),
)


def _noisy(text: str, data: st.DataObject) -> str:
    """The text with each space widened into other whitespace and padding at both ends."""
    pieces = text.split(" ")
    out = data.draw(_EDGE) + pieces[0]
    for piece in pieces[1:]:
        out += data.draw(_WHITESPACE) + piece
    return out + data.draw(_EDGE)


def _normalise(text: str) -> str:
    return re.sub(r" ,", ",", " ".join(text.split()))


@_PROPERTY
@given(st.text())
def test_any_text_joins_back_exactly(line: str) -> None:
    """Whatever the splitter makes of a line, the line itself goes back out unchanged."""
    parts = split_street(line)
    assert parts.original == line
    assert join_street(parts) == line


@_PROPERTY
@given(_STREET, _NUMBER, _STREET_FIRST_SUFFIX, st.data())
def test_street_first_round_trip(
    street: str, number: str, shape: tuple[str, str | None, bool], data: st.DataObject
) -> None:
    country, suffix, certain = shape
    canonical = join_street(StreetParts(street, number, suffix, True, ""), country=country)
    line = _noisy(canonical, data)
    parts = split_street(line, country=country)
    assert (parts.street, parts.number, parts.suffix, parts.certain) == (
        street,
        number,
        suffix,
        certain,
    )
    fresh = StreetParts(parts.street, parts.number, parts.suffix, True, "")
    assert join_street(fresh, country=country) == _normalise(line) == canonical
    assert join_street(parts, country=country) == line


@_PROPERTY
@given(
    _STREET.map(lambda street: "rue " + street),
    _NUMBER,
    st.one_of(
        st.none(),
        st.sampled_from(["bis", "ter", "quater"]),
        st.from_regex(r"[A-Z]", fullmatch=True),
    ),
    st.booleans(),
    st.data(),
)
def test_number_first_round_trip(
    street: str, number: str, suffix: str | None, comma: bool, data: st.DataObject
) -> None:
    canonical = join_street(StreetParts(street, number, suffix, True, ""), country="FR")
    house, _, rest = canonical.rpartition(" rue ")
    line = _noisy(f"{house}{',' if comma else ''} rue {rest}", data)
    parts = split_street(line, country="FR")
    assert (parts.street, parts.number, parts.suffix, parts.certain) == (
        street,
        number,
        suffix,
        True,
    )
    fresh = StreetParts(parts.street, parts.number, parts.suffix, True, "")
    assert join_street(fresh, country="FR") == canonical
    assert _normalise(line).replace(",", "") == canonical


@_PROPERTY
@given(st.text(), st.text() | st.none(), st.text() | st.none(), st.text() | st.none())
def test_override_always_joins_back_exactly(
    line: str, street: str | None, number: str | None, suffix: str | None
) -> None:
    parts = override_street(line, street=street, number=number, suffix=suffix)
    if line:
        assert join_street(parts, country="NL") == line
