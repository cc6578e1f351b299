"""The routes screens over HTTP: a route and its commerce policy made with forms (rows added
without JavaScript), refusals on their field, the historical import's plan and progress, and
removal; a member sees the route but cannot change it."""

from __future__ import annotations

import copy
import html
import re
from typing import Any

from ledgerbridge.runtime.system import System
from ledgerbridge.store.tables.flows import Route
from tests.integration.conftest import COMPANY
from tests.integration.ui.commerce_fixtures import books_day, form_of, shop_and_books
from tests.integration.ui.conftest import Web, sign_in, text_of
from tests.integration.webshop_fixtures import Webshop, woo

__all__ = ["shop_and_books", "woo"]


def new_route_form(web: Web, setup: Webshop) -> dict[str, Any]:
    page = web.get(f"/ui/routes/new?source={setup.shop_id}&target={setup.uniconta_id}")
    assert page.status_code == 200, page.text
    return form_of(page.text, "/ui/routes/new")


def commerce_form(web: Web, setup: Webshop, **changes: str) -> dict[str, Any]:
    form = new_route_form(web, setup)
    form.update({
        "commerce_on": "on", "entities.product": "on",
        "commerce.policy.rounding_account": "AFRUND", "commerce.policy.refund_item": "REFUSION",
        "commerce.policy.start_date": books_day(1), **changes,
    })  # fmt: skip
    return form


def test_a_route_with_its_policy_is_made_with_forms(web: Web, shop_and_books: Webshop) -> None:
    setup = shop_and_books
    form = commerce_form(web, setup)
    assert form["commerce.policy.states.0.name"] == "processing", "the defaults are shown"
    assert form["commerce.policy.payment_methods.0.method"] == "stripe"
    profiles = "commerce.policy.customers.profiles"
    assert form[f"{profiles}.b2c.update_existing"] == "on", "existing customers updated"
    del form[f"{profiles}.b2b.update_existing"]  # a business's own details are kept
    form.update({
        "commerce.policy.states.2.name": "on-hold", "commerce.policy.states.2.action": "ignore",
        "commerce.policy.payment_methods.6.method": "vipps",
        "commerce.policy.payment_methods.6.payment_term": "Kort",
        "commerce.policy.payment_methods.6.registered_as_paid": "on",
        "commerce.policy.payment_methods.6.account": "5820",
        "commerce.policy.payment_journal": "PAYMATCH",
        "commerce.policy.customers.profiles.b2b.match_by": "email",
        "commerce.policy.vat.oss_codes.0.key": "de:19",
        "commerce.policy.vat.oss_codes.0.code": "U_DE_STD",
        "commerce.rules.filters.0.field": "lines.*.sku",
        "commerce.rules.filters.0.operator": "in",
        "commerce.rules.filters.0.value": "GVK-500, GVK-1000",
        "commerce.rules.adjustments.0.target": "customer.company",
        "commerce.rules.adjustments.0.template": "{{ customer.company | upper }}",
        "commerce.policy.service_items.shipping": "FRAGT",
        "commerce.policy.service_items.fee": "GEBYR",
    })  # fmt: skip
    assert form["commerce.policy.service_items.discount"] == "", "no item unless named"
    saved = web.post("/ui/routes/new", form)
    assert saved.status_code == 303, text_of(saved.text)
    (route,) = setup.tenant.api.get("/routes").json()
    assert saved.headers["location"] == f"/ui/routes/{route['id']}"
    policy, rules = route["commerce"]["policy"], route["commerce"]["rules"]
    assert policy["states"] == {"processing": "create_invoice", "completed": "create_invoice",
                                "on-hold": "ignore"}  # fmt: skip
    assert policy["payment_methods"]["vipps"] == {
        "payment_term": "Kort",
        "registered_as_paid": True,
        "account": "5820",
    }
    assert policy["payment_journal"] == "PAYMATCH"
    assert policy["payment_methods"]["bacs"]["registered_as_paid"] is False
    assert policy["customers"]["profiles"]["b2b"]["match_by"] == "email"
    updating = {k: p["update_existing"] for k, p in policy["customers"]["profiles"].items()}
    assert updating == {"b2c": True, "b2b": False, "ean": True}
    assert policy["vat"]["oss_codes"] == {"DE:19": "U_DE_STD"}
    assert policy["rounding_account"] == "AFRUND"
    assert policy["service_items"] == {"shipping": "FRAGT", "fee": "GEBYR"}
    assert rules["filters"] == [{"field": "lines.*.sku", "operator": "in",
                                 "value": ["GVK-500", "GVK-1000"]}]  # fmt: skip
    assert rules["adjustments"][0]["template"] == "{{ customer.company | upper }}"
    assert route["entities"] == ["product"] and route["paymatch"] is None

    page = web.get(saved.headers["location"])
    assert "The route is saved." in text_of(page.text)
    shown = form_of(page.text, f"/ui/routes/{route['id']}")
    assert shown["commerce.policy.vat.oss_codes.0.key"] == "DE:19"
    assert shown["commerce.policy.payment_methods.6.account"] == "5820"
    assert shown["commerce.policy.payment_journal"] == "PAYMATCH"
    assert shown["commerce.policy.service_items.shipping"] == "FRAGT"
    assert (f"{profiles}.b2b.update_existing" in shown, shown[f"{profiles}.b2c.update_existing"]) \
        == (False, "on")  # fmt: skip
    # A route saved before the setting existed shows its default, not a switch turned off.
    with setup.system.sessions() as session:
        row = session.get(Route, route["id"])
        assert row is not None and row.commerce is not None
        older = copy.deepcopy(row.commerce)
        for profile in older["policy"]["customers"]["profiles"].values():
            del profile["update_existing"]
        row.commerce = older
        session.commit()
    shown = form_of(web.get(saved.headers["location"]).text, f"/ui/routes/{route['id']}")
    assert shown[f"{profiles}.b2b.update_existing"] == "on"
    assert shown["commerce.rules.filters.0.value"] == "GVK-500, GVK-1000"
    listed = text_of(web.get("/ui/routes").text)
    assert "Webshop (WooCommerce)" in listed and "Booked as invoices" in listed
    tab = text_of(web.get(f"/ui/connections/{setup.shop_id}/routes").text)
    assert "Uniconta (Uniconta)" in tab


