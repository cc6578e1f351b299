"""Address line 1 ⇄ street, house number and suffix, for Qonto's one-line addresses.

Qonto keeps a free-text "address line 1"; the CRM side keeps Street, HouseNumber and
HouseNumberSuffix. No library splits European lines offline (libpostal needs a C library and a
2 GB model), so this is a small token-based splitter whose rules are, in order:

1. A line that is only a number and a suffix ("12/3", "5 hs") has no street.
2. Street first (NL, BE, DE, DK, SE, NO): the house number is the leftmost token after the first
   that starts with digits and is followed only by a suffix, so "Plein 1940-1945 12" keeps its
   years in the street. A marker word just before the number ("Nr", "No.", "n°") is dropped.
3. Number first (FR, LU, MC; comma optional): "16 rue de la Paix", "16 bis, rue de la Paix".
4. A line without digits is all street ("Postbus").

Suffixes are: one letter ("123A", "123 A"), a letter or number after a hyphen or slash
("123-A", "12/3"), "bis"/"ter"/"quater", "hs", Roman floor numbers ("1 III"), Belgian and
Swedish box and flat numbers ("bte 3", "bus 4", "lgh 1102"), Norwegian flat numbers ("H0301")
and Danish floor and door ("12, 3. tv"). The suffix is stored without its separator; joining
picks the separator from its shape and the country.

A split is *uncertain* when another reading is as likely: "12-14" (a range, or number 12 with
addition 14), a street ending in a bare number ("Postfach 10 12 34"), a line readable both
number-first and street-first, a number without a street, or digits the rules cannot place.
An uncertain split still fills the fields with the best reading, and keeps the original text,
which is what goes back out.

Only whitespace is normalised: runs of whitespace become one space and none is kept before a
comma.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["StreetParts", "join_street", "override_street", "split_street"]

# Countries that write the house number before the street ("16, rue de la Paix").
_NUMBER_FIRST_COUNTRIES = frozenset({"FR", "LU", "MC"})

_SUFFIX_WORDS = frozenset({"bis", "ter", "quater", "hs", "huis", "bg", "boven", "bov"})
_LATIN_SUFFIXES = frozenset({"bis", "ter", "quater"})
_MARKERS = frozenset({"nr", "nr.", "no", "no.", "n°", "nº", "nummer"})

_LETTER = re.compile(r"[^\W\d_]")
_ROMAN = re.compile(r"[IVX]{1,4}")
_BOX = re.compile(
    r"(?:bus|bte\.?|boîte|boite|bt|box|lgh\.?|app\.?|apt\.?|appt\.?) ?[^\W_]{1,6}", re.IGNORECASE
)
_NORWEGIAN_FLAT = re.compile(r"[HUKL][0-9]{4}")
_DANISH_FLOOR = re.compile(
    r"(?:[0-9]{1,2}\.|st\.?|kl\.?|kld\.?)(?: ?(?:tv|th|mf|[0-9]{1,3})\.?)?", re.I
)
_HOUSE_NUMBER = re.compile(r"([0-9]{1,5})(.*)")
_NUMBER_FIRST = re.compile(
    r"(?P<number>[0-9]{1,5})"
    r"(?:(?P<attached>(?i:bis|ter|quater)|[A-Z])| (?P<spaced>(?i:bis|ter|quater)|[A-Z]))?"
    r"(?P<comma>,)? (?P<street>[^0-9 ,].*)"
)


@dataclass(frozen=True)
class StreetParts:
    """One address line split into its parts, with the text it came from.

    ``certain`` is False when the rules found more than one reading, or when a person chose the
    parts (see :func:`override_street`); either way the line goes back out as ``original``.
    Parts for fields edited on the CRM side are built afresh, with ``certain=True`` and an
    empty ``original``, so that they are joined from the fields.
    """

    street: str | None
    number: str | None
    suffix: str | None
    certain: bool
    original: str


def split_street(line: str, *, country: str | None = None) -> StreetParts:
    """Split address line 1 into street, house number and suffix.

    ``country`` (ISO 3166 alpha-2) only decides between a number-first and a street-first
    reading when a line allows both; the line is flagged uncertain then.
    """
    text = _normalise(line)
    if not text:
        return StreetParts(None, None, None, True, line)
    alone = _HOUSE_NUMBER.fullmatch(text)
    found = _suffix(alone.group(2)) if alone else None
    if alone and found:
        return StreetParts(None, alone.group(1), found[0], False, line)
    street_first = _street_first(text.split(" "), line)
    number_first, comma = _number_first(text, line)
    if street_first and number_first:
        # A comma after a leading number settles it: "16, rue du 8 Mai 1945".
        if comma:
            return number_first
        preferred = number_first if _country(country) in _NUMBER_FIRST_COUNTRIES else street_first
        return StreetParts(preferred.street, preferred.number, preferred.suffix, False, line)
    if street_first is not None:
        return street_first
    if number_first is not None:
        return number_first
    return StreetParts(text, None, None, not re.search(r"[0-9]", text), line)


def join_street(parts: StreetParts, *, country: str | None = None) -> str:
    """Address line 1 for the parts, written the country's way.

    An uncertain or overridden split gives back its original text exactly, and so does a
    certain split whose fields are unchanged: re-writing "Keizersgracht 123-A" as
    "Keizersgracht 123A" in the customer's books would be a change nobody asked for.
    """
    if parts.original and (
        not parts.certain
        or _fields(split_street(parts.original, country=country)) == _fields(parts)
    ):
        return parts.original
    street = _normalise(parts.street or "")
    number = _normalise(parts.number or "")
    suffix = _normalise(parts.suffix or "")
    house = number + _separator(suffix, country) + suffix if number and suffix else number or suffix
    if not street or not house:
        return street or house
    if _country(country) in _NUMBER_FIRST_COUNTRIES:
        return f"{house} {street}"
    return f"{street} {house}"


def override_street(
    line: str, *, street: str | None, number: str | None, suffix: str | None
) -> StreetParts:
    """A person's split of one record's line; it joins back to that line exactly."""
    return StreetParts(street, number, suffix, False, line)


def _normalise(text: str) -> str:
    """Whitespace collapsed, so that "Keizersgracht  123 ,A" and its tidy form split alike."""
    return re.sub(r" ,", ",", " ".join(text.split()))


def _country(country: str | None) -> str:
    return (country or "").strip().upper()


def _fields(parts: StreetParts) -> tuple[str | None, str | None, str | None]:
    return parts.street, parts.number, parts.suffix


def _is_suffix_phrase(text: str) -> bool:
    """Whether a space- or comma-separated phrase after a house number is a suffix."""
    return bool(
        text.lower() in _SUFFIX_WORDS
        or _LETTER.fullmatch(text)
        or _ROMAN.fullmatch(text)
        or _BOX.fullmatch(text)
        or _NORWEGIAN_FLAT.fullmatch(text)
        or _DANISH_FLOOR.fullmatch(text)
    )


def _suffix(rest: str) -> tuple[str | None, bool] | None:
    """The suffix in the text after a number's digits, and whether it reads only one way.

    None when the text is not a suffix, so the digits are not the house number.
    """
    if not rest:
        return None, True
    if _LETTER.fullmatch(rest) or rest.lower() in _LATIN_SUFFIXES:
        return rest, True
    mark, tail = rest[0], rest[1:]
    if mark == "-" and re.fullmatch(r"[^\W\d_]{1,3}", tail):
        return tail, True
    if mark == "-" and re.fullmatch(r"[0-9]{1,4}", tail):
        return tail, False
    if mark == "/" and re.fullmatch(r"[^\W_]{1,4}", tail):
        return tail, True
    phrase = re.fullmatch(r"(?:, ?| )(.+)", rest)
    if phrase and _is_suffix_phrase(phrase.group(1)):
        return phrase.group(1), True
    lettered = re.fullmatch(r"[^\W\d_](?:, ?| )(.+)", rest)
    if lettered and _is_suffix_phrase(lettered.group(1)):
        return rest, False
    return None


def _street_first(tokens: list[str], line: str) -> StreetParts | None:
    """The leftmost street-then-number reading, if any."""
    for index in range(1, len(tokens)):
        number = _HOUSE_NUMBER.fullmatch(tokens[index])
        if not number:
            continue
        found = _suffix(number.group(2) + "".join(" " + t for t in tokens[index + 1 :]))
        if found is None:
            continue
        suffix, certain = found
        street = tokens[:index]
        # "Postfach 10 12 34": the number could as well be any of the bare numbers.
        certain = certain and not re.fullmatch(r"[0-9]+,?", street[-1])
        if len(street) > 1 and street[-1].lower() in _MARKERS:
            street = street[:-1]
        return StreetParts(" ".join(street).rstrip(","), number.group(1), suffix, certain, line)
    return None


def _number_first(text: str, line: str) -> tuple[StreetParts | None, bool]:
    """The number-then-street reading ("16 bis, rue de la Paix"), if any, and its comma."""
    match = _NUMBER_FIRST.fullmatch(text)
    if not match or len(_LETTER.findall(match["street"])) < 2:
        return None, False
    suffix = match["attached"] or match["spaced"]
    parts = StreetParts(match["street"], match["number"], suffix, True, line)
    return parts, bool(match["comma"])


def _separator(suffix: str, country: str | None) -> str:
    """How a suffix is written after the number: "123A", "16 bte 3", "12, 3. tv", "12/3"."""
    if _DANISH_FLOOR.fullmatch(suffix):
        return ", "
    if _LETTER.fullmatch(suffix):
        return ""
    if re.fullmatch(r"[0-9]+", suffix):
        return "/" if _country(country) == "BE" else "-"
    return " "
