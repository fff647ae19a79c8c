"""Domain errors of the DICOMweb library.

Hierarchy::

    DicomWebError
    ├── BadRequest            malformed request or parameter (names it)
    │   ├── InvalidQuery      QIDO attribute or value that cannot be matched
    │   └── InvalidFrameList  frame numbers that are not positive integers
    ├── NotFound              a resource that does not exist
    ├── NotAcceptable         no representation fits the Accept header
    ├── UnsupportedMediaType  a request body type we do not take
    ├── Conflict              a different object under an existing UID
    └── Unprocessable         well-formed but unusable content

``server.errors`` maps these to HTTP responses in exactly one place.
"""

from __future__ import annotations


class DicomWebError(Exception):
    """Base class; ``message`` is safe to show to a client."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadRequest(DicomWebError):
    pass


class InvalidQuery(BadRequest):
    pass


class InvalidFrameList(BadRequest):
    pass


class NotFound(DicomWebError):
    pass


class NotAcceptable(DicomWebError):
    """``available`` lists the media types the resource can produce (PS3.18 §8.5: a 406
    "should return a payload that lists the available media types")."""

    def __init__(self, message: str, available: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.available = available


class UnsupportedMediaType(DicomWebError):
    pass


class Conflict(DicomWebError):
    pass


class Unprocessable(DicomWebError):
    pass
