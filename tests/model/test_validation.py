"""Table tests of the stand-alone validators, with real valid and invalid numbers."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from stdnum.dk import cvr

from ledgerbridge.model.validation import (
    _danish_cvr,
    normalize_country,
    normalize_currency,
    normalize_ean,
    normalize_email,
    normalize_gln,
    normalize_iban,
    normalize_locale,
    normalize_organisation_number,
    normalize_vat_number,
    vat_number_country,
)


@pytest.mark.parametrize(
    ("value", "country", "expected"),
    [
        ("DK 13 58 56 28", None, "DK13585628"),
        ("dk13585628", "SE", "DK13585628"),
        ("13585628", "DK", "DK13585628"),
        ("13585628", "dk", "DK13585628"),
        ("NL004495445B01", None, "NL004495445B01"),
        ("nl 0044.95.445.b01", None, "NL004495445B01"),
        ("004495445B01", "NL", "NL004495445B01"),
        ("BE 0403.019.261", None, "BE0403019261"),
        ("BE403019261", None, "BE0403019261"),
        ("0403019261", "BE", "BE0403019261"),
        ("NO 995 525 828 MVA", None, "NO995525828MVA"),
        ("NO995525828", None, "NO995525828MVA"),
        ("995525828", "NO", "NO995525828MVA"),
        ("SE123456789701", None, "SE123456789701"),
        ("123456789701", "SE", "SE123456789701"),
        ("FI 2077474-0", None, "FI20774740"),
        ("20774740", "FI", "FI20774740"),
        ("FR 40 303 265 045", None, "FR40303265045"),
        ("40303265045", "FR", "FR40303265045"),
        ("GB 980 7806 84", None, "GB980780684"),
        ("980780684", "GB", "GB980780684"),
        ("094259216", "GR", "EL094259216"),
        ("EL094259216", None, "EL094259216"),
        ("DE 136 695 976", None, "DE136695976"),
        ("CHE-107.787.577 IVA", None, "CHE107787577IVA"),
        ("107.787.577 IVA", "CH", "CHE107787577IVA"),
        ("US 12-3456789", None, "US123456789"),
        ("123 456", None, "123456"),
    ],
)
def test_vat_number_valid(value: str, country: str | None, expected: str) -> None:
    assert normalize_vat_number(value, country) == expected


@pytest.mark.parametrize(
    ("value", "country", "label"),
    [
        ("DK13585627", None, "DK"),
        ("13585627", "DK", "DK"),
        ("NL123456789B90", None, "NL"),
        ("BE0403019262", None, "BE"),
        ("NO995525829MVA", None, "NO"),
        ("SE123456789702", None, "SE"),
        ("FI20774741", None, "FI"),
        ("FR41303265045", None, "FR"),
        ("GB802311781", None, "GB"),
        ("094259217", "GR", "GR"),
        ("CHE-107.787.578 IVA", None, "CH"),
        # Two letters that name no country are no prefix: checked as the party's country's.
        ("XX999", "DK", "DK"),
        ("QQ13585628", "DK", "DK"),
    ],
)
def test_vat_number_invalid_names_value_and_country(
    value: str, country: str | None, label: str
) -> None:
    with pytest.raises(ValueError, match=rf"^invalid VAT number '{value}' for {label}: "):
        normalize_vat_number(value, country)


def test_vat_number_empty() -> None:
    with pytest.raises(ValueError, match="invalid VAT number"):
        normalize_vat_number(" .- ", "DK")


@pytest.mark.parametrize(
    ("vat_number", "country"),
    [
        ("DK13585628", "DK"),
        ("EL094259216", "GR"),
        ("XI980780684", "GB"),
        ("13585628", None),
        ("XX999", None),
        ("QQ13585628", None),
    ],
)
def test_vat_number_country(vat_number: str, country: str | None) -> None:
    assert vat_number_country(vat_number) == country


@pytest.mark.parametrize(
    ("value", "country", "expected"),
    [
        ("13 58 56 28", "DK", "13585628"),
        ("DK13585628", "DK", "13585628"),
        ("988 077 917", "NO", "988077917"),
        ("123456-7897", "SE", "1234567897"),
        ("2077474-0", "FI", "20774740"),
        ("3301 4286", "NL", "33014286"),
        ("0403.019.261", "BE", "0403019261"),
        ("403019261", "BE", "0403019261"),
        ("BE 0403.019.261", "be", "0403019261"),
        ("732 829 320", "FR", "732829320"),
        ("732 829 320 00074", "FR", "73282932000074"),
        ("HRB  12345 B", "DE", "HRB 12345 B"),
        ("abc-123", None, "ABC123"),
        ("12-345.678", "US", "12345678"),
    ],
)
def test_organisation_number_valid(value: str, country: str | None, expected: str) -> None:
    assert normalize_organisation_number(value, country) == expected


@pytest.mark.parametrize(
    ("value", "country"),
    [
        ("13585627", "DK"),
        ("988 077 918", "NO"),
        ("1234567891", "SE"),
        ("2077474-1", "FI"),
        ("1234567", "NL"),
        ("3301428A", "NL"),
        ("0403019262", "BE"),
        ("732829321", "FR"),
        ("73282932000075", "FR"),
        ("12345", "FR"),
    ],
)
def test_organisation_number_invalid(value: str, country: str) -> None:
    with pytest.raises(
        ValueError, match=rf"^invalid organisation number '{value}' for {country}: "
    ):
        normalize_organisation_number(value, country)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("nl91 abna 0417 1643 00", "NL91ABNA0417164300"),
        ("DK50 0040 0440 1162 43", "DK5000400440116243"),
        ("BE31 4354 1116 1155", "BE31435411161155"),
        ("FR14 2004 1010 0505 0001 3M02 606", "FR1420041010050500013M02606"),
    ],
)
def test_iban_valid(value: str, expected: str) -> None:
    assert normalize_iban(value) == expected


@pytest.mark.parametrize(
    "value",
    ["NL91ABNA0417164301", "DK5000400440116244", "BE31435411161156", "FR1420041010050500013M02607"],
)
def test_iban_invalid(value: str) -> None:
    with pytest.raises(ValueError, match=rf"^invalid IBAN '{value}': "):
        normalize_iban(value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("4006381333931", "4006381333931"),
        ("400-6381-33393-1", "4006381333931"),
        ("73513537", "73513537"),
        ("036000291452", "036000291452"),
        ("98412345678908", "98412345678908"),
    ],
)
def test_ean_valid(value: str, expected: str) -> None:
    assert normalize_ean(value) == expected


@pytest.mark.parametrize("value", ["4006381333932", "036000291453", "12345", "40063813339A1"])
def test_ean_invalid(value: str) -> None:
    with pytest.raises(ValueError, match=rf"^invalid EAN '{value}': "):
        normalize_ean(value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [("5790000000005", "5790000000005"), ("871 2345 678906", "8712345678906")],
)
def test_gln_valid(value: str, expected: str) -> None:
    assert normalize_gln(value) == expected


@pytest.mark.parametrize("value", ["5790000000006", "73513537", "98412345678908"])
def test_gln_invalid(value: str) -> None:
    with pytest.raises(ValueError, match=rf"^invalid GLN '{value}': "):
        normalize_gln(value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("dk", "DK"),
        ("NL", "NL"),
        ("be", "BE"),
        ("no", "NO"),
        ("SE", "SE"),
        ("fi", "FI"),
        ("Fr", "FR"),
    ],
)
def test_country_valid(value: str, expected: str) -> None:
    assert normalize_country(value) == expected


@pytest.mark.parametrize("value", ["XX", "DNK", "EL", "UK", "", "1"])
def test_country_invalid(value: str) -> None:
    with pytest.raises(ValueError, match=rf"^unknown country code '{value}'$"):
        normalize_country(value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [("eur", "EUR"), ("DKK", "DKK"), ("nok", "NOK"), ("SEK", "SEK"), ("chf", "CHF")],
)
def test_currency_valid(value: str, expected: str) -> None:
    assert normalize_currency(value) == expected


@pytest.mark.parametrize("value", ["XYZ", "EURO", "EU", ""])
def test_currency_invalid(value: str) -> None:
    with pytest.raises(ValueError, match=rf"^unknown currency code '{value}'$"):
        normalize_currency(value)


@pytest.mark.parametrize(
    "value",
    ["XXX", "XAU", "xag", "XPT", "XPD", "XTS", "XDR", "XBA", "XBB", "XBC", "XBD", "XSU", "XUA",
     "XAD"],
)  # fmt: skip
def test_currency_that_is_no_money_is_refused(value: str) -> None:
    code = value.upper()
    with pytest.raises(ValueError, match=rf"^'{code}' is not a currency invoices can be made in$"):
        normalize_currency(value)


@pytest.mark.parametrize("value", ["XOF", "XAF", "XPF", "XCD", "XCG"])
def test_x_currencies_of_countries_stay_valid(value: str) -> None:
    assert normalize_currency(value) == value


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("da-DK", "da-DK"),
        ("nl", "nl"),
        ("fr-BE", "fr-BE"),
        ("DA_dk", "da-DK"),
        ("nb-NO", "nb-NO"),
        ("sr-latn-rs", "sr-Latn-RS"),
        ("es-419", "es-419"),
        ("en-GB-Oxendict", "en-GB-oxendict"),
    ],
)
def test_locale_valid(value: str, expected: str) -> None:
    assert normalize_locale(value) == expected


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("xx", "unknown language 'xx'"),
        ("dan-DK", "unknown language 'dan'"),
        ("", "unknown language ''"),
        ("da-XX", "unknown region 'XX'"),
        ("da-DK-toolongsubtag", "malformed subtag 'toolongsubtag'"),
    ],
)
def test_locale_invalid(value: str, reason: str) -> None:
    with pytest.raises(ValueError, match=rf"^invalid locale '{value}': {reason}$"):
        normalize_locale(value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("ole@firma.dk", "ole@firma.dk"),
        ("Ole.Hansen+faktura@Firma.DK", "Ole.Hansen+faktura@firma.dk"),
        ("a_b@sub.example.co.uk", "a_b@sub.example.co.uk"),
        ("søren@blåbær.dk", "søren@blåbær.dk"),
        ("o'brien@example.ie", "o'brien@example.ie"),
    ],
)
def test_email_valid(value: str, expected: str) -> None:
    assert normalize_email(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        "a@b",
        "@firma.dk",
        "ole@",
        "ole",
        "ole@.dk",
        "ole@firma..dk",
        "ole@-firma.dk",
        "ole@firma.123",
        "ole..h@firma.dk",
        ".ole@firma.dk",
        "ole.@firma.dk",
        "ole h@firma.dk",
        "ole@b@firma.dk",
        "ole@firma dk.dk",
        "x@" + "a" * 64 + ".dk",
        "x" * 65 + "@firma.dk",
    ],
)
def test_email_invalid(value: str) -> None:
    with pytest.raises(ValueError, match=r"^invalid email address "):
        normalize_email(value)


def _cvr_or_error(check: Callable[[str], str], number: str) -> str:
    try:
        return check(number)
    except Exception as exc:  # the refusal's kind is what must agree
        return type(exc).__name__


def test_a_cvr_is_checked_as_stdnum_checks_it() -> None:
    """The eight-digit shortcut of ``_danish_cvr`` answers what stdnum answers, refusals too."""
    numbers = [str(n) for n in range(13585600, 13585700)]
    numbers += ["13585628", "03585628", "1358562", "135856280", "DK13585628", "1358 5628"]
    numbers += ["١٣٥٨٥٦٢٨", "１３５８５６２８", "13585629", "99999999", "10000000"]
    _danish_cvr.cache_clear()
    for number in numbers:
        assert _cvr_or_error(_danish_cvr, number) == _cvr_or_error(cvr.validate, number), number


def test_a_compact_cvr_skips_stdnums_clean_up(monkeypatch: pytest.MonkeyPatch) -> None:
    """Eight digits need no clean-up: stdnum's walks each character through a table."""

    def refuse(_number: str) -> str:
        raise AssertionError("cleaned up")

    monkeypatch.setattr(cvr, "compact", refuse)
    _danish_cvr.cache_clear()
    assert _danish_cvr("13585628") == "13585628"
