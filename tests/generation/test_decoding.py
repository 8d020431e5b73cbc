from __future__ import annotations

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
