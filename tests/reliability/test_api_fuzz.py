"""The whole REST API fuzzed from its own OpenAPI schema (Schemathesis), as staff and as an ordinary user.

Every generated request (valid and invalid bodies, odd parameters) is sent through Django's WSGI handler, so
an unexpected exception becomes the 500 a client would get. Each response must not be a 5xx, must be in the
error shape when it is an error, and must match the schema where the schema documents its status.
``make test`` runs a bounded number of examples per operation (``FUZZ_EXAMPLES``, default 2); the larger
run is ``FUZZ_EXAMPLES=100 FUZZ_COVERAGE=1 pytest tests/reliability/test_api_fuzz.py`` (docs/reliability.md).
"""

import json
import os

import pytest
import schemathesis
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.renderers import OpenApiJsonRenderer
from hypothesis import HealthCheck, settings
from rest_framework.authtoken.models import Token
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance

from acl.models import SourceGrant
from sources.services.crud import source_create

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "2"))
COVERAGE = os.environ.get("FUZZ_COVERAGE", "false").lower() in ("1", "true", "yes")


def error_shape(ctx, response, case) -> None:
    """No 5xx ever; every 4xx is ``{"error": {"code", "message", "details"}}`` in JSON.

    Health alone may say 503: "degraded" is its report (this process has not loaded its models), not an error.
    """
    if case.operation.path in ("/api/v1/health", "/api/v1/health/reads") and response.status_code == 503:
        assert response.json()["status"] == "degraded"
        return
    assert response.status_code < 500, f"{response.status_code}: {response.text[:500]}"
    if response.status_code >= 400:
        body = response.json()
        assert set(body) == {"error"}, body
        assert set(body["error"]) == {"code", "message", "details"}, body
        assert isinstance(body["error"]["code"], str) and isinstance(body["error"]["details"], dict), body


CHECKS = [error_shape, response_schema_conformance, content_type_conformance]


def _api_schema():
    """The schema ``GET /api/v1/schema`` serves, generated in this process; calls go to Django's WSGI handler."""
    document = json.loads(OpenApiJsonRenderer().render(SchemaGenerator().get_schema(request=None, public=True)))
    loaded = schemathesis.openapi.from_dict(document)
    loaded.app = WSGIHandler()
    # The coverage phase (boundary values of every field, many requests per operation) only in the larger run.
    loaded.config.phases.coverage.enabled = COVERAGE
    return loaded


@pytest.fixture(autouse=True)
def connection_kept_between_requests():
    """The test's own transaction serves the requests: Django's test client keeps its connection open the same way."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def callers(make_user, write_folder):
    """A superuser (every staff operation) and an ordinary user with a grant, each with a token."""
    root = make_user("fuzz-root", is_staff=True, is_superuser=True)
    reader = make_user("fuzz-reader")
    source = source_create(name="fuzzed", kind="folder", config={"path": str(write_folder("fuzzed", {"a.md": "# A"}))})
    SourceGrant.objects.create(source=source, user=reader)
    return [Token.objects.create(user=user).key for user in (root, reader)]


schema = _api_schema()


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,  # the same examples every run: a failure here is reproducible
    suppress_health_check=list(HealthCheck),
)
def test_no_operation_answers_5xx_or_an_error_out_of_shape(db, case, callers):
    for token in callers:
        response = case.call(headers={"Authorization": f"Token {token}"})
        case.validate_response(response, checks=CHECKS)
