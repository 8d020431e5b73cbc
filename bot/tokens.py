"""Conversation ids and the tokens that prove a client owns one.

An id is 192 random bits; its token is an HMAC-SHA256 of the id under the server secret,
so no token needs storing and every replica that shares the secret can verify it. A client
that does not hold the token cannot read or write the conversation.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

_ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{32}$")


def new_conversation_id() -> str:
    """A fresh conversation id (24 random bytes, URL-safe base64, 32 characters)."""
    return secrets.token_urlsafe(24)


def is_valid_conversation_id(value: object) -> bool:
    return isinstance(value, str) and bool(_ID_PATTERN.match(value))


def sign_conversation(secret: bytes, conversation_id: str) -> str:
    """The token a client must present to reopen ``conversation_id``."""
    digest = hmac.new(secret, b"conversation:" + conversation_id.encode(), hashlib.sha256)
    return digest.hexdigest()


def verify_conversation(secret: bytes, conversation_id: object, token: object) -> bool:
    """True only for a well-formed id with its exact token (constant-time comparison)."""
    if not is_valid_conversation_id(conversation_id) or not isinstance(token, str):
        return False
    expected = sign_conversation(secret, conversation_id)  # type: ignore[arg-type]
    # Bytes, not str: compare_digest refuses non-ASCII text, and a token is client input.
    return hmac.compare_digest(expected.encode(), token.encode("utf-8", "surrogatepass"))
