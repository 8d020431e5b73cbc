"""Support tickets: hand a problem the bot cannot solve to the support staff.

``action_create_support_ticket`` reads the slots ``issue_description`` (required),
``email`` (optional; without it staff answer in the chat), ``order_id`` (optional, also
taken from the latest message's entity) and ``language``. It stores the ticket with the
conversation id so staff can open the transcript, tells the customer the ticket number,
and sets the slot ``ticket_id``. ``issue_description`` is cleared afterwards so the next
ticket asks for a new description instead of reusing the old one.
"""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.order_store import default_store
from actions.replies import say
from actions.tracker_inputs import (
    entity_or_slot,
    is_plausible_email,
    reply_language,
    slot_text,
)

DomainDict = dict[str, Any]


class ActionCreateSupportTicket(Action):
    """Open a support ticket from the collected slots and tell the customer its number."""

    def name(self) -> str:
        return "action_create_support_ticket"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        language = reply_language(tracker)
        description = slot_text(tracker, "issue_description")
        if description is None:
            dispatcher.utter_message(text=say("ticket_ask_description", language))
            return []

        email = entity_or_slot(tracker, "email")
        if email is not None and not is_plausible_email(email):
            dispatcher.utter_message(text=say("ticket_invalid_email", language, email=email))
            return [SlotSet("email", None)]

        store = default_store()
        typed_order_id = entity_or_slot(tracker, "order_id")
        order = store.find_order(typed_order_id) if typed_order_id else None
        # An id we cannot find is still worth passing on as typed: staff can search for it.
        order_id = order.id if order else typed_order_id
        ticket = store.create_support_ticket(
            description=description,
            email=email,
            order_id=order_id,
            language=language,
            conversation_id=tracker.sender_id,
        )

        about_order = say("about_order", language, order_id=order_id) if order_id else ""
        key = "ticket_created_email" if email else "ticket_created_chat"
        dispatcher.utter_message(
            text=say(key, language, ticket_id=ticket.id, about_order=about_order, email=email)
        )
        return [SlotSet("ticket_id", ticket.id), SlotSet("issue_description", None)]
