"""A WordPiece tokenizer trained on the bot's own training texts (HuggingFace `tokenizers`).

`train_tokenizer(texts)` returns a `tokenizers.Tokenizer` that lower-cases, applies NFKC and
splits every CJK character into its own token, so Chinese needs no word segmenter. Save it with
`tokenizer.save(path)` (one `tokenizer.json`) and read it back with `load_tokenizer(path)`.
Encodings carry character offsets into the original text, which the entity tagger uses.
"""
from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

PAD, UNK, CLS, SEP, MASK = "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"
SPECIAL_TOKENS = [PAD, UNK, CLS, SEP, MASK]
PAD_ID = 0  # the trainer gives special tokens the first ids, in this order


def train_tokenizer(texts: Iterable[str], *, vocab_size: int = 8000, min_frequency: int = 2) -> Tokenizer:
    """Train a lower-casing WordPiece tokenizer on `texts`; every encoding starts with `[CLS]`."""
    tokenizer = Tokenizer(models.WordPiece(unk_token=UNK, max_input_chars_per_word=100))
    tokenizer.normalizer = normalizers.Sequence(
        [
            # NFKC folds full-width Latin letters and digits (common in Chinese input) to ASCII.
            normalizers.NFKC(),
            normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True, strip_accents=True, lowercase=True),
        ]
    )
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.decoder = decoders.WordPiece()
    trainer = trainers.WordPieceTrainer(
        vocab_size=vocab_size, min_frequency=min_frequency, special_tokens=SPECIAL_TOKENS, show_progress=False
    )
    tokenizer.train_from_iterator(list(texts), trainer=trainer)
    # [CLS] gives attention a position that every token can look at, even in one-word inputs.
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{CLS} $A", special_tokens=[(CLS, tokenizer.token_to_id(CLS))]
    )
    assert tokenizer.token_to_id(PAD) == PAD_ID
    return tokenizer


def load_tokenizer(path: str | Path) -> Tokenizer:
    """Read a `tokenizer.json` written by `train_tokenizer(...).save(path)`."""
    return Tokenizer.from_file(str(path))
