from __future__ import annotations

import re

from nlu_model.generation.answer_tokenizer import cjk_token_ids
from nlu_model.generation.decoding import AnswerGenerator, AnswerRequest, GeneratedAnswer


def _stream(generator: AnswerGenerator, request: AnswerRequest) -> tuple[list[str], GeneratedAnswer]:
    pieces = list(generator.stream(request))
    assert isinstance(pieces[-1], GeneratedAnswer)
    assert all(isinstance(p, str) and p for p in pieces[:-1])
    return pieces[:-1], pieces[-1]


def test_streaming_yields_tokens_then_the_final_answer(generator: AnswerGenerator) -> None:
    pieces, answer = _stream(generator, AnswerRequest("how long does delivery take?", "delivery_period"))
    assert len(pieces) > 3
    assert answer.generated_text.startswith("".join(pieces).rstrip()[:20])
    assert answer.first_piece_ms is not None and answer.first_piece_ms <= answer.total_ms


def test_answer_from_knowledge_uses_the_passage(generator: AnswerGenerator) -> None:
    answer = generator.generate(AnswerRequest("how long does delivery take?", "delivery_period"))
    assert answer.passage_id == "shipping#0"
    assert "3 to 5 working days" in answer.generated_text
    assert answer.verdict.grounded


def test_placeholders_are_filled_from_slots_and_settings(bare_generator: AnswerGenerator) -> None:
    pieces, answer = _stream(bare_generator, AnswerRequest("where is my order", "track_order", {"order_id": "ORD-10004"}))
    assert "ORD-10004" in answer.generated_text and "+1 555 0100" in answer.generated_text
    assert "{{" not in "".join(pieces) + answer.generated_text


def test_placeholder_without_value_is_never_shown_raw(bare_generator: AnswerGenerator) -> None:
    pieces, answer = _stream(bare_generator, AnswerRequest("where is my order", "track_order", {}))
    assert "{{" not in "".join(pieces) + answer.generated_text + answer.text


def test_guard_blocks_an_invented_order_number_and_price(bare_generator: AnswerGenerator) -> None:
    # The only answer this decoder knows for invoice questions
    # states an invoice number, a price and a date nobody mentioned: the guard must replace it, unseen.
    pieces, answer = _stream(bare_generator, AnswerRequest("where is my invoice", "check_invoice"))
    assert answer.passage_id is None
    assert "$48.60" in answer.generated_text and "$48.60" in answer.verdict.ungrounded
    assert answer.verdict.decision == "fallback_to_template" and answer.text == "" and not answer.verdict.grounded
    assert answer.metadata()["source"] == "template"
    streamed = "".join(pieces)
    assert not any(specific in streamed for specific in answer.verdict.ungrounded)


def test_answers_are_written_in_the_customers_language(generator: AnswerGenerator) -> None:
    # The only answer this decoder learnt for the question is the Chinese passage.
    chinese = generator.generate(AnswerRequest("客服几点上班？", "contact_customer_service"))
    assert re.search(r"[\u4e00-\u9fff]", chinese.generated_text) and chinese.verdict.language_consistent
    # In an English conversation it cannot write a Chinese character, whatever it learnt.
    pieces, answer = _stream(generator, AnswerRequest("客服几点上班？", "contact_customer_service", language="en"))
    assert not re.search(r"[\u3000-\u9fff\uff00-\uffef]", "".join(pieces) + answer.generated_text)


def test_an_answer_in_the_wrong_language_is_not_shipped(generator: AnswerGenerator) -> None:
    # A Chinese conversation, and a question this decoder answers in English only.
    pieces, answer = _stream(generator, AnswerRequest("how long does delivery take?", "delivery_period", language="zh"))
    assert not re.search(r"[\u4e00-\u9fff]", answer.generated_text)
    assert not answer.verdict.language_consistent and answer.verdict.decision == "fallback_to_template"
    assert len("".join(pieces)) < 16  # the stream stopped once it was clearly not Chinese


def test_only_tokens_that_start_a_chinese_character_are_masked_for_english(generator: AnswerGenerator) -> None:
    masked = set(cjk_token_ids(generator.tokenizer))
    assert masked and all(i not in masked for i in generator.tokenizer.encode("It’s €5 — “quoted” café").ids)
    assert any(i in masked for i in generator.tokenizer.encode("退款").ids)


def test_a_number_from_another_passage_is_not_grounded(generator: AnswerGenerator) -> None:
    # "30 days" is the return window: in an answer about delivery it would be an invented fact.
    request = AnswerRequest("how long does delivery take?", "delivery_period")
    shipping = next(p for p in generator.knowledge.passages if p.passage_id == "shipping#0")
    returns = next(p for p in generator.knowledge.passages if p.passage_id == "returns#0")
    assert "30 days" in returns.text and "30" not in shipping.text
    assert generator.known_facts(request, shipping).ungrounded("Delivery takes 30 days.") == ["30"]
    assert generator.known_facts(request, returns).ungrounded("You can return items within 30 days.") == []
