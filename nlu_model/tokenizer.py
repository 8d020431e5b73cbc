"""A WordPiece tokenizer trained on the bot's own training texts (HuggingFace `tokenizers`).

`train_tokenizer(texts)` returns a `tokenizers.Tokenizer` that lower-cases, applies NFKC and
splits every CJK character into its own token, so Chinese needs no word segmenter. Save it with
`tokenizer.save(path)` (one `tokenizer.json`) and read it back with `load_tokenizer(path)`.
Encodings carry character offsets into the original text, which the entity tagger uses.
"""
from __future__ import annotations

import heapq
from collections import Counter, defaultdict
from collections.abc import Iterable
from pathlib import Path

from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

PAD, UNK, CLS, SEP, MASK = "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"
SPECIAL_TOKENS = [PAD, UNK, CLS, SEP, MASK]
PAD_ID = 0  # the trainer gives special tokens the first ids, in this order


def _empty_tokenizer(vocab: dict[str, int]) -> Tokenizer:
    tokenizer = Tokenizer(models.WordPiece(vocab=vocab, unk_token=UNK, max_input_chars_per_word=100))
    tokenizer.normalizer = normalizers.Sequence(
        [
            # NFKC folds full-width Latin letters and digits (common in Chinese input) to ASCII.
            normalizers.NFKC(),
            normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True, strip_accents=True, lowercase=True),
        ]
    )
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.decoder = decoders.WordPiece()
    return tokenizer


def learn_wordpiece_vocabulary(word_counts: dict[str, int], *, vocab_size: int, min_frequency: int) -> list[str]:
    """WordPiece pieces by byte-pair merging, with ties broken by the pieces' text.

    `tokenizers`' own trainer breaks ties between equally frequent pairs in hash-map order, so
    two runs on the same data can give different vocabularies; this one is deterministic.
    """
    words = [[word[0]] + ["##" + char for char in word[1:]] for word in sorted(word_counts)]
    counts = [word_counts[word] for word in sorted(word_counts)]
    vocabulary = {piece for symbols in words for piece in symbols}
    pair_counts: Counter[tuple[str, str]] = Counter()
    containing: dict[tuple[str, str], set[int]] = defaultdict(set)
    for index, symbols in enumerate(words):
        for pair in zip(symbols, symbols[1:]):
            pair_counts[pair] += counts[index]
            containing[pair].add(index)
    heap = [(-count, pair) for pair, count in pair_counts.items()]
    heapq.heapify(heap)
    while heap and len(vocabulary) < vocab_size - len(SPECIAL_TOKENS):
        negative_count, pair = heapq.heappop(heap)
        if pair_counts.get(pair, 0) != -negative_count:
            continue  # stale entry: the pair's count changed after it was pushed
        if -negative_count < min_frequency:
            break
        merged = pair[0] + pair[1][2:] if pair[1].startswith("##") else pair[0] + pair[1]
        vocabulary.add(merged)
        touched: set[tuple[str, str]] = set()
        for index in containing.pop(pair):
            symbols, count = words[index], counts[index]
            for old in zip(symbols, symbols[1:]):
                pair_counts[old] -= count
                touched.add(old)
            out, position = [], 0
            while position < len(symbols):
                if position + 1 < len(symbols) and (symbols[position], symbols[position + 1]) == pair:
                    out.append(merged)
                    position += 2
                else:
                    out.append(symbols[position])
                    position += 1
            words[index] = out
            for new in zip(out, out[1:]):
                pair_counts[new] += count
                containing[new].add(index)
                touched.add(new)
        pair_counts.pop(pair, None)
        for changed in touched:
            if pair_counts.get(changed, 0) > 0:
                heapq.heappush(heap, (-pair_counts[changed], changed))
    return sorted(vocabulary)


def train_tokenizer(texts: Iterable[str], *, vocab_size: int = 8000, min_frequency: int = 2) -> Tokenizer:
    """Train a lower-casing WordPiece tokenizer on `texts`; every encoding starts with `[CLS]`."""
    tokenizer = _empty_tokenizer({token: index for index, token in enumerate(SPECIAL_TOKENS)})
    word_counts: Counter[str] = Counter()
    for text in texts:
        normalised = tokenizer.normalizer.normalize_str(text)
        word_counts.update(word for word, _ in tokenizer.pre_tokenizer.pre_tokenize_str(normalised))
    pieces = learn_wordpiece_vocabulary(word_counts, vocab_size=vocab_size, min_frequency=min_frequency)
    tokenizer = _empty_tokenizer({token: index for index, token in enumerate(SPECIAL_TOKENS + pieces)})
    # [CLS] gives attention a position that every token can look at, even in one-word inputs.
    tokenizer.post_processor = processors.TemplateProcessing(single=f"{CLS} $A", special_tokens=[(CLS, SPECIAL_TOKENS.index(CLS))])
    return tokenizer


def load_tokenizer(path: str | Path) -> Tokenizer:
    """Read a `tokenizer.json` written by `train_tokenizer(...).save(path)`."""
    return Tokenizer.from_file(str(path))
