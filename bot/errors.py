"""Kefu server errors, one hierarchy.

``KefuError`` is the root. Errors that a customer caused carry a machine-readable ``code``
that is sent to the widget in an ``error`` frame; everything else is a bug or an outage and
is logged server-side, never echoed to the customer.
"""

from __future__ import annotations


class KefuError(Exception):
    """Root of every error raised on purpose by the ``bot`` package."""


class ClientError(KefuError):
    """The client sent something we refuse; the message is safe to show to that client."""

    code = "bad_request"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code

    @property
    def message(self) -> str:
        return str(self.args[0])


class BadFrame(ClientError):
    code = "bad_frame"


class FrameTooLarge(ClientError):
    code = "too_large"


class RateLimited(ClientError):
    code = "rate_limited"


class NotAuthorized(ClientError):
    code = "unauthorized"


class ServiceUnavailable(KefuError):
    """A backing service (Redis) cannot be reached; the customer is told to retry."""

    code = "unavailable"


class ConversationBusy(ServiceUnavailable):
    """The conversation's lock could not be taken in time (another turn is still running)."""

    code = "busy"


class ProjectError(KefuError):
    """A dialogue project (domain, rules, stories) cannot be loaded; names file and line."""
