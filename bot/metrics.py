"""Prometheus metrics, served at ``/metrics``.

One registry per app (not the global one), so several apps in one process — tests — do
not collide. Names follow Prometheus conventions: ``kefu_<what>_<unit>``.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from starlette.requests import Request
from starlette.responses import Response

# Buckets in seconds, dense where a chat turn should land (a few ms to a quarter second).
_TURN_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5, 5.0)
_NLU_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25)


class Metrics:
    """The counters, gauges and histograms the server updates."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.turn_seconds = Histogram("kefu_turn_seconds", "Customer message to last bot event, per turn",
                                      buckets=_TURN_BUCKETS, registry=self.registry)
        self.nlu_seconds = Histogram("kefu_nlu_seconds", "NLU parse time per message (micro-batched)",
                                     buckets=_NLU_BUCKETS, registry=self.registry)
        self.nlu_batch_size = Histogram("kefu_nlu_batch_size", "Messages per NLU forward pass",
                                        buckets=(1, 2, 4, 8, 16, 32, 64), registry=self.registry)
        self.connections = Gauge("kefu_active_connections", "Open widget websockets", registry=self.registry)
        self.messages = Counter("kefu_messages_total", "Customer messages stored", registry=self.registry)
        self.fallbacks = Counter("kefu_fallbacks_total", "Messages the bot did not understand", registry=self.registry)
        self.handoffs = Counter("kefu_handoffs_total", "Conversations handed to a person", registry=self.registry)
        self.errors = Counter("kefu_errors_total", "Error frames sent, by code", ["code"], registry=self.registry)
        self.gc_pauses = Histogram("kefu_gc_pause_seconds", "Garbage collector pauses, by generation", ["generation"],
                                   buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5), registry=self.registry)
        self.answers = Counter("kefu_generated_answers_total",
                               "Answers the generator was asked for, by the guard's decision (generated, "
                               "fallback_to_template, handoff, busy)", ["decision"], registry=self.registry)

    def watch_garbage_collector(self) -> Callable[[], None]:
        """Time every collection of the garbage collector (a full one pauses every turn);
        returns the function that stops watching."""
        started: dict[int, float] = {}

        def on_collect(phase: str, info: dict) -> None:
            if phase == "start":
                started[info["generation"]] = time.perf_counter()
            elif (begun := started.pop(info["generation"], None)) is not None:
                self.gc_pauses.labels(str(info["generation"])).observe(time.perf_counter() - begun)

        gc.callbacks.append(on_collect)
        return lambda: gc.callbacks.remove(on_collect)

    def observe_turn_events(self, events: list[dict]) -> None:
        """Count fallbacks, handoffs and generation decisions among a turn's new events."""
        for event in events:
            kind = event.get("event")
            if kind == "user" and (event.get("parse_data") or {}).get("intent", {}).get("name") == "nlu_fallback":
                self.fallbacks.inc()
            elif kind == "handoff" and event.get("state") == "waiting":
                self.handoffs.inc()
            elif kind == "bot" and (decision := ((event.get("metadata") or {}).get("generation") or {}).get("decision")):
                self.answers.labels(str(decision)).inc()

    async def endpoint(self, request: Request) -> Response:
        return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)