def test_add_row_gives_an_empty_row_and_saves_nothing(web: Web, shop_and_books: Webshop) -> None:
    form = commerce_form(web, shop_and_books, add_row="filters")
    form["commerce.rules.filters.0.field"] = "total"
    form["commerce.rules.filters.0.value"] = "0"
    page = web.post("/ui/routes/new", form)
    assert page.status_code == 200
    again = form_of(page.text, "/ui/routes/new")
    assert again["commerce.rules.filters.0.field"] == "total", "what was typed stays"
    assert again["commerce.rules.filters.1.field"] == ""
    assert again["commerce.rules.filters.2.field"] == "", "one more empty row"
    assert shop_and_books.tenant.api.get("/routes").json() == []


def test_refusals_come_back_on_their_field(web: Web, shop_and_books: Webshop) -> None:
    setup = shop_and_books
    bad = web.post("/ui/routes/new", commerce_form(
        web, setup, **{"commerce.policy.vat.oss_code_pattern": "U_{country}"}))  # fmt: skip
    assert bad.status_code == 422
    assert "the pattern must use both" in text_of(bad.text)
    assert 'id="commerce-policy-vat-oss_code_pattern" name="commerce.policy.vat.oss_code_pattern"' \
        ' type="text" value="U_{country}"' in bad.text  # fmt: skip
    assert 'aria-describedby="commerce-policy-vat-oss_code_pattern-help ' \
        'commerce-policy-vat-oss_code_pattern-error" aria-invalid="true"' in bad.text  # fmt: skip

    path = web.post(
        "/ui/routes/new",
        commerce_form(
            web,
            setup,
            **{"commerce.rules.filters.0.field": "nosuch", "commerce.rules.filters.0.value": "1"},
        ),
    )
    assert path.status_code == 422
    assert 'id="commerce-rules-filters-0-field-error"' in path.text
    assert "no such field" in text_of(path.text)

    paymatch = commerce_form(web, setup, paymatch_on="on")
    refused = web.post("/ui/routes/new", paymatch)
    assert refused.status_code == 422
    assert 'id="paymatch-journal-error"' in refused.text

    item = web.post("/ui/routes/new", commerce_form(
        web, setup, **{"commerce.policy.service_items.fee": "GEBYRX"}))  # fmt: skip
    assert item.status_code == 422
    assert 'id="commerce-policy-service_items-fee-error"' in item.text
    assert "GEBYRX" in text_of(item.text) and "does not exist in Uniconta" in text_of(item.text)

    no_target = web.post("/ui/routes/new", {**commerce_form(web, setup), "target": ""})
    assert no_target.status_code == 422
    assert 'id="target-error"' in no_target.text
    assert setup.tenant.api.get("/routes").json() == []


