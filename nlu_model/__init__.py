"""Kefu's understanding model: training data, tokenizer, transformer, training, inference.

Serving code imports `nlu_model.inference` (Predictor, BatchingPredictor); `kefu train` and
`kefu eval` come from `nlu_model.cli`. See README.md in this folder.
"""
