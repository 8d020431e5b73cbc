"""One conversation turn, with its I/O: lock, NLU, dialogue engine, actions, store.

Channels (the websocket, the terminal shell) call :class:`ConversationService`; it never
touches a socket. The order of a turn guarantees that nothing acked is lost:

1. take the conversation's lock (one turn at a time across replicas);
2. parse the text, append the ``user`` event (idempotent by client message id) and only
   then acknowledge it to the client;
3. ask the engine for actions until it listens, running templates locally and custom
   actions on the rasa-sdk server, appending their events as they happen;
4. release the lock. A turn cut short by a crash is finished on the next ``hello``
   (:meth:`ConversationService.resume_pending_turn`).
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from bot.dialogue import events as ev
from bot.dialogue.engine import DialogueEngine
from bot.dialogue.tracker import DialogueTracker
from bot.nlu import NluService
from bot.store import ConversationStore, StoredEvent

log = logging.getLogger(__name__)

AckCallback = Callable[[str, bool], Awaitable[None]]
TokenCallback = Callable[[str, str], Awaitable[None]]  # (stream_id, text) of a generated answer

_UNAVAILABLE_TEXT = {
    "en": "Sorry, I can't reach our order system right now. Would you like to talk to a person?",
    "zh": "抱歉，我暂时无法连接订单系统。需要为您转接人工客服吗？",
}
_HUMAN_BUTTON = {"en": "Talk to a person", "zh": "转人工客服"}


@dataclass
class TurnResult:
    """What a turn produced: the user event id and the bot's new events."""

    user_event_id: str | None
    duplicate: bool = False
    events: list[StoredEvent] = field(default_factory=list)
    user_event: dict[str, Any] | None = None

    @property
    def bot_messages(self) -> list[StoredEvent]:
        return [e for e in self.events if e.event.get("event") == "bot"]


