"""Qonto full name ⇄ first, middle and last name: corpus, edge cases and round trips.

Normalisation on both sides of the round-trip properties: runs of whitespace become one space,
and leading and trailing whitespace go. A "Last, First" name is compared in natural order.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledgerbridge.connectors.qonto.names import (
    NameParts,
    is_infix,
    join_name,
    join_name_parts,
    override_name,
    split_infix,
    split_name,
)

# (country, full name, first, middle, last, certain)
CORPUS: list[tuple[str, str, str | None, str | None, str | None, bool]] = [
    # Netherlands
    ("NL", "Jan van der Berg", "Jan", None, "van der Berg", True),
    ("NL", "Dr. Pieter J. van 't Hoff", "Pieter", "J.", "van 't Hoff", True),
    ("NL", "Berg, Jan van der", "Jan", None, "van der Berg", True),
    ("NL", "Jan Peter Balkenende", "Jan", "Peter", "Balkenende", True),
    ("NL", "J.P. Balkenende", "J.P.", None, "Balkenende", True),
    ("NL", "Mevr. A.M. de Vries-Jansen", "A.M.", None, "de Vries-Jansen", True),
    ("NL", "Sanne Jansen-van der Berg", "Sanne", None, "Jansen-van der Berg", True),
    ("NL", "Kees in ’t Veld", "Kees", None, "in ’t Veld", True),
    ("NL", "prof.dr.ir. Willem ter Horst", "Willem", None, "ter Horst", True),
    ("NL", "Gerrit Jansen jr.", "Gerrit", None, "Jansen jr.", True),
    ("NL", "Hans de Boer RA", "Hans", None, "de Boer", True),
    ("NL", "Joost van der Ra", "Joost", None, "van der Ra", True),
    ("NL", "Vries, dhr. Klaas de", "Klaas", None, "de Vries", True),
    ("NL", "Bakker", None, None, "Bakker", False),
    # Belgium
    ("BE", "Pieter Van den Bossche", "Pieter", None, "Van den Bossche", True),
    ("BE", "Jean-Luc Dehaene", "Jean-Luc", None, "Dehaene", True),
    ("BE", "Marie Vanden Broeck", "Marie", None, "Vanden Broeck", True),
    ("BE", "Sofie De Smet", "Sofie", None, "De Smet", True),
    ("BE", "De Smet", None, None, "De Smet", False),
    ("BE", "Luc Van Hoof", "Luc", None, "Van Hoof", True),
    # France
    ("FR", "Jean-Pierre Dupont", "Jean-Pierre", None, "Dupont", True),
    ("FR", "Marie-Claire de la Tour", "Marie-Claire", None, "de la Tour", True),
    ("FR", "Anne-Sophie du Pont", "Anne-Sophie", None, "du Pont", True),
    ("FR", "Jeanne d'Arc", "Jeanne", None, "d'Arc", True),
    ("FR", "Charles de Gaulle", "Charles", None, "de Gaulle", True),
    ("FR", "Mme Sophie Martin", "Sophie", None, "Martin", True),
    ("FR", "Valéry Giscard d'Estaing", "Valéry", "Giscard", "d'Estaing", False),
    ("FR", "Dupont, Jean-Pierre", "Jean-Pierre", None, "Dupont", True),
    # Denmark
    ("DK", "Lars Løkke Rasmussen", "Lars", "Løkke", "Rasmussen", False),
    ("DK", "Mette Frederiksen", "Mette", None, "Frederiksen", True),
    ("DK", "Rasmussen, Lars Løkke", "Lars", "Løkke", "Rasmussen", True),
    ("DK", "Søren A. Kierkegaard", "Søren", "A.", "Kierkegaard", True),
    # Sweden
    ("SE", "Hilma af Klint", "Hilma", None, "af Klint", True),
    ("SE", "Anna Karin Lindström", "Anna", "Karin", "Lindström", False),
    ("SE", "Åsa Öberg", "Åsa", None, "Öberg", True),
    ("SE", "Fru Ingrid Bergman", "Ingrid", None, "Bergman", True),
    # Norway
    ("NO", "Jonas Gahr Støre", "Jonas", "Gahr", "Støre", False),
    ("NO", "Erna Solberg", "Erna", None, "Solberg", True),
    ("NO", "Kari Nordmann", "Kari", None, "Nordmann", True),
    # Germany
    ("DE", "Johann Wolfgang von Goethe", "Johann", "Wolfgang", "von Goethe", True),
    ("DE", "Dr. Angela Merkel", "Angela", None, "Merkel", True),
    ("DE", "Dipl.-Ing. Jürgen Müller", "Jürgen", None, "Müller", True),
    ("DE", "Karl-Theodor zu Guttenberg", "Karl-Theodor", None, "zu Guttenberg", True),
    ("DE", "Herr Dr. Hans Meier", "Hans", None, "Meier", True),
]


@pytest.mark.parametrize(("country", "full", "first", "middle", "last", "certain"), CORPUS)
def test_corpus(
    country: str,
    full: str,
    first: str | None,
    middle: str | None,
    last: str | None,
    certain: bool,
) -> None:
    parts = split_name(full, country=country)
    assert (parts.first, parts.middle, parts.last, parts.certain) == (first, middle, last, certain)
    assert parts.original == full
    assert join_name_parts(parts, country=country) == full


def test_corpus_size_and_certainty() -> None:
    """The corpus covers every supported country and keeps its doubtful names few."""
    assert len(CORPUS) >= 40
    assert {row[0] for row in CORPUS} >= {"NL", "BE", "FR", "DK", "SE", "NO", "DE"}
    assert sum(not row[5] for row in CORPUS) == 6


@pytest.mark.parametrize(
    ("country", "certain"), [(None, False), ("DK", False), ("SE", False), ("NL", True)]
)
def test_double_surname_or_middle_name_depends_on_the_country(
    country: str | None, certain: bool
) -> None:
    parts = split_name("Lars Løkke Rasmussen", country=country)
    assert (parts.first, parts.middle, parts.last) == ("Lars", "Løkke", "Rasmussen")
    assert parts.certain is certain


@pytest.mark.parametrize(
    ("full", "last"),
    [("Jansen, jr.", "Jansen jr."), ("a, b, c", "a, b, c"), ("Berg, van der", "van der Berg")],
)
def test_comma_forms_that_cannot_be_turned_round_are_uncertain(full: str, last: str) -> None:
    parts = split_name(full)
    assert (parts.first, parts.middle, parts.last, parts.certain) == (None, None, last, False)
    assert join_name_parts(parts) == full


def test_empty_name() -> None:
    assert split_name(" ") == NameParts(None, None, None, True, " ")


@pytest.mark.parametrize(
    ("first", "middle", "last", "full"),
    [
        ("Jan", None, "van der Berg", "Jan van der Berg"),
        ("Pieter", "J.", "van 't Hoff", "Pieter J. van 't Hoff"),
        (None, None, "Bakker", "Bakker"),
        (" Anne ", "", "  de  Vries ", "Anne de Vries"),
        (None, None, None, ""),
    ],
)
def test_join_name(first: str | None, middle: str | None, last: str | None, full: str) -> None:
    assert join_name(first, middle, last) == full


def test_edited_fields_of_a_certain_split_are_joined_afresh() -> None:
    parts = split_name("Dr. Pieter J. van 't Hoff")
    assert join_name_parts(parts) == "Dr. Pieter J. van 't Hoff"
    edited = NameParts("Jacobus", parts.middle, parts.last, True, parts.original)
    assert join_name_parts(edited) == "Jacobus J. van 't Hoff"


def test_override_joins_back_to_the_original() -> None:
    parts = override_name("Lars Løkke Rasmussen", first="Lars", middle=None, last="Løkke Rasmussen")
    assert (parts.first, parts.middle, parts.last, parts.certain) == (
        "Lars",
        None,
        "Løkke Rasmussen",
        False,
    )
    assert join_name_parts(parts, country="DK") == "Lars Løkke Rasmussen"


@pytest.mark.parametrize(
    ("last", "infix", "rest"),
    [
        ("van der Berg", "van der", "Berg"),
        ("van 't Hoff", "van 't", "Hoff"),
        ("Van den Bossche", "Van den", "Bossche"),
        ("Jansen-van der Berg", None, "Jansen-van der Berg"),
        ("Dupont", None, "Dupont"),
        ("van", None, "van"),
    ],
)
def test_split_infix(last: str, infix: str | None, rest: str) -> None:
    assert split_infix(last) == (infix, rest)


# Property tests ----------------------------------------------------------------------------

# No per-example deadline: a slow first example (strategies warming up on a busy machine) is not
# a failure of the property.
_PROPERTY = settings(deadline=None)

# Generated words are five letters or more, so they miss the short particles and titles; these
# are the longer reserved words they could still hit.
_RESERVED = {"vanden", "vander", "della", "madame", "monsieur", "mevrouw", "meneer"}
_WORD = st.from_regex(r"[A-ZÆØÅÄÖÜÉ][a-zæøåäöüéèß]{4,11}", fullmatch=True).filter(
    lambda word: word.lower() not in _RESERVED
)
_GIVEN = st.one_of(
    _WORD,
    st.sampled_from(["Jean-Pierre", "Marie-Claire", "Anne-Sofie", "Karl-Theodor", "Søren"]),
)
_INITIALS = st.sampled_from(["J.", "A.M.", "Th.", "J.-P.", "K."])
_PARTICLE = st.sampled_from(
    ["van", "van der", "van den", "van 't", "de", "de la", "du", "ter", "von", "af", "Van den"]
)
_SURNAME = st.one_of(_WORD, st.builds("{}-{}".format, _WORD, _WORD), _WORD.map("d'{}".format))
_WHITESPACE = st.sampled_from([" ", "  ", "\t", "\u00a0"])
_EDGE = st.sampled_from(["", " ", "\t"])


def _noisy(text: str, data: st.DataObject) -> str:
    """The text with each space widened into other whitespace and padding at both ends."""
    pieces = text.split(" ")
    out = data.draw(_EDGE) + pieces[0]
    for piece in pieces[1:]:
        out += data.draw(_WHITESPACE) + piece
    return out + data.draw(_EDGE)


def _normalise(text: str) -> str:
    return " ".join(text.split())


@_PROPERTY
@given(st.text(), st.sampled_from([None, "NL", "BE", "FR", "DK", "SE", "NO", "DE"]))
def test_any_text_joins_back_exactly(full: str, country: str | None) -> None:
    """Whatever the splitter makes of a name, the name itself goes back out unchanged."""
    parts = split_name(full, country=country)
    assert parts.original == full
    assert join_name_parts(parts, country=country) == full


@_PROPERTY
@given(
    _GIVEN,
    st.lists(_INITIALS, max_size=2),
    st.one_of(st.none(), _PARTICLE),
    _SURNAME,
    st.sampled_from([None, "NL", "BE", "FR", "DK", "SE", "NO", "DE"]),
    st.data(),
)
def test_natural_order_round_trip(
    first: str,
    initials: list[str],
    particle: str | None,
    surname: str,
    country: str | None,
    data: st.DataObject,
) -> None:
    """First name, initials, particles and surname split certainly in every country."""
    last = f"{particle} {surname}" if particle else surname
    middle = " ".join(initials) or None
    full = _noisy(join_name(first, middle, last), data)
    parts = split_name(full, country=country)
    assert (parts.first, parts.middle, parts.last, parts.certain) == (first, middle, last, True)
    assert join_name(parts.first, parts.middle, parts.last) == _normalise(full)


@_PROPERTY
@given(
    _GIVEN,
    st.lists(_WORD, min_size=1, max_size=2),
    st.one_of(st.none(), _PARTICLE),
    _WORD,
    st.sampled_from([None, "FR", "DK", "SE", "NO", "NL", "BE", "DE"]),
    st.data(),
)
def test_middle_names_are_certain_only_where_double_surnames_are_rare(
    first: str,
    middles: list[str],
    particle: str | None,
    surname: str,
    country: str | None,
    data: st.DataObject,
) -> None:
    last = f"{particle} {surname}" if particle else surname
    middle = " ".join(middles)
    full = _noisy(join_name(first, middle, last), data)
    parts = split_name(full, country=country)
    assert (parts.first, parts.middle, parts.last) == (first, middle, last)
    assert parts.certain is (country in {"NL", "BE", "DE"})
    assert join_name(parts.first, parts.middle, parts.last) == _normalise(full)
    assert join_name_parts(parts, country=country) == full


@_PROPERTY
@given(
    _GIVEN,
    st.one_of(st.none(), _WORD),
    st.one_of(st.none(), _PARTICLE),
    _WORD,
    st.data(),
)
def test_last_comma_first_round_trip(
    first: str, middle: str | None, particle: str | None, surname: str, data: st.DataObject
) -> None:
    """ "Berg, Jan van der" splits like "Jan van der Berg" and joins in that order."""
    given_part = " ".join(p for p in (first, middle, particle) if p)
    full = _noisy(f"{surname}, {given_part}", data)
    last = f"{particle} {surname}" if particle else surname
    parts = split_name(full)
    assert (parts.first, parts.middle, parts.last, parts.certain) == (first, middle, last, True)
    assert join_name(parts.first, parts.middle, parts.last) == join_name(first, middle, last)
    assert join_name_parts(parts) == full


@_PROPERTY
@given(st.text(), st.text() | st.none(), st.text() | st.none(), st.text() | st.none())
def test_override_always_joins_back_exactly(
    full: str, first: str | None, middle: str | None, last: str | None
) -> None:
    parts = override_name(full, first=first, middle=middle, last=last)
    if full:
        assert join_name_parts(parts, country="NL") == full


@pytest.mark.parametrize(
    ("middle", "infix"),
    [("van der", True), ("in ’t", True), ("De", True), ("Peter", False), ("J.", False),
     ("van Peter", False), ("", False)],
)  # fmt: skip
def test_is_infix(middle: str, infix: bool) -> None:
    assert is_infix(middle) is infix
