"""bot.actions_client against the real rasa-sdk action server and small real HTTP servers.

The scripted server is a real HTTP server on a free port that answers from a list, for the
faults the real action server cannot be made to produce on demand (a 449 on request, a
503 from a proxy, an answer that never comes).
"""

from __future__ import annotations

import asyncio
import copy
import json
import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from actions.local_server import LocalActionServer, free_tcp_port
from bot.actions_client import (
    ActionClient,
    ActionError,
    ActionRejected,
    ActionResult,
    ActionServerError,
    ActionServerUnavailable,
    UnknownAction,
    domain_digest,
)
from tests.actions.shop_conversations import DOMAIN, build_tracker_state

SECRET_EMAIL = "very.private.customer@example.com"


@dataclass(frozen=True)
class Answer:
    status: int
    body: Any = None
    delay_s: float = 0.0


class ScriptedServer:
    """A real HTTP server answering POSTs with ``answers`` in turn (the last one repeats)."""

    def __init__(self, *answers: Answer) -> None:
        self.answers = list(answers)
        self.requests: list[dict[str, Any]] = []
        scripted = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                length = int(self.headers.get("Content-Length", 0))
                scripted.requests.append(json.loads(self.rfile.read(length)))
                index = min(len(scripted.requests), len(scripted.answers)) - 1
                answer = scripted.answers[index]
                time.sleep(answer.delay_s)
                payload = json.dumps(answer.body).encode()
                try:
                    self.send_response(answer.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up waiting, which is what some tests check

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._server.block_on_close = False
        self.webhook_url = f"http://127.0.0.1:{self._server.server_address[1]}/webhook"

    def __enter__(self) -> ScriptedServer:
        # A short poll interval keeps shutdown() quick.
        threading.Thread(target=self._server.serve_forever, args=(0.01,), daemon=True).start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture(scope="module")
def action_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The webhook URL of a real rasa-sdk action server serving ``actions``."""
    orders_db = tmp_path_factory.mktemp("client-actions") / "orders.sqlite3"
    with LocalActionServer(orders_db=orders_db) as server:
        yield server.webhook_url


OK = Answer(200, {"events": [{"event": "slot", "name": "order_status", "value": "shipped"}],
                  "responses": [{"text": "Shipped."}]})


def run(url: str, action: str, tracker: dict[str, Any], domain: dict[str, Any] = DOMAIN,
        **client_options: Any) -> ActionResult:
    """One ``ActionClient.run`` call on a fresh client."""
    async def call() -> ActionResult:
        async with ActionClient(url, **client_options) as client:
            return await client.run(action, sender_id=tracker["sender_id"],
                                    tracker_state=tracker, domain=domain)
    return asyncio.run(call())


def order_question(order_id: str = "ORD-10006", language: str = "en") -> dict[str, Any]:
    return build_tracker_state(f"where is {order_id}", intent="track_order", language=language,
                               entities={"order_id": order_id}, slots={"email": SECRET_EMAIL})


# -- against the real rasa-sdk action server ---------------------------------------------

def test_runs_an_action_and_returns_events_and_responses(action_server: str) -> None:
    result = run(action_server, "action_order_status", order_question())

    assert isinstance(result, ActionResult)
    assert {"event": "slot", "timestamp": None, "name": "order_status", "value": "shipped"} \
        in result.events
    assert "1Z999AA10123456784" in result.responses[0]["text"]


def test_chinese_conversation_gets_a_chinese_answer(action_server: str) -> None:
    result = run(action_server, "action_order_status", order_question("10009", language="zh"))

    assert "订单 ORD-10009 已于" in result.responses[0]["text"]


def test_unknown_action(action_server: str) -> None:
    with pytest.raises(UnknownAction) as error:
        run(action_server, "action_fly_to_the_moon", order_question())

    assert error.value.action_name == "action_fly_to_the_moon"
    assert "action_fly_to_the_moon" in error.value.message


def test_rejected_form_validation(action_server: str) -> None:
    tracker = build_tracker_state("what's your return policy?", intent="ask_return_policy",
                                  active_loop="track_order_form",
                                  slots={"requested_slot": "order_id"})

    with pytest.raises(ActionRejected) as error:
        run(action_server, "validate_track_order_form", tracker)

    assert error.value.action_name == "validate_track_order_form"
    assert "order_id" in error.value.message


def test_server_that_lost_the_domain_gets_it_again(action_server: str, caplog) -> None:
    other_domain = copy.deepcopy(DOMAIN)
    other_domain["responses"]["utter_goodbye"] = [{"text": "Bye!"}]
    tracker = order_question()

    async def conversation() -> list[ActionResult]:
        async with ActionClient(action_server) as client:
            results = []
            # DOMAIN, then another domain replaces it on the server, then DOMAIN again: the
            # client believes the server holds DOMAIN and omits it, the server answers 449.
            for domain in (DOMAIN, other_domain, DOMAIN):
                results.append(await client.run("action_order_status", sender_id="c-449",
                                                tracker_state=tracker, domain=domain))
            return results

    with caplog.at_level(logging.INFO, logger="bot.actions_client"):
        results = asyncio.run(conversation())

    assert [r.responses[0]["text"] for r in results] == [results[0].responses[0]["text"]] * 3
    assert caplog.text.count("asked for the domain again") == 1


def test_action_crash_is_a_server_error_and_leaks_no_customer_data(
    action_server: str, caplog
) -> None:
    # A tracker without sender_id makes rasa-sdk fail with HTTP 500, and its 500 body
    # echoes the whole request, customer e-mail included.
    tracker = order_question()
    del tracker["sender_id"]

    async def call() -> None:
        async with ActionClient(action_server) as client:
            await client.run("action_order_status", sender_id="c-500",
                             tracker_state=tracker, domain=DOMAIN)

    with caplog.at_level(logging.DEBUG, logger="bot.actions_client"):
        with pytest.raises(ActionServerError) as error:
            asyncio.run(call())

    assert error.value.status == 500
    assert SECRET_EMAIL not in str(error.value)
    assert SECRET_EMAIL not in caplog.text
    assert "HTTP 500" in caplog.text


def test_stopped_server_is_unavailable_within_the_timeout(tmp_path) -> None:
    with LocalActionServer(orders_db=tmp_path / "orders.sqlite3") as server:
        async def before_and_after_stop() -> tuple[ActionResult, ActionServerUnavailable, float]:
            async with ActionClient(server.webhook_url, timeout_s=2.0, backoff_s=0.05) as client:
                first = await client.run("action_order_status", sender_id="c-down",
                                         tracker_state=order_question(), domain=DOMAIN)
                server.stop()
                # A server's event loop keeps running: it sees the pooled connection close and
                # drops it, so the next call finds the port closed (and may retry that).
                await asyncio.sleep(0.05)
                started = time.monotonic()
                try:
                    await client.run("action_order_status", sender_id="c-down",
                                     tracker_state=order_question(), domain=DOMAIN)
                except ActionServerUnavailable as unavailable:
                    return first, unavailable, time.monotonic() - started
                raise AssertionError("the stopped server answered")

        first, unavailable, elapsed = asyncio.run(before_and_after_stop())

    assert first.responses
    assert elapsed < 2.0
    assert "gave up after 3 attempts" in unavailable.message


def test_is_healthy(action_server: str) -> None:
    async def check(url: str) -> bool:
        async with ActionClient(url, timeout_s=1.0) as client:
            return await client.is_healthy()

    assert asyncio.run(check(action_server)) is True
    assert asyncio.run(check(f"http://127.0.0.1:{free_tcp_port()}/webhook")) is False


# -- faults from scripted servers ---------------------------------------------------------

def test_449_resends_the_request_with_the_domain() -> None:
    tracker = order_question()
    missing = Answer(449, {"error": "Missing domain context", "action_name": "action_order_status"})

    async def two_calls() -> list[ActionResult]:
        async with ActionClient(server.webhook_url) as client:
            return [await client.run("action_order_status", sender_id="c1",
                                     tracker_state=tracker, domain=DOMAIN) for _ in range(2)]

    with ScriptedServer(OK, missing, OK) as server:
        results = asyncio.run(two_calls())

    first, second, resent = server.requests
    assert [r.responses for r in results] == [OK.body["responses"]] * 2
    assert first["domain"] == DOMAIN  # a new domain is sent at once
    assert "domain" not in second  # known to the server: only its digest
    assert resent["domain"] == DOMAIN  # ...until the server asks for it
    digest = domain_digest(DOMAIN)
    for request in (first, second, resent):
        assert request["domain_digest"] == digest
        assert request["next_action"] == "action_order_status"
        assert request["sender_id"] == "c1"
        assert request["tracker"] == tracker
        assert request["version"].startswith("3.")


def test_449_although_the_domain_was_sent_is_a_server_error() -> None:
    with ScriptedServer(Answer(449, {"error": "?", "action_name": "a"})) as server:
        with pytest.raises(ActionServerError) as error:
            run(server.webhook_url, "action_order_status", order_question())

    assert error.value.status == 449
    assert len(server.requests) == 1


def test_503_is_retried_until_the_server_answers() -> None:
    with ScriptedServer(Answer(503), Answer(503), OK) as server:
        result = run(server.webhook_url, "action_order_status", order_question(), backoff_s=0.01)

    assert result.responses == [{"text": "Shipped."}]
    assert len(server.requests) == 3


def test_bad_gateway_after_all_retries_is_unavailable() -> None:
    with ScriptedServer(Answer(502)) as server:
        with pytest.raises(ActionServerUnavailable) as error:
            run(server.webhook_url, "action_cancel_order", order_question(),
                retries=2, backoff_s=0.01)

    assert len(server.requests) == 3
    assert "HTTP 502" in error.value.message


@pytest.mark.parametrize(
    ("status", "error_type"), [(400, ActionRejected), (404, UnknownAction), (500, ActionServerError)]
)
def test_client_and_action_errors_are_never_retried(status: int, error_type: type) -> None:
    body = {"error": "nope", "action_name": "action_cancel_order", "request_body": {"x": 1}}
    with ScriptedServer(Answer(status, body)) as server:
        with pytest.raises(error_type) as error:
            run(server.webhook_url, "action_cancel_order", order_question(), backoff_s=0.01)

    assert len(server.requests) == 1
    assert error.value.action_name == "action_cancel_order"
    assert "request_body" not in str(error.value)


def test_slow_answer_times_out_once_and_is_not_retried() -> None:
    # The action may be running: a retry could cancel an order twice.
    with ScriptedServer(Answer(200, OK.body, delay_s=1.5)) as server:
        started = time.monotonic()
        with pytest.raises(ActionServerUnavailable):
            run(server.webhook_url, "action_cancel_order", order_question(), timeout_s=0.4)
        elapsed = time.monotonic() - started

    assert 0.35 < elapsed < 1.2
    assert len(server.requests) == 1


def test_retries_stay_within_the_timeout_budget() -> None:
    with ScriptedServer(Answer(503)) as server:
        started = time.monotonic()
        with pytest.raises(ActionServerUnavailable):
            run(server.webhook_url, "action_order_status", order_question(),
                timeout_s=0.5, retries=50, backoff_s=0.1)
        elapsed = time.monotonic() - started

    assert elapsed < 0.9
    assert 2 <= len(server.requests) < 10


def test_closed_port_is_unavailable_quickly() -> None:
    started = time.monotonic()
    with pytest.raises(ActionServerUnavailable) as error:
        run(f"http://127.0.0.1:{free_tcp_port()}/webhook", "action_order_status",
            order_question(), timeout_s=3.0, retries=2, backoff_s=0.05)

    assert time.monotonic() - started < 1.0
    assert "cannot connect" in error.value.message
    assert isinstance(error.value, ActionError)


@pytest.mark.parametrize(
    "body", [{"events": "nope", "responses": []}, {"events": [1], "responses": []}, ["x"]]
)
def test_malformed_answer_is_a_server_error(body: Any) -> None:
    with ScriptedServer(Answer(200, body)) as server:
        with pytest.raises(ActionServerError):
            run(server.webhook_url, "action_order_status", order_question())


def test_null_answer_means_no_events() -> None:
    with ScriptedServer(Answer(200, None)) as server:
        result = run(server.webhook_url, "action_order_status", order_question())

    assert result == ActionResult(events=[], responses=[])


def test_nothing_of_the_tracker_is_logged(caplog) -> None:
    with caplog.at_level(logging.DEBUG, logger="bot.actions_client"):
        with ScriptedServer(Answer(503), OK) as server:
            run(server.webhook_url, "action_order_status", order_question(), backoff_s=0.01)

    assert "action_order_status" in caplog.text
    assert SECRET_EMAIL not in caplog.text
    assert "ORD-10006" not in caplog.text


@pytest.mark.parametrize(
    "options", [{"timeout_s": 0}, {"retries": -1}, {"backoff_s": -0.1}]
)
def test_invalid_options_are_refused(options: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        ActionClient("http://127.0.0.1:5055/webhook", **options)


def test_health_url_sits_next_to_the_webhook() -> None:
    assert ActionClient("http://actions:5055/webhook").health_url == "http://actions:5055/health"
