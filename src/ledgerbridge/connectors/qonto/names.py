"""Full name ⇄ first, middle and last name, for Dutch, Belgian, French, German and Nordic names.

Qonto and the CRM side hold a person's name differently, so a full name has to be split and
rebuilt. The rules are token-based rather than nameparser's, because a sync needs to know
exactly which readings are doubtful, and to give the text back unchanged when they are:

- Infixes stay in the last name: "Jan van der Berg" → first "Jan", last "van der Berg", and
  ``middle`` holds given middle names ("J." in "Pieter J. van 't Hoff"); in Belgium the
  particle is part of the registered surname ("Van den Bossche"). A side with a separate
  infix field (the CRM's Middelname) takes it off with :func:`split_infix`.
- The surname starts at the first particle after the first given name: "van", "van den", "de",
  "de la", "du", "d'", "ter", "von", "af", … or a hyphenated double name ending in one
  ("Jansen-van der Berg"). A fused "d'Estaing" starts it too.
- "Last, First" is turned round, and particles after the given names move to the surname:
  "Berg, Jan van der" → first "Jan", last "van der Berg".
- Leading titles ("Dr.", "prof.dr.ir.", "Mevr.") and trailing post-nominals ("MSc", "RA") are
  dropped: the canonical Party has no field for them. "jr."/"sr." stay in the last name.
- Hyphenated given names are one first name ("Jean-Pierre").

A split is *uncertain* when the boundary between given names and surname can be read more than
one way: "Lars Løkke Rasmussen" has a middle name or a double surname, and in the Nordic
countries (and for an unknown country) both are common. Non-initial middle names are taken as
given names only for NL, BE, DE, AT, LU and CH, where unhyphenated double surnames are rare.
A single word, a name starting with a particle and more than one comma are uncertain too.
An uncertain split keeps the best reading in its fields and the original text for the way back.

Only whitespace is normalised: runs of whitespace become one space.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = [
    "NameParts",
    "is_infix",
    "join_name",
    "join_name_parts",
    "override_name",
    "split_infix",
    "split_name",
]

# Where a second given name written out in full is a given name, not half of a double surname.
_MIDDLE_NAME_COUNTRIES = frozenset({"NL", "BE", "DE", "AT", "LU", "CH"})

_PARTICLES = frozenset(
    {
        "van", "von", "vom", "zu", "zum", "zur", "de", "den", "der", "des", "du", "la", "le",
        "les", "ter", "ten", "te", "'t", "d'", "di", "da", "del", "della", "dos", "das", "af",
        "av", "in", "op", "aan", "bij", "uit", "vanden", "vander",
    }
)  # fmt: skip
_TITLES = frozenset(
    {
        "dr", "prof", "mr", "mrs", "ms", "dhr", "mevr", "mw", "ir", "ing", "drs", "ds", "mme",
        "mlle", "herr", "frau", "fru", "hr", "sir", "madame", "monsieur", "mevrouw", "meneer",
        "dipl.-ing",
    }
)  # fmt: skip
_POST_NOMINALS = frozenset({"msc", "bsc", "mba", "phd", "llm", "ll.m.", "ra"})
_GENERATIONS = frozenset({"jr", "jr.", "sr", "sr.", "ii", "iii", "iv"})
_INITIALS = re.compile(r"(?:[^\W\d_]{1,3}\.-?)+")


@dataclass(frozen=True)
class NameParts:
    """One full name split into its parts, with the text it came from.

    ``certain`` is False when the name reads more than one way, or when a person chose the
    parts (see :func:`override_name`); either way :func:`join_name_parts` gives back
    ``original``.
    """

    first: str | None
    middle: str | None
    last: str | None
    certain: bool
    original: str


def split_name(full: str, *, country: str | None = None) -> NameParts:
    """Split a full name into first, middle and last name.

    ``country`` (ISO 3166 alpha-2) says whether "Jan Peter Jansen" has a middle name (NL) or
    may have a double surname (DK, SE, NO, or unknown).
    """
    text = _normalise(full)
    if not text:
        return NameParts(None, None, None, True, full)
    segments = [segment.strip() for segment in text.split(",")]
    generations: list[str] = []
    while len(segments) > 1 and _is_trailer(segments[-1].split()):
        generations = [t for t in segments.pop().split() if _key(t) in _GENERATIONS] + generations
    if len(segments) > 2 or not all(segments):
        return NameParts(None, None, text, False, full)
    if len(segments) == 2:
        return _split_inverted(segments[0].split(), segments[1].split(), generations, full)
    return _split_natural(segments[0].split(), generations, _country(country), full)


def join_name(first: str | None, middle: str | None, last: str | None) -> str:
    """The full name in natural order, with whitespace collapsed and empty parts left out."""
    return " ".join(part for part in map(_normalise, (first, middle, last)) if part)


def join_name_parts(parts: NameParts, *, country: str | None = None) -> str:
    """The full name to send for a split.

    An uncertain or overridden split gives back its original text exactly, and so does a
    certain split whose fields are unchanged, so "Dr. Pieter J. van 't Hoff" keeps its title
    and "Berg, Jan van der" its order. Edited fields are joined with :func:`join_name`.
    """
    if parts.original and (
        not parts.certain or _fields(split_name(parts.original, country=country)) == _fields(parts)
    ):
        return parts.original
    return join_name(parts.first, parts.middle, parts.last)


def override_name(
    full: str, *, first: str | None, middle: str | None, last: str | None
) -> NameParts:
    """A person's split of one record's name; it joins back to that name exactly."""
    return NameParts(first, middle, last, False, full)


def split_infix(last: str) -> tuple[str | None, str]:
    """The infix (tussenvoegsel) and the rest of a last name: "van der Berg" → "van der", "Berg".

    For targets that keep the infix in a field of its own.
    """
    tokens = _normalise(last).split()
    count = 0
    while count < len(tokens) - 1 and _key(tokens[count]) in _PARTICLES:
        count += 1
    return " ".join(tokens[:count]) or None, " ".join(tokens[count:])


def is_infix(text: str) -> bool:
    """Whether a middle name is a tussenvoegsel ("van der", "'t") rather than a given name."""
    tokens = _normalise(text).split()
    return bool(tokens) and all(_key(token) in _PARTICLES for token in tokens)


def _split_natural(tokens: list[str], generations: list[str], country: str, full: str) -> NameParts:
    """ "Dr. Pieter J. van 't Hoff": titles, given names, then the surname."""
    titled = False
    while len(tokens) > 1 and _is_title(tokens[0]):
        tokens, titled = tokens[1:], True
    # A particle before it makes the word a surname: "Jan van der Ra".
    while (
        len(tokens) > 1
        and _key(tokens[-1]) in _POST_NOMINALS | _GENERATIONS
        and _key(tokens[-2]) not in _PARTICLES
    ):
        if _key(tokens[-1]) in _GENERATIONS:
            generations = [tokens[-1], *generations]
        tokens = tokens[:-1]
    if len(tokens) == 1 or _key(tokens[0]) in _PARTICLES:
        # One word after a title is a surname ("Dr. Jansen"); otherwise it could be either.
        return NameParts(None, None, " ".join(tokens + generations), titled, full)
    start = _surname_start(tokens)
    if start is None:
        start = len(tokens) - 1
    middle = tokens[1:start]
    certain = all(_INITIALS.fullmatch(t) for t in middle) or country in _MIDDLE_NAME_COUNTRIES
    last = " ".join(tokens[start:] + generations)
    return NameParts(tokens[0], " ".join(middle) or None, last, certain, full)


def _split_inverted(
    surname: list[str], given: list[str], generations: list[str], full: str
) -> NameParts:
    """ "Berg, Jan van der": the surname, then given names and the particles that precede it."""
    while len(given) > 1 and _is_title(given[0]):
        given = given[1:]
    infix: list[str] = []
    while given and _key(given[-1]) in _PARTICLES:
        infix, given = [given[-1], *infix], given[:-1]
    last = " ".join(infix + surname + generations)
    if not given:
        return NameParts(None, None, last, False, full)
    return NameParts(given[0], " ".join(given[1:]) or None, last, True, full)


def _surname_start(tokens: list[str]) -> int | None:
    """Index of the first particle after the first given name that some surname word follows."""
    for index in range(1, len(tokens)):
        key = _key(tokens[index])
        followed = any(_key(t) not in _PARTICLES for t in tokens[index + 1 :])
        if re.match(r"d'[^\W\d_]", key):
            return index
        if followed and (key in _PARTICLES or key.rsplit("-", 1)[-1] in _PARTICLES):
            return index
    return None


def _is_title(token: str) -> bool:
    """ "Dr.", "dr", "prof.dr.ir.", "Dipl.-Ing." are titles; "J." is an initial."""
    key = _key(token).rstrip(".")
    pieces = [piece for piece in key.split(".") if piece]
    return key in _TITLES or (bool(pieces) and all(piece in _TITLES for piece in pieces))


def _is_trailer(tokens: list[str]) -> bool:
    """Whether a comma-separated tail is only post-nominals or generations ("Jansen, jr.")."""
    return bool(tokens) and all(_key(t) in _POST_NOMINALS | _GENERATIONS for t in tokens)


def _key(token: str) -> str:
    return token.lower().replace("’", "'")


def _country(country: str | None) -> str:
    return (country or "").strip().upper()


def _fields(parts: NameParts) -> tuple[str | None, str | None, str | None]:
    return parts.first, parts.middle, parts.last


def _normalise(text: str | None) -> str:
    """Whitespace collapsed, so that stray double spaces do not count as a change."""
    return " ".join((text or "").split())
