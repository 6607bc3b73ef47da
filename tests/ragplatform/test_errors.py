"""The error contract: every 4xx of the API is JSON shaped ``{"error": {"code", "message", "details"}}``.

Each endpoint is listed explicitly below with the bad inputs it must refuse, so
that a new endpoint without such a list stands out in review.
"""

import json
from dataclasses import dataclass
from typing import Any

import pytest
from django.contrib.auth.models import Group

from acl.models import SourceGrant
from index_versions.models import IndexVersion, Pipeline
from sources.models import Source, SyncJob
from sources.services.crud import source_create

UNKNOWN = 987654321
HUGE = 10**30  # beyond bigint: must still be a plain "not found"


def assert_error(response, status: int) -> dict:
    """``response`` has ``status`` and exactly the error shape; returns the inner ``error``."""
    assert response.status_code == status, response.content[:500]
    assert response["Content-Type"].startswith("application/json"), response["Content-Type"]
    body = json.loads(response.content)
    assert list(body) == ["error"], body
    error = body["error"]
    assert sorted(error) == ["code", "details", "message"], error
    assert isinstance(error["code"], str) and error["code"], error
    assert isinstance(error["message"], str) and error["message"], error
    assert isinstance(error["details"], dict), error
    return error


@dataclass(frozen=True)
class Raw:
    """A request body sent verbatim, not JSON-encoded."""

    content: str
    content_type: str = "application/json"


@dataclass(frozen=True)
class Call:
    method: str
    path: str  # formatted with the ``world`` ids, e.g. "/api/v1/sources/{wiki}"
    body: Any = None  # JSON value, Raw, or a callable(world) returning the JSON value
    status: int = 400
    code: str | None = None  # the expected error code, where it is part of the contract


def send(client, call: Call, world: dict):
    path = call.path.format(**world)
    body = call.body(world) if callable(call.body) else call.body
    if isinstance(body, Raw):
        return client.generic(call.method, path, body.content, content_type=body.content_type)
    if body is None:
        return client.generic(call.method, path)
    return client.generic(call.method, path, json.dumps(body), content_type="application/json")


@pytest.fixture
def world(db, staff, alice, folder_source, write_folder, tmp_path):
    """Ids of real objects that the paths and bodies below refer to."""
    wiki = folder_source("wiki", {"guide.md": "# Guide\n\nHow to deploy."})
    hr = folder_source("hr", {"pay.md": "# Pay\n\nSalary bands."})
    archive = source_create(
        name="archive", kind="folder", config={"path": str(write_folder("archive", {"a.md": "old"}))}, enabled=False
    )
    eng = Group.objects.create(name="eng")
    grant = SourceGrant.objects.create(source=wiki, user=alice)
    job = SyncJob.objects.create(source=wiki, status=SyncJob.Status.SUCCEEDED)
    pipeline = Pipeline.objects.create(key="test-pipeline", chunker={}, embedding_model="test-model", dimensions=3)
    building = IndexVersion.objects.create(pipeline=pipeline, state=IndexVersion.State.BUILDING)
    failed = IndexVersion.objects.create(pipeline=pipeline, state=IndexVersion.State.FAILED)
    a_file = tmp_path / "not-a-directory.txt"
    a_file.write_text("x")
    return {
        "wiki": wiki.pk,
        "hr": hr.pk,
        "archive": archive.pk,
        "alice": alice.pk,
        "staff": staff.pk,
        "eng": eng.pk,
        "grant": grant.pk,
        "job": job.pk,
        "building": building.pk,
        "failed": failed.pk,
        "dir": str(tmp_path),
        "file": str(a_file),
        "unknown": UNKNOWN,
        "huge": HUGE,
    }


def folder(world, **config):
    return {"name": "new", "kind": "folder", "config": {"path": world["dir"], **config}}


MALFORMED = Raw('{"name": "x", ')
NOT_JSON = Raw("name=x&kind=folder", content_type="application/x-www-form-urlencoded")

