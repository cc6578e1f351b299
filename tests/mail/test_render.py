"""Templates of invoice mail: the sandbox, undefined variables and the invoice's values."""

from __future__ import annotations

import pytest

from ledgerbridge.mail import render


def test_default_templates_render_the_sample_invoice() -> None:
    context = render.sample_context()
    assert render.render(render.DEFAULT_SUBJECT, context) == "Invoice 5001 from Example Shop ApS"
    body = render.render(render.DEFAULT_BODY, context)
    assert "invoice 5001 of 2026-01-15 for 200.00 DKK, due on 2026-01-29" in body
    assert "order 1001" in body


def test_context_has_totals_lines_and_company() -> None:
    context = render.sample_context()
    assert (context["net_total"], context["vat_total"], context["total"]) == (
        "160.00", "40.00", "200.00")  # fmt: skip
    assert context["lines"] == [
        {"description": "Mug", "sku": "MUG-1", "quantity": "2", "unit_price": "80.00",
         "vat_rate": "25", "discount_percent": "0", "net_amount": "160.00"}
    ]  # fmt: skip
    assert context["company"]["vat_number"] == "DK12345678"
    assert set(context) == set(render.VARIABLES)


@pytest.mark.parametrize(
    ("template", "words"),
    [
        ("{{ nummer }}", "UndefinedError"),
        ("{{ company.phone }}", "UndefinedError"),
        ("{{ number.__class__.__mro__ }}", "SecurityError"),
        ("{{ lines.__len__() }}", "SecurityError"),
        ("{% for line in lines %}", "TemplateSyntaxError"),
        ("{{ total / 0 }}", "TypeError"),
    ],
)
def test_templates_that_fail_are_refused(template: str, words: str) -> None:
    with pytest.raises(render.TemplateProblem, match=words):
        render.check(template)


def test_no_html_escaping_in_plain_text() -> None:
    context = {**render.sample_context(), "customer_name": "Brdr. <Hansen> & Co"}
    assert render.render("{{ customer_name }}", context) == "Brdr. <Hansen> & Co"
