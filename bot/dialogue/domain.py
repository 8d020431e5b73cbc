"""The domain: intents, entities, slots, responses, actions, forms and session settings.

Built from the parsed YAML dict of a Rasa 3.x ``domain.yml`` (several files merged by
:mod:`bot.project`). Rasa 2.0 domains are migrated on load: ``auto_fill`` slots become
``from_entity`` mappings and form slot mappings move onto the slots, as ``rasa data
migrate`` does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bot.errors import ProjectError

BUILTIN_ACTIONS = (
    "action_listen",
    "action_restart",
    "action_session_start",
    "action_default_fallback",
    "action_deactivate_loop",
    "action_revert_fallback_events",
    "action_default_ask_affirmation",
    "action_default_ask_rephrase",
    "action_two_stage_fallback",
    "action_unlikely_intent",
    "action_back",
    "action_extract_slots",
    # Kefu's own: the two-stage fallback runs here; the handoff pauses the bot for staff.
    "action_handoff_to_human",
)


class DomainError(ProjectError):
    """The domain is not valid; the message names the part that is wrong and ``path``
    locates it (e.g. ``("responses", "utter_greet")``) so a loader can add the line."""

    def __init__(self, message: str, path: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.path = path


@dataclass(frozen=True)
class SlotMapping:
    type: str  # from_entity | from_intent | from_text | from_trigger_intent | custom
    entity: str | None = None
    role: str | None = None
    group: str | None = None
    value: Any = None
    intent: tuple[str, ...] = ()
    not_intent: tuple[str, ...] = ()
    conditions: tuple[dict[str, Any], ...] = ()
    action: str | None = None


@dataclass(frozen=True)
class Slot:
    name: str
    type: str = "any"
    initial_value: Any = None
    values: tuple[Any, ...] = ()
    influence_conversation: bool = True
    mappings: tuple[SlotMapping, ...] = ()


@dataclass(frozen=True)
class Form:
    name: str
    required_slots: tuple[str, ...]
    ignored_intents: tuple[str, ...] = ()


@dataclass
class Domain:
    intents: list[str] = field(default_factory=list)
    intent_entities: dict[str, tuple[str, ...] | None] = field(default_factory=dict)
    entities: list[str] = field(default_factory=list)
    entity_roles: dict[str, tuple[str, ...]] = field(default_factory=dict)
    slots: dict[str, Slot] = field(default_factory=dict)
    responses: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    actions: list[str] = field(default_factory=list)
    forms: dict[str, Form] = field(default_factory=dict)
    session_expiration_minutes: float = 60.0
    carry_over_slots: bool = True
    answer_mode: str = "template"
    raw: dict[str, Any] = field(default_factory=dict)

    # -- construction -------------------------------------------------------------------
    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Domain":
        """Build a domain from merged domain YAML; raises :class:`DomainError`."""
        if not isinstance(data, dict):
            raise DomainError("the domain must be a mapping of sections (intents, responses, ...)")
        domain = cls(raw=data)
        domain._load_intents(data.get("intents") or [])
        domain._load_entities(data.get("entities") or [])
        domain._load_responses(data.get("responses") or {})
        forms_raw = data.get("forms") or {}
        legacy_form_mappings = domain._load_forms(forms_raw)
        domain._load_slots(data.get("slots") or {}, legacy_form_mappings)
        domain.actions = [str(a) if not isinstance(a, dict) else next(iter(a)) for a in data.get("actions") or []]
        session = data.get("session_config") or {}
        domain.session_expiration_minutes = float(session.get("session_expiration_time", 60) or 0)
        domain.carry_over_slots = bool(session.get("carry_over_slots_to_new_session", True))
        mode = data.get("answer_mode", "template")
        if mode not in ("template", "generate", "hybrid"):
            raise DomainError(f"answer_mode must be template, generate or hybrid, got {mode!r}", ("answer_mode",))
        domain.answer_mode = mode
        return domain

    def _load_intents(self, items: list[Any]) -> None:
        for item in items:
            if isinstance(item, str):
                name, props = item, {}
            elif isinstance(item, dict) and len(item) == 1:
                name, props = next(iter(item.items()))
                props = props or {}
            else:
                raise DomainError(f"intents: expected a name or {{name: {{...}}}}, got {item!r}", ("intents",))
            self.intents.append(str(name))
            use = props.get("use_entities", True)
            ignore = props.get("ignore_entities") or []
            if use is True or use is None:
                self.intent_entities[str(name)] = None if not ignore else tuple(f"!{e}" for e in ignore)
            else:
                self.intent_entities[str(name)] = tuple(use or ())

    def _load_entities(self, items: list[Any]) -> None:
        for item in items:
            if isinstance(item, str):
                self.entities.append(item)
            elif isinstance(item, dict) and len(item) == 1:
                name, props = next(iter(item.items()))
                self.entities.append(str(name))
                self.entity_roles[str(name)] = tuple((props or {}).get("roles") or ())
            else:
                raise DomainError(f"entities: expected a name or {{name: {{roles: [...]}}}}, got {item!r}", ("entities",))

    def _load_responses(self, responses: dict[str, Any]) -> None:
        if not isinstance(responses, dict):
            raise DomainError("responses: expected a mapping of utter_* names to lists of variations", ("responses",))
        for name, variations in responses.items():
            if not isinstance(variations, list) or not variations:
                raise DomainError(f"responses.{name}: expected a non-empty list of variations", ("responses", name))
            for variation in variations:
                if not isinstance(variation, dict):
                    raise DomainError(f"responses.{name}: each variation must be a mapping with text, buttons, ...",
                                      ("responses", name))
            self.responses[str(name)] = variations

    def _load_forms(self, forms: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
        """Load forms; returns Rasa 2.0 style slot mappings found inside form definitions."""
        legacy: dict[str, list[dict[str, Any]]] = {}
        for name, spec in (forms or {}).items():
            spec = spec or {}
            if "required_slots" in spec:
                required = spec.get("required_slots") or []
                if isinstance(required, dict):  # 2.0: required_slots: {slot: [mappings]}
                    legacy.update({k: list(v or []) for k, v in required.items()})
                    required = list(required)
                self.forms[name] = Form(name, tuple(required), tuple(spec.get("ignored_intents") or ()))
            else:  # 2.0 without the key: {slot: [mappings]}
                legacy.update({k: list(v or []) for k, v in spec.items() if k != "ignored_intents"})
                slots = [k for k in spec if k != "ignored_intents"]
                self.forms[name] = Form(name, tuple(slots), tuple(spec.get("ignored_intents") or ()))
        return legacy

    def _load_slots(self, slots: dict[str, Any], legacy_mappings: dict[str, list[dict[str, Any]]]) -> None:
        for name, spec in (slots or {}).items():
            spec = spec or {}
            mappings_raw = list(spec.get("mappings") or [])
            if not mappings_raw and name in legacy_mappings:
                mappings_raw = legacy_mappings[name]
            if not mappings_raw and spec.get("auto_fill", True) and name in self.entities:
                mappings_raw = [{"type": "from_entity", "entity": name}]
            mappings = tuple(_parse_mapping(name, m) for m in mappings_raw)
            values = tuple(spec.get("values") or ())
            self.slots[name] = Slot(
                name=name,
                type=str(spec.get("type", "any")),
                initial_value=spec.get("initial_value"),
                values=values,
                influence_conversation=bool(spec.get("influence_conversation", True)),
                mappings=mappings,
            )
        # Rasa always has this slot; forms need it.
        if self.forms and "requested_slot" not in self.slots:
            self.slots["requested_slot"] = Slot("requested_slot", "any", influence_conversation=False)

    # -- queries ------------------------------------------------------------------------
    @property
    def action_names(self) -> list[str]:
        """Every action the bot may run: responses, custom actions, forms and built-ins."""
        names = list(BUILTIN_ACTIONS) + list(self.responses) + list(self.actions) + list(self.forms)
        return list(dict.fromkeys(names))

    def is_custom_action(self, name: str) -> bool:
        return name not in self.responses and name not in BUILTIN_ACTIONS and name not in self.forms

    def initial_slots(self) -> dict[str, Any]:
        return {name: slot.initial_value for name, slot in self.slots.items()}

    def as_rasa_dict(self) -> dict[str, Any]:
        """The domain as rasa-sdk expects it in a webhook request (built once: the same
        object every call, so the action client can fingerprint it once too)."""
        cached = self.__dict__.get("_rasa_dict")
        if cached is None:
            cached = dict(self.raw)
            cached.setdefault("version", "3.1")
            cached["responses"] = self.responses
            cached["actions"] = self.actions
            self.__dict__["_rasa_dict"] = cached
        return cached


def _parse_mapping(slot_name: str, raw: Any) -> SlotMapping:
    if not isinstance(raw, dict) or "type" not in raw:
        raise DomainError(f"slots.{slot_name}.mappings: each mapping needs a type, got {raw!r}", ("slots", slot_name))
    kind = raw["type"]
    allowed = {"from_entity", "from_intent", "from_text", "from_trigger_intent", "custom"}
    if kind not in allowed:
        raise DomainError(f"slots.{slot_name}.mappings: type must be one of {sorted(allowed)}, got {kind!r}",
                          ("slots", slot_name))

    def as_tuple(value: Any) -> tuple[str, ...]:
        if value is None:
            return ()
        return tuple(value) if isinstance(value, list) else (str(value),)

    return SlotMapping(
        type=kind,
        entity=raw.get("entity"),
        role=raw.get("role"),
        group=raw.get("group"),
        value=raw.get("value"),
        intent=as_tuple(raw.get("intent")),
        not_intent=as_tuple(raw.get("not_intent")),
        conditions=tuple(raw.get("conditions") or ()),
        action=raw.get("action"),
    )