BAD_INPUT = [
    # --- POST /api/v1/auth/token ------------------------------------------------
    pytest.param(Call("POST", "/api/v1/auth/token", MALFORMED, code="parse_error"), id="token-malformed-json"),
    pytest.param(Call("POST", "/api/v1/auth/token", {"username": "alice"}), id="token-missing-password"),
    pytest.param(Call("POST", "/api/v1/auth/token", {"password": "pw-alice"}), id="token-missing-username"),
    pytest.param(
        Call("POST", "/api/v1/auth/token", {"username": ["alice"], "password": "pw-alice"}), id="token-wrong-type"
    ),
    pytest.param(Call("POST", "/api/v1/auth/token", {"username": "alice", "password": "nope"}), id="token-wrong-pw"),
    pytest.param(Call("POST", "/api/v1/auth/token", ["alice", "pw-alice"]), id="token-body-not-object"),
    pytest.param(Call("POST", "/api/v1/auth/token", NOT_JSON, status=415), id="token-not-json"),
    pytest.param(Call("GET", "/api/v1/auth/token", status=405), id="token-wrong-method"),
    # --- GET /api/v1/health -------------------------------------------------------
    pytest.param(Call("POST", "/api/v1/health", {}, status=405), id="health-wrong-method"),
    pytest.param(Call("POST", "/api/v1/health/reads", {}, status=405), id="health-reads-wrong-method"),
    # --- GET/POST /api/v1/sources ---------------------------------------------------
    pytest.param(Call("POST", "/api/v1/sources", MALFORMED, code="parse_error"), id="source-create-malformed-json"),
    pytest.param(Call("POST", "/api/v1/sources", NOT_JSON, status=415), id="source-create-not-json"),
    pytest.param(Call("POST", "/api/v1/sources", ["wiki"]), id="source-create-body-not-object"),
    pytest.param(Call("POST", "/api/v1/sources", {}), id="source-create-missing-fields"),
    pytest.param(
        Call("POST", "/api/v1/sources", lambda w: {"kind": "folder", "config": {"path": w["dir"]}}),
        id="source-create-missing-name",
    ),
    pytest.param(Call("POST", "/api/v1/sources", {"name": "new", "kind": "folder"}), id="source-create-no-config"),
    pytest.param(
        Call("POST", "/api/v1/sources", lambda w: {**folder(w), "name": {"a": 1}}), id="source-create-name-wrong-type"
    ),
    pytest.param(Call("POST", "/api/v1/sources", lambda w: {**folder(w), "name": ""}), id="source-create-empty-name"),
    pytest.param(
        Call("POST", "/api/v1/sources", lambda w: {**folder(w), "name": "x" * 201}), id="source-create-name-too-long"
    ),
    pytest.param(
        Call("POST", "/api/v1/sources", lambda w: {**folder(w), "enabled": "maybe"}), id="source-create-enabled-type"
    ),
    pytest.param(
        Call("POST", "/api/v1/sources", lambda w: {**folder(w), "kind": "ftp"}), id="source-create-unknown-kind"
    ),
    pytest.param(
        Call("POST", "/api/v1/sources", {"name": "new", "kind": "folder", "config": "/tmp"}, code="invalid_config"),
        id="source-create-config-not-object",
    ),
    pytest.param(
        Call("POST", "/api/v1/sources", {"name": "new", "kind": "folder", "config": {}}, code="invalid_config"),
        id="source-create-config-without-path",
    ),
    pytest.param(
        Call("POST", "/api/v1/sources", lambda w: folder(w, path="docs/wiki"), code="invalid_config"),
        id="source-create-relative-path",
    ),
    pytest.param(
        Call("POST", "/api/v1/sources", lambda w: folder(w, path=f"{w['dir']}/nonexistent"), code="invalid_config"),
        id="source-create-nonexistent-directory",
    ),
    pytest.param(
        Call("POST", "/api/v1/sources", lambda w: folder(w, path="/etc"), code="path_not_allowed"),
        id="source-create-path-outside-the-allowed-roots",
    ),
    pytest.param(
        Call("POST", "/api/v1/sources", lambda w: folder(w, path=w["file"]), code="invalid_config"),
        id="source-create-path-is-a-file",
    ),
    pytest.param(
        Call("POST", "/api/v1/sources", lambda w: folder(w, colour="blue"), code="invalid_config"),
        id="source-create-unknown-config-option",
    ),
    pytest.param(
        Call("POST", "/api/v1/sources", lambda w: folder(w, include="*.md"), code="invalid_config"),
        id="source-create-include-not-a-list",
    ),
    pytest.param(
        Call("POST", "/api/v1/sources", lambda w: folder(w, path=w["dir"] + "/\u0000x")),
        id="source-create-nul-in-path",
    ),
    pytest.param(
        Call("POST", "/api/v1/sources", lambda w: folder(w, include=["\u0000.md"])),
        id="source-create-nul-in-pattern",
    ),
    pytest.param(
        Call("POST", "/api/v1/sources", lambda w: {**folder(w), "name": "wiki"}, code="duplicate"),
        id="source-create-duplicate-name",
    ),
    # --- GET/PATCH/DELETE /api/v1/sources/{id} ---------------------------------------
    pytest.param(Call("GET", "/api/v1/sources/{unknown}", status=404), id="source-get-unknown-id"),
    pytest.param(Call("GET", "/api/v1/sources/{huge}", status=404), id="source-get-id-beyond-bigint"),
    pytest.param(Call("GET", "/api/v1/sources/wiki", status=404), id="source-get-non-integer-id"),
    pytest.param(Call("PUT", "/api/v1/sources/{wiki}", {"name": "x"}, status=405), id="source-put-not-allowed"),
    pytest.param(Call("PATCH", "/api/v1/sources/{wiki}", MALFORMED, code="parse_error"), id="source-patch-malformed"),
    pytest.param(Call("PATCH", "/api/v1/sources/{wiki}", ["x"]), id="source-patch-body-not-object"),
    pytest.param(Call("PATCH", "/api/v1/sources/{wiki}", {"colour": "blue"}), id="source-patch-unknown-field"),
    pytest.param(Call("PATCH", "/api/v1/sources/{wiki}", {"id": 5}), id="source-patch-read-only-field"),
    pytest.param(Call("PATCH", "/api/v1/sources/{wiki}", {"enabled": "maybe"}), id="source-patch-enabled-type"),
    pytest.param(Call("PATCH", "/api/v1/sources/{wiki}", {"name": ""}), id="source-patch-empty-name"),
    pytest.param(Call("PATCH", "/api/v1/sources/{wiki}", {"kind": "ftp"}), id="source-patch-unknown-kind"),
    pytest.param(
        Call("PATCH", "/api/v1/sources/{wiki}", {"config": {"path": "relative"}}, code="invalid_config"),
        id="source-patch-relative-path",
    ),
    pytest.param(
        Call(
            "PATCH",
            "/api/v1/sources/{wiki}",
            lambda w: {"config": {"path": f"{w['dir']}/nonexistent"}},
            code="invalid_config",
        ),
        id="source-patch-nonexistent-directory",
    ),
    pytest.param(
        Call("PATCH", "/api/v1/sources/{wiki}", lambda w: {"config": {"path": w["dir"], "include": ["\u0000"]}}),
        id="source-patch-nul-in-pattern",
    ),
    pytest.param(
        Call("PATCH", "/api/v1/sources/{wiki}", {"name": "hr"}, code="duplicate"), id="source-patch-duplicate-name"
    ),
    pytest.param(Call("PATCH", "/api/v1/sources/{unknown}", {"enabled": False}, status=404), id="source-patch-unknown"),
    pytest.param(Call("DELETE", "/api/v1/sources/{unknown}", status=404), id="source-delete-unknown-id"),
    # --- POST /api/v1/sources/{id}/sync ----------------------------------------------
    pytest.param(Call("POST", "/api/v1/sources/{unknown}/sync", status=404), id="sync-unknown-source"),
    pytest.param(
        Call("POST", "/api/v1/sources/{archive}/sync", status=409, code="source_disabled"), id="sync-disabled-source"
    ),
    pytest.param(Call("GET", "/api/v1/sources/{wiki}/sync", status=405), id="sync-wrong-method"),
    # --- GET /api/v1/sync-jobs/{id} --------------------------------------------------
    pytest.param(Call("GET", "/api/v1/sync-jobs/{unknown}", status=404), id="sync-job-unknown-id"),
    pytest.param(Call("DELETE", "/api/v1/sync-jobs/{job}", status=405), id="sync-job-delete-not-allowed"),
    # --- GET /api/v1/documents, /documents/{id} ------------------------------------------
    pytest.param(Call("GET", "/api/v1/documents?source=wiki"), id="documents-source-not-integer"),
    pytest.param(Call("GET", "/api/v1/documents?source=1.5"), id="documents-source-fraction"),
    pytest.param(Call("GET", "/api/v1/documents?source=0"), id="documents-source-zero"),
    pytest.param(Call("GET", "/api/v1/documents?source=-3"), id="documents-source-negative"),
    pytest.param(Call("GET", "/api/v1/documents?source="), id="documents-source-empty"),
    pytest.param(Call("GET", "/api/v1/documents/{unknown}", status=404), id="document-unknown-id"),
    pytest.param(Call("GET", "/api/v1/documents/{huge}", status=404), id="document-id-beyond-bigint"),
    # --- GET/POST /api/v1/grants, DELETE /grants/{id} ---------------------------------
    pytest.param(Call("POST", "/api/v1/grants", MALFORMED, code="parse_error"), id="grant-create-malformed-json"),
    pytest.param(Call("POST", "/api/v1/grants", [1]), id="grant-create-body-not-object"),
    pytest.param(Call("POST", "/api/v1/grants", lambda w: {"user": w["alice"]}), id="grant-create-missing-source"),
    pytest.param(
        Call("POST", "/api/v1/grants", lambda w: {"source": w["unknown"], "user": w["alice"]}),
        id="grant-create-unknown-source",
    ),
    pytest.param(
        Call("POST", "/api/v1/grants", lambda w: {"source": "wiki", "user": w["alice"]}),
        id="grant-create-source-wrong-type",
    ),
    pytest.param(
        Call("POST", "/api/v1/grants", lambda w: {"source": w["hr"], "user": w["unknown"]}),
        id="grant-create-unknown-user",
    ),
    pytest.param(
        Call("POST", "/api/v1/grants", lambda w: {"source": w["hr"], "group": w["unknown"]}),
        id="grant-create-unknown-group",
    ),
    pytest.param(
        Call("POST", "/api/v1/grants", lambda w: {"source": w["hr"], "user": "alice"}),
        id="grant-create-user-wrong-type",
    ),
    pytest.param(
        Call("POST", "/api/v1/grants", lambda w: {"source": w["hr"], "user": w["alice"], "group": w["eng"]}),
        id="grant-create-both-user-and-group",
    ),
    pytest.param(Call("POST", "/api/v1/grants", lambda w: {"source": w["hr"]}), id="grant-create-neither"),
    pytest.param(
        Call("POST", "/api/v1/grants", lambda w: {"source": w["hr"], "user": None, "group": None}),
        id="grant-create-both-null",
    ),
    pytest.param(
        Call("POST", "/api/v1/grants", lambda w: {"source": w["wiki"], "user": w["alice"]}, 409, "duplicate"),
        id="grant-create-duplicate",
    ),
    pytest.param(Call("DELETE", "/api/v1/grants/{unknown}", status=404), id="grant-delete-unknown-id"),
    pytest.param(Call("GET", "/api/v1/grants/{grant}", status=405), id="grant-get-not-allowed"),
    # --- /api/v1/index-versions ----------------------------------------------------------
    pytest.param(Call("GET", "/api/v1/index-versions/{unknown}", status=404), id="version-unknown-id"),
    pytest.param(Call("POST", "/api/v1/index-versions", {"max_tokens": 0}), id="rebuild-max-tokens-too-small"),
    pytest.param(Call("POST", "/api/v1/index-versions", {"overlap_tokens": "x"}), id="rebuild-overlap-not-int"),
    pytest.param(
        Call("POST", "/api/v1/index-versions", {"max_tokens": 50, "overlap_tokens": 25}), id="rebuild-overlap-too-big"
    ),
    pytest.param(
        Call("POST", "/api/v1/index-versions", {"max_tokens": 5000}), id="rebuild-max-tokens-beyond-model-window"
    ),
    pytest.param(Call("POST", "/api/v1/index-versions", MALFORMED, code="parse_error"), id="rebuild-malformed"),
    pytest.param(Call("POST", "/api/v1/index-versions/{building}/pin", {"pinned": "maybe"}), id="pin-not-bool"),
    pytest.param(Call("POST", "/api/v1/index-versions/{unknown}/pin", {}, status=404), id="pin-unknown-id"),
    pytest.param(Call("GET", "/api/v1/index-versions/{building}/diff"), id="diff-without-against"),
    pytest.param(Call("GET", "/api/v1/index-versions/{building}/diff?against=x"), id="diff-against-not-int"),
    pytest.param(
        Call("GET", "/api/v1/index-versions/{building}/diff?against=999999", status=404), id="diff-against-unknown"
    ),
    pytest.param(Call("POST", "/api/v1/sources/{wiki}/revert", {}), id="revert-without-version"),
    pytest.param(Call("POST", "/api/v1/sources/{wiki}/revert", {"version": "x"}), id="revert-version-not-int"),
    pytest.param(
        Call("POST", "/api/v1/sources/{wiki}/revert", {"version": 999999}, status=404), id="revert-unknown-version"
    ),
    pytest.param(
        Call("POST", "/api/v1/sources/{wiki}/revert", lambda w: {"version": w["building"]}, status=409),
        id="revert-from-building-version",
    ),
    pytest.param(Call("POST", "/api/v1/sources/{unknown}/resume", status=404), id="resume-unknown-source"),
    # --- POST /api/v1/sources/{id}/pause ------------------------------------------------
    pytest.param(Call("POST", "/api/v1/sources/{unknown}/pause", status=404), id="pause-unknown-source"),
    pytest.param(Call("POST", "/api/v1/sources/{wiki}/pause", {"reason": "x" * 201}), id="pause-reason-too-long"),
    pytest.param(Call("GET", "/api/v1/sources/{wiki}/pause", status=405), id="pause-wrong-method"),
    # --- POST /api/v1/sync-jobs/{id}/cancel ----------------------------------------------
    pytest.param(Call("POST", "/api/v1/sync-jobs/{unknown}/cancel", status=404), id="cancel-unknown-job"),
    pytest.param(
        Call("POST", "/api/v1/sync-jobs/{job}/cancel", status=409, code="not_cancellable"), id="cancel-finished-job"
    ),
    # --- GET/POST /api/v1/sources/{id}/documents, DELETE .../documents/{name} -------------
    pytest.param(Call("POST", "/api/v1/sources/{unknown}/documents", status=404), id="upload-unknown-source"),
    pytest.param(Call("POST", "/api/v1/sources/{wiki}/documents", {"file": "x"}, status=415), id="upload-json-body"),
    pytest.param(
        Call("POST", "/api/v1/sources/{wiki}/documents", Raw("--b--\r\n", "multipart/form-data; boundary=b")),
        id="upload-without-file",
    ),
    pytest.param(
        Call(
            "POST",
            "/api/v1/sources/{wiki}/documents",
            Raw(
                '--b\r\nContent-Disposition: form-data; name="file"; filename="a.md"\r\n\r\n# A\r\n--b--\r\n',
                "multipart/form-data; boundary=b",
            ),
            status=409,
            code="not_an_upload_source",
        ),
        id="upload-to-a-folder-source",
    ),
    pytest.param(Call("DELETE", "/api/v1/sources/{wiki}/documents/nope.md", status=404), id="upload-delete-unknown"),
    pytest.param(Call("PUT", "/api/v1/sources/{wiki}/documents", status=405), id="uploads-wrong-method"),
    pytest.param(Call("POST", "/api/v1/documents/{unknown}/purge", status=404), id="purge-unknown-document"),
    pytest.param(Call("POST", "/api/v1/index-versions/{unknown}/activate", status=404), id="activate-unknown-id"),
    pytest.param(Call("GET", "/api/v1/index-versions/{unknown}/evaluations", status=404), id="evaluations-unknown-id"),
    pytest.param(Call("POST", "/api/v1/index-versions/{unknown}/evaluations", status=404), id="evaluate-unknown-id"),
    pytest.param(
        Call("POST", "/api/v1/index-versions/{building}/evaluations", status=409, code="not_evaluable"),
        id="evaluate-building-version",
    ),
    pytest.param(
        Call("POST", "/api/v1/index-versions/{failed}/evaluations", status=409, code="not_evaluable"),
        id="evaluate-failed-version",
    ),
    pytest.param(
        Call("PUT", "/api/v1/index-versions/{building}/evaluations", status=405), id="evaluations-wrong-method"
    ),
    pytest.param(
        Call("POST", "/api/v1/index-versions/{building}/activate", status=409, code="not_activatable"),
        id="activate-building-version",
    ),
    pytest.param(
        Call("POST", "/api/v1/index-versions/{failed}/activate", status=409, code="not_activatable"),
        id="activate-failed-version",
    ),
    # --- POST /api/v1/search -----------------------------------------------------------
    pytest.param(Call("POST", "/api/v1/search", MALFORMED, code="parse_error"), id="search-malformed-json"),
    pytest.param(Call("POST", "/api/v1/search", NOT_JSON, status=415), id="search-not-json"),
    pytest.param(Call("POST", "/api/v1/search", ["deploy"]), id="search-body-not-object"),
    pytest.param(Call("POST", "/api/v1/search", {}), id="search-missing-query"),
    pytest.param(Call("POST", "/api/v1/search", {"query": ""}), id="search-empty-query"),
    pytest.param(Call("POST", "/api/v1/search", {"query": "   \n\t"}), id="search-blank-query"),
    pytest.param(Call("POST", "/api/v1/search", {"query": None}), id="search-null-query"),
    pytest.param(Call("POST", "/api/v1/search", {"query": ["deploy"]}), id="search-query-wrong-type"),
    pytest.param(Call("POST", "/api/v1/search", {"query": "deploy " * 400}), id="search-query-too-long"),
    pytest.param(Call("POST", "/api/v1/search", {"query": "de\u0000ploy"}), id="search-nul-in-query"),
    pytest.param(Call("POST", "/api/v1/search", {"query": "deploy", "k": 0}), id="search-k-zero"),
    pytest.param(Call("POST", "/api/v1/search", {"query": "deploy", "k": -1}), id="search-k-negative"),
    pytest.param(Call("POST", "/api/v1/search", {"query": "deploy", "k": 10000}), id="search-k-too-large"),
    pytest.param(Call("POST", "/api/v1/search", {"query": "deploy", "k": "x"}), id="search-k-not-a-number"),
    pytest.param(Call("POST", "/api/v1/search", {"query": "deploy", "k": 2.5}), id="search-k-fraction"),
    pytest.param(Call("POST", "/api/v1/search", {"query": "deploy", "k": None}), id="search-k-null"),
    pytest.param(Call("GET", "/api/v1/search?query=deploy", status=405), id="search-wrong-method"),
    pytest.param(Call("POST", "/api/v1/search", {"query": "deploy", "rerank": "maybe"}), id="search-rerank-wrong-type"),
    pytest.param(
        Call("POST", "/api/v1/search", {"query": "deploy", "rerank": True}, code="rerank_unavailable"),
        id="search-rerank-without-model",
    ),
    pytest.param(
        Call("POST", "/api/v1/answer", {"query": "deploy", "rerank": True}, code="rerank_unavailable"),
        id="answer-rerank-without-model",
    ),
    pytest.param(
        Call("POST", "/api/v1/search", {"query": "deploy", "recency_boost": [1]}), id="search-recency-boost-wrong-type"
    ),
    pytest.param(
        Call("POST", "/api/v1/search", {"query": "deploy", "recency_boost": True}, code="recency_unavailable"),
        id="search-recency-boost-without-half-life",
    ),
    pytest.param(
        Call("POST", "/api/v1/search", {"query": "deploy", "recency_half_life_days": 0}),
        id="search-recency-half-life-zero",
    ),
    pytest.param(
        Call("POST", "/api/v1/search", {"query": "deploy", "recency_half_life_days": "soon"}),
        id="search-recency-half-life-not-a-number",
    ),
    pytest.param(
        Call("POST", "/api/v1/search", {"query": "deploy", "recency_boost": False, "recency_half_life_days": 7}),
        id="search-recency-off-with-half-life",
    ),
    # --- filters.metadata (search and answer) -------------------------------------------------
    pytest.param(
        Call("POST", "/api/v1/search", {"query": "deploy", "filters": {"metadata": "open"}}),
        id="search-metadata-not-object",
    ),
    pytest.param(
        Call("POST", "/api/v1/search", {"query": "deploy", "filters": {"metadata": {}}}), id="search-metadata-empty"
    ),
    pytest.param(
        Call("POST", "/api/v1/search", {"query": "deploy", "filters": {"metadata": {"a": {"b": 1}}}}),
        id="search-metadata-nested-value",
    ),
    pytest.param(
        Call("POST", "/api/v1/search", {"query": "deploy", "filters": {"metadata": {"a": None}}}),
        id="search-metadata-null-value",
    ),
    pytest.param(
        Call("POST", "/api/v1/search", {"query": "deploy", "filters": {"metadata": {"a": []}}}),
        id="search-metadata-empty-list",
    ),
    pytest.param(
        Call("POST", "/api/v1/search", {"query": "deploy", "filters": {"metadata": {"a": list(range(51))}}}),
        id="search-metadata-too-many-values",
    ),
    pytest.param(
        Call("POST", "/api/v1/search", {"query": "deploy", "filters": {"metadata": {"a": [["x"]]}}}),
        id="search-metadata-list-of-lists",
    ),
    pytest.param(
        Call("POST", "/api/v1/search", {"query": "deploy", "filters": {"metadata": {"bad key!": "x"}}}),
        id="search-metadata-bad-key",
    ),
    pytest.param(
        Call("POST", "/api/v1/search", {"query": "deploy", "filters": {"metadata": {f"k{i}": 1 for i in range(11)}}}),
        id="search-metadata-too-many-keys",
    ),
    pytest.param(
        Call("POST", "/api/v1/search", {"query": "deploy", "filters": {"metadata": {"a": "x" * 501}}}),
        id="search-metadata-value-too-long",
    ),
    pytest.param(
        Call("POST", "/api/v1/answer", {"query": "deploy", "filters": {"metadata": [1]}}),
        id="answer-metadata-not-object",
    ),
    pytest.param(
        Call(
            "POST",
            "/api/v1/sources/{wiki}/documents",
            Raw(
                '--b\r\nContent-Disposition: form-data; name="file"; filename="a.md"\r\n\r\n# A\r\n'
                '--b\r\nContent-Disposition: form-data; name="metadata"\r\n\r\n{"team": \r\n--b--\r\n',
                "multipart/form-data; boundary=b",
            ),
        ),
        id="upload-metadata-not-json",
    ),
    pytest.param(
        Call(
            "POST",
            "/api/v1/sources/{wiki}/documents",
            Raw(
                '--b\r\nContent-Disposition: form-data; name="file"; filename="a.md"\r\n\r\n# A\r\n'
                '--b\r\nContent-Disposition: form-data; name="metadata"\r\n\r\n{"a": {"b": 1}}\r\n--b--\r\n',
                "multipart/form-data; boundary=b",
            ),
        ),
        id="upload-metadata-nested",
    ),
    # --- GET /api/v1/duplicates/stale ------------------------------------------------------
    pytest.param(Call("GET", "/api/v1/duplicates/stale?min_days=-1"), id="stale-duplicates-negative-min-days"),
    pytest.param(Call("GET", "/api/v1/duplicates/stale?min_days=soon"), id="stale-duplicates-min-days-not-a-number"),
    pytest.param(Call("GET", "/api/v1/duplicates/stale?version=x"), id="stale-duplicates-version-not-int"),
    pytest.param(
        Call("GET", "/api/v1/duplicates/stale?version={unknown}", status=404), id="stale-duplicates-unknown-version"
    ),
    pytest.param(Call("POST", "/api/v1/duplicates/stale", {}, status=405), id="stale-duplicates-wrong-method"),
    # --- unknown paths -------------------------------------------------------------------
    pytest.param(Call("GET", "/api/v1/nonexistent", status=404, code="not_found"), id="unknown-path"),
    pytest.param(Call("POST", "/api/v1/nonexistent", {}, status=404, code="not_found"), id="unknown-path-post"),
    pytest.param(Call("GET", "/api/v1/sources/", status=404, code="not_found"), id="trailing-slash"),
    pytest.param(Call("GET", "/api/v2/sources", status=404, code="not_found"), id="unknown-api-version"),
]


