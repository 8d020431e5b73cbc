"""Answer generation: a small decoder on the NLU encoder writes answers; guardrails decide if they ship.

Modules, one concept each:
- `placeholders` / `settings`: `{{Order Number}}`-style facts and the shop's settings file;
- `pairs`: training pairs (Bitext responses, a Rasa project's responses, the knowledge base);
- `answer_tokenizer`, `memory`, `artefacts`, `train`: the decoder's vocabulary, inputs, files, training;
- `knowledge`: Markdown passages retrieved with the encoder's sentence vectors;
- `decoding`: `AnswerGenerator` (streaming, KV cache, repetition control);
- `guard`: confidence, intent consistency and grounding checks and the ship/fallback decision;
- `evaluate`: the held-out benchmark (`kefu eval --generation`, `benchmarks/generation.py`).

Never imports `bot` or `web`.
"""
