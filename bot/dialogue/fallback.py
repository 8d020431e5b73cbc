"""Two-stage fallback and human handoff: what the bot does when it does not understand.

``action_two_stage_fallback`` runs as a loop: (1) it asks the customer to confirm the
likeliest intent ("Did you mean …?" with Yes / No buttons); a confirmed or rephrased
message then replaces the unclear one, as if it had been understood at once; (2) after a
"no" it asks to rephrase; (3) if that is still unclear it hands the chat to a person.

``action_handoff_to_human`` tells the customer a person is coming, marks the conversation
``waiting`` and pauses the bot until staff hand it back.
"""

from __future__ import annotations

import copy
import random

from bot.dialogue.events import Event, bot, pause
from bot.dialogue.responses import utter_events
from bot.dialogue.tracker import DialogueTracker

TWO_STAGE_FALLBACK = "action_two_stage_fallback"
HANDOFF = "action_handoff_to_human"
NEGATIVE_INTENTS = frozenset({"nlu_fallback", "deny", "out_of_scope"})

_TEXT = {
    "affirm": {"en": 'Sorry, I\'m not sure I understood. Did you mean "{label}"?', "zh": "抱歉，我不太确定。您是想问“{label}”吗？"},
    "yes": {"en": "Yes", "zh": "是的"},
    "no": {"en": "No", "zh": "不是"},
    "rephrase": {"en": "Could you say that in other words?", "zh": "能换个说法再说一遍吗？"},
    "handoff": {
        "en": "I'm connecting you with a member of our team. Please stay here; they'll reply in this chat.",
        "zh": "正在为您转接人工客服，请稍候，客服会在这里回复您。",
    },
}


def _lang(tracker: DialogueTracker) -> str:
    return "zh" if tracker.get_slot("language") == "zh" else "en"


def _say(tracker: DialogueTracker, response: str, fallback_key: str, *, now: float, rng: random.Random,
         buttons: list[dict[str, str]] | None = None, **fields: str) -> list[Event]:
    said = utter_events(tracker.domain, response, {**tracker.slots, **fields}, now=now, rng=rng)
    if said:
        if buttons and not said[0]["data"].get("buttons"):
            said[0]["data"]["buttons"] = buttons
        return said
    text = _TEXT[fallback_key][_lang(tracker)].format(**fields)
    data = {"buttons": buttons} if buttons else {}
    return [bot(text, timestamp=now, data=data, metadata={"utter_action": response, "source": "template"})]


def _top_intent(tracker: DialogueTracker) -> str | None:
    parse = tracker.latest_message
    for entry in parse.get("intent_ranking") or []:
        if entry.get("name") and entry["name"] != "nlu_fallback":
            return str(entry["name"])
    return None


def _intent_label(tracker: DialogueTracker, intent: str) -> str:
    labelled = utter_events(tracker.domain, f"utter_intent_label_{intent}", tracker.slots, now=0.0, rng=random.Random(0))
    return labelled[0]["text"] if labelled and labelled[0].get("text") else intent.replace("_", " ")


def _rephrase_asked(tracker: DialogueTracker) -> bool:
    for event in reversed(tracker.events):
        if event.get("event") == "active_loop" and event.get("name") == TWO_STAGE_FALLBACK:
            return False
        if event.get("event") == "bot" and (event.get("metadata") or {}).get("utter_action") == "utter_ask_rephrase":
            return True
    return False


def _messages_since_fallback_began(tracker: DialogueTracker) -> int:
    """Customer messages after the fallback loop started (in the effective history)."""
    count = 0
    for event in reversed(tracker.events_for_policies()):
        if event.get("event") == "active_loop" and event.get("name") == TWO_STAGE_FALLBACK:
            return count
        if event.get("event") == "user":
            count += 1
    return count


def handoff_events(tracker: DialogueTracker, *, now: float, rng: random.Random) -> list[Event]:
    return _say(tracker, "utter_handoff", "handoff", now=now, rng=rng) + [
        {"event": "handoff", "timestamp": now, "state": "waiting"},
        pause(timestamp=now),
    ]


def two_stage_fallback(tracker: DialogueTracker, *, now: float, rng: random.Random) -> list[Event]:
    """One run of the two-stage fallback loop."""
    lang = _lang(tracker)
    if tracker.active_loop_name != TWO_STAGE_FALLBACK:
        intent = _top_intent(tracker)
        if intent is None:
            return [{"event": "active_loop", "timestamp": now, "name": TWO_STAGE_FALLBACK}] + _say(
                tracker, "utter_ask_rephrase", "rephrase", now=now, rng=rng)
        buttons = [
            {"title": _TEXT["yes"][lang], "payload": f"/{intent}"},
            {"title": _TEXT["no"][lang], "payload": "/out_of_scope"},
        ]
        return [{"event": "active_loop", "timestamp": now, "name": TWO_STAGE_FALLBACK}] + _say(
            tracker, "utter_ask_affirmation", "affirm", now=now, rng=rng, buttons=buttons,
            label=_intent_label(tracker, intent))
    intent = tracker.latest_intent
    if intent not in NEGATIVE_INTENTS:
        # Confirmed or rephrased: forget the unclear turn and the question, keep this message.
        last_user = next(e for e in reversed(tracker.events) if e.get("event") == "user")
        replay = copy.deepcopy(last_user)
        replay["parse_data"]["intent"]["confidence"] = 1.0
        replay["timestamp"] = now
        # Every message since the fallback began (a "No", the rephrase) and the unclear one.
        rewinds = [{"event": "rewind", "timestamp": now} for _ in range(_messages_since_fallback_began(tracker) + 1)]
        return [
            {"event": "active_loop", "timestamp": now, "name": None},
            *rewinds,
            {"event": "action", "timestamp": now, "name": "action_listen"},
            replay,
        ]
    if not _rephrase_asked(tracker):
        return _say(tracker, "utter_ask_rephrase", "rephrase", now=now, rng=rng)
    return [{"event": "active_loop", "timestamp": now, "name": None}] + handoff_events(tracker, now=now, rng=rng)


__all__ = ["HANDOFF", "TWO_STAGE_FALLBACK", "handoff_events", "two_stage_fallback"]
