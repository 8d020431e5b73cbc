"""PredictorProcess: the model in a child process, same answers, survives the child dying."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

from nlu_model.inference import BatchingPredictor, Predictor
from nlu_model.predictor_process import PredictorProcess

TEXTS = ["hi", "where is my order 12345", "i want my money back", "bye"]


def test_the_child_answers_like_the_model_and_is_replaced_when_it_dies(trained_model: tuple[Path, dict]) -> None:
    model_dir = trained_model[0]
    expected = Predictor.load(model_dir, threads=1).parse_batch(TEXTS)
    process = PredictorProcess(model_dir, threads=1)
    try:
        first_pid = process.pid
        assert first_pid is not None and first_pid != os.getpid()
        assert process.parse_batch(TEXTS) == expected
        os.kill(first_pid, signal.SIGKILL)  # out of memory, an operator's kill -9
        assert process.parse_batch(TEXTS) == expected  # the call is retried on a new child
        assert process.pid not in (None, first_pid)
    finally:
        process.close()


def test_batching_works_across_the_process_boundary(trained_model: tuple[Path, dict]) -> None:
    process = PredictorProcess(trained_model[0], threads=1)
    batcher = BatchingPredictor(process, max_batch=8, max_wait_ms=5)

    async def many() -> list[dict]:
        return await asyncio.gather(*(batcher.parse(text) for text in TEXTS * 4))

    try:
        results = asyncio.run(many())
    finally:
        batcher.close()
        process.close()
    assert [r["text"] for r in results] == TEXTS * 4
    assert sum(batcher.batch_sizes) == len(TEXTS) * 4 and max(batcher.batch_sizes) > 1
