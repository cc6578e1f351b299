"""A code mapping maps a code the system uses to one the hub uses: an empty code on either side
maps nothing or blanks the records' codes, so every system's settings refuse it."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from ledgerbridge.connectors.qonto.settings import QontoSettings
from ledgerbridge.connectors.yuki.settings import YukiSettings

YUKI = {"domain_id": "d1", "administration_id": "a1"}


@pytest.mark.parametrize(
    ("model", "settings"),
    [
        (YukiSettings, {**YUKI, "vat_mapping": {"": "1"}}),
        (QontoSettings, {"unit_mapping": {"": "pcs"}}),
        (QontoSettings, {"unit_mapping": {"piece": ""}}),
    ],
)
def test_an_empty_code_is_refused(model: type, settings: dict[str, object]) -> None:
    with pytest.raises(ValidationError, match="at least 1 character"):
        model.model_validate(settings)


def test_codes_that_are_given_are_kept() -> None:
    yuki = YukiSettings.model_validate({**YUKI, "vat_mapping": {"S25": "1"}})
    qonto = QontoSettings.model_validate({"unit_mapping": {"piece": "pcs"}})
    assert (yuki.vat_mapping, qonto.unit_mapping) == ({"S25": "1"}, {"piece": "pcs"})
