"""How a WooCommerce batch item's refusal reads in the record's issue."""

from __future__ import annotations

from ledgerbridge.connectors.woocommerce.connector import _refusal


def refused(code: str, **data: object) -> dict[str, object]:
    return {"id": 0, "error": {"code": code, "message": "Invalid or duplicated SKU.",
                               "data": {"status": 400, **data}}}  # fmt: skip


def test_a_sku_the_shop_holds_names_its_holder_and_says_what_to_do() -> None:
    message = _refusal(refused("product_invalid_sku", resource_id=77), {"sku": "TSH-XL"})
    assert message is not None
    assert message.startswith("the shop already uses SKU TSH-XL (product or variation 77)")
    assert "give one of the two another SKU" in message and "retry" in message


def test_a_holder_the_shop_does_not_name_is_left_out() -> None:
    message = _refusal(refused("product_invalid_sku", resource_id=0), {"sku": "TSH-XL"})
    assert message is not None and "(product or variation" not in message


def test_other_refusals_keep_the_shop_words_and_a_stored_item_is_none() -> None:
    assert _refusal(refused("rest_invalid_param"), {"sku": "A"}) == (
        "rest_invalid_param: Invalid or duplicated SKU."
    )
    assert _refusal({"id": 5, "sku": "A"}, {"sku": "A"}) is None
