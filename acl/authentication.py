"""Who is calling: tokens, sessions, service-account API keys with on-behalf-of, and rate limits.

A service account authenticates with ``Authorization: Api-Key <key>``. With
``X-On-Behalf-Of: <username>`` (and the account's permission to send it) the
request runs as that user: ``request.user`` is the user, so every view and
selector applies the user's visibility and never the account's own, while
``request.auth`` (:class:`ApiKeyCredentials`) names the account for the audit
trail. Any other caller that sends the header is refused with 403.
"""

import copy
import logging
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth import get_user_model
from drf_spectacular.authentication import SessionScheme
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from rest_framework import authentication, exceptions, permissions, throttling

from acl.models import ApiKey, ServiceAccount
from acl.selectors import api_key_check
from ragplatform.exceptions import ErrorCode, Unavailable

ON_BEHALF_OF_HEADER = "HTTP_X_ON_BEHALF_OF"

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ApiKeyCredentials:
    """``request.auth`` of a service-account call."""

    key: ApiKey
    service_account: ServiceAccount
    on_behalf_of: str | None = None


def acting_service_account(request) -> ServiceAccount | None:
    """The service account that made ``request``, for audit records; ``None`` for people."""
    auth = getattr(request, "auth", None)
    return auth.service_account if isinstance(auth, ApiKeyCredentials) else None


def _refuse_on_behalf_of(request) -> None:
    if ON_BEHALF_OF_HEADER in request.META:
        raise exceptions.PermissionDenied("Only a service account permitted to do so may send X-On-Behalf-Of.")


class TokenAuthentication(authentication.TokenAuthentication):
    def authenticate(self, request):
        result = super().authenticate(request)
        if result is not None:
            _refuse_on_behalf_of(request)
        return result


class SessionAuthentication(authentication.SessionAuthentication):
    def authenticate(self, request):
        result = super().authenticate(request)
        if result is not None:
            _refuse_on_behalf_of(request)
        return result


class ApiKeyAuthentication(authentication.BaseAuthentication):
    keyword = "Api-Key"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Invalid Api-Key header: give exactly one key.")
        try:
            raw_key = header[1].decode()
        except UnicodeError:
            raise exceptions.AuthenticationFailed("Invalid Api-Key header: the key is not text.") from None
        key = api_key_check(raw_key=raw_key)
        if key is None or not key.service_account.user.is_active:
            raise exceptions.AuthenticationFailed("Invalid or revoked API key.")
        account = key.service_account
        username = request.META.get(ON_BEHALF_OF_HEADER)
        if username is None:
            return account.user, ApiKeyCredentials(key=key, service_account=account)
        if not account.may_act_on_behalf:
            raise exceptions.PermissionDenied("This service account may not act on behalf of users.")
        return _delegated_user(username.strip()), ApiKeyCredentials(
            key=key, service_account=account, on_behalf_of=username.strip()
        )

    def authenticate_header(self, request):
        return self.keyword


def _delegated_user(username: str):
    """The user a service account acts for, stripped of staff rights.

    The request gets exactly the user's visibility (which never depends on staff
    status); administration stays with people who sign in themselves, so an app
    permitted to act on behalf of users cannot act as an administrator. The copy is
    only ever read: nothing saves ``request.user``.
    """
    user = (
        get_user_model().objects.filter(username=username, is_active=True, service_account__isnull=True).first()
        if username
        else None
    )
    if user is None:
        raise exceptions.PermissionDenied("X-On-Behalf-Of names no active user.")
    delegated = copy.copy(user)
    delegated.is_staff = delegated.is_superuser = False
    return delegated


class _RateThrottle(throttling.SimpleRateThrottle):
    """Reads its rate from the settings on every request, not once at import (so overrides apply).

    The counters live in Redis. While it is unreachable, reads (safe methods, and views that
    set ``throttle_fail_open``: search and answer) are served unthrottled, which health reports
    as ``throttle: fail_open``; writes are refused with a 503 ``cache_unavailable``.
    """

    def allow_request(self, request, view):
        try:
            return super().allow_request(request, view)
        except (RedisConnectionError, RedisTimeoutError) as exc:
            if request.method in permissions.SAFE_METHODS or getattr(view, "throttle_fail_open", False):
                logger.warning("throttle counters unreachable (%s): %s %s served unthrottled", exc, request.method,
                               request.path)  # fmt: skip
                return True
            raise Unavailable(
                "The throttle counters (Redis) are unreachable, so writes are refused for now; reads are still "
                "served. Retry shortly.",
                code=ErrorCode.CACHE_UNAVAILABLE,
            ) from exc

    def get_rate(self):
        rates = settings.REST_FRAMEWORK.get("DEFAULT_THROTTLE_RATES", {})
        return rates.get(self.scope)


class ApiKeyRateThrottle(_RateThrottle):
    """Requests per API key (whoever the key acts for)."""

    scope = "api_key"

    def get_cache_key(self, request, view):
        if not isinstance(request.auth, ApiKeyCredentials):
            return None
        return self.cache_format % {"scope": self.scope, "ident": request.auth.key.pk}


class UserRateThrottle(_RateThrottle):
    """Requests per user: the effective one, so calls on a user's behalf count against that user."""

    scope = "user"

    def get_cache_key(self, request, view):
        if not (request.user and request.user.is_authenticated):
            return None  # anonymous calls are refused before they could use anything
        return self.cache_format % {"scope": self.scope, "ident": request.user.pk}


# --- OpenAPI: how the schema describes these authenticators -------------------------------


class ApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = ApiKeyAuthentication
    name = "apiKeyAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": 'Service accounts: "Api-Key <key>", optionally with "X-On-Behalf-Of: <username>".',
        }


class RefusingSessionScheme(SessionScheme):
    target_class = SessionAuthentication
