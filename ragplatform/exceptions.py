"""Domain errors: what services and selectors raise when a rule of the domain is broken.

They know nothing of HTTP; :mod:`ragplatform.errors` maps each class to a status at
the API's edge. ``code`` is a stable, machine-readable :class:`ErrorCode`.
"""

from enum import StrEnum


class ErrorCode(StrEnum):
    """Every ``error.code`` the domain produces; clients branch on these, so they never change."""

    INVALID = "invalid"
    INVALID_CONFIG = "invalid_config"
    DUPLICATE = "duplicate"
    NOT_FOUND = "not_found"
    EMPTY_FILE = "empty_file"
    TOO_LARGE = "too_large"
    NOT_AN_UPLOAD_SOURCE = "not_an_upload_source"
    SOURCE_DISABLED = "source_disabled"
    NOT_CANCELLABLE = "not_cancellable"
    NOT_ACTIVATABLE = "not_activatable"
    NOT_REVERTABLE = "not_revertable"
    NOT_EVALUABLE = "not_evaluable"
    EVALUATION_GATE_OFF = "evaluation_gate_off"
    REVOKED = "revoked"
    RERANK_UNAVAILABLE = "rerank_unavailable"
    RECENCY_UNAVAILABLE = "recency_unavailable"
    GENERATOR_UNAVAILABLE = "generator_unavailable"
    GENERATOR_FAILED = "generator_failed"
    # A server the platform depends on is down (503; the client may retry after Retry-After).
    DATABASE_UNAVAILABLE = "database_unavailable"
    BROKER_UNAVAILABLE = "broker_unavailable"
    CACHE_UNAVAILABLE = "cache_unavailable"
    # Refusals of a security check (each is audited as request.refused, acl.refusals).
    URL_NOT_ALLOWED = "url_not_allowed"
    PATH_NOT_ALLOWED = "path_not_allowed"
    GENERATOR_NOT_ALLOWED = "generator_not_allowed"


class ApplicationError(Exception):
    """A rule of the domain was broken. Subclasses say which kind; the API maps the kind to a 4xx/5xx."""

    default_code = ErrorCode.INVALID

    def __init__(self, message: str, *, code: str | None = None, details: dict | None = None):
        super().__init__(message)
        self.message = message
        self.code = str(code or self.default_code)
        self.details = details or {}


class InvalidInput(ApplicationError):
    """The request itself is wrong: a value out of range, an unknown field, a malformed file."""


class NotFound(ApplicationError):
    """The object does not exist, or the caller may not know that it does."""

    default_code = ErrorCode.NOT_FOUND


class Conflict(ApplicationError):
    """The request is fine but clashes with the current state (a duplicate, a finished job)."""

    default_code = ErrorCode.DUPLICATE


class TooLarge(ApplicationError):
    """The payload is over a configured size limit."""

    default_code = ErrorCode.TOO_LARGE


class UpstreamFailed(ApplicationError):
    """A server this one depends on (an LLM endpoint) answered with an error."""

    default_code = ErrorCode.GENERATOR_FAILED


class Unavailable(ApplicationError):
    """A server this one depends on cannot be reached right now; the client may retry."""

    default_code = ErrorCode.GENERATOR_UNAVAILABLE
