"""REST contract of index versions: listing, detail, and activation switching what search reads."""

import pytest

from index_versions.models import Activation, IndexVersion

VERSION_FIELDS = {"id", "state", "created_at", "ready_at", "activated_at", "parent", "pipeline", "counts", "note"}
PIPELINE_FIELDS = {"id", "chunker", "embedding_model", "dimensions"}


@pytest.fixture
def versions(wiki_and_hr, grant, alice):
    """v1 holds wiki only; v2 (active) holds wiki and hr. ``alice`` may read both sources."""
    wiki, hr = wiki_and_hr
    grant(wiki, user=alice)
    grant(hr, user=alice)
    v1 = wiki.sync_jobs.get().index_version
    v2 = hr.sync_jobs.get().index_version
    return v1, v2, wiki, hr


def search(client, query="parental leave"):
    response = client.post("/api/v1/search", {"query": query, "k": 10}, format="json")
    assert response.status_code == 200, response.content[:500]
    return response.json()


def test_versions_are_listed_newest_first_and_paginated(api, alice, versions):
    v1, v2, *_ = versions
    response = api(alice).get("/api/v1/index-versions")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"count", "next", "previous", "results"}
    assert body["count"] == 2
    assert [v["id"] for v in body["results"]] == [v2.pk, v1.pk]
    assert [v["state"] for v in body["results"]] == ["active", "retired"]
    assert all(set(v) >= VERSION_FIELDS for v in body["results"])


def test_version_detail_shows_lineage_pipeline_and_counts(api, staff, versions):
    v1, v2, *_ = versions
    response = api(staff).get(f"/api/v1/index-versions/{v2.pk}")
    assert response.status_code == 200
    body = response.json()
    assert set(body) >= VERSION_FIELDS
    assert (body["id"], body["state"], body["parent"]) == (v2.pk, "active", v1.pk)
    assert set(body["pipeline"]) == PIPELINE_FIELDS
    assert body["pipeline"]["id"] == v2.pipeline_id
    assert body["pipeline"]["dimensions"] == v2.pipeline.dimensions
    assert body["counts"]["documents"] == 2
    assert body["counts"]["chunks"] >= 2
    assert body["ready_at"] is not None and body["activated_at"] is not None


def test_activation_switches_which_version_search_reads(api, staff, alice, versions):
    v1, v2, wiki, hr = versions
    before = search(api(alice))
    assert before["index_version"] == v2.pk
    assert {hit["source_id"] for hit in before["results"]} == {wiki.pk, hr.pk}

    response = api(staff).post(f"/api/v1/index-versions/{v1.pk}/activate")
    assert response.status_code == 200, response.content
    assert (response.json()["id"], response.json()["state"]) == (v1.pk, "active")

    after = search(api(alice))
    assert after["index_version"] == v1.pk
    assert {hit["source_id"] for hit in after["results"]} == {wiki.pk}  # hr is not in v1
    assert api(alice).get(f"/api/v1/index-versions/{v2.pk}").json()["state"] == "retired"


def test_retired_version_can_be_activated_again(api, staff, alice, versions):
    v1, v2, *_ = versions
    assert api(staff).post(f"/api/v1/index-versions/{v1.pk}/activate").status_code == 200
    assert api(staff).post(f"/api/v1/index-versions/{v2.pk}/activate").status_code == 200
    assert search(api(alice))["index_version"] == v2.pk
    assert list(IndexVersion.objects.filter(state="active").values_list("pk", flat=True)) == [v2.pk]


def test_activation_is_recorded_with_its_actor(api, staff, versions):
    v1, v2, *_ = versions
    api(staff).post(f"/api/v1/index-versions/{v1.pk}/activate")
    activation = Activation.objects.filter(to_version=v1).latest("created_at")
    assert (activation.from_version_id, activation.actor, activation.reason) == (v2.pk, staff, "api")


def test_activating_the_active_version_changes_nothing(api, staff, versions):
    _, v2, *_ = versions
    activations = Activation.objects.count()
    response = api(staff).post(f"/api/v1/index-versions/{v2.pk}/activate")
    assert response.status_code == 200
    assert response.json()["state"] == "active"
    assert Activation.objects.count() == activations


