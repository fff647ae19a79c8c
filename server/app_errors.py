"""Errors of the application (workflow, uploads, soon accounts), apart from the protocol's own.

Hierarchy::

    AppError                  ``message`` is safe to show to a client
    ├── InvalidInput          a parameter or body the operation cannot take (names it)
    ├── Unauthenticated       no valid credentials (answers 401 with ``WWW-Authenticate``)
    ├── TooManyAttempts       sign-ins refused for a while (a locked account or client address)
    │   └── LockedOut         the thing itself is locked for a while (a share link after wrong codes)
    ├── NotFoundError         the thing does not exist (or is not visible to the caller)
    ├── Forbidden             the caller may see the thing but not do this (role, side of a request)
    ├── StateConflict         the action is not allowed in the thing's current state (names it)
    ├── UnusableInput         well-formed but unusable content (a hostile archive, nothing to store)
    ├── PayloadTooLarge       a body over a configured limit
    ├── Gone                  the thing existed but is over (an expired or revoked share link)
    └── RequestTimeout        a body that stalled longer than the configured timeout

The DICOMweb protocol errors are ``dicomweb.errors``; ``server.errors`` maps both trees to HTTP
responses in one place. Domain code raises these, never HTTP exceptions.
"""

from __future__ import annotations


class AppError(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidInput(AppError):
    """``problems``: one ``{"code", "params", "message"}`` per refused value, for a UI that words them
    in its own language (``message`` stays the English text for API clients)."""

    def __init__(self, message: str, problems: list[dict[str, object]] | None = None) -> None:
        super().__init__(message)
        self.problems = list(problems or [])


class NotFoundError(AppError):
    pass


class Unauthenticated(AppError):
    pass


class TooManyAttempts(AppError):
    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Forbidden(AppError):
    pass


class StateConflict(AppError):
    def __init__(self, message: str, current_state: str | None = None) -> None:
        super().__init__(message)
        self.current_state = current_state


class UnusableInput(AppError):
    pass


class PayloadTooLarge(AppError):
    pass


class Gone(AppError):
    pass


class RequestTimeout(AppError):
    """The client stopped sending its request body (``body_timeout_seconds``)."""


class LockedOut(TooManyAttempts):
    """The thing itself (a share link) is locked for ``retry_after`` seconds (423)."""


__all__ = [
    "AppError", "Forbidden", "Gone", "InvalidInput", "LockedOut", "NotFoundError", "PayloadTooLarge", "RequestTimeout",
    "StateConflict",
    "TooManyAttempts", "Unauthenticated", "UnusableInput",
]