@pytest.mark.parametrize("call", BAD_INPUT)
def test_bad_input_gets_a_4xx_json_error(world, api, staff, call):
    error = assert_error(send(api(staff), call, world), call.status)
    if call.code is not None:
        assert error["code"] == call.code


def test_validation_error_names_the_offending_field_in_details(world, api, staff):
    error = assert_error(api(staff).post("/api/v1/search", {"query": "deploy", "k": 0}, format="json"), 400)
    assert error["code"] == "invalid"
    assert list(error["details"]) == ["k"]
    assert error["message"].startswith("k: ")


def test_refused_source_is_not_created(world, api, staff):
    before = Source.objects.count()
    assert_error(
        api(staff).post("/api/v1/sources", {"name": "new", "kind": "folder", "config": {}}, format="json"), 400
    )
    assert_error(
        api(staff).post(
            "/api/v1/sources",
            {"name": "new", "kind": "folder", "config": {"path": world["dir"], "include": ["\u0000"]}},
            format="json",
        ),
        400,
    )
    assert Source.objects.count() == before


def test_refused_activation_leaves_the_version_state_unchanged(world, api, staff):
    assert_error(api(staff).post(f"/api/v1/index-versions/{world['building']}/activate"), 409)
    assert IndexVersion.objects.get(pk=world["building"]).state == IndexVersion.State.BUILDING
    assert not IndexVersion.objects.filter(state=IndexVersion.State.ACTIVE).exists()


