from __future__ import annotations

from pathlib import Path

from nlu_model.generation.knowledge import KnowledgeBase, load_passages
from nlu_model.inference import Predictor

KNOWLEDGE = Path(__file__).resolve().parents[2] / "dialogues" / "knowledge"


def test_passages_are_parsed_with_language_intents_and_questions() -> None:
    passages = {p.title: p for p in load_passages(KNOWLEDGE)}
    assert passages["Shipping times"].language == "en" and passages["配送时间"].language == "zh"
    assert passages["Payment methods"].intents == ["check_payment_methods"]
    assert "can I pay with PayPal?" in passages["Payment methods"].questions


def test_retrieval_finds_the_passage_in_english_and_chinese(tiny_model: Path) -> None:
    kb = KnowledgeBase.load(KNOWLEDGE, Predictor.load(tiny_model).embed)
    assert kb.retrieve("how many days is shipping?").passage.title == "Shipping times"
    assert kb.retrieve("can I pay with PayPal?").passage.title == "Payment methods"
    assert kb.retrieve("退款多久到账？").passage.title == "退款时间"
    assert kb.retrieve("支持哪些支付方式？").passage.title == "支付方式"
    # A Chinese question never gets an English passage, nor the reverse.
    assert all(hit.passage.language == "zh" for hit in kb.rank("包邮吗？"))
