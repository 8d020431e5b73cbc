"""A `Predictor` in a child process, for servers whose event loop must keep the GIL.

`PredictorProcess(model_dir).parse_batch(texts)` has `Predictor.parse_batch`'s contract, but
the model runs in a spawned child process. A server's event loop and an NLU *thread* share
one GIL, and a small transformer on one CPU thread spends most of a forward pass in Python
(tokenising, n-gram features, op dispatch), so under load the NLU thread waited for the
event loop and the event loop for it (measured: 38 ms mean parse time for a 1.2 ms forward
pass at 235 turns/s). In a process of its own the forward pass runs beside the event loop.

A child that dies (killed, out of memory) is replaced on the next call, which is retried
once. Texts and results cross the process boundary as plain lists and dicts.
"""
from __future__ import annotations

import logging
import multiprocessing
import threading
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

START_TIMEOUT_S = 120.0  # importing torch and loading the model, on a busy machine

_predictor: Any = None  # the child's Predictor


def _load(model_dir: str, threads: int | None) -> None:
    global _predictor
    from .inference import Predictor

    _predictor = Predictor.load(model_dir, threads=threads)


def _parse_batch(texts: list[str]) -> list[dict[str, Any]]:
    return _predictor.parse_batch(texts)


def _ready() -> bool:
    return _predictor is not None


class PredictorProcess:
    """`parse_batch` in a child process that holds the model; `close()` stops it."""

    def __init__(self, model_dir: str | Path, *, threads: int | None = 1) -> None:
        self.model_dir = Path(model_dir)
        self.threads = threads
        self._lock = threading.Lock()
        self._executor = self._start()

    def _start(self) -> ProcessPoolExecutor:
        # spawn, not fork: a forked copy of a process running torch and an event loop is unsafe.
        executor = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"),
                                       initializer=_load, initargs=(str(self.model_dir), self.threads))
        try:
            # Load now, so the first customer does not wait for torch to import.
            executor.submit(_ready).result(timeout=START_TIMEOUT_S)
        except BaseException:
            executor.shutdown(wait=False, cancel_futures=True)
            raise
        return executor

    def parse_batch(self, texts: Sequence[str]) -> list[dict[str, Any]]:
        """Parse results for `texts` (see `Predictor.parse_batch`)."""
        executor = self._executor
        try:
            return executor.submit(_parse_batch, list(texts)).result()
        except BrokenProcessPool:
            log.error("the NLU process died; starting a new one")
            with self._lock:
                if self._executor is executor:  # not replaced by another thread meanwhile
                    executor.shutdown(wait=False, cancel_futures=True)
                    self._executor = self._start()
            return self._executor.submit(_parse_batch, list(texts)).result()

    @property
    def pid(self) -> int | None:
        """The child's process id (None before it started)."""
        processes = getattr(self._executor, "_processes", None) or {}
        return next(iter(processes), None)

    def close(self) -> None:
        """Stop the child process; idempotent."""
        self._executor.shutdown(wait=False, cancel_futures=True)