# --- authentication: every protected endpoint ---------------------------------------------

PROTECTED = [
    pytest.param("GET", "/api/v1/sources", id="sources-list"),
    pytest.param("POST", "/api/v1/sources", id="sources-create"),
    pytest.param("GET", "/api/v1/sources/{wiki}", id="source-get"),
    pytest.param("PATCH", "/api/v1/sources/{wiki}", id="source-patch"),
    pytest.param("DELETE", "/api/v1/sources/{wiki}", id="source-delete"),
    pytest.param("POST", "/api/v1/sources/{wiki}/sync", id="source-sync"),
    pytest.param("GET", "/api/v1/sync-jobs/{job}", id="sync-job-get"),
    pytest.param("GET", "/api/v1/documents", id="documents-list"),
    pytest.param("GET", "/api/v1/documents/{unknown}", id="document-get"),
    pytest.param("GET", "/api/v1/grants", id="grants-list"),
    pytest.param("POST", "/api/v1/grants", id="grants-create"),
    pytest.param("DELETE", "/api/v1/grants/{grant}", id="grant-delete"),
    pytest.param("GET", "/api/v1/groups", id="groups-list"),
    pytest.param("POST", "/api/v1/groups", id="groups-create"),
    pytest.param("GET", "/api/v1/groups/{unknown}/members", id="group-members-list"),
    pytest.param("POST", "/api/v1/groups/{unknown}/members", id="group-members-add"),
    pytest.param("DELETE", "/api/v1/groups/{unknown}/members/{unknown}", id="group-member-remove"),
    pytest.param("GET", "/api/v1/service-accounts", id="service-accounts-list"),
    pytest.param("POST", "/api/v1/service-accounts", id="service-accounts-create"),
    pytest.param("GET", "/api/v1/service-accounts/{unknown}/keys", id="api-keys-list"),
    pytest.param("POST", "/api/v1/service-accounts/{unknown}/keys", id="api-keys-create"),
    pytest.param("DELETE", "/api/v1/service-accounts/{unknown}/keys/{unknown}", id="api-key-revoke"),
    pytest.param("POST", "/api/v1/service-accounts/{unknown}/keys/{unknown}/rotate", id="api-key-rotate"),
    pytest.param("GET", "/api/v1/audit", id="audit-list"),
    pytest.param("POST", "/api/v1/audit/purge", id="audit-purge"),
    pytest.param("GET", "/api/v1/index-versions", id="versions-list"),
    pytest.param("GET", "/api/v1/index-versions/{building}", id="version-get"),
    pytest.param("POST", "/api/v1/index-versions/{building}/activate", id="version-activate"),
    pytest.param("POST", "/api/v1/index-versions", id="version-rebuild"),
    pytest.param("POST", "/api/v1/index-versions/{building}/pin", id="version-pin"),
    pytest.param("GET", "/api/v1/index-versions/{building}/diff", id="version-diff"),
    pytest.param("GET", "/api/v1/index-versions/{building}/evaluations", id="version-evaluations"),
    pytest.param("POST", "/api/v1/index-versions/{building}/evaluations", id="version-evaluate"),
    pytest.param("POST", "/api/v1/sources/{wiki}/revert", id="source-revert"),
    pytest.param("POST", "/api/v1/sources/{wiki}/resume", id="source-resume"),
    pytest.param("POST", "/api/v1/documents/{unknown}/purge", id="document-purge"),
    pytest.param("POST", "/api/v1/sources/{wiki}/pause", id="source-pause"),
    pytest.param("GET", "/api/v1/sources/{wiki}/documents", id="uploads-list"),
    pytest.param("POST", "/api/v1/sources/{wiki}/documents", id="uploads-create"),
    pytest.param("DELETE", "/api/v1/sources/{wiki}/documents/a.md", id="upload-delete"),
    pytest.param("POST", "/api/v1/sync-jobs/{job}/cancel", id="sync-job-cancel"),
    pytest.param("POST", "/api/v1/search", id="search"),
    pytest.param("POST", "/api/v1/answer", id="answer"),
    pytest.param("POST", "/api/v1/feedback", id="feedback"),
    pytest.param("GET", "/api/v1/feedback/export", id="feedback-export"),
    pytest.param("GET", "/api/v1/duplicates/stale", id="duplicates-stale"),
]


