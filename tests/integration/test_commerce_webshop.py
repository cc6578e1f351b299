"""A webshop's orders into Uniconta where a line names an item Uniconta does not have, and a
card order's status through its booking: the WooCommerce sandbox shop, the hub on loopback
over a real database and the Uniconta sandbox with its booking service (the webshop
fixtures); every assertion reads what a user would see in Uniconta and in the hub."""

from __future__ import annotations

from typing import Any

from tests.integration.conftest import COMPANY
from tests.integration.webshop_fixtures import POLICY, Webshop, webshop, woo

__all__ = ["webshop", "woo"]


def uniconta_issues(webshop: Webshop) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = webshop.tenant.api.get(
        f"/connections/{webshop.uniconta_id}/issues"
    ).json()
    return found


def retry(webshop: Webshop) -> None:
    """What a user does once the item exists: try the connection's issues again."""
    asked = webshop.tenant.api.post(f"/connections/{webshop.uniconta_id}/jobs/retry")
    assert asked.status_code == 202, asked.text
    webshop.settle()


def test_a_shop_item_uniconta_lacks_leaves_nothing_in_uniconta_until_it_exists(
    webshop: Webshop,
) -> None:
    # A product the hub never heard of (its webhook was lost), sold at once.
    shop = webshop.shop
    shop.apply_settings({"webhook_miss_rate": 1.0})
    made = shop.create_product({"name": "Kaffekværn manuel", "sku": "KVN-01",
                                "regular_price": "399.00"})  # fmt: skip
    shop.apply_settings({"webhook_miss_rate": 0.0})
    webshop.products["KVN-01"] = made["id"]
    order = webshop.order("mette", [("KAF-500", 1), ("KVN-01", 1)])
    webshop.settle()

    assert webshop.invoices(order) == [] and webshop.drafts(order) == [], "nothing written"
    (issue,) = uniconta_issues(webshop)
    assert (issue["stream"], issue["reason"]) == ("invoices", "product_missing")
    message = issue["message"]
    assert "item 'KVN-01' on line 2 (Kaffekværn manuel) does not exist in Uniconta" in message
    assert "create the item in Uniconta or correct the SKU" in message
    assert "Decimal(" not in message and "exist and are" not in message, message

    # The product comes with the shop's next products pull and goes to Uniconta as an item.
    webshop.tenant.api.post(f"/connections/{webshop.shop_id}/jobs/products")
    webshop.settle()
    assert webshop.uniconta.sandbox.get(COMPANY, "InvItemClient", "KVN-01") is not None
    retry(webshop)
    invoice = webshop.invoice(order)
    assert [ln["Item"] for ln in webshop.lines(invoice)] == ["KAF-500", "KVN-01"]
    assert webshop.uniconta.sandbox.all(COMPANY, "DebtorOrderClient") == []
    assert uniconta_issues(webshop) == []


def test_an_item_deleted_after_it_was_found_is_named_and_its_lines_follow_once_it_exists(
    webshop: Webshop,
) -> None:
    first = webshop.order("mette", [("KAF-500", 1)])
    webshop.settle()
    assert len(webshop.invoices(first)) == 1  # KAF-500 found, and kept for six hours
    item = webshop.uniconta.sandbox.get(COMPANY, "InvItemClient", "KAF-500")
    webshop.uniconta.sandbox.delete(COMPANY, "InvItemClient", "KAF-500")
    second = webshop.order("mette", [("KAF-500", 2)])
    webshop.settle()

    (issue,) = uniconta_issues(webshop)
    assert issue["reason"] == "product_missing", issue
    assert "item 'KAF-500' on line 1" in issue["message"], issue["message"]
    assert "without its lines, which follow once it exists" in issue["message"]
    # The next order naming it is stopped before its order is written.
    third = webshop.order("mette", [("KAF-500", 3)])
    webshop.settle()
    assert webshop.drafts(third) == [] and webshop.invoices(third) == []
    assert len(uniconta_issues(webshop)) == 2

    webshop.uniconta.sandbox.insert(COMPANY, "InvItemClient", item)
    retry(webshop)
    for order, quantity in ((second, 2), (third, 3)):
        (invoice,) = webshop.invoices(order)
        assert [(ln["Item"], ln["InvoiceQty"]) for ln in webshop.lines(invoice)] == [
            ("KAF-500", quantity)
        ]
    assert uniconta_issues(webshop) == []


def test_a_rounding_account_that_is_no_item_leaves_nothing_in_uniconta(webshop: Webshop) -> None:
    rounding = {"Item": "AFRUNDING", "Name": "Afrunding", "ItemType": "Service", "Vat": "U0",
                "Unit": "Piece"}  # fmt: skip
    webshop.uniconta.sandbox.insert(COMPANY, "InvItemClient", rounding)
    webshop.save_route({**POLICY, "rounding_account": "AFRUNDING"})  # checked: it exists
    webshop.uniconta.sandbox.delete(COMPANY, "InvItemClient", "AFRUNDING")  # removed since
    gap = webshop.order("mette", [("CHO-70", 3)])  # a one-cent gap: a rounding line
    webshop.settle()

    assert webshop.invoices(gap) == [] and webshop.drafts(gap) == [], "nothing written"
    (issue,) = uniconta_issues(webshop)
    assert issue["reason"] == "product_missing"
    assert "item 'AFRUNDING' on line 2 (Rounding)" in issue["message"], issue["message"]

    webshop.uniconta.sandbox.insert(COMPANY, "InvItemClient", rounding)
    retry(webshop)
    invoice = webshop.invoice(gap)
    assert [ln["Item"] for ln in webshop.lines(invoice)] == ["CHO-70", "AFRUNDING"]
    assert uniconta_issues(webshop) == []