def test_historical_import_shows_its_plan_then_books_the_orders(
    web: Web, system: System, shop_and_books: Webshop
) -> None:
    setup = shop_and_books
    orders = [setup.order("mette", [("KAF-500", 1)]), setup.order("anna", [("KOP-01", 2)])]
    today = books_day()  # the orders' day where they are booked
    setup.settle()
    saved = web.post("/ui/routes/new", commerce_form(web, setup))
    assert saved.status_code == 303
    setup.settle()
    assert setup.invoices(orders[0]) == [], "before the start date: not booked"
    route = saved.headers["location"]

    plan = web.post(f"{route}/history", {"from": today, "to": today, "action": "preview"})
    assert plan.status_code == 200
    words = text_of(plan.text)
    assert "Orders to transfer 2 (2 booked as invoices)" in words
    assert "could not be checked" not in words, "Uniconta's VAT codes are read for the plan"
    backwards = web.post(f"{route}/history", {"from": today, "to": "2020-01-01"})
    assert backwards.status_code == 422
    assert 'id="history-to-error"' in backwards.text
    garbled = web.post(f"{route}/history", {"from": "soon", "to": today})
    assert garbled.status_code == 422 and "give a day" in garbled.text

    started = web.post(f"{route}/history", {"from": today, "to": today, "action": "import"})
    assert started.status_code == 303
    job_page = web.get(started.headers["location"])
    assert 'hx-trigger="every 2s"' in job_page.text, "polls while it runs"
    setup.settle()
    done = web.get(started.headers["location"] + "/progress")
    assert "hx-trigger" not in done.text, "stops polling once done"
    assert "done" in text_of(done.text)
    for order in orders:
        assert setup.invoice(order)["TotalAmount"], "booked in Uniconta"
    assert len(setup.uniconta.sandbox.all(COMPANY, "DebtorInvoiceClient")) == 2
    assert web.get(f"{route}/history/999/progress").status_code == 404


def test_a_route_is_removed(web: Web, shop_and_books: Webshop) -> None:
    saved = web.post("/ui/routes/new", commerce_form(web, shop_and_books))
    removed = web.post(saved.headers["location"] + "/delete")
    assert removed.status_code == 303 and removed.headers["location"] == "/ui/routes"
    assert shop_and_books.tenant.api.get("/routes").json() == []
    assert web.get(saved.headers["location"]).status_code == 404


def test_a_member_sees_the_route_but_cannot_change_it(
    web: Web, system: System, ui_url: str, shop_and_books: Webshop
) -> None:
    saved = web.post("/ui/routes/new", commerce_form(web, shop_and_books))
    tenant = shop_and_books.tenant
    added = tenant.api.post("/users", json={"email": "m@nordlys.example", "role": "member"})
    assert added.status_code == 201, added.text
    member = sign_in(system, ui_url, tenant.tenant_id, "m@nordlys.example")
    page = member.get(saved.headers["location"])
    assert page.status_code == 200
    assert "<fieldset disabled>" in page.text
    assert "Save the route" not in page.text and "Remove the route" not in page.text
    assert "New route" not in member.get("/ui/routes").text
    refused = member.post(saved.headers["location"] + "/delete")
    assert refused.status_code == 403
    assert member.get("/ui/routes/new").status_code == 403
    assert len(shop_and_books.tenant.api.get("/routes").json()) == 1


