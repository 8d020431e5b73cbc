"""Client for a rasa-sdk action server (custom actions over its ``POST /webhook`` protocol).

Errors, all subclasses of ``ActionError`` (each carries ``action_name``):

- ``ActionServerUnavailable``: the server could not be reached or did not answer in time
  (connect errors, timeouts), or kept answering 502/503/504, after the bounded retries.
- ``ActionRejected`` (HTTP 400): the action refused to run (rasa-sdk's
  ``ActionExecutionRejection``, e.g. a form validation found no answer in the message);
  ``message`` says why. The dialogue manager should predict another action.
- ``UnknownAction`` (HTTP 404): the server has no action of that name.
- ``ActionServerError`` (HTTP 500 or any other unexpected answer): the action crashed or
  the server spoke nonsense; ``status`` holds the HTTP status.

Wire protocol, as rasa-sdk 3.x (``rasa_sdk/endpoint.py``, ``executor.py``) implements it:
request ``{next_action, sender_id, tracker, domain?, domain_digest, version}``, response
``{events, responses}``. The server keeps the last domain it was sent together with its
digest; a request whose digest it does not hold and that carries no domain gets HTTP 449,
and the caller resends it with the domain. Rasa itself always tries without the domain
first; this client sends the domain whenever it does not know the server to hold that
digest (first call, new domain), so the 449 round trip only happens after the server
restarted or another client replaced its domain.

Retries: only failures that cannot have run the action are retried (the connection was
never made, or a proxy answered 502/503/504), because an action such as
``action_cancel_order`` must not run twice. A read timeout is not retried. All attempts,
back-off sleeps and the 449 resend share the one ``timeout_s`` budget of a ``run`` call.

Privacy: trackers hold customer data, so neither the request nor the server's error body
(rasa-sdk's 500 echoes the whole request) is ever logged or put into an exception.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import aiohttp

logger = logging.getLogger(__name__)

# The Rasa version we present in requests. rasa-sdk only compares major.minor with its own
# version and warns on a mismatch, so this matches the rasa-sdk release we ship with.
RASA_PROTOCOL_VERSION = "3.21.0"

# rasa-sdk answers 449 when it lacks the domain for a request's digest.
STATUS_DOMAIN_MISSING = 449
_RETRYABLE_STATUSES = frozenset({502, 503, 504})
# Server error texts are shown to operators, not customers; keep them short.
_MAX_ERROR_TEXT = 300


@dataclass(frozen=True)
class HttpReply:
    """The action server's answer: its status and body."""

    status_code: int
    body: bytes

    def json(self) -> Any:
        """The body as JSON; raises ``ValueError`` when it is not."""
        return json.loads(self.body)


class ActionError(Exception):
    """Base of every error raised by ``ActionClient.run``."""

    def __init__(self, action_name: str, message: str) -> None:
        super().__init__(message)
        self.action_name = action_name
        self.message = message


class ActionServerUnavailable(ActionError):
    """The action server could not be reached or did not answer in time."""


class ActionRejected(ActionError):
    """HTTP 400: the action refused to run (``ActionExecutionRejection``)."""


class UnknownAction(ActionError):
    """HTTP 404: the action server has no action of this name."""


class ActionServerError(ActionError):
    """HTTP 500 or another unexpected answer; ``status`` is the HTTP status (or 200)."""

    def __init__(self, action_name: str, message: str, *, status: int) -> None:
        super().__init__(action_name, message)
        self.status = status


@dataclass(frozen=True)
class ActionResult:
    """What an action produced: Rasa event dicts and bot messages (``{"text": ...}``)."""

    events: list[dict[str, Any]]
    responses: list[dict[str, Any]]


