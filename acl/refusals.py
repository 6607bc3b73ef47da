"""Refused requests in the audit trail: the API's exception handler (``EXCEPTION_HANDLER``).

:func:`ragplatform.errors.api_exception_handler` turns every error into its JSON
response; this wraps it and records the refusals that matter for security: every
403, and the domain refusals named in :data:`AUDITED_REFUSALS`. It runs after the
view, when the service's transaction has already rolled back, so the refusal is kept
while nothing of the refused request is.
"""

import logging

from rest_framework import status

from acl.authentication import ApiKeyCredentials
from acl.models import AuditEvent
from acl.services import audit_record
from ragplatform import errors
from ragplatform.exceptions import ApplicationError, ErrorCode

logger = logging.getLogger(__name__)

# Domain error codes whose refusal is audited as ``request.refused`` (403s always are, as ``access.denied``).
AUDITED_REFUSALS = {
    ErrorCode.URL_NOT_ALLOWED,
    ErrorCode.PATH_NOT_ALLOWED,
    ErrorCode.TOO_LARGE,
    ErrorCode.GENERATOR_NOT_ALLOWED,
}


def api_exception_handler(exc, context):
    response = errors.api_exception_handler(exc, context)
    if response is None:
        return None
    action = _audited_action(exc, response.status_code)
    if action is not None:
        _refusal_audit(action, context.get("request"), response.data.get("error", {}))
    return response


def _audited_action(exc, status_code: int) -> str | None:
    if status_code == status.HTTP_403_FORBIDDEN:
        return AuditEvent.Action.ACCESS_DENIED
    if isinstance(exc, ApplicationError) and exc.code in AUDITED_REFUSALS:
        return AuditEvent.Action.REQUEST_REFUSED
    return None


def _refusal_audit(action: str, request, error: dict) -> None:
    if request is None:
        return
    # Set once authentication ran (or failed); reading request.user here could run it again.
    user, credentials = getattr(request, "_user", None), getattr(request, "_auth", None)
    details = {
        "method": request.method,
        "path": request.path[:500],
        "code": error.get("code", ErrorCode.INVALID),
        "message": str(error.get("message", ""))[:500],
        **({"permissions": error["details"]["permissions"]} if "permissions" in error.get("details", {}) else {}),
    }
    try:
        audit_record(
            actor=user,
            service_account=credentials.service_account if isinstance(credentials, ApiKeyCredentials) else None,
            action=action,
            target=request.path,
            details=details,
        )
    except Exception:  # the refusal is answered even if the trail cannot take it
        logger.exception("could not audit a refused request to %s", request.path)
