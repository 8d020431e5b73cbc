"""Rules and stories, parsed from Rasa 3.x YAML into event sequences.

Each rule or story becomes one or more lists of Rasa events (``or`` steps multiply them;
stories that end in a checkpoint are joined to the stories that start from it), so the
policies featurise training data and live conversations with the same code.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from typing import Any

from bot.dialogue.events import ACTION_LISTEN, Event
from bot.errors import ProjectError

# Joining stories through checkpoints can explode; past this many we stop expanding.
MAX_EXPANSIONS = 2000
_ANNOTATION = re.compile(r"\[(?P<value>[^\]]+)\](?:\((?P<entity>[^)]+)\)|\{(?P<json>[^}]*)\})")


@dataclass(frozen=True)
class Conversation:
    """One rule or story as events; ``kind`` is ``rule`` or ``story``."""

    name: str
    kind: str
    events: tuple[Event, ...]
    conversation_start: bool = False
    wait_for_user_input: bool = True


def strip_annotations(text: str) -> tuple[str, list[dict[str, Any]]]:
    """Plain text and entities from Rasa's ``[value](entity)`` markup."""
    import json

    entities: list[dict[str, Any]] = []
    plain = ""
    last = 0
    for match in _ANNOTATION.finditer(text):
        plain += text[last : match.start()]
        value = match.group("value")
        if match.group("entity"):
            spec: dict[str, Any] = {"entity": match.group("entity").split(":")[0]}
        else:
            try:
                spec = json.loads("{" + match.group("json") + "}")
            except json.JSONDecodeError:
                spec = {}
        entity = {"entity": spec.get("entity"), "value": spec.get("value", value), "start": len(plain),
                  "end": len(plain) + len(value)}
        if spec.get("role"):
            entity["role"] = spec["role"]
        if spec.get("group"):
            entity["group"] = spec["group"]
        entities.append(entity)
        plain += value
        last = match.end()
    return plain + text[last:], entities


def _step_entities(step: dict[str, Any]) -> list[dict[str, Any]]:
    found = []
    for item in step.get("entities") or []:
        if isinstance(item, str):
            found.append({"entity": item, "value": None})
        elif isinstance(item, dict):
            if "entity" in item:
                found.append(dict(item))
            else:
                found.extend({"entity": k, "value": v} for k, v in item.items())
    return found


def user_step_event(step: dict[str, Any]) -> Event:
    """A ``user`` event from a story step (``intent``, optional ``user`` text, ``entities``)."""
    text = step.get("user")
    entities = _step_entities(step)
    if isinstance(text, str):
        text, annotated = strip_annotations(text.strip())
        entities = entities or annotated
    intent = step.get("intent")
    parse = {"intent": {"name": intent, "confidence": 1.0} if intent else {}, "entities": entities, "text": text}
    return {"event": "user", "text": text, "parse_data": parse}


def _slot_events(raw: Any, where: str) -> list[Event]:
    items = raw if isinstance(raw, list) else [raw]
    events = []
    for item in items:
        if isinstance(item, str):
            # A bare slot name in a story means "this slot was set to something".
            events.append({"event": "slot", "name": item, "value": True, "_any_value": True})
        elif isinstance(item, dict):
            events.extend({"event": "slot", "name": k, "value": v} for k, v in item.items())
        else:
            raise ProjectError(f"{where}: slot_was_set takes slot names or {{slot: value}}, got {item!r}")
    return events


def _step_options(step: Any, where: str) -> list[list[Event]]:
    """The alternative event lists one step stands for (several only for ``or``)."""
    if not isinstance(step, dict):
        raise ProjectError(f"{where}: each step must be a mapping, got {step!r}")
    if "intent" in step or "user" in step:
        return [[{"event": "action", "name": ACTION_LISTEN}, user_step_event(step)]]
    if "action" in step:
        return [[{"event": "action", "name": str(step["action"])}]]
    if "slot_was_set" in step:
        return [_slot_events(step["slot_was_set"], where)]
    if "active_loop" in step:
        return [[{"event": "active_loop", "name": step["active_loop"]}]]
    if "or" in step:
        options = []
        for alternative in step["or"] or []:
            options.extend(_step_options(alternative, where))
        return options
    if "checkpoint" in step:
        return [[{"event": "__checkpoint__", "name": str(step["checkpoint"])}]]
    raise ProjectError(f"{where}: unknown step {sorted(step)}; expected intent, user, action, "
                       "slot_was_set, active_loop, or, checkpoint")