def domain_digest(domain: dict[str, Any]) -> str:
    """A stable fingerprint of ``domain`` (key order does not matter)."""
    canonical = json.dumps(domain, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


class ActionClient:
    """Runs custom actions on the rasa-sdk server at ``endpoint_url`` (``.../webhook``).

    Use as ``async with ActionClient(url) as client: result = await client.run(...)``, or
    call ``aclose()`` when done. One client may serve many conversations concurrently.
    """

    def __init__(
        self,
        endpoint_url: str,
        *,
        timeout_s: float = 5.0,  # whole budget of one run(), retries included
        retries: int = 2,  # extra attempts after a failure that cannot have run the action
        backoff_s: float = 0.2,  # first back-off sleep; doubles on each retry
        max_connections: int = 8,  # concurrent requests to the action server; more wait their turn
    ) -> None:
        if timeout_s <= 0:
            raise ValueError(f"timeout_s must be positive, got {timeout_s!r}")
        if retries < 0 or backoff_s < 0:
            raise ValueError(f"retries and backoff_s must be >= 0, got {retries!r}, {backoff_s!r}")
        self.endpoint_url = endpoint_url
        self.timeout_s = timeout_s
        self.retries = retries
        self.backoff_s = backoff_s
        self.max_connections = max_connections
        # aiohttp rather than httpx: under load httpx's per-request overhead was the largest
        # single cost of a turn with a custom action (benchmarks/load.py, py-spy). The session
        # is made on first use, in the running event loop it belongs to.
        self._session: aiohttp.ClientSession | None = None
        self._session_loop: asyncio.AbstractEventLoop | None = None
        # Digests of domains the server confirmed it holds (a 200 to a request with it).
        self._domains_on_server: set[str] = set()

    async def __aenter__(self) -> ActionClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection pool (a later call opens a new one)."""
        if self._session is not None and not self._session.closed and self._session_loop is asyncio.get_running_loop():
            await self._session.close()
        self._session = None

    def _http(self) -> aiohttp.ClientSession:
        loop = asyncio.get_running_loop()
        if self._session is None or self._session.closed or self._session_loop is not loop:
            # A session of an earlier event loop (tests run several) is dropped with its loop.
            self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=self.max_connections))
            self._session_loop = loop
        return self._session

    @property
    def health_url(self) -> str:
        """rasa-sdk's ``GET /health`` next to the webhook."""
        base = self.endpoint_url.rstrip("/").removesuffix("/webhook")
        return f"{base}/health"

    async def is_healthy(self) -> bool:
        """True when the server answers ``/health`` with 200 within ``timeout_s``."""
        try:
            async with self._http().get(self.health_url, timeout=aiohttp.ClientTimeout(total=self.timeout_s)) as response:
                return response.status == 200
        except (aiohttp.ClientError, asyncio.TimeoutError):
            return False

    def _digest_of(self, domain: dict[str, Any]) -> str:
        """The domain's fingerprint, computed once per domain object (hashing the whole
        domain on every action call showed up in profiles)."""
        cached = getattr(self, "_digest_cache", None)
        if cached is None or cached[0] is not domain:
            cached = (domain, domain_digest(domain))
            self._digest_cache = cached
        return cached[1]

    async def run(
        self,
        action_name: str,
        *,
        sender_id: str,
        tracker_state: dict[str, Any],
        domain: dict[str, Any],
    ) -> ActionResult:
        """Run ``action_name`` for the conversation ``sender_id`` and return its result.

        ``tracker_state`` is Rasa's tracker dump (``sender_id``, ``slots``,
        ``latest_message``, ``events``, ``active_loop``, ...); ``domain`` is the domain as a
        dict. Raises a subclass of ``ActionError`` (see the module docstring).
        """
        deadline = time.monotonic() + self.timeout_s
        digest = self._digest_of(domain)
        payload: dict[str, Any] = {
            "next_action": action_name,
            "sender_id": sender_id,
            "tracker": tracker_state,
            "domain_digest": digest,
            "version": RASA_PROTOCOL_VERSION,
        }
        send_domain = digest not in self._domains_on_server
        response = await self._post(action_name, payload, domain if send_domain else None, deadline)
        if response.status_code == STATUS_DOMAIN_MISSING and not send_domain:
            # The server lost our domain (restart, or another client replaced it): resend.
            logger.info("action server asked for the domain again; resending %s", action_name)
            self._domains_on_server.discard(digest)
            response = await self._post(action_name, payload, domain, deadline)
        result = self._parse(action_name, response)
        self._domains_on_server.add(digest)
        return result

    async def _post(
        self,
        action_name: str,
        payload: dict[str, Any],
        domain: dict[str, Any] | None,
        deadline: float,
    ) -> HttpReply:
        """POST once, retrying only what cannot have run the action, within ``deadline``."""
        body = payload if domain is None else {**payload, "domain": domain}
        failed_attempts = 0
        failure = "no time left for the request"
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ActionServerUnavailable(
                    action_name, f"{failure}; gave up after the {self.timeout_s} s budget"
                )
            started = time.monotonic()
            try:
                response = await self._request(body, remaining)
            except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError) as error:
                # The request never reached the server: safe to try again.
                failure = f"cannot connect to the action server ({type(error).__name__})"
            except asyncio.TimeoutError as error:
                # The action may be running; running it twice could cancel twice.
                raise ActionServerUnavailable(
                    action_name,
                    f"the action server did not answer within {self.timeout_s} s "
                    f"({type(error).__name__})",
                ) from error
            except aiohttp.ClientError as error:
                raise ActionServerUnavailable(
                    action_name, f"the action server connection failed ({type(error).__name__})"
                ) from error
            else:
                logger.debug(
                    "action %s: HTTP %d in %.0f ms",
                    action_name,
                    response.status_code,
                    (time.monotonic() - started) * 1000,
                )
                if response.status_code not in _RETRYABLE_STATUSES:
                    return response
                failure = f"the action server answered HTTP {response.status_code}"

            failed_attempts += 1
            if failed_attempts > self.retries:
                raise ActionServerUnavailable(
                    action_name, f"{failure}; gave up after {failed_attempts} attempts"
                )
            pause = self.backoff_s * 2 ** (failed_attempts - 1)
            logger.warning(
                "action %s: %s; retry %d/%d in %.2f s",
                action_name, failure, failed_attempts, self.retries, pause,
            )
            await asyncio.sleep(min(pause, max(0.0, deadline - time.monotonic())))

    async def _request(self, body: dict[str, Any], timeout_s: float) -> HttpReply:
        data = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
        timeout = aiohttp.ClientTimeout(total=timeout_s)
        async with self._http().post(self.endpoint_url, data=data, timeout=timeout,
                                     headers={"Content-Type": "application/json"}) as response:
            return HttpReply(response.status, await response.read())

    @staticmethod
    def _parse(action_name: str, response: HttpReply) -> ActionResult:
        """Turn the server's answer into an ``ActionResult`` or the matching error."""
        status = response.status_code
        if status == 200:
            return _result_from_body(action_name, response)
        error_text = _error_text(response)
        if status == 400:
            raise ActionRejected(action_name, error_text or f"action {action_name} rejected")
        if status == 404:
            raise UnknownAction(action_name, error_text or f"no action named {action_name}")
        if status == STATUS_DOMAIN_MISSING:
            # Only reachable when the domain was in the request: the server is broken.
            raise ActionServerError(
                action_name, "the action server asked for the domain it was just sent",
                status=status,
            )
        logger.error("action %s failed on the action server: HTTP %d", action_name, status)
        raise ActionServerError(
            action_name,
            f"action {action_name} failed on the action server (HTTP {status})"
            + (f": {error_text}" if error_text else ""),
            status=status,
        )


def _result_from_body(action_name: str, response: HttpReply) -> ActionResult:
    try:
        body = response.json()
    except ValueError as error:
        raise ActionServerError(
            action_name, "the action server's answer is not JSON", status=200
        ) from error
    if body is None:
        # rasa-sdk answers null when the request named no action.
        return ActionResult(events=[], responses=[])
    events = body.get("events", []) if isinstance(body, dict) else None
    responses = body.get("responses", []) if isinstance(body, dict) else None
    if not (
        isinstance(events, list)
        and isinstance(responses, list)
        and all(isinstance(item, dict) for item in [*events, *responses])
    ):
        raise ActionServerError(
            action_name,
            "the action server's answer lacks lists of 'events' and 'responses'",
            status=200,
        )
    return ActionResult(events=events, responses=responses)


def _error_text(response: HttpReply) -> str | None:
    """The ``error`` field of an error answer, shortened; never the rest of the body."""
    try:
        body = response.json()
    except ValueError:
        return None
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, str) or not error.strip():
        return None
    error = error.strip()
    return error if len(error) <= _MAX_ERROR_TEXT else error[: _MAX_ERROR_TEXT - 1] + "…"
