"""PostgreSQL restarted while a sync runs on a real worker and clients keep calling the API."""

import json
import urllib.error
import urllib.request

import pytest
from django.db.models import Count
from rest_framework.authtoken.models import Token

from index_versions.models import IndexVersion
from index_versions.selectors import index_version_active, version_revisions
from ingest.lifecycle import sync_job_request
from sources.models import Document, SyncJob
from sources.services.crud import source_create
from tests.reliability.conftest import postgres_start, postgres_stop, wait_for

DOCUMENTS = 60


def _get(url: str, token: str) -> tuple[int, dict, str]:
    request = urllib.request.Request(url, headers={"Authorization": f"Token {token}"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read()), response.headers.get("Content-Type", "")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read()), error.headers.get("Content-Type", "")


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_postgres_restarted_mid_sync_loses_nothing_and_the_api_answers_503_then_recovers(
    embedded_servers_only, sync_queue_to_ourselves, start_worker, live_server, folder_source, write_folder,
    sync_now, grant, alice, api,
):  # fmt: skip
    wiki = folder_source("wiki", {"leave.md": "# Parental leave\n\nEmployees get twenty weeks of paid leave."})
    grant(wiki, user=alice)
    before = sync_now(wiki).index_version
    files = {f"doc{i:03}.md": f"# Topic {i}\n\nFact {i} about area {i * 13}. " * 6 for i in range(DOCUMENTS)}
    big = source_create(name="big", kind="folder", config={"path": str(write_folder("big", files))})
    grant(big, user=alice)
    token = Token.objects.create(user=alice).key
    leave = Document.objects.get(source=wiki).pk
    reader = api(alice)  # in this process: one persistent connection, which the restart kills
    assert reader.get("/api/v1/documents").status_code == 200
    start_worker("pg-restart", SYNC_BATCH_DOCUMENTS="10")
    job, _ = sync_job_request(source=big)
    wait_for(lambda: SyncJob.objects.filter(pk=job.pk, progress_done__gt=0).exists())

    postgres_stop()
    try:
        for path in ("/api/v1/documents", f"/api/v1/documents/{leave}", "/api/v1/index-versions"):
            status, body, content_type = _get(f"{live_server.url}{path}", token)
            assert (status, content_type, body["error"]["code"]) == (503, "application/json", "database_unavailable")
            assert set(body["error"]) == {"code", "message", "details"}
        response = reader.post("/api/v1/search", {"query": "parental leave", "k": 3}, format="json")
        assert response.status_code == 503 and response.json()["error"]["code"] == "database_unavailable"
        assert response["Retry-After"]
        assert api().get("/api/v1/health").json()["database"] == "unavailable"
        reads = api().get("/api/v1/health/reads")
        assert (reads.status_code, reads.json()["reads"]) == (503, "unavailable")
    finally:
        postgres_start()

    # The same server, the same process: the next requests reconnect by themselves.
    assert reader.get("/api/v1/documents").status_code == 200
    status, body, _ = _get(f"{live_server.url}/api/v1/documents", token)
    assert status == 200 and body["count"] >= 1
    if SyncJob.objects.get(pk=job.pk).status in SyncJob.IN_FLIGHT:
        assert index_version_active() == before  # nothing of the sync is visible before it ends
    job = wait_for(lambda: SyncJob.objects.filter(pk=job.pk).exclude(status__in=SyncJob.IN_FLIGHT).first())
    # The worker's step failed on the dead connection and was retried: the job resumed and completed.
    assert job.status == SyncJob.Status.SUCCEEDED, job.message
    assert job.counts["added"] == DOCUMENTS and job.counts["failed"] == 0
    active = index_version_active()
    assert job.index_version == active and IndexVersion.objects.count() == 2
    assert active.counts["documents"] == DOCUMENTS + 1
    # Every document once: one row per file, each in the version exactly once.
    assert Document.objects.filter(source=big).count() == DOCUMENTS
    assert not Document.objects.values("source", "external_id").annotate(n=Count("pk")).filter(n__gt=1).exists()
    assert len(version_revisions(active, source_id=big.pk)) == DOCUMENTS
    hits = reader.post("/api/v1/search", {"query": "Fact 7 about area 91", "k": 3}, format="json").json()["results"]
    assert "Topic 7" in [hit["document_title"] for hit in hits]