def test_a_route_naming_an_empty_code_is_refused_with_its_field(webshop: Webshop) -> None:
    """An empty code was saved unchecked (Uniconta is asked about the codes given) and sent
    blank with each invoice: the rounding gap booked on no item, every order on no payment
    term. The save names the empty field instead, and what the route had is kept."""
    for name, empty in (("default_payment_term", ""), ("rounding_account", " ")):
        body = {"source": webshop.shop_id, "target": webshop.uniconta_id,
                "entities": ["product"],
                "commerce": {"policy": {**POLICY, name: empty}}}  # fmt: skip
        refused = webshop.tenant.api.put(f"/routes/{webshop.route['id']}", json=body)
        assert refused.status_code == 422, refused.text
        (error,) = refused.json()["detail"]
        assert error["loc"][1:] == ["commerce", "policy", name], error
        assert error["msg"].startswith("the code is empty: name one the accounting system"), error
    kept = webshop.tenant.api.get(f"/routes/{webshop.route['id']}").json()["commerce"]["policy"]
    assert (kept["default_payment_term"], kept["rounding_account"]) == ("Netto 8", "AFRUND")


def test_a_draft_order_keeps_its_lines_when_a_change_names_a_missing_item(
    webshop: Webshop,
) -> None:
    webshop.save_route({**POLICY, "states": {"on-hold": "create_order"}})
    held = webshop.order("mette", [("KOP-01", 1)], method="bacs", paid=False)
    webshop.shop.update_order(held["id"], {"status": "on-hold"})
    webshop.settle()
    (draft,) = webshop.drafts(held)
    lines = [ln for ln in webshop.uniconta.sandbox.all(COMPANY, "DebtorOrderLineClient")
             if ln["OrderNumber"] == draft["OrderNumber"]]  # fmt: skip
    assert [ln["Item"] for ln in lines] == ["KOP-01"]

    # The order gets a line of a product the hub never heard of (its webhook was lost).
    shop = webshop.shop
    shop.apply_settings({"webhook_miss_rate": 1.0})
    made = shop.create_product({"name": "Kaffekværn manuel", "sku": "KVN-01",
                                "regular_price": "399.00"})  # fmt: skip
    shop.apply_settings({"webhook_miss_rate": 0.0})
    shop.update_order(held["id"], {"line_items": [{"product_id": made["id"], "quantity": 1}]})
    webshop.settle()

    (issue,) = uniconta_issues(webshop)
    assert issue["reason"] == "product_missing" and "'KVN-01'" in issue["message"]
    kept = [ln for ln in webshop.uniconta.sandbox.all(COMPANY, "DebtorOrderLineClient")
            if ln["OrderNumber"] == draft["OrderNumber"]]  # fmt: skip
    assert [ln["Item"] for ln in kept] == ["KOP-01"], "the order was left as it was"


def test_a_card_order_stays_paid_when_uniconta_books_it(webshop: Webshop) -> None:
    card = webshop.order("mette", [("KAF-500", 2)], method="quickpay")
    webshop.settle()
    booked = webshop.invoice(card)
    (record,) = [
        r for r in webshop.tenant.api.get("/invoices", params={"limit": 1000}).json()["items"]
        if r["data"].get("reference") == str(card["number"])
    ]  # fmt: skip
    assert record["data"]["number"] == str(booked["InvoiceNumber"]), "the booking answered"
    assert record["data"]["status"] == "paid", "before any payments job"
    history = webshop.tenant.api.get(f"/invoices/{record['id']}/history").json()
    statuses = [
        change["after"]
        for version in history["versions"]
        for change in version["changes"]
        if change["field"] == "status"
    ]
    assert statuses == ["paid"], "never moved back to booked"


def test_the_shop_shows_the_flow_runs_its_sync_log_names(webshop: Webshop) -> None:
    webshop.order("mette", [("KAF-500", 1)])
    webshop.settle()
    api, shop = webshop.tenant.api, f"/connections/{webshop.shop_id}"
    flows = [e for e in api.get(f"{shop}/sync-log", params={"stream": "orders"}).json()
             if e["run_id"]]  # fmt: skip
    assert flows, "the flow logs the shop's orders"
    run = api.get(f"{shop}/runs/{flows[0]['run_id']}")
    assert run.status_code == 200, run.text  # run under the Uniconta connection, shown here too
    assert run.json()["kind"].startswith("commerce"), run.json()
    assert api.get(f"{shop}/runs/no-such-run").status_code == 404


def test_the_sync_log_filters_by_every_direction_it_holds(webshop: Webshop) -> None:
    """The flow's lines carry direction ``flow`` and the invoice mail's ``mail``: the filter
    takes each direction the log uses, and a wrong one is a 422 naming them."""
    webshop.order("mette", [("KAF-500", 1)])
    webshop.settle()
    api, shop = webshop.tenant.api, f"/connections/{webshop.shop_id}"
    flows = api.get(f"{shop}/sync-log", params={"direction": "flow"})
    assert flows.status_code == 200, flows.text
    assert flows.json() and {e["direction"] for e in flows.json()} == {"flow"}
    for direction in ("mail", "conflict", "inbound", "outbound"):
        answer = api.get(f"{shop}/sync-log", params={"direction": direction})
        assert answer.status_code == 200, answer.text
        assert all(e["direction"] == direction for e in answer.json())
    wrong = api.get(f"{shop}/sync-log", params={"direction": "sideways"})
    assert wrong.status_code == 422 and "'flow'" in wrong.text, wrong.text
