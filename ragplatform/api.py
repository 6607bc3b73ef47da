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


_HEALTH_OUTPUT = inline_serializer(
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
        "reads": serializers.CharField(
            help_text="ok while this process can serve search, answer and documents (database reachable, "
            "models loaded), whatever the broker and cache; else unavailable"
        ),
        "active_version": serializers.IntegerField(allow_null=True),
        "models": serializers.DictField(
            child=serializers.CharField(),
            help_text="this process's models: embedding and reranker, each ready, off, not loaded or failed",
        ),
    },
)


def _health_report() -> dict:
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
    reads = database == "ok" and (models_ready() or not settings.MODELS_WARM_UP)
    return {
        "status": "ok" if reads and broker == cache_state == "ok" else "degraded",
        "database": database,
        "broker": broker,
        "cache": cache_state,
        "throttle": "ok" if cache_state == "ok" else "fail_open",
        "reads": "ok" if reads else "unavailable",
        "active_version": active_version,
        "models": models_state(),
    }


class HealthApi(APIView):
    authentication_classes = []
    permission_classes = [AllowAny]

    @extend_schema(
        responses={200: _HEALTH_OUTPUT, 503: _HEALTH_OUTPUT},
        summary="Liveness of the database, the broker and the cache, this process's models, the active version",
        description="503 when anything is degraded; a load balancer routes on /api/v1/health/reads instead.",
    )
    def get(self, request):
        report = _health_report()
        healthy = report["status"] == "ok"
        return Response(report, status=status.HTTP_200_OK if healthy else status.HTTP_503_SERVICE_UNAVAILABLE)


class HealthReadsApi(APIView):
    """Readiness for reads: a broker or cache outage stops syncs and writes, not search, so it keeps routing."""

    authentication_classes = []
    permission_classes = [AllowAny]

    @extend_schema(
        responses={200: _HEALTH_OUTPUT, 503: _HEALTH_OUTPUT},
        summary="Whether this process can serve reads (the load balancer's readiness check)",
        description="200 while the database is reachable and the models are loaded, even with the broker or "
        "cache down (status then says degraded); 503 otherwise. Same body as /api/v1/health.",
    )
    def get(self, request):
        report = _health_report()
        serving = report["reads"] == "ok"
        return Response(report, status=status.HTTP_200_OK if serving else status.HTTP_503_SERVICE_UNAVAILABLE)


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
