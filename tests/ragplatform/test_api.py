"""Platform endpoints: token authentication, health, the OpenAPI schema and its Swagger UI."""

import json
import re

import pytest
import yaml
from rest_framework.authtoken.models import Token

API_PATHS = [
    "/api/v1/answer",
    "/api/v1/audit",
    "/api/v1/audit/purge",
    "/api/v1/auth/token",
    "/api/v1/documents",
    "/api/v1/documents/{document_id}",
    "/api/v1/documents/{document_id}/purge",
    "/api/v1/duplicates/stale",
    "/api/v1/feedback",
    "/api/v1/feedback/export",
    "/api/v1/grants",
    "/api/v1/grants/{grant_id}",
    "/api/v1/groups",
    "/api/v1/groups/{group_id}/members",
    "/api/v1/groups/{group_id}/members/{user_id}",
    "/api/v1/health",
    "/api/v1/health/reads",
    "/api/v1/index-versions",
    "/api/v1/index-versions/{version_id}",
    "/api/v1/index-versions/{version_id}/activate",
    "/api/v1/index-versions/{version_id}/diff",
    "/api/v1/index-versions/{version_id}/evaluations",
    "/api/v1/index-versions/{version_id}/pin",
    "/api/v1/search",
    "/api/v1/service-accounts",
    "/api/v1/service-accounts/{account_id}/keys",
    "/api/v1/service-accounts/{account_id}/keys/{key_id}",
    "/api/v1/service-accounts/{account_id}/keys/{key_id}/rotate",
    "/api/v1/sources",
    "/api/v1/sources/{source_id}",
    "/api/v1/sources/{source_id}/documents",
    "/api/v1/sources/{source_id}/documents/{name}",
    "/api/v1/sources/{source_id}/pause",
    "/api/v1/sources/{source_id}/resume",
    "/api/v1/sources/{source_id}/revert",
    "/api/v1/sources/{source_id}/sync",
    "/api/v1/sync-jobs/{job_id}",
    "/api/v1/sync-jobs/{job_id}/cancel",
]
LIST_PATHS = [
    "/api/v1/sources",
    "/api/v1/documents",
    "/api/v1/grants",
    "/api/v1/index-versions",
    "/api/v1/index-versions/{version_id}/evaluations",
]


def assert_error(response, status: int) -> dict:
    assert response.status_code == status, response.content[:500]
    body = response.json()
    assert list(body) == ["error"]
    assert sorted(body["error"]) == ["code", "details", "message"]
    assert isinstance(body["error"]["code"], str)
    assert isinstance(body["error"]["message"], str)
    assert isinstance(body["error"]["details"], dict)
    return body["error"]


# --- POST /api/v1/auth/token -------------------------------------------------------------


def test_valid_credentials_get_the_users_api_token(api, alice):
    response = api().post("/api/v1/auth/token", {"username": "alice", "password": "pw-alice"}, format="json")
    assert response.status_code == 200
    assert response.json() == {"token": Token.objects.get(user=alice).key}


def test_issued_token_authenticates_later_requests(api, alice):
    token = api().post("/api/v1/auth/token", {"username": "alice", "password": "pw-alice"}, format="json").json()
    client = api()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token['token']}")
    assert client.get("/api/v1/sources").status_code == 200


def test_asking_twice_returns_the_same_token(api, alice):
    body = {"username": "alice", "password": "pw-alice"}
    first = api().post("/api/v1/auth/token", body, format="json").json()["token"]
    second = api().post("/api/v1/auth/token", body, format="json").json()["token"]
    assert first == second
    assert Token.objects.filter(user=alice).count() == 1


def test_wrong_password_gets_400_json_error_and_no_token(api, alice):
    response = api().post("/api/v1/auth/token", {"username": "alice", "password": "wrong"}, format="json")
    error = assert_error(response, 400)
    assert error["code"] == "invalid"
    assert "token" not in response.json()
    assert not Token.objects.filter(user=alice).exists()


def test_unknown_user_gets_the_same_error_as_a_wrong_password(api, alice):
    wrong_password = api().post("/api/v1/auth/token", {"username": "alice", "password": "x"}, format="json")
    unknown_user = api().post("/api/v1/auth/token", {"username": "mallory", "password": "x"}, format="json")
    assert assert_error(unknown_user, 400) == assert_error(wrong_password, 400)


def test_inactive_user_gets_no_token(api, alice):
    alice.is_active = False
    alice.save()
    response = api().post("/api/v1/auth/token", {"username": "alice", "password": "pw-alice"}, format="json")
    assert_error(response, 400)


def test_token_of_a_deactivated_user_stops_working(api, alice):
    client = api(alice)
    assert client.get("/api/v1/sources").status_code == 200
    alice.is_active = False
    alice.save()
    assert assert_error(client.get("/api/v1/sources"), 401)["code"] == "authentication_failed"


# --- GET /api/v1/health --------------------------------------------------------------------


@pytest.fixture
def warm():
    from ragplatform.warmup import models_warm_up

    return models_warm_up()


