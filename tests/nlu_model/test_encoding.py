from __future__ import annotations

from nlu_model.data import EntitySpan
from nlu_model.encoding import IGNORE_INDEX, bio_tags, decode_entities, tag_ids_for
from nlu_model.tokenizer import train_tokenizer


def test_bio_tags_round_trip_through_token_offsets() -> None:
    tokenizer = train_tokenizer(["cancel order 00123842 for Mr. Jones", "ship to Seattle"] * 3, min_frequency=1)
    text = "cancel order 00123842 for Mr. Jones"
    spans = [EntitySpan(13, 21, "123842", "order_id"), EntitySpan(26, 35, "Mr. Jones", "person_name")]
    tags = bio_tags(["order_id", "person_name"])
    index = {tag: i for i, tag in enumerate(tags)}
    encoding = tokenizer.encode(text)
    tag_ids = tag_ids_for(encoding.offsets, spans, index)
    assert tag_ids[0] == IGNORE_INDEX  # [CLS]
    assert [tags[t] for t in tag_ids[1:]].count("B-order_id") == 1
    entities = decode_entities(text, encoding.offsets, tag_ids, [0.9] * len(tag_ids), tags)
    assert [(e["entity"], e["value"], e["start"], e["end"]) for e in entities] == [
        ("order_id", "00123842", 13, 21),
        ("person_name", "Mr. Jones", 26, 35),
    ]


def test_a_tagged_word_piece_widens_to_its_word_once() -> None:
    tags = ["O", "B-city", "I-city"]
    text = "ship to seattle"
    offsets = [(0, 0), (0, 4), (5, 7), (8, 12), (12, 15)]  # "seattle" as "seat" + "##tle"
    # Both pieces tagged B (a tagger mistake): still one entity covering the word.
    entities = decode_entities(text, offsets, [0, 0, 0, 1, 1], [1.0] * 5, tags)
    assert [(e["value"], e["start"], e["end"]) for e in entities] == [("seattle", 8, 15)]
    entities = decode_entities(text, offsets, [0, 0, 0, 0, 2], [1.0] * 5, tags)  # only "##tle" tagged
    assert [(e["value"], e["start"], e["end"]) for e in entities] == [("seattle", 8, 15)]