def _expand(name: str, steps: list[Any]) -> list[list[Event]]:
    options = [_step_options(step, name) for step in steps or []]
    expanded = []
    for combination in itertools.islice(itertools.product(*options), MAX_EXPANSIONS):
        expanded.append([event for part in combination for event in part])
    return expanded


def _condition_events(conditions: list[Any], where: str) -> list[Event]:
    events: list[Event] = []
    for condition in conditions or []:
        if not isinstance(condition, dict):
            raise ProjectError(f"{where}: a condition must be slot_was_set or active_loop, got {condition!r}")
        if "slot_was_set" in condition:
            events.extend(_slot_events(condition["slot_was_set"], where))
        elif "active_loop" in condition:
            events.append({"event": "active_loop", "name": condition["active_loop"]})
        else:
            raise ProjectError(f"{where}: unknown condition {sorted(condition)}")
    return events


def _where(source: str, item: dict[str, Any], kind: str) -> str:
    """``file: line N: rule 'name'`` when the YAML loader recorded lines."""
    line = getattr(item, "lines", {}).get(kind)
    name = item.get(kind, f"unnamed {kind}")
    return f"{source}: line {line}: {kind} '{name}'" if line else f"{source}: {kind} '{name}'"


def load_rules(items: list[dict[str, Any]], source: str = "rules") -> list[Conversation]:
    rules = []
    for item in items or []:
        if not isinstance(item, dict):
            raise ProjectError(f"{source}: each rule must be a mapping with `rule` and `steps`, got {item!r}")
        name = str(item.get("rule", "unnamed rule"))
        where = _where(source, item, "rule")
        conditions = _condition_events(item.get("condition") or [], where)
        for events in _expand(where, item.get("steps") or []):
            rules.append(Conversation(name, "rule", tuple(conditions + events),
                                      conversation_start=bool(item.get("conversation_start", False)),
                                      wait_for_user_input=bool(item.get("wait_for_user_input", True))))
    return rules


def load_stories(items: list[dict[str, Any]], source: str = "stories") -> list[Conversation]:
    """Stories as event lists, with checkpoint-linked parts joined end to start."""
    parts: list[tuple[str, list[Event]]] = []
    for item in items or []:
        if not isinstance(item, dict):
            raise ProjectError(f"{source}: each story must be a mapping with `story` and `steps`, got {item!r}")
        name = str(item.get("story", "unnamed story"))
        for events in _expand(_where(source, item, "story"), item.get("steps") or []):
            parts.append((name, events))

    def starts(events: list[Event]) -> str | None:
        return events[0]["name"] if events and events[0]["event"] == "__checkpoint__" else None

    def ends(events: list[Event]) -> str | None:
        return events[-1]["name"] if events and events[-1]["event"] == "__checkpoint__" else None

    by_start: dict[str, list[tuple[str, list[Event]]]] = {}
    for name, events in parts:
        if starts(events):
            by_start.setdefault(starts(events), []).append((name, events))  # type: ignore[arg-type]
    stories: list[Conversation] = []

    def walk(name: str, events: list[Event], depth: int) -> None:
        if len(stories) >= MAX_EXPANSIONS:
            return
        checkpoint = ends(events)
        followers = by_start.get(checkpoint, []) if checkpoint else []
        if not followers or depth > 10:
            clean = tuple(e for e in events if e["event"] != "__checkpoint__")
            stories.append(Conversation(name, "story", clean))
            return
        for follower_name, follower in followers:
            walk(f"{name} > {follower_name}", events[:-1] + follower[1:], depth + 1)

    for name, events in parts:
        if not starts(events):
            walk(name, events, 0)
    return stories