class ConversationService:
    """Runs turns for any channel. Create one per process and share it."""

    def __init__(
        self,
        store: ConversationStore,
        engine: DialogueEngine,
        nlu: NluService | None,
        *,
        actions: Any | None = None,
        generation: Any | None = None,
        lock_wait_s: float = 10.0,
        lock_ttl_ms: int = 10_000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.engine = engine
        self.nlu = nlu
        self.actions = actions
        # bot.generation.GenerationService, or None (templates only). Swapped with the NLU
        # model on `kefu reload`.
        self.generation = generation
        self.lock_wait_s = lock_wait_s
        self.lock_ttl_ms = lock_ttl_ms
        self.clock = clock
        # Customer turns running now in this process: a load signal for answer generation.
        self.turns_in_flight = 0

    # -- reading ------------------------------------------------------------------------
    async def history(self, conversation_id: str, *, after: str | None = None) -> list[StoredEvent]:
        return await self.store.read_events(conversation_id, after=after)

    async def _load_tracker(self, conversation_id: str, session: list[StoredEvent] | None = None
                            ) -> tuple[DialogueTracker, list[StoredEvent]]:
        """The live session's tracker (from ``session`` when the caller read it already);
        starts a new session when there is none."""
        if session is None:
            _, session = await self.store.session_events(conversation_id)
        if session:
            tracker = DialogueTracker.from_events(conversation_id, self.engine.domain, [s.event for s in session])
            return tracker, []
        # No live session: carry slots over from the previous one (if any), as Rasa does.
        previous = await self.store.read_events(conversation_id)
        old = DialogueTracker.from_events(conversation_id, self.engine.domain, [s.event for s in previous])
        start_events = self.engine.session_start_events(old.slots, now=self.clock())
        ids = await self.store.append_events(conversation_id, start_events)
        await self.store.set_session_start(conversation_id, ids[0])
        tracker = DialogueTracker.from_events(conversation_id, self.engine.domain, start_events)
        return tracker, [StoredEvent(i, e) for i, e in zip(ids, start_events)]

    # -- a customer message ---------------------------------------------------------------
    async def handle_user_message(
        self,
        conversation_id: str,
        client_message_id: str,
        text: str,
        *,
        on_ack: AckCallback | None = None,
        input_channel: str = "widget",
        metadata: dict[str, Any] | None = None,
        on_token: TokenCallback | None = None,
    ) -> TurnResult:
        """Store the message, acknowledge it, and run the bot's answer.

        ``on_token(stream_id, text)`` receives a generated answer's text as it is written
        (before its ``bot`` event is stored, which then carries the same stream id).
        """
        self.turns_in_flight += 1
        try:
            return await self._handle_user_message(conversation_id, client_message_id, text, on_ack=on_ack,
                                                   input_channel=input_channel, metadata=metadata, on_token=on_token)
        finally:
            self.turns_in_flight -= 1

    async def _handle_user_message(self, conversation_id: str, client_message_id: str, text: str, *,
                                   on_ack: AckCallback | None, input_channel: str, metadata: dict[str, Any] | None,
                                   on_token: TokenCallback | None) -> TurnResult:
        async with self.store.lock_with_session(conversation_id, wait_s=self.lock_wait_s, ttl_ms=self.lock_ttl_ms
                                                ) as (_, session):
            tracker, _ = await self._load_tracker(conversation_id, session)
            if self.nlu is None:
                raise RuntimeError("this ConversationService has no NLU; it cannot take customer messages")
            parse = await self.nlu.parse(text)
            new_events = self.engine.user_message_events(
                tracker, text, parse, now=self.clock(), message_id=client_message_id, input_channel=input_channel
            )
            if metadata:
                new_events[0]["metadata"] = dict(metadata)
            # The message and the slots it fills are stored together, in one round trip, so a
            # turn resumed after a crash always starts from the message's whole effect. (The
            # tracker is thrown away below if this turns out to be a resend.)
            for event in new_events:
                tracker.update(event)
            extracted = self.engine.extract_slots(tracker, now=self.clock())
            for event in extracted:
                tracker.update(event)
            new_events += extracted
            ids, is_new = await self.store.append_message_events(conversation_id, client_message_id, new_events)
            if on_ack is not None:
                await on_ack(ids[0], not is_new)
            if not is_new:
                # A resend: the first copy is stored. If its turn was cut short (a crash, a
                # Redis outage), finish it now; otherwise answer nothing twice.
                return TurnResult(ids[0], duplicate=True, events=await self._finish_cut_turn(conversation_id))
            stored = [StoredEvent(i, e) for i, e in zip(ids, new_events)]
            produced = await self._run_actions(tracker, on_token=on_token)
            return TurnResult(ids[0], events=stored[1:] + produced, user_event=new_events[0])

    async def resume_pending_turn(self, conversation_id: str) -> list[StoredEvent]:
        """Finish a turn whose customer message was stored but whose answer was cut short
        (the server died, or Redis went away, between the ack and the end of the reply).
        Returns the events it produced."""
        async with self.store.lock(conversation_id, wait_s=self.lock_wait_s, ttl_ms=self.lock_ttl_ms):
            return await self._finish_cut_turn(conversation_id)

    async def _finish_cut_turn(self, conversation_id: str) -> list[StoredEvent]:
        """With the lock held: go on from the last stored event of an unfinished turn.

        A turn is finished when the bot listens again after the customer's latest message
        (every event is stored as it happens, so the engine continues exactly where the
        turn stopped). A paused conversation (a person has it) is left alone.
        """
        _, session = await self.store.session_events(conversation_id)
        if not session:
            return []
        tracker = DialogueTracker.from_events(conversation_id, self.engine.domain, [s.event for s in session])
        if tracker.paused or not tracker.latest_message:
            return []
        last_user = max((i for i, s in enumerate(session) if s.event.get("event") == "user"), default=-1)
        listens = [i for i, s in enumerate(session)
                   if s.event.get("event") == "action" and s.event.get("name") == ev.ACTION_LISTEN]
        if last_user < 0 or (listens and listens[-1] > last_user):
            return []
        log.info("resuming an unfinished turn in conversation %s", conversation_id[:8])
        return await self._run_actions(tracker)

    # -- staff ----------------------------------------------------------------------------
    async def take_over(self, conversation_id: str, *, agent: str) -> list[StoredEvent]:
        """A person takes the conversation: the bot pauses and the customer is told."""
        async with self.store.lock(conversation_id, wait_s=self.lock_wait_s, ttl_ms=self.lock_ttl_ms):
            tracker, _ = await self._load_tracker(conversation_id)
            now = self.clock()
            events: list[dict[str, Any]] = [{"event": "handoff", "timestamp": now, "state": "human", "agent": agent}]
            if not tracker.paused:
                events.append(ev.pause(timestamp=now))
            return await self._append(tracker, events)

    async def staff_reply(self, conversation_id: str, text: str, *, agent: str) -> list[StoredEvent]:
        """A staff member's message to the customer (taking the conversation over if needed)."""
        produced: list[StoredEvent] = []
        tracker, _ = await self._load_tracker(conversation_id)
        if tracker.handoff_state != "human":
            produced += await self.take_over(conversation_id, agent=agent)
        async with self.store.lock(conversation_id, wait_s=self.lock_wait_s, ttl_ms=self.lock_ttl_ms):
            tracker, _ = await self._load_tracker(conversation_id)
            message = ev.bot(text, timestamp=self.clock(), metadata={"source": "human", "agent": agent})
            return produced + await self._append(tracker, [message])

    async def hand_back(self, conversation_id: str, *, agent: str) -> list[StoredEvent]:
        """Give the conversation back to the bot, which answers the next message again."""
        async with self.store.lock(conversation_id, wait_s=self.lock_wait_s, ttl_ms=self.lock_ttl_ms):
            tracker, _ = await self._load_tracker(conversation_id)
            now = self.clock()
            events = [{"event": "handoff", "timestamp": now, "state": "bot", "agent": agent}, ev.resume(timestamp=now)]
            return await self._append(tracker, events)

    async def record_event(self, conversation_id: str, event: dict[str, Any]) -> str:
        """Append a non-dialogue event (for example a CSAT score) to the transcript."""
        ids = await self.store.append_events(conversation_id, [event])
        return ids[0]

    # -- actions --------------------------------------------------------------------------
    async def _run_actions(self, tracker: DialogueTracker, *, on_token: TokenCallback | None = None) -> list[StoredEvent]:
        """Predict and run actions until the engine listens; every event is stored before
        anything leaves the process (a custom action call, the end of the turn)."""
        produced: list[StoredEvent] = []
        # Built-in actions' events, applied to the tracker and stored with the next write: a
        # template answer and the listen after it cost one round trip, not two. Nobody has
        # seen them before they are stored (events reach clients from the stream), so a
        # crash in between only means a resumed turn runs them again.
        unstored: list[dict[str, Any]] = []
        # Seeded per conversation and turn, so a replayed turn picks the same variation.
        rng = random.Random(f"{tracker.sender_id}:{len(tracker.events)}")
        while True:
            prediction = self.engine.next_action(tracker)
            now = self.clock()
            action_event = ev.action(prediction.action, timestamp=now, policy=prediction.policy, confidence=prediction.confidence)
            if prediction.action == ev.ACTION_LISTEN:
                if tracker.latest_action_name != ev.ACTION_LISTEN:
                    tracker.update(action_event)
                    unstored.append(action_event)
                return produced + await self._store(tracker.sender_id, unstored)
            if not self.engine.is_form(prediction.action) and not self.engine.is_custom_action(prediction.action):
                for event in [action_event, *self.engine.run_builtin(prediction.action, tracker, now=now, rng=rng)]:
                    if event.get("event") == "bot" and self.generation is not None:
                        # The domain's answer_mode decides whether the decoder answers instead
                        # of the template (guarded; the template stays when it fails).
                        event = await self.generation.apply(event, tracker, self.engine.domain.responses,
                                                            on_token=on_token, turns_in_flight=self.turns_in_flight)
                    tracker.update(event)
                    unstored.append(event)
                continue
            produced += await self._store(tracker.sender_id, unstored)
            unstored = []
            if self.engine.is_form(prediction.action):
                produced += await self._run_form(prediction.action, tracker, action_event, rng)
                continue
            result_events = await self._run_custom_action(prediction.action, tracker, now=now)
            produced += await self._append(tracker, [action_event, *result_events])

    async def _store(self, conversation_id: str, events: list[dict[str, Any]]) -> list[StoredEvent]:
        """Store events already applied to the tracker."""
        ids = await self.store.append_events(conversation_id, events) if events else []
        return [StoredEvent(i, e) for i, e in zip(ids, events)]

    async def _run_form(self, name: str, tracker: DialogueTracker, action_event: dict[str, Any],
                        rng: random.Random) -> list[StoredEvent]:
        """One run of a form: activate or check the answer, validate, ask the next slot."""
        from bot.actions_client import ActionRejected

        now = action_event["timestamp"]
        start = self.engine.form_start(name, tracker, now=now)
        if start.check_answer:
            validation: list[dict[str, Any]] = []
            rejected = False
            if start.validation_action:
                try:
                    validation = await self._run_custom_action(start.validation_action, tracker, now=now,
                                                               raise_rejection=True)
                except ActionRejected:
                    rejected = True
            if rejected or not self.engine.form_answered(name, tracker, validation):
                # The answer filled nothing: the policies get to answer the digression.
                rejection = {"event": "action_execution_rejected", "timestamp": now, "name": name}
                return await self._append(tracker, [rejection])
            produced = await self._append(tracker, [action_event, *validation])
        else:
            produced = await self._append(tracker, [action_event, *start.events])
            if start.validation_action and tracker.slots_set_since_user():
                produced += await self._append(tracker, await self._run_custom_action(start.validation_action, tracker, now=now))
        ask = self.engine.form_ask(name, tracker, now=now, rng=rng)
        produced += await self._append(tracker, ask.events)
        if ask.ask_action:
            produced += await self._append(tracker, await self._run_custom_action(ask.ask_action, tracker, now=now))
        return produced

    async def _append(self, tracker: DialogueTracker, events: list[dict[str, Any]]) -> list[StoredEvent]:
        if not events:
            return []
        ids = await self.store.append_events(tracker.sender_id, events)
        for event in events:
            tracker.update(event)
        return [StoredEvent(i, e) for i, e in zip(ids, events)]

    async def _run_custom_action(self, name: str, tracker: DialogueTracker, *, now: float,
                                 raise_rejection: bool = False) -> list[dict[str, Any]]:
        """Run ``name`` on the rasa-sdk action server; an outage becomes a polite message.

        With ``raise_rejection``, the action's refusal (rasa-sdk's ActionExecutionRejection)
        is raised as :class:`bot.actions_client.ActionRejected` for the caller (a form).
        """
        language = tracker.get_slot("language") or "en"
        if self.actions is None:
            log.error("custom action %s needed but no action endpoint is configured", name)
            return [self._unavailable_message(language, now)]
        from bot.actions_client import ActionError, ActionRejected

        try:
            result = await self.actions.run(
                name,
                sender_id=tracker.sender_id,
                tracker_state=tracker.current_state(),
                domain=self.engine.domain.as_rasa_dict(),
            )
        except ActionRejected:
            if raise_rejection:
                raise
            log.info("custom action %s rejected its execution", name)
            return []
        except ActionError as exc:
            log.warning("custom action %s failed: %s", name, type(exc).__name__)
            return [self._unavailable_message(language, now)]
        events: list[dict[str, Any]] = []
        for response in result.responses:
            events.extend(self._response_events(response, tracker, now=now))
        for event in result.events:
            event = dict(event)
            event.setdefault("timestamp", now)
            events.append(event)
        return events

    def _response_events(self, response: dict[str, Any], tracker: DialogueTracker, *, now: float) -> list[dict[str, Any]]:
        template = response.get("response") or response.get("template")
        if template:
            rng = random.Random(f"{tracker.sender_id}:{template}:{len(tracker.events)}")
            rendered = self.engine.run_builtin(template, tracker, now=now, rng=rng)
            for event in rendered:
                event["metadata"]["source"] = "action"
            return rendered
        data = {k: response[k] for k in ("buttons", "image", "attachment", "custom", "elements") if response.get(k)}
        return [ev.bot(response.get("text"), timestamp=now, data=data, metadata={"source": "action"})]

    @staticmethod
    def _unavailable_message(language: str, now: float) -> dict[str, Any]:
        lang = "zh" if language == "zh" else "en"
        return ev.bot(
            _UNAVAILABLE_TEXT[lang],
            timestamp=now,
            data={"buttons": [{"title": _HUMAN_BUTTON[lang], "payload": "/contact_human_agent"}]},
            metadata={"source": "template", "utter_action": "action_unavailable"},
        )