def test_a_refused_row_is_marked_on_its_field_and_named_with_a_working_link(
    web: Web, shop_and_books: Webshop
) -> None:
    """VAT codes (rate → code), order states and payment methods are kept by their key, so a
    refusal names the key typed; the form marks the row's field it concerns and the link at
    the top leads to it."""
    setup = shop_and_books
    form = commerce_form(web, setup)
    assert form["commerce.policy.vat.domestic_codes.0.rate"], "the form offers a first row"
    cases = (
        ("vat.domestic_codes.0.rate", "abc", "vat-domestic_codes-0-rate"),
        ("vat.domestic_codes.0.rate", "-1", "vat-domestic_codes-0-code"),
        ("payment_methods.0.payment_term", "NOSUCH", "payment_methods-0-payment_term"),
        ("payment_methods.0.account", "NOSUCH", "payment_journal"),
        ("states.0.action", "nosuch", "states-0-action"),
    )
    for name, rate, field in cases:
        bad = web.post("/ui/routes/new", {**form, f"commerce.policy.{name}": rate})
        assert bad.status_code == 422, rate
        fid = f"commerce-policy-{field}"
        assert f'id="{fid}-error"' in bad.text, rate
        assert 'aria-invalid="true"' in bad.text.split(f'id="{fid}"', 1)[1].split(">", 1)[0]
        summary = bad.text.split("The route was not saved:", 1)[1].split("</p>", 1)[0]
        targets = re.findall(r'href="#([^"]+)"', summary)
        assert targets, summary
        for target in targets:
            assert f'id="{target}"' in bad.text, (rate, target)
    assert setup.tenant.api.get("/routes").json() == []


def test_a_payment_methods_account_uniconta_lacks_is_refused_on_its_field(
    web: Web, shop_and_books: Webshop
) -> None:
    setup = shop_and_books
    form = commerce_form(web, setup, **{
        "commerce.policy.payment_methods.0.account": "9999",
        "commerce.policy.payment_journal": "PAYMATCH"})  # fmt: skip
    refused = web.post("/ui/routes/new", form)
    assert refused.status_code == 422
    assert "9999" in text_of(refused.text) and "does not exist in Uniconta" in text_of(refused.text)
    field = refused.text.split('id="commerce-policy-payment_methods-0-account"', 1)[1]
    assert 'aria-invalid="true"' in field.split(">", 1)[0]
    assert setup.tenant.api.get("/routes").json() == []


def test_an_entity_the_target_does_not_carry_is_marked_on_its_checkbox(
    web: Web, shop_and_books: Webshop
) -> None:
    """Payouts ticked as an entity for Uniconta: the refusal names the entity's checkbox,
    which is marked, and the summary's link leads to it (not to a place in a list)."""
    setup = shop_and_books
    refused = web.post("/ui/routes/new", commerce_form(web, setup, **{"entities.payout": "on"}))
    assert refused.status_code == 422
    assert "does not carry payout" in text_of(refused.text)
    assert '<a href="#entities-payout">' in refused.text
    checkbox = refused.text.split('id="entities-payout"')[1].split(">", 1)[0]
    assert 'aria-invalid="true"' in checkbox
    assert '<small id="entities-error" class="error">' in refused.text
    assert setup.tenant.api.get("/routes").json() == []