@pytest.mark.parametrize(("method", "path"), PROTECTED)
def test_anonymous_call_to_protected_endpoint_gets_401(world, api, method, path):
    response = send(api(), Call(method, path, {"query": "deploy"} if method in {"POST", "PATCH"} else None), world)
    error = assert_error(response, 401)
    assert error["code"] == "not_authenticated"
    assert response["WWW-Authenticate"] == "Token"


@pytest.mark.parametrize(("method", "path"), PROTECTED)
def test_invalid_token_gets_401(world, api, method, path):
    client = api()
    client.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")
    error = assert_error(send(client, Call(method, path), world), 401)
    assert error["code"] == "authentication_failed"


def test_protected_endpoints_list_covers_every_api_route():
    """A route added without being listed above would escape the 401 check."""
    from django.urls import get_resolver, resolve

    def routes(resolver, prefix=""):
        for entry in resolver.url_patterns:
            route = prefix + str(entry.pattern)
            if hasattr(entry, "url_patterns"):
                yield from routes(entry, route)
            else:
                yield route

    public = {"api/v1/auth/token", "api/v1/health", "api/v1/health/reads", "api/v1/schema", "api/v1/docs"}
    api_routes = {route for route in routes(get_resolver()) if route.startswith("api/v1/")} - public
    ids = dict.fromkeys(("wiki", "job", "unknown", "grant", "building"), 1)
    listed = {resolve(param.values[1].format(**ids)).route for param in PROTECTED}
    assert listed == api_routes


