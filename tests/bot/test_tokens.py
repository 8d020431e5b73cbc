from __future__ import annotations

from bot.tokens import is_valid_conversation_id, new_conversation_id, sign_conversation, verify_conversation


def test_ids_are_random_and_long() -> None:
    ids = {new_conversation_id() for _ in range(1000)}
    assert len(ids) == 1000
    assert all(is_valid_conversation_id(i) and len(i) * 6 >= 128 for i in ids)


def test_token_is_bound_to_id_and_secret() -> None:
    a, b = new_conversation_id(), new_conversation_id()
    token = sign_conversation(b"s1", a)
    assert verify_conversation(b"s1", a, token)
    assert not verify_conversation(b"s1", b, token)  # swapped id
    assert not verify_conversation(b"s2", a, token)  # other server secret
    assert not verify_conversation(b"s1", a, token[:-1] + "0" if token[-1] != "0" else token[:-1] + "1")
    assert not verify_conversation(b"s1", a, None)
    assert not verify_conversation(b"s1", "../../etc", token)
    assert not verify_conversation(b"s1", a, "令牌" * 32)  # non-ASCII input is refused, not a crash
