"""Form validation actions (``validate_<form name>``), run by the dialogue manager's forms.

To validate another form, subclass ``StrictFormValidationAction``, return
``"validate_<form>"`` from ``name()`` and add ``validate_<slot>`` (and, if the NLU may miss
a value, ``extract_<slot>``) methods; rasa-sdk finds them by name. The helpers in
``actions.tracker_inputs`` and the texts in ``actions.replies`` are meant to be reused.

Every order form's validation (``validate_track_order_form`` and friends) checks ``order_id`` against the order store, stores its
canonical form (``ORD-10001``), picks an order number out of free text when the NLU did not
tag one, and rejects the turn when the customer's answer holds no order number at all.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.forms import REQUESTED_SLOT, FormValidationAction
from rasa_sdk.interfaces import ACTION_LISTEN_NAME, ActionExecutionRejection

from actions.order_ids import find_order_id_in_text
from actions.order_store import default_store
from actions.replies import say
from actions.tracker_inputs import latest_entity_text, previous_slot_value, reply_language

DomainDict = dict[str, Any]


class StrictFormValidationAction(FormValidationAction, ABC):
    """A form validation that rejects a customer reply which fills no slot it asked for.

    Rasa's own form loop does the same: raising ``ActionExecutionRejection`` (HTTP 400 on
    the wire) tells the dialogue manager the message was not an answer ("actually, what's
    your return policy?"), so it can handle it as a digression and resume the form later.
    """

    @abstractmethod
    def name(self) -> str:
        """``validate_<form name>``."""

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        events = await super().run(dispatcher, tracker, domain)
        requested = tracker.slots.get(REQUESTED_SLOT)
        answered_the_form = (
            tracker.active_loop_name == self.form_name()
            and tracker.latest_action_name == ACTION_LISTEN_NAME
        )
        filled = {event.get("name") for event in events if event.get("event") == "slot"}
        if answered_the_form and requested in self.domain_slots(domain) and requested not in filled:
            raise ActionExecutionRejection(
                self.name(), f"The latest message gave no value for slot '{requested}'."
            )
        return events


class OrderIdValidation(StrictFormValidationAction, ABC):
    """Shared by every form that asks for an order: ``order_id`` must be an order we know."""

    async def extract_order_id(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        """Pick an order number out of the reply when the NLU did not tag one."""
        if tracker.slots.get(REQUESTED_SLOT) != "order_id":
            return {}
        if latest_entity_text(tracker, "order_id") or "order_id" in tracker.slots_to_validate():
            return {}
        found = find_order_id_in_text(tracker.latest_message.get("text"))
        return {"order_id": found} if found else {}

    async def validate_order_id(
        self,
        slot_value: Any,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
    ) -> dict[str, Any]:
        """Keep the canonical id of a known order; otherwise say so and ask again.

        While the form asks for something else (the new address), a number in that answer
        (a house number, a phone number) is not a new order id: the order stays the one
        the customer gave before, without an "order not found" message.
        """
        order = default_store().find_order(slot_value)
        previous = previous_slot_value(tracker, "order_id")
        if order is None and previous and tracker.slots.get(REQUESTED_SLOT) not in (None, "order_id"):
            return {"order_id": previous}
        if order is None:
            language = reply_language(tracker)
            dispatcher.utter_message(
                text=say("order_not_found", language, typed=str(slot_value).strip())
            )
            return {"order_id": None}
        return {"order_id": order.id, "order_status": order.status}


class ValidateTrackOrderForm(OrderIdValidation):
    """``track_order_form``: which order to look up."""

    def name(self) -> str:
        return "validate_track_order_form"


class ValidateCancelOrderForm(OrderIdValidation):
    """``cancel_order_form``: which order to cancel (then a yes/no the domain maps)."""

    def name(self) -> str:
        return "validate_cancel_order_form"


class ValidateChangeAddressForm(OrderIdValidation):
    """``change_address_form``: which order, then the new address (checked by the action)."""

    def name(self) -> str:
        return "validate_change_address_form"


class ValidateRefundStatusForm(OrderIdValidation):
    """``refund_status_form``: which order's refund to look up."""

    def name(self) -> str:
        return "validate_refund_status_form"
