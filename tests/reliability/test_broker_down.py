"""The broker (Redis, also the throttle counters' cache) stopped while the platform serves."""

import pytest

from index_versions.models import IndexVersion
from index_versions.selectors import index_version_active
from index_versions.services.building import index_version_rebuild
from ingest.lifecycle import sync_job_request
from ragplatform.exceptions import Unavailable
from ragplatform.warmup import models_warm_up
from sources.models import SyncJob
from tests.reliability.conftest import redis_start, redis_stop, wait_for


def _assert_error_shape(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    error = response.json()["error"]
    assert set(error) == {"code", "message", "details"} and error["code"] == code
    return error


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_with_the_broker_down_reads_work_syncs_get_503_and_jobs_queued_before_run_after(
    embedded_servers_only, sync_queue_to_ourselves, start_worker, folder_source, sync_now, grant, alice, staff, api
):
    wiki = folder_source("wiki", {"leave.md": "# Parental leave\n\nEmployees get twenty weeks of paid leave."})
    grant(wiki, user=alice)
    sync_now(wiki)
    queued = folder_source("hr", {"travel.md": "# Travel\n\nBook trains for trips under six hours."})
    grant(queued, user=alice)
    before, _ = sync_job_request(source=queued)  # its message waits in Redis: no worker takes sync tasks now
    later = folder_source("later", {"x.md": "# X\n\nText."})
    reader, operator = api(alice), api(staff)

    redis_stop()
    try:
        search = reader.post("/api/v1/search", {"query": "parental leave", "k": 3}, format="json")
        assert search.status_code == 200, search.content
        assert [hit["document_title"] for hit in search.json()["results"]] == ["Parental leave"]
        answer = reader.post("/api/v1/answer", {"query": "how long is parental leave"}, format="json")
        assert answer.status_code == 200 and answer.json()["citations"], answer.content
        documents = reader.get("/api/v1/documents")
        assert documents.status_code == 200 and documents.json()["count"] == 1

        models_warm_up()  # as a web process does at boot: the model the search loaded is this process's
        health = api().get("/api/v1/health")
        assert health.status_code == 503
        assert health.json() | {"models": None} == health.json() | {
            "status": "degraded",
            "database": "ok",
            "broker": "unavailable",
            "cache": "unavailable",
            "throttle": "fail_open",
            "reads": "ok",
            "models": None,
        }
        # The readiness check a load balancer routes on stays green: reads are served.
        reads = api().get("/api/v1/health/reads")
        assert (reads.status_code, reads.json()["status"], reads.json()["reads"]) == (200, "degraded", "ok")

        # Redis is the broker and the throttle's cache here: a write (a sync request included) is refused by the
        # throttle before it could be queued.
        refused = operator.post(f"/api/v1/sources/{later.pk}/sync")
        error = _assert_error_shape(refused, 503, "cache_unavailable")
        assert refused["Retry-After"] and "writes are refused" in error["message"]
        _assert_error_shape(operator.post("/api/v1/groups", {"name": "new"}, format="json"), 503, "cache_unavailable")
        # With the cache elsewhere (CACHE_URL), the sync request itself finds the broker down.
        with pytest.raises(Unavailable) as refusal:
            sync_job_request(source=later)
        assert refusal.value.code == "broker_unavailable" and "broker" in refusal.value.message
        job = SyncJob.objects.get(pk=refusal.value.details["job_id"])
        assert job.status == SyncJob.Status.FAILED and "broker" in job.message  # not left queued forever
        assert SyncJob.objects.filter(source=later).count() == 1
        # A rebuild likewise: its version ends failed with the reason, never left building.
        with pytest.raises(Unavailable) as refusal:
            index_version_rebuild(pipeline=index_version_active().pipeline)
        assert refusal.value.code == "broker_unavailable"
        failed = IndexVersion.objects.get(pk=refusal.value.details["index_version_id"])
        assert failed.state == IndexVersion.State.FAILED and "broker" in failed.note
        assert not IndexVersion.objects.filter(state=IndexVersion.State.BUILDING).exists()
    finally:
        redis_start()

    assert api().get("/api/v1/health").json()["broker"] == "ok"
    start_worker("after-outage")
    done = wait_for(lambda: SyncJob.objects.filter(pk=before.pk).exclude(status__in=SyncJob.IN_FLIGHT).first())
    assert done.status == SyncJob.Status.SUCCEEDED, done.message
    hits = reader.post("/api/v1/search", {"query": "trains for trips", "k": 3}, format="json").json()["results"]
    assert "Travel" in [hit["document_title"] for hit in hits]
    assert operator.post(f"/api/v1/sources/{later.pk}/sync").status_code == 202
