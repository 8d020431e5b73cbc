"""Order actions: status, cancellation, shipping address change, refund status.

Each action takes the order id from the latest message's ``order_id`` entity or else the
``order_id`` slot, answers in the ``language`` slot's language, and returns ``SlotSet``
events for ``order_id`` (the canonical id, e.g. ``ORD-10001``) and ``order_status``. A
missing id makes the action ask for it; an unknown id gets a helpful reply and clears
``order_id`` so a form asks again. No action raises for bad customer input.

Actions:
- ``action_order_status``: where the order is (reads ``order_id``, ``language``).
- ``action_cancel_order``: cancels if not shipped (reads ``order_id``, ``language``).
- ``action_change_shipping_address``: re-addresses if not shipped (reads ``order_id``,
  ``shipping_address``, ``language``); clears ``shipping_address`` once used.
- ``action_refund_status``: also sets ``refund_status`` (reads ``order_id``, ``language``).

The store is called synchronously from these async actions on purpose: a local SQLite
lookup takes well under a millisecond, less than handing it to a thread would cost.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.order_store import ChangeOutcome, Order, default_store
from actions.replies import order_fields, say
from actions.tracker_inputs import entity_or_slot, is_plausible_address, reply_language

DomainDict = dict[str, Any]


@dataclass
class OrderLookup:
    """The order the customer means, or the events to return when there is none."""

    order: Order | None
    events: list[EventType] = field(default_factory=list)


def look_up_order(
    dispatcher: CollectingDispatcher, tracker: Tracker, language: str
) -> OrderLookup:
    """Find the order the conversation is about; tell the customer if there is none."""
    typed_id = entity_or_slot(tracker, "order_id")
    if typed_id is None:
        dispatcher.utter_message(text=say("ask_order_id", language))
        return OrderLookup(None)
    order = default_store().find_order(typed_id)
    if order is None:
        dispatcher.utter_message(text=say("order_not_found", language, typed=typed_id))
        return OrderLookup(None, [SlotSet("order_id", None), SlotSet("order_status", None)])
    return OrderLookup(order)


def order_slots(order: Order) -> list[EventType]:
    """Remember which order the conversation is about and where it stands."""
    return [SlotSet("order_id", order.id), SlotSet("order_status", order.status)]


def describe_order_status(order: Order, language: str) -> str:
    """One message saying where ``order`` is, e.g. shipped with its tracking number."""
    return say(f"status_{order.status}", language, **order_fields(order, language))


class ActionOrderStatus(Action):
    """Tell the customer where their order is (placed, shipped + tracking, delivered...)."""

    def name(self) -> str:
        return "action_order_status"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        language = reply_language(tracker)
        lookup = look_up_order(dispatcher, tracker, language)
        if lookup.order is None:
            return lookup.events
        dispatcher.utter_message(text=describe_order_status(lookup.order, language))
        return order_slots(lookup.order)


# Filled by the cancel form's yes/no question (True: cancel, False: keep the order).
CONFIRMATION_SLOT = "cancel_confirmed"


class ActionCancelOrder(Action):
    """Cancel an order that has not shipped (the refund starts at once), unless the
    customer answered "no" to the cancel form's confirmation."""

    def name(self) -> str:
        return "action_cancel_order"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        language = reply_language(tracker)
        lookup = look_up_order(dispatcher, tracker, language)
        if lookup.order is None:
            return [*lookup.events, SlotSet(CONFIRMATION_SLOT, None)]
        # The cancel form asks first; a "no" keeps the order. The answer is used up either
        # way, so the next cancellation asks again.
        if tracker.get_slot(CONFIRMATION_SLOT) is False:
            dispatcher.utter_message(text=say("cancel_kept", language, order_id=lookup.order.id))
            return [*order_slots(lookup.order), SlotSet(CONFIRMATION_SLOT, None)]
        change = default_store().cancel_order(lookup.order.id)
        # Re-read through the change: another conversation may have acted in between.
        order = change.order or lookup.order
        if change.outcome is ChangeOutcome.DONE:
            key = "cancel_done"
        elif change.outcome is ChangeOutcome.ALREADY_CANCELLED:
            key = "cancel_already_cancelled"
        elif order.status == "delivered":
            key = "cancel_already_delivered"
        else:
            key = "cancel_already_shipped"
        dispatcher.utter_message(text=say(key, language, **order_fields(order, language)))
        return [*order_slots(order), SlotSet(CONFIRMATION_SLOT, None)]


class ActionChangeShippingAddress(Action):
    """Send a not-yet-shipped order to the address in the ``shipping_address`` slot."""

    def name(self) -> str:
        return "action_change_shipping_address"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        language = reply_language(tracker)
        lookup = look_up_order(dispatcher, tracker, language)
        if lookup.order is None:
            return lookup.events
        address = entity_or_slot(tracker, "shipping_address")
        if address is None:
            dispatcher.utter_message(
                text=say("address_ask", language, order_id=lookup.order.id)
            )
            return order_slots(lookup.order)
        if not is_plausible_address(address):
            dispatcher.utter_message(text=say("address_invalid", language))
            return [*order_slots(lookup.order), SlotSet("shipping_address", None)]

        change = default_store().change_shipping_address(lookup.order.id, address)
        order = change.order or lookup.order
        if change.outcome is ChangeOutcome.DONE:
            key = "address_done"
        elif change.outcome is ChangeOutcome.ALREADY_CANCELLED:
            key = "address_cancelled"
        elif order.status == "delivered":
            key = "address_already_delivered"
        else:
            key = "address_already_shipped"
        dispatcher.utter_message(text=say(key, language, **order_fields(order, language)))
        # The address is used up: a later change for another order must ask afresh
        # instead of silently reusing it.
        return [*order_slots(order), SlotSet("shipping_address", None)]


class ActionRefundStatus(Action):
    """Tell the customer where the refund of their order stands."""

    def name(self) -> str:
        return "action_refund_status"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        language = reply_language(tracker)
        lookup = look_up_order(dispatcher, tracker, language)
        if lookup.order is None:
            return lookup.events
        order = lookup.order
        dispatcher.utter_message(
            text=say(f"refund_{order.refund_state}", language, **order_fields(order, language))
        )
        return [*order_slots(order), SlotSet("refund_status", order.refund_state)]
