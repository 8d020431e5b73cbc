from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest

from nlu_model.inference import BatchingPredictor, Predictor

TEXTS = ["hi", "where is my order 12345", "i want my money back", "italian food", "bye", "you are useless"] * 8


@pytest.fixture()
def predictor(trained_model: tuple[Path, dict]) -> Predictor:
    return Predictor.load(trained_model[0], threads=1)


def test_concurrent_calls_share_forward_passes_and_get_their_own_results(predictor: Predictor) -> None:
    batcher = BatchingPredictor(predictor, max_batch=16, max_wait_ms=20)
    expected = {text: predictor.parse(text) for text in set(TEXTS)}
    passes_before = predictor.forward_passes

    async def many() -> list[dict]:
        return await asyncio.gather(*(batcher.parse(text) for text in TEXTS))

    try:
        results = asyncio.run(many())
    finally:
        batcher.close()
    passes = predictor.forward_passes - passes_before
    assert passes <= len(TEXTS) // 16 + 1  # 48 texts in 3 (or 4) passes, not 48
    assert sum(batcher.batch_sizes) == len(TEXTS) and max(batcher.batch_sizes) <= 16
    for text, result in zip(TEXTS, results):
        assert result["text"] == text
        assert result["intent_ranking"][0]["name"] == expected[text]["intent_ranking"][0]["name"]


def test_forward_pass_runs_off_the_event_loop_thread(predictor: Predictor) -> None:
    threads: list[str] = []
    original = predictor.parse_batch

    def recording_parse_batch(texts):  # the real method, plus a note of which thread ran it
        threads.append(threading.current_thread().name)
        return original(texts)

    predictor.parse_batch = recording_parse_batch  # type: ignore[method-assign]
    batcher = BatchingPredictor(predictor)

    async def one_with_ticks() -> tuple[dict, int]:
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0)

        task = asyncio.create_task(ticker())
        result = await batcher.parse("hello there")
        task.cancel()
        return result, ticks

    try:
        result, ticks = asyncio.run(one_with_ticks())
    finally:
        batcher.close()
    assert result["intent_ranking"][0]["name"] == "greet"
    assert threads and all(name.startswith("kefu-nlu") for name in threads)
    assert ticks > 1  # the loop kept running while the model worked


def test_single_call_waits_at_most_max_wait_and_close_refuses_new_calls(predictor: Predictor) -> None:
    batcher = BatchingPredictor(predictor, max_batch=8, max_wait_ms=1)

    async def run() -> dict:
        return await batcher.parse("hi")

    assert asyncio.run(run())["text"] == "hi"
    assert list(batcher.batch_sizes) == [1]
    batcher.close()
    with pytest.raises(RuntimeError, match="closed"):
        asyncio.run(run())


def test_a_failing_pass_fails_its_callers_and_the_batcher_goes_on(predictor: Predictor) -> None:
    batcher = BatchingPredictor(predictor, max_wait_ms=1)

    async def run() -> tuple[BaseException | None, dict]:
        failure = None
        try:
            await batcher.parse(None)  # type: ignore[arg-type]  # not text: the tokenizer raises
        except Exception as exc:
            failure = exc
        return failure, await batcher.parse("hello")

    try:
        failure, result = asyncio.run(run())
    finally:
        batcher.close()
    assert failure is not None
    assert result["text"] == "hello"