# --- authorisation -----------------------------------------------------------------------

STAFF_ONLY = [
    pytest.param("POST", "/api/v1/sources", lambda w: folder(w), id="source-create"),
    pytest.param("PATCH", "/api/v1/sources/{wiki}", {"enabled": False}, id="source-patch"),
    pytest.param("DELETE", "/api/v1/sources/{wiki}", None, id="source-delete"),
    pytest.param("POST", "/api/v1/sources/{wiki}/sync", None, id="source-sync"),
    pytest.param("GET", "/api/v1/sync-jobs/{job}", None, id="sync-job-get"),
    pytest.param("POST", "/api/v1/grants", lambda w: {"source": w["hr"], "user": w["alice"]}, id="grant-create"),
    pytest.param("DELETE", "/api/v1/grants/{grant}", None, id="grant-delete"),
    pytest.param("POST", "/api/v1/groups", {"name": "new-group"}, id="group-create"),
    pytest.param("GET", "/api/v1/groups/{eng}/members", None, id="group-members-list"),
    pytest.param("POST", "/api/v1/groups/{eng}/members", lambda w: {"user": w["alice"]}, id="group-member-add"),
    pytest.param("GET", "/api/v1/service-accounts", None, id="service-accounts-list"),
    pytest.param("POST", "/api/v1/service-accounts", {"name": "bot"}, id="service-account-create"),
    pytest.param("GET", "/api/v1/audit", None, id="audit-list"),
    pytest.param("POST", "/api/v1/audit/purge", {}, id="audit-purge"),
    pytest.param("POST", "/api/v1/index-versions/{building}/activate", None, id="version-activate"),
    pytest.param("POST", "/api/v1/index-versions", {"max_tokens": 100}, id="version-rebuild"),
    pytest.param("POST", "/api/v1/index-versions/{building}/pin", {"pinned": True}, id="version-pin"),
    pytest.param("GET", "/api/v1/index-versions/{building}/evaluations", None, id="version-evaluations"),
    pytest.param("POST", "/api/v1/index-versions/{building}/evaluations", None, id="version-evaluate"),
    pytest.param("POST", "/api/v1/sources/{wiki}/resume", None, id="source-resume"),
    pytest.param("POST", "/api/v1/sources/{wiki}/pause", None, id="source-pause"),
    pytest.param("GET", "/api/v1/sources/{wiki}/documents", None, id="uploads-list"),
    pytest.param("GET", "/api/v1/duplicates/stale", None, id="duplicates-stale"),
]


