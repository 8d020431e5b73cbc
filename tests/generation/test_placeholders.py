from __future__ import annotations

from nlu_model.generation.placeholders import PlaceholderValues, canonical_name, canonicalize, placeholders_for_values, render
from nlu_model.generation.settings import ShopSettings, load_settings

BITEXT_ANSWER = (
    "To cancel order {{Order Number Anonymized}}, open {{Order Details}} on {{Website Name}}. "
    "Our team is available {{Customer Support Availability}} at {{Customer Support Phone Number}}."
)


def test_fact_placeholders_become_canonical_and_labels_become_words() -> None:
    assert canonical_name("Purchase ID Anonymized") == "Order Number"
    assert canonical_name("Order Details") is None
    text = canonicalize(BITEXT_ANSWER)
    assert "{{Order Number}}" in text and "{{Customer Support Hours}}" in text
    assert "open Order Details on" in text


def test_render_fills_from_slots_and_settings() -> None:
    settings = ShopSettings.from_dict({"website": "shop.test", "support_phone": "+1 555 0100", "support_hours": "9-18"})
    values = PlaceholderValues.collect({"order_id": "ORD-7"}, settings.values, settings.sources)
    rendered = render(canonicalize(BITEXT_ANSWER), values)
    assert rendered == ("To cancel order ORD-7, open Order Details on shop.test. "
                        "Our team is available 9-18 at +1 555 0100.")


def test_unfilled_placeholders_are_removed_cleanly_never_shown_raw() -> None:
    rendered = render(canonicalize(BITEXT_ANSWER), PlaceholderValues({}))
    assert "{{" not in rendered and "}}" not in rendered
    assert "  " not in rendered and " ," not in rendered and " ." not in rendered
    assert rendered.startswith("To cancel order, open Order Details.")


def test_default_settings_file_has_the_shop_facts() -> None:
    settings = load_settings("dialogues")
    assert {"shop_name", "support_phone", "support_email", "support_hours"} <= set(settings.values)
    assert settings.sources["Order Number"] == ("slot", "order_id")


def test_values_the_customer_stated_become_their_slots_placeholders() -> None:
    answer = "I can cancel order 00123842 for Ms. Hawkings. Order 001238420 is another one; your Gold plan stays."
    slots = {"order_id": "00123842", "person_name": "Hawkings", "account_type": "Gold", "invoice_id": "12"}
    assert placeholders_for_values(answer, slots) == (
        "I can cancel order {{Order Number}} for Ms. {{Customer Name}}. Order 001238420 is another one; your Gold plan stays.")
