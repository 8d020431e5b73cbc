"""Consistency checks on the default bot's Rasa YAML in dialogues/ and the script deriving it.

Reads the files with PyYAML only, so these tests do not depend on the NLU model or the
dialogue manager. The rebuild test runs tools/build_default_bot.py into a temporary
folder and needs the Bitext datasets (skipped when they are not on this machine).
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path
from types import ModuleType
from typing import Any, Iterator

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
BOT_DIR = REPO_ROOT / "dialogues"
DATA_DIR = BOT_DIR / "data"
BUILD_SCRIPT = REPO_ROOT / "tools" / "build_default_bot.py"

SMALLTALK_INTENTS = ("greet", "goodbye", "thank_you", "affirm", "deny", "bot_challenge")
# Written for Kefu besides the small talk: what the forms are told, and what is off topic.
KEFU_INTENTS = ("inform", "out_of_scope")
ANNOTATION = re.compile(r"\[(?P<text>[^\[\]]+)\]\((?P<entity>[^()]+)\)")
CJK = re.compile(r"[\u4e00-\u9fff]")
ZH_CONDITION = [{"type": "slot", "name": "language", "value": "zh"}]


def load_yaml(path: Path) -> dict[str, Any]:
    with path.open(encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def nlu_examples(path: Path) -> Iterator[tuple[str, str, dict[str, Any] | None]]:
    """Yield ``(intent, annotated text, metadata)`` for both Rasa example forms."""
    for item in load_yaml(path).get("nlu", []):
        if "intent" not in item:
            continue
        examples = item["examples"]
        if isinstance(examples, str):
            for line in examples.splitlines():
                assert line.startswith("- "), f"{path.name}: example line without '- ': {line!r}"
                yield item["intent"], line[2:].strip(), None
        else:
            for example in examples:
                yield item["intent"], example["text"].strip(), example.get("metadata")


def plain_text(annotated: str) -> str:
    return ANNOTATION.sub(lambda match: match.group("text"), annotated)


def fold(text: str) -> str:
    return " ".join(text.casefold().split())


def training_nlu_files() -> list[Path]:
    return sorted(path for path in DATA_DIR.glob("*.yml") if "nlu" in load_yaml(path))


@pytest.fixture(scope="module")
def domain() -> dict[str, Any]:
    return load_yaml(BOT_DIR / "domain.yml")


@pytest.fixture(scope="module")
def examples_by_file() -> dict[str, list[tuple[str, str, dict[str, Any] | None]]]:
    return {path.name: list(nlu_examples(path)) for path in training_nlu_files()}


@pytest.fixture(scope="module")
def build_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("build_default_bot", BUILD_SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while building
    spec.loader.exec_module(module)
    return module


def test_the_expected_nlu_files_are_present(examples_by_file):
    assert {"nlu.yml", "nlu_smalltalk.yml", "nlu_zh.yml"} <= set(examples_by_file)


def test_nlu_intents_and_domain_intents_are_the_same_35(domain, examples_by_file, build_module):
    nlu_intents = {intent for examples in examples_by_file.values() for intent, _, _ in examples}
    expected = set(build_module.BITEXT_INTENTS) | set(SMALLTALK_INTENTS) | set(KEFU_INTENTS)
    assert len(expected) == 35
    assert nlu_intents == expected
    assert set(domain["intents"]) == expected
    assert len(domain["intents"]) == len(set(domain["intents"])), "an intent is listed twice"


def test_every_intent_has_an_english_and_a_chinese_response(domain):
    responses = domain["responses"]
    fallbacks = ["utter_default", "utter_ask_rephrase"]
    for name in [f"utter_{intent}" for intent in domain["intents"]] + fallbacks:
        variations = responses.get(name)
        assert variations, f"missing response {name}"
        english = [v for v in variations if "condition" not in v]
        chinese = [v for v in variations if v.get("condition") == ZH_CONDITION]
        assert len(english) == 1 and len(chinese) == 1, name
        assert english[0]["text"].strip() and not CJK.search(english[0]["text"]), name
        assert CJK.search(chinese[0]["text"]), name


def test_response_buttons_are_paired_and_point_at_domain_intents(domain):
    responses = domain["responses"]
    for language_variation in responses["utter_greet"]:
        assert len(language_variation.get("buttons", [])) >= 3
    for name, variations in responses.items():
        button_sets = [[b["payload"] for b in v.get("buttons", [])] for v in variations]
        assert all(
            payloads == button_sets[0] for payloads in button_sets
        ), f"{name}: languages differ"
        for payload in button_sets[0]:
            assert (
                payload.startswith("/") and payload[1:] in domain["intents"]
            ), f"{name}: {payload}"


def test_slots_and_session_config(domain):
    language = domain["slots"]["language"]
    assert language["type"] == "categorical" and language["values"] == ["en", "zh"]
    assert language["influence_conversation"] is False
    assert language["mappings"] == [{"type": "custom"}]
    order_id = domain["slots"]["order_id"]
    assert order_id["type"] == "text"
    assert order_id["mappings"] == [{"type": "from_entity", "entity": "order_id"}]
    assert domain["session_config"] == {
        "session_expiration_time": 60,
        "carry_over_slots_to_new_session": True,
    }


def test_chinese_examples_cover_every_intent(domain, examples_by_file):
    counts = Counter(intent for intent, _, _ in examples_by_file["nlu_zh.yml"])
    assert set(counts) == set(domain["intents"])
    thin = {intent: count for intent, count in counts.items() if count < 20}
    assert not thin, f"intents with fewer than 20 Chinese examples: {thin}"
    assert counts["inform"] >= 25
    for _, text, _ in examples_by_file["nlu_zh.yml"]:
        assert CJK.search(text) or text.isdigit(), f"not Chinese: {text!r}"


def test_english_smalltalk_counts(examples_by_file):
    counts = Counter(intent for intent, _, _ in examples_by_file["nlu_smalltalk.yml"])
    for intent in SMALLTALK_INTENTS:
        assert counts[intent] >= 40, intent
    assert counts["out_of_scope"] >= 150
    assert counts["inform"] >= 60


@pytest.mark.parametrize("file_name", ["nlu_smalltalk.yml", "nlu_zh.yml"])
def test_inform_gives_both_kinds_of_order_number_and_addresses(examples_by_file, file_name):
    informs = [text for intent, text, _ in examples_by_file[file_name] if intent == "inform"]
    order_ids = [
        match.group("text")
        for text in informs
        for match in ANNOTATION.finditer(text)
        if match.group("entity") == "order_id"
    ]
    web_shop = [value for value in order_ids if value.upper().startswith("ORD")]
    marketplace = [value for value in order_ids if value.isdigit()]
    assert len(web_shop) >= 10 and len(marketplace) >= 5, (web_shop, marketplace)
    # An address is all a customer types when the address form asks for one.
    addresses = [text for text in informs if not ANNOTATION.search(text)]
    assert len(addresses) >= len(informs) // 4
    # With a request verb a message is that request (the order number rides along).
    requests = re.compile(r"\b(track|cancel|change|refund|where is)\b|取消|查|修改|退款", re.IGNORECASE)
    assert not [text for text in informs if requests.search(text)]


def test_bitext_examples_per_intent_and_sentiment(examples_by_file, build_module):
    examples = examples_by_file["nlu.yml"]
    counts = Counter(intent for intent, _, _ in examples)
    assert set(counts) == set(build_module.BITEXT_INTENTS)
    assert all(100 <= count <= 300 for count in counts.values()), counts
    complaint_metadata = [metadata for intent, _, metadata in examples if intent == "complaint"]
    assert all(metadata == {"sentiment": "negative"} for metadata in complaint_metadata)
    assert sum(1 for intent, _, metadata in examples if metadata and intent != "complaint") > 100


def test_no_example_is_claimed_by_two_intents(examples_by_file):
    intents_by_text: dict[str, set[str]] = defaultdict(set)
    for examples in examples_by_file.values():
        for intent, text, _ in examples:
            intents_by_text[fold(plain_text(text))].add(intent)
    clashes = {text: intents for text, intents in intents_by_text.items() if len(intents) > 1}
    assert not clashes


def test_no_example_is_repeated_within_a_file(examples_by_file):
    for name, examples in examples_by_file.items():
        repeated = [
            text
            for text, n in Counter(fold(plain_text(t)) for _, t, _ in examples).items()
            if n > 1
        ]
        assert not repeated, f"{name}: {repeated[:5]}"


def test_entity_annotations_are_well_formed(domain, examples_by_file):
    entity_types = set(domain["entities"])
    seen_types = set()
    for examples in examples_by_file.values():
        for _, text, metadata in examples:
            for match in ANNOTATION.finditer(text):
                assert match.group("entity") in entity_types, text
                assert match.group("text") == match.group("text").strip() != "", text
                seen_types.add(match.group("entity"))
            assert not re.search(r"[\[\]]", ANNOTATION.sub("", text)), f"stray bracket: {text!r}"
            assert "{{" not in text and "}}" not in text, f"unfilled placeholder: {text!r}"
            if metadata is not None:
                assert metadata.get("sentiment") in {"negative", "neutral", "positive"}, text
    assert seen_types == entity_types


def test_order_id_regexes_agree_with_the_annotations(examples_by_file):
    patterns = [
        re.compile(line[2:].strip())
        for item in load_yaml(DATA_DIR / "nlu_smalltalk.yml")["nlu"]
        if item.get("regex") == "order_id"
        for line in item["examples"].splitlines()
    ]
    assert patterns
    order_ids = [
        match.group("text")
        for examples in examples_by_file.values()
        for _, text, _ in examples
        for match in ANNOTATION.finditer(text)
        if match.group("entity") == "order_id"
    ]
    assert len(order_ids) > 300
    for value in order_ids:
        assert any(p.fullmatch(value) for p in patterns), value
    assert any(p.search("订单202405180931到哪了") for p in patterns)
    assert not any(p.search("from 12 months ago") for p in patterns)
    # A postcode in a new address must not replace the order number the form already has.
    assert not any(p.search("上海市浦东新区世纪大道100号 200120") for p in patterns)
    assert not any(p.search("12 Oak Street, 10115 Berlin") for p in patterns)


def test_rules_and_stories_use_domain_intents_and_actions(domain):
    builtin = {"action_two_stage_fallback", "action_handoff_to_human", "action_deactivate_loop", "action_listen"}
    known_actions = set(domain["responses"]) | set(domain.get("actions", [])) | set(domain.get("forms", {})) | builtin
    known_intents = set(domain["intents"]) | {"nlu_fallback"}  # Rasa's built-in fallback intent
    files = [
        DATA_DIR / "rules.yml",
        DATA_DIR / "stories.yml",
        BOT_DIR / "tests" / "test_stories.yml",
    ]
    for path in files:
        content = load_yaml(path)
        for block in content.get("rules", []) + content.get("stories", []):
            for step in block["steps"]:
                if "action" in step:
                    assert step["action"] in known_actions, f"{path.name}: {step['action']}"
                if "intent" in step:
                    assert step["intent"] in known_intents, f"{path.name}: {step['intent']}"
    rules = load_yaml(DATA_DIR / "rules.yml")["rules"]
    answered = {
        rule["steps"][0]["intent"]: rule["steps"][1]["action"]
        for rule in rules
        if "intent" in rule["steps"][0] and "condition" not in rule
    }
    # An intent without a rule must be answered by the stories instead, the same way every
    # time no form is running (Rasa's memoization learns the reply from them).
    replies: dict[str, set[str]] = defaultdict(set)
    for story in load_yaml(DATA_DIR / "stories.yml")["stories"]:
        steps, loop = story["steps"], None
        for step, following in zip(steps, steps[1:]):
            loop = step["active_loop"] if "active_loop" in step else loop
            if "intent" in step and "action" in following and loop is None:
                replies[step["intent"]].add(following["action"])
    for intent in set(domain["intents"]) - set(answered):
        assert len(replies[intent]) == 1, f"{intent}: no rule, and stories answer {replies[intent]}"
        answered[intent] = replies[intent].pop()
    # Order questions run a form, a person is a handoff, the rest answer with a template.
    assert answered == {
        **{i: f"utter_{i}" for i in domain["intents"]},
        "track_order": "track_order_form",
        "cancel_order": "cancel_order_form",
        "change_shipping_address": "change_address_form",
        "track_refund": "refund_status_form",
        "contact_human_agent": "action_handoff_to_human",
        "nlu_fallback": "action_two_stage_fallback",
    }
    # Every form is finished by a custom action.
    finished = {rule["steps"][0]["action"]: rule["steps"][2]["action"]
                for rule in rules if "action" in rule["steps"][0]}
    assert set(finished) == set(domain["forms"])


def test_end_to_end_test_stories_use_unseen_texts(examples_by_file):
    seen = {
        fold(plain_text(text)) for examples in examples_by_file.values() for _, text, _ in examples
    }
    for story in load_yaml(DATA_DIR / "stories.yml")["stories"]:
        seen |= {fold(plain_text(step["user"])) for step in story["steps"] if "user" in step}
    stories = load_yaml(BOT_DIR / "tests" / "test_stories.yml")["stories"]
    assert len(stories) >= 30
    user_texts = [step["user"] for story in stories for step in story["steps"] if "user" in step]
    assert all("intent" in step for story in stories for step in story["steps"] if "user" in step)
    assert sum(1 for text in user_texts if CJK.search(text)) >= 10
    assert sum(1 for text in user_texts if not CJK.search(text)) >= 10
    reused = [text for text in user_texts if fold(plain_text(text)) in seen]
    assert not reused


def test_heldout_entity_set_is_disjoint_from_training(examples_by_file):
    heldout = list(nlu_examples(BOT_DIR / "tests" / "nlu_entities_heldout.yml"))
    assert len(heldout) > 200
    assert all(
        ANNOTATION.search(text) for _, text, _ in heldout
    ), "a held-out example has no entity"
    training = {fold(plain_text(text)) for _, text, _ in examples_by_file["nlu.yml"]}
    assert not training & {fold(plain_text(text)) for _, text, _ in heldout}


def test_build_script_reproduces_the_committed_files(tmp_path, build_module):
    if not (build_module.DEFAULT_SOURCE_DIR / build_module.RESPONSES_CSV).exists():
        pytest.skip(f"Bitext datasets not found in {build_module.DEFAULT_SOURCE_DIR}")
    result = subprocess.run(
        [sys.executable, str(BUILD_SCRIPT), "--out-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "total" in result.stdout
    for relative in (
        "data/nlu.yml",
        "tests/nlu_entities_heldout.yml",
        "data/LICENSE-CDLA-Sharing-1.0.txt",
    ):
        assert (tmp_path / relative).read_bytes() == (BOT_DIR / relative).read_bytes(), relative


def test_entity_offsets_are_repaired_or_rejected(build_module):
    row = {
        "instruction": "reimburse $12",
        "entity_type": "refund_amount",
        "entity_value": "12",
        "start_offset": "11",
        "end_offset": "15",
    }
    assert build_module.bitext_entity_span(row) == (11, 13)  # end overshot a cut-short text
    row = {
        "instruction": "edit order 3707955617, can you help",
        "entity_type": "order_id",
        "entity_value": "3707955617",
        "start_offset": "11",
        "end_offset": "23",
    }
    assert build_module.bitext_entity_span(row) == (11, 21)  # trailing ", " trimmed
    row = {
        "instruction": "cancel purchase 00123842",
        "entity_type": "order_id",
        "entity_value": "123842",
        "start_offset": "16",
        "end_offset": "24",
    }
    assert build_module.bitext_entity_span(row) == (16, 24)  # value lost its leading zeros
    row = {
        "instruction": "cancelling order732201349959",
        "entity_type": "order_id",
        "entity_value": "732201349959",
        "start_offset": "16",
        "end_offset": "28",
    }
    with pytest.raises(ValueError, match="glued"):
        build_module.bitext_entity_span(row)
    row = {
        "instruction": "track order 123456",
        "entity_type": "order_id",
        "entity_value": "999",
        "start_offset": "0",
        "end_offset": "5",
    }
    with pytest.raises(ValueError, match="do not hold"):
        build_module.bitext_entity_span(row)


def test_whitespace_collapsing_moves_the_entity_span(build_module):
    text, span = build_module.collapse_whitespace("  cancel  purchase   00123842 now ", (21, 29))
    assert text == "cancel purchase 00123842 now"
    assert text[span[0] : span[1]] == "00123842"


def test_unannotated_account_types_and_amounts_are_completed(build_module):
    example = build_module.Example("I expect a refund of $299 for my gold account", "track_refund")
    completed = build_module.complete_annotations(example)
    assert build_module.annotated_text(completed) == (
        "I expect a refund of $[299](refund_amount) for my [gold](account_type) account"
    )
    free_number = build_module.Example(
        "is there a free number for customer service", "contact_customer_service"
    )
    assert build_module.complete_annotations(free_number).entities == ()