def _state():
    return (
        sorted(Source.objects.values_list("pk", "name", "enabled")),
        sorted(SourceGrant.objects.values_list("pk", "source_id", "user_id")),
        sorted(SyncJob.objects.values_list("pk", "status")),
        sorted(IndexVersion.objects.values_list("pk", "state")),
    )


@pytest.mark.parametrize(("method", "path", "body"), STAFF_ONLY)
def test_non_staff_gets_403_for_staff_only_operation_and_nothing_changes(world, api, alice, method, path, body):
    """``alice`` holds a grant on ``wiki``: reading it is fine, changing it is not."""
    before = _state()
    error = assert_error(send(api(alice), Call(method, path, body), world), 403)
    assert error["code"] == "permission_denied"
    assert _state() == before


@pytest.mark.parametrize(("method", "path", "body"), STAFF_ONLY)
def test_staff_may_do_what_non_staff_is_refused(world, api, staff, superuser, method, path, body):
    """The counterpart of the 403 test: the same requests succeed for staff in the roles (building versions
    aside), and the audit purge for a superuser."""
    response = send(api(superuser if path == "/api/v1/audit/purge" else staff), Call(method, path, body), world)
    if "activate" in path or (method == "POST" and path.endswith("/evaluations")):
        assert_error(response, 409)  # staff passes the permission check and meets the state rule
    else:
        assert 200 <= response.status_code < 300, response.content[:500]


