"""The answer vocabulary: a cased byte-level BPE over answer texts, with placeholder tokens.

The encoder's WordPiece vocabulary lower-cases and drops line breaks, which is right for
understanding and wrong for writing, so answers get their own vocabulary (saved as
`decoder_tokenizer.json`). Byte-level BPE can spell any text, English or Chinese, so the
decoder never writes `[UNK]`. Special tokens: `[PAD]` (0), `[BOS]` (1), `[EOS]` (2), then one
token per fact placeholder (`{{Order Number}}`, ...), matched whole in the text.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, trainers

from .placeholders import FACT_PLACEHOLDERS, token_for

PAD, BOS, EOS = "[PAD]", "[BOS]", "[EOS]"
PAD_ID, BOS_ID, EOS_ID = 0, 1, 2


def special_tokens(placeholders: Sequence[str] = FACT_PLACEHOLDERS) -> list[str]:
    return [PAD, BOS, EOS, *(token_for(name) for name in placeholders)]


def train_answer_tokenizer(texts: Iterable[str], *, vocab_size: int = 4000, placeholders: Sequence[str] = FACT_PLACEHOLDERS) -> Tokenizer:
    """Byte-level BPE trained on `texts` (answers with canonical placeholders)."""
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    specials = special_tokens(placeholders)
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=2,
        special_tokens=[AddedToken(t, special=True, normalized=False) for t in specials],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    # Sorted input: the trainer's merges then depend only on the set of texts, not their order.
    tokenizer.train_from_iterator(sorted(texts), trainer=trainer)
    return tokenizer


def load_answer_tokenizer(path: str | Path) -> Tokenizer:
    return Tokenizer.from_file(str(path))


def placeholder_ids(tokenizer: Tokenizer) -> dict[str, int]:
    """Canonical placeholder name -> its token id, for the placeholders this vocabulary has."""
    found = {}
    for name in FACT_PLACEHOLDERS:
        token_id = tokenizer.token_to_id(token_for(name))
        if token_id is not None:
            found[name] = token_id
    return found


def encode_answer(tokenizer: Tokenizer, text: str, max_len: int) -> list[int]:
    """`[BOS] answer [EOS]`, cut to `max_len` (a cut answer loses its EOS: it was not finished)."""
    ids = [BOS_ID, *tokenizer.encode(text, add_special_tokens=False).ids, EOS_ID]
    return ids[:max_len]


def _char_to_byte() -> dict[str, int]:
    """Byte-level BPE's printable stand-in for each byte (GPT-2's table, as `tokenizers` uses) -> the byte."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    chars = list(printable)
    extra = 0
    for byte in range(256):
        if byte not in printable:
            printable.append(byte)
            chars.append(256 + extra)
            extra += 1
    return {chr(c): b for b, c in zip(printable, chars)}


# UTF-8 lead bytes of CJK punctuation and ideographs (U+3000-U+9FFF) and of full-width forms
# (U+F000-U+FFFF). A token holding one starts a Chinese character; continuation bytes alone
# cannot, and English typography (’ “ € = E2 ..) keeps its lead byte.
_CJK_LEAD_BYTES = frozenset(range(0xE3, 0xEA)) | {0xEF}


def cjk_token_ids(tokenizer: Tokenizer) -> list[int]:
    """Ids of the tokens that start a Chinese character: an answer to an English customer never writes one."""
    byte_of = _char_to_byte()
    return sorted(i for token, i in tokenizer.get_vocab().items() if any(byte_of.get(c) in _CJK_LEAD_BYTES for c in token))