def test_health_is_public_and_reports_database_broker_models_and_no_active_version(api, db, warm):
    response = api().get("/api/v1/health")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "database": "ok",
        "broker": "ok",
        "cache": "ok",
        "throttle": "ok",
        "reads": "ok",
        "active_version": None,
        "models": {"embedding": "ready", "reranker": "off"},
    }
    assert api().get("/api/v1/health/reads").json() == response.json()


def test_health_is_degraded_until_this_process_has_loaded_its_models(api, db, monkeypatch):
    from ragplatform import warmup

    monkeypatch.setitem(warmup._state, "embedding", "not loaded")
    response = api().get("/api/v1/health")
    assert response.status_code == 503 and response.json()["models"]["embedding"] == "not loaded"
    # Not ready for reads either: the load balancer keeps it out of rotation until the model is loaded.
    reads = api().get("/api/v1/health/reads")
    assert (reads.status_code, reads.json()["reads"]) == (503, "unavailable")
    warmup.models_warm_up()
    assert api().get("/api/v1/health").status_code == 200
    assert api().get("/api/v1/health/reads").status_code == 200


def test_a_worker_warms_the_model_its_documents_are_embedded_with_and_a_web_process_the_query_one(db):
    from index_versions import embedding
    from ragplatform import warmup

    assert embedding.query_identity(embedding.model_name()) != embedding.model_name()  # ONNX for queries
    embedding._load.cache_clear()
    try:
        warmup.models_warm_up()
        assert embedding._load.cache_info().currsize == 1  # the query model only
        warmup.models_warm_up(documents=True)
        assert embedding._load.cache_info().currsize == 2  # and the documents' own
        assert warmup.models_state()["embedding"] == "ready"
    finally:
        embedding._load.cache_clear()


def test_health_reports_the_active_index_version(api, folder_source, sync_now, warm):
    job = sync_now(folder_source("wiki", {"a.md": "# A\n\nSome text."}))
    response = api().get("/api/v1/health")
    assert response.status_code == 200
    assert job.index_version_id is not None
    assert response.json()["active_version"] == job.index_version_id


# --- GET /api/v1/schema, /api/v1/docs ----------------------------------------------------------


@pytest.fixture
def schema(api, db):
    response = api().get("/api/v1/schema")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.oai.openapi")
    return yaml.safe_load(response.content)


def test_schema_is_an_openapi_3_document(schema):
    assert str(schema["openapi"]).startswith("3.")
    assert schema["info"]["title"]
    assert isinstance(schema["paths"], dict)


def test_schema_is_also_served_as_json(api, db):
    response = api().get("/api/v1/schema", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    assert str(json.loads(response.content)["openapi"]).startswith("3.")


@pytest.mark.parametrize("path", API_PATHS)
def test_schema_documents_every_api_path(schema, path):
    assert path in schema["paths"]


def test_schema_documents_nothing_but_the_api_paths(schema):
    assert set(schema["paths"]) == set(API_PATHS)


def _resolve(schema, node):
    while "$ref" in node:
        node = schema["components"]["schemas"][node["$ref"].rsplit("/", 1)[-1]]
    return node


@pytest.mark.parametrize("path", LIST_PATHS)
def test_schema_describes_list_endpoints_as_paginated_lists(schema, path):
    operation = schema["paths"][path]["get"]
    assert operation["operationId"].endswith("_list")
    body = _resolve(schema, operation["responses"]["200"]["content"]["application/json"]["schema"])
    assert {"count", "next", "previous", "results"} <= set(body["properties"])
    assert body["properties"]["results"]["type"] == "array"


def test_schema_operation_ids_are_unique(schema):
    ids = [operation["operationId"] for item in schema["paths"].values() for operation in item.values()]
    assert len(ids) == len(set(ids))


def test_swagger_ui_is_served_as_html_without_a_cdn(api, db):
    response = api().get("/api/v1/docs")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    html = response.content.decode()
    assert "swagger-ui" in html
    assert '"/api/v1/schema"' in html
    for cdn in ("unpkg", "jsdelivr", "cdnjs", "googleapis", "cloudflare"):
        assert cdn not in html
    assert not re.findall(r'(?:src|href)="(?:https?:)?//', html)


def test_swagger_ui_assets_are_served_by_the_platform_itself(api, db):
    html = api().get("/api/v1/docs").content.decode()
    assets = re.findall(r'(?:src|href)="([^"]+\.(?:js|css))"', html)
    assert any(asset.endswith(".js") for asset in assets)
    assert any(asset.endswith(".css") for asset in assets)
    for asset in assets:
        assert asset.startswith("/static/"), asset
        response = api().get(asset)
        assert response.status_code == 200, asset
        assert b"".join(response.streaming_content if response.streaming else [response.content])


def test_schema_generates_and_validates_without_warnings(db, tmp_path):
    from django.core.management import call_command

    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yaml"))
    assert yaml.safe_load((tmp_path / "schema.yaml").read_text())["paths"]
