"""Platform-level endpoints: authentication and health."""

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import exceptions, serializers, status
from rest_framework.authtoken.models import Token
from rest_framework.authtoken.serializers import AuthTokenSerializer
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from acl.login_throttle import client_address, login_lock_check
from index_versions.selectors import index_version_active
from ragplatform.celery import app
from ragplatform.warmup import models_ready, models_state


class TokenObtainApi(APIView):
    authentication_classes = []
    permission_classes = [AllowAny]

    @extend_schema(
        request=AuthTokenSerializer,
        responses=inline_serializer("TokenOutput", {"token": serializers.CharField()}),
        summary="Exchange a username and password for an API token (429 with Retry-After while locked out)",
    )
    def post(self, request):
        # Refused before the password is even checked: while locked, the right one fails too.
        username = request.data.get("username") if isinstance(request.data, dict) else None
        if isinstance(username, str):
            lock = login_lock_check(username=username, address=client_address(request))
            if lock is not None:
                raise exceptions.Throttled(
                    wait=lock.retry_after,
                    detail=f"Too many failed logins for this {lock.scope}; logins are refused for a while.",
                    code="login_locked",
                )
        # The password check (acl.backends.LoginThrottledBackend) counts the failure.
        serializer = AuthTokenSerializer(data=request.data, context={"request": request})
        serializer.is_valid(raise_exception=True)
        token, _ = Token.objects.get_or_create(user=serializer.validated_data["user"])
        return Response({"token": token.key})


class HealthApi(APIView):
    authentication_classes = []
    permission_classes = [AllowAny]

    @extend_schema(
        responses=inline_serializer(
            "HealthOutput",
            {
                "status": serializers.CharField(),
                "database": serializers.CharField(),
                "broker": serializers.CharField(),
                "cache": serializers.CharField(help_text="the throttle counters' Redis: ok or unavailable"),
                "throttle": serializers.CharField(
                    help_text="ok, or fail_open while the cache is unavailable: reads are served unthrottled, "
                    "writes refused with 503"
                ),
                "active_version": serializers.IntegerField(allow_null=True),
                "models": serializers.DictField(
                    child=serializers.CharField(),
                    help_text="this process's models: embedding and reranker, each ready, off, not loaded or failed",
                ),
            },
        ),
        summary="Liveness of the database and the broker, and the active index version",
    )
    def get(self, request):
        database, active_version = "ok", None
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1")
            version = index_version_active()
            active_version = version.pk if version else None
        except Exception:  # noqa: BLE001 - health must report, never raise
            database = "unavailable"
        broker = "ok" if _broker_reachable() else "unavailable"
        cache_state = "ok" if _cache_reachable() else "unavailable"
        healthy = database == broker == cache_state == "ok" and (models_ready() or not settings.MODELS_WARM_UP)
        return Response(
            {
                "status": "ok" if healthy else "degraded",
                "database": database,
                "broker": broker,
                "cache": cache_state,
                "throttle": "ok" if cache_state == "ok" else "fail_open",
                "active_version": active_version,
                "models": models_state(),
            },
            status=status.HTTP_200_OK if healthy else status.HTTP_503_SERVICE_UNAVAILABLE,
        )


def _broker_reachable() -> bool:
    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
        return True
    except Exception:  # noqa: BLE001
        return False


def _cache_reachable() -> bool:
    try:
        cache.get("health")
        return True
    except Exception:  # noqa: BLE001
        return False
