"""One error shape for the whole API: ``{"error": {"code", "message", "details"}}``.

Domain errors (:mod:`ragplatform.exceptions`) get their HTTP status here and only
here; DRF exceptions pass through :func:`api_exception_handler`; Django's own
404/500 pages under ``/api/`` are replaced by :func:`not_found` and
:func:`server_error` so that a client never has to parse HTML. A server the
platform depends on being down (PostgreSQL, the broker, the cache) is a 503 with
``Retry-After`` (:func:`unavailable_response`), never a 500: the next request,
once it is back, reconnects by itself.
"""

import logging
import sys

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import InterfaceError as DatabaseInterfaceError
from django.db import OperationalError as DatabaseOperationalError
from django.http import Http404, HttpResponse, JsonResponse
from django.views import defaults
from kombu.exceptions import OperationalError as BrokerOperationalError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler

from ragplatform import exceptions as domain

logger = logging.getLogger(__name__)


# The most specific class wins: a subclass of Conflict answers 409 like Conflict does.
_STATUS_OF = (
    (domain.NotFound, status.HTTP_404_NOT_FOUND),
    (domain.Conflict, status.HTTP_409_CONFLICT),
    (domain.TooLarge, status.HTTP_413_REQUEST_ENTITY_TOO_LARGE),
    (domain.UpstreamFailed, status.HTTP_502_BAD_GATEWAY),
    (domain.Unavailable, status.HTTP_503_SERVICE_UNAVAILABLE),
    (domain.ApplicationError, status.HTTP_400_BAD_REQUEST),
)


def status_for(exc: domain.ApplicationError) -> int:
    return next(code for kind, code in _STATUS_OF if isinstance(exc, kind))


def error_body(code: str, message: str, details=None) -> dict:
    return {"error": {"code": code, "message": message, "details": details or {}}}


def _first_message(detail) -> str:
    if isinstance(detail, dict):
        for field, value in detail.items():
            message = _first_message(value)
            return message if field == "non_field_errors" else f"{field}: {message}"
        return "Invalid input."
    if isinstance(detail, list):
        return _first_message(detail[0]) if detail else "Invalid input."
    return str(detail)


# Seconds a client is asked to wait before retrying a request refused because a dependency is down.
RETRY_AFTER_SECONDS = 5

# (exception classes, error code, message): a dependency that cannot be reached right now.
_OUTAGES = (
    (
        (DatabaseOperationalError, DatabaseInterfaceError),
        domain.ErrorCode.DATABASE_UNAVAILABLE,
        "The database is unreachable; retry shortly.",
    ),
    (
        (BrokerOperationalError,),
        domain.ErrorCode.BROKER_UNAVAILABLE,
        "The task queue (broker) is unreachable; retry shortly.",
    ),
    (
        (RedisConnectionError, RedisTimeoutError),
        domain.ErrorCode.CACHE_UNAVAILABLE,
        "The cache (Redis) is unreachable; retry shortly.",
    ),
)


def outage_of(exc: BaseException | None) -> tuple[str, str] | None:
    """``(code, message)`` when ``exc`` means a dependency is unreachable (a 503), else ``None``.

    Only connection-level database errors (``OperationalError``, ``InterfaceError``) count: an
    ``IntegrityError`` or a bad query is a bug or a conflict, not an outage.
    """
    for kinds, code, message in _OUTAGES:
        if isinstance(exc, kinds):
            return str(code), message
    return None


def unavailable_response(code: str, message: str, details=None) -> JsonResponse:
    response = JsonResponse(error_body(code, message, details), status=503)
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


def api_exception_handler(exc, context):
    outage = outage_of(exc)
    if outage is not None:
        logger.warning("%s: %s: %s", outage[0], type(exc).__name__, exc)
        response = Response(error_body(*outage), status=status.HTTP_503_SERVICE_UNAVAILABLE)
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response
    if isinstance(exc, domain.ApplicationError):
        response = Response(error_body(exc.code, exc.message, exc.details), status=status_for(exc))
        if response.status_code == status.HTTP_503_SERVICE_UNAVAILABLE:
            response["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response
    if isinstance(exc, DjangoValidationError):
        details = exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        exc = exceptions.ValidationError(details)
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()

    response = exception_handler(exc, context)
    if response is None:
        return None  # an unexpected error: Django logs it and server_error answers in JSON

    if isinstance(exc, exceptions.ValidationError):
        code = "invalid"
        details = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
        message = _first_message(exc.detail)
    else:
        codes = exc.get_codes()
        code = codes if isinstance(codes, str) else "error"
        details = dict(getattr(exc, "details", None) or {})  # e.g. the permissions a 403 lacks
        message = str(exc.detail)
    response.data = error_body(code, message, details)
    return response


def _is_api(request) -> bool:
    return request.path.startswith("/api/")


def not_found(request, exception=None):
    if _is_api(request):
        return JsonResponse(error_body("not_found", "No such endpoint or object."), status=404)
    return defaults.page_not_found(request, exception)


def server_error(request):
    # Called inside Django's handler of the uncaught exception (one raised in a middleware, say).
    outage = outage_of(sys.exc_info()[1])
    if outage is not None:
        if _is_api(request):
            return unavailable_response(*outage)
        return unavailable_page(outage[1])
    if _is_api(request):
        return JsonResponse(error_body("server_error", "Internal error; it has been logged."), status=500)
    return defaults.server_error(request)


def bad_request(request, exception=None):
    if _is_api(request):
        return JsonResponse(error_body("bad_request", "Malformed request."), status=400)
    return defaults.bad_request(request, exception)


def permission_denied(request, exception=None):
    if _is_api(request):
        return JsonResponse(error_body("permission_denied", "You may not do this."), status=403)
    return defaults.permission_denied(request, exception)


def unavailable_page(message: str) -> HttpResponse:
    response = HttpResponse(f"503 Service Unavailable: {message}\n", status=503, content_type="text/plain")
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response
