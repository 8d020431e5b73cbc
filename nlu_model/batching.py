"""Micro-batching for asyncio servers: many conversations, one forward pass.

`BatchingPredictor(predictor).parse(text)` queues the text; one worker task collects whatever
arrives within `max_wait_ms` (up to `max_batch` texts) and runs `predictor.parse_batch` in a
worker thread, so the event loop never waits on torch. While a batch runs, new texts queue up
and form the next batch, so under load batches fill without any waiting at all.
"""
from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .inference import Predictor

_Request = tuple[str, "asyncio.Future[dict[str, Any]]"]


class BatchingPredictor:
    """Wraps a `Predictor` for concurrent `await parse(text)` calls; call `close()` when done."""

    def __init__(
        self,
        predictor: Predictor,
        *,
        max_batch: int = 32,  # texts per forward pass
        max_wait_ms: float = 5.0,  # how long the first text of a batch waits for company
        max_queue: int = 4096,  # callers wait (back-pressure) when this many texts are queued
        on_batch: Callable[[int], None] | None = None,  # told each forward pass's size (metrics)
    ) -> None:
        if max_batch < 1:
            raise ValueError(f"max_batch must be >= 1, got {max_batch}")
        self.predictor = predictor
        self.max_batch = max_batch
        self.max_wait = max_wait_ms / 1000.0
        self.max_queue = max_queue
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kefu-nlu")
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queue: asyncio.Queue[_Request] | None = None
        self._worker: asyncio.Task[None] | None = None
        self._closed = False
        # Sizes of the latest forward passes (bounded: a server runs for weeks).
        self.batch_sizes: deque[int] = deque(maxlen=1000)
        self.on_batch = on_batch

    async def parse(self, text: str) -> dict[str, Any]:
        """The parse result of `text` (see `Predictor.parse`); raises `RuntimeError` after `close()`."""
        if self._closed:
            raise RuntimeError("BatchingPredictor is closed")
        loop = asyncio.get_running_loop()
        if self._loop is not loop or self._worker is None or self._worker.done():
            # First call, or a new event loop (e.g. successive asyncio.run in tests): start afresh.
            self._loop = loop
            self._queue = asyncio.Queue(maxsize=self.max_queue)
            self._worker = loop.create_task(self._run(self._queue), name="kefu-nlu-batcher")
        assert self._queue is not None
        future: asyncio.Future[dict[str, Any]] = loop.create_future()
        await self._queue.put((text, future))
        return await future

    async def _collect(self, queue: asyncio.Queue[_Request]) -> list[_Request]:
        batch = [await queue.get()]
        deadline = asyncio.get_running_loop().time() + self.max_wait
        while len(batch) < self.max_batch:
            if not queue.empty():
                batch.append(queue.get_nowait())
                continue
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                break
            try:
                batch.append(await asyncio.wait_for(queue.get(), remaining))
            except TimeoutError:
                break
        return batch

    async def _run(self, queue: asyncio.Queue[_Request]) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = [(text, future) for text, future in await self._collect(queue) if not future.cancelled()]
            if not batch:
                continue
            try:
                results = await loop.run_in_executor(self._executor, self.predictor.parse_batch, [t for t, _ in batch])
            except asyncio.CancelledError:  # close() while this batch ran: its callers must not hang
                for _, future in batch:
                    _fail(future)
                raise
            except Exception as exc:  # a failed pass fails its callers, not the batcher
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            self.batch_sizes.append(len(batch))
            if self.on_batch is not None:
                self.on_batch(len(batch))
            for (_, future), result in zip(batch, results):
                if not future.done():
                    future.set_result(result)

    def close(self) -> None:
        """Stop the worker and fail queued calls with `RuntimeError`; idempotent."""
        self._closed = True
        if self._worker is not None and self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._worker.cancel)
            while self._queue is not None and not self._queue.empty():
                _, future = self._queue.get_nowait()
                self._loop.call_soon_threadsafe(_fail, future)
        self._executor.shutdown(wait=False)


def _fail(future: asyncio.Future[Any]) -> None:
    if not future.done():
        future.set_exception(RuntimeError("BatchingPredictor closed before this text was parsed"))