def test_activating_a_building_version_is_a_409_and_search_stays_put(api, staff, alice, versions):
    _, v2, *_ = versions
    building = IndexVersion.objects.create(pipeline=v2.pipeline, state=IndexVersion.State.BUILDING, parent=v2)
    response = api(staff).post(f"/api/v1/index-versions/{building.pk}/activate")
    assert response.status_code == 409
    assert response.json()["error"] == {
        "code": "not_activatable",
        "message": response.json()["error"]["message"],
        "details": {"state": "building"},
    }
    assert search(api(alice))["index_version"] == v2.pk


def test_non_staff_cannot_activate(api, alice, versions):
    v1, v2, *_ = versions
    assert api(alice).post(f"/api/v1/index-versions/{v1.pk}/activate").status_code == 403
    assert search(api(alice))["index_version"] == v2.pk


def test_no_versions_means_an_empty_list(api, alice):
    assert api(alice).get("/api/v1/index-versions").json() == {
        "count": 0,
        "next": None,
        "previous": None,
        "results": [],
    }


# --- pin, diff, revert, rebuild ------------------------------------------------------------


def test_version_counts_include_storage_and_embedding_reuse(api, staff, alice, versions):
    _, v2, *_ = versions
    counts = api(staff).get(f"/api/v1/index-versions/{v2.pk}").json()["counts"]
    assert set(counts) >= {"documents", "chunks", "embeddings_computed", "embeddings_reused", "bytes"}
    assert counts["embeddings_computed"] == 1 and counts["embeddings_reused"] == 1
    assert counts["bytes"] > 0
    # Readers get the keys without the values (tests/security/test_index_version_disclosure.py).
    assert api(alice).get(f"/api/v1/index-versions/{v2.pk}").json()["counts"] == dict.fromkeys(counts)


def test_pin_and_unpin_a_version(api, staff, versions):
    v1, *_ = versions
    assert api(staff).post(f"/api/v1/index-versions/{v1.pk}/pin", {}, format="json").json()["pinned"] is True
    body = api(staff).post(f"/api/v1/index-versions/{v1.pk}/pin", {"pinned": False}, format="json").json()
    assert body["pinned"] is False


def test_diff_against_another_version_lists_documents_with_counts(api, staff, versions):
    v1, v2, *_ = versions
    body = api(staff).get(f"/api/v1/index-versions/{v2.pk}/diff?against={v1.pk}").json()
    assert body["counts"] == {"added": 1, "removed": 0, "changed": 0}
    assert [d["title"] for d in body["added"]] == ["Parental leave"]


def test_revert_answers_201_with_the_new_active_version_and_pauses_the_source(api, staff, versions):
    v1, v2, _wiki, hr = versions
    response = api(staff).post(f"/api/v1/sources/{hr.pk}/revert", {"version": v1.pk}, format="json")
    assert response.status_code == 201, response.content[:500]
    body = response.json()
    assert body["state"] == "active" and body["parent"] == v2.pk
    assert body["counts"]["documents"] == 1 and body["counts"]["embeddings_computed"] == 0
    source = api(staff).get(f"/api/v1/sources/{hr.pk}").json()
    assert source["sync_paused"] is True
    resumed = api(staff).post(f"/api/v1/sources/{hr.pk}/resume").json()
    assert resumed["sync_paused"] is False


def test_rebuild_answers_202_with_a_building_version_that_is_not_active(api, staff, versions):
    _, v2, *_ = versions
    response = api(staff).post("/api/v1/index-versions", {"max_tokens": 60, "overlap_tokens": 5}, format="json")
    assert response.status_code == 202, response.content[:500]
    body = response.json()
    assert body["state"] == "building" and body["parent"] == v2.pk
    assert body["pipeline"]["chunker"]["max_tokens"] == 60
    assert IndexVersion.objects.get(state="active").pk == v2.pk


def test_purge_endpoint_tombstones_the_document(api, staff, alice, versions):
    leave = api(alice).get("/api/v1/documents").json()["results"]
    document_id = next(d["id"] for d in leave if d["title"] == "Parental leave")
    response = api(staff).post(f"/api/v1/documents/{document_id}/purge")
    assert response.status_code == 200, response.content[:500]
    assert response.json()["purged_at"] is not None
    assert api(alice).get(f"/api/v1/documents/{document_id}").status_code == 404
    assert all(hit["document_id"] != document_id for hit in search(api(alice))["results"])