def test_a_route_saved_with_values_now_refused_shows_them_and_saves_as_shown(
    web: Web, shop_and_books: Webshop
) -> None:
    """A route stored before its values were refused (a tolerance of 100.00, an OSS code of
    the shop's own country, a customer profile's VAT code) opens with a warning for each and
    the form as the flow reads it; saved as shown, it is accepted and the warnings are gone.
    Typed anew, the home-country OSS code is refused on its key."""
    setup = shop_and_books
    saved = web.post("/ui/routes/new", commerce_form(web, setup))
    assert saved.status_code == 303, text_of(saved.text)
    (route,) = setup.tenant.api.get("/routes").json()
    with setup.system.sessions() as session:
        row = session.get(Route, route["id"])
        assert row is not None and row.commerce is not None
        older = copy.deepcopy(row.commerce)
        older["policy"]["rounding_tolerance"] = "100.00"
        older["policy"]["vat"]["oss_codes"] = {"DK:25": "U25", "DE:19": "U_DE19"}
        older["policy"]["customers"]["profiles"]["b2c"]["vat_code"] = "U25"
        row.commerce = older
        session.commit()
    page = web.get(f"/ui/routes/{route['id']}")
    assert page.status_code == 200, page.text
    shown = text_of(page.text)
    assert "commerce.policy.rounding_tolerance is 100.00" in shown
    assert "commerce.policy.vat.oss_codes.DK:25: &#39;DK:25&#39; is the shop" in shown
    assert "commerce.policy.customers.profiles.b2c.vat_code is not used" in shown
    form = form_of(page.text, f"/ui/routes/{route['id']}")
    assert form["commerce.policy.rounding_tolerance"] == "1.00"
    assert form["commerce.policy.vat.oss_codes.0.key"] == "DE:19"
    assert not [name for name in form if name.endswith(".vat_code")]

    home = web.post(f"/ui/routes/{route['id']}", {
        **form, "commerce.policy.vat.oss_codes.1.key": "dk:25",
        "commerce.policy.vat.oss_codes.1.code": "U25"})  # fmt: skip
    assert home.status_code == 422
    assert 'id="commerce-policy-vat-oss_codes-1-key-error"' in home.text
    assert "One Stop Shop is for sales to other EU countries" in text_of(home.text)

    again = web.post(f"/ui/routes/{route['id']}", form)
    assert again.status_code == 303, text_of(again.text)
    assert setup.tenant.api.get(f"/routes/{route['id']}").json()["warnings"] == []
    assert "rounding_tolerance is" not in text_of(web.get(again.headers["location"]).text)


def test_a_choice_edited_in_the_page_is_refused_naming_the_field_and_its_choices(
    web: Web, shop_and_books: Webshop
) -> None:
    """A select's value changed in the page's HTML (a VAT rounding, a source that is none of
    the tenant's connections) is refused beside its field with the field's label and the
    choices the list offers, and the form keeps everything else that was typed."""
    setup = shop_and_books
    form = commerce_form(web, setup, **{"commerce.policy.vat.rounding": "per_order"})
    refused = web.post("/ui/routes/new", form)
    assert refused.status_code == 422
    shown = html.unescape(text_of(refused.text))
    assert (
        "VAT rounding: 'per_order' is not one of the choices (per rate, per line); "
        "choose one from the list"
    ) in shown
    assert 'value="AFRUND"' in refused.text, "what was typed stays"
    elsewhere = web.post("/ui/routes/new", {**commerce_form(web, setup), "source": "nowhere"})
    assert elsewhere.status_code == 422
    assert "From (source): 'nowhere' is not one of the choices (Hub API" in html.unescape(
        text_of(elsewhere.text)
    )
    assert setup.tenant.api.get("/routes").json() == []


def test_the_summary_of_a_refused_route_names_each_field_by_its_label(
    web: Web, shop_and_books: Webshop
) -> None:
    """The line above a refused route form names each field as the form labels it, in its
    row or profile ("Order state 1, Leads to"), with a link to it, never its internal path
    (``commerce.policy.rounding_tolerance``)."""
    setup = shop_and_books
    form = commerce_form(web, setup, **{
        "commerce.policy.rounding_tolerance": "1,5",
        "commerce.policy.states.0.action": "book_twice",
        "commerce.policy.customers.profiles.b2c.vat_zone": "moon",
    })  # fmt: skip
    refused = web.post("/ui/routes/new", form)
    assert refused.status_code == 422
    summary = re.search(r'<div class="error-summary" role="alert">(.*?)</div>', refused.text, re.S)
    assert summary is not None, text_of(refused.text)
    said = html.unescape(re.sub(r"<[^>]+>", "", summary[1]))
    assert "commerce." not in said and "settings." not in said, said
    assert "Rounding tolerance: must be a number such as 0.50, with a point as decimal mark" in said
    assert (
        "Order state 1, Leads to: 'book_twice' is not one of the choices (Create an invoice, "
        "Create an order (invoiced later), Ignore); choose one from the list"
    ) in said, "an edited select's choices as its list shows them"
    assert "Consumers (B2C), VAT zone: 'moon' is not one of the choices (domestic, eu, " in said
    assert '<a href="#commerce-policy-rounding_tolerance">Rounding tolerance</a>' in summary[1]