def test_non_staff_gets_404_not_403_for_a_source_without_grant(world, api, alice):
    assert api(alice).get(f"/api/v1/sources/{world['wiki']}").status_code == 200
    ungranted = assert_error(api(alice).get(f"/api/v1/sources/{world['hr']}"), 404)
    missing = assert_error(api(alice).get(f"/api/v1/sources/{UNKNOWN}"), 404)
    assert ungranted == missing  # nothing tells an existing source from a missing one


def test_non_staff_gets_404_not_403_for_a_document_without_grant(world, api, alice, sync_now):
    wiki, hr = Source.objects.get(pk=world["wiki"]), Source.objects.get(pk=world["hr"])
    sync_now(wiki)
    sync_now(hr)
    readable = wiki.documents.get()
    hidden = hr.documents.get()
    assert api(alice).get(f"/api/v1/documents/{readable.pk}").status_code == 200
    ungranted = assert_error(api(alice).get(f"/api/v1/documents/{hidden.pk}"), 404)
    missing = assert_error(api(alice).get(f"/api/v1/documents/{UNKNOWN}"), 404)
    assert ungranted == missing


def test_non_staff_sync_of_an_ungranted_source_gets_403_not_404(world, api, alice):
    """Staff-only endpoints refuse by role before looking anything up: no ACL probing either way."""
    assert assert_error(api(alice).post(f"/api/v1/sources/{world['hr']}/sync"), 403) == assert_error(
        api(alice).post(f"/api/v1/sources/{UNKNOWN}/sync"), 403
    )
