"""REST contract of sources, sync jobs and documents."""

from pathlib import Path

import pytest

from ragplatform.demo.load import DEMO_CORPUS
from sources.connectors.folder import DEFAULT_INCLUDE
from sources.models import Source, SyncJob

SOURCE_FIELDS = {"id", "name", "kind", "config", "enabled", "last_synced_at"}
DOCUMENT_FIELDS = {
    *("id", "source", "external_id", "title", "uri", "content_hash", "modified_at", "metadata", "updated_at"),
}
SYNC_JOB_FIELDS = {
    "id",
    "source",
    "status",
    "index_version",
    "counts",
    "errors",
    "progress",
    "message",
    "created_at",
    "started_at",
    "finished_at",
}
WIKI = {
    "deploy.md": "# Deploying\n\nDeploys roll out in three waves.",
    "oncall.md": "# On call\n\nThe pager rotates weekly.",
}
HR = {"leave.md": "# Parental leave\n\nTwenty weeks of paid leave."}


def page(response) -> list:
    assert response.status_code == 200, response.content[:500]
    body = response.json()
    assert set(body) == {"count", "next", "previous", "results"}
    assert body["count"] == len(body["results"])
    return body["results"]


# --- sources CRUD -------------------------------------------------------------------------


def test_staff_creates_a_source_and_gets_it_back(api, staff, write_folder):
    root = write_folder("wiki", WIKI)
    response = api(staff).post(
        "/api/v1/sources", {"name": "wiki", "kind": "folder", "config": {"path": str(root)}}, format="json"
    )
    assert response.status_code == 201, response.content
    created = response.json()
    assert set(created) >= SOURCE_FIELDS
    assert created["name"] == "wiki"
    assert created["kind"] == "folder"
    assert created["enabled"] is True
    assert created["last_synced_at"] is None
    source = Source.objects.get()
    assert created["id"] == source.pk
    assert api(staff).get(f"/api/v1/sources/{source.pk}").json() == created


def test_source_can_be_created_disabled(api, staff, write_folder):
    body = {"name": "wiki", "kind": "folder", "config": {"path": str(write_folder("wiki", WIKI))}, "enabled": False}
    response = api(staff).post("/api/v1/sources", body, format="json")
    assert response.status_code == 201
    assert response.json()["enabled"] is False
    assert Source.objects.get().enabled is False


def test_folder_config_is_normalised_on_create(api, staff, write_folder):
    root = write_folder("wiki", WIKI)
    (root / "sub").mkdir()
    config = {"path": f"{root}/sub/../."}
    response = api(staff).post("/api/v1/sources", {"name": "wiki", "kind": "folder", "config": config}, format="json")
    assert response.status_code == 201, response.content
    expected = {"path": str(root.resolve()), "include": DEFAULT_INCLUDE, "exclude": []}
    assert response.json()["config"] == expected
    assert Source.objects.get().config == expected


def test_folder_config_keeps_explicit_patterns(api, staff, write_folder):
    root = write_folder("wiki", WIKI)
    config = {"path": str(root), "include": ["*.md"], "exclude": ["drafts/*"]}
    response = api(staff).post("/api/v1/sources", {"name": "wiki", "kind": "folder", "config": config}, format="json")
    assert response.json()["config"] == config


def test_staff_lists_every_source_paginated_by_name(api, staff, folder_source):
    folder_source("wiki", WIKI)
    folder_source("hr", HR)
    results = page(api(staff).get("/api/v1/sources"))
    assert [source["name"] for source in results] == ["hr", "wiki"]
    assert all(set(source) >= SOURCE_FIELDS for source in results)


def test_source_list_pages_with_limit_and_offset(api, staff, folder_source):
    for name in ("a", "b", "c"):
        folder_source(name, {"x.md": "text"})
    body = api(staff).get("/api/v1/sources?limit=2").json()
    assert body["count"] == 3
    assert [source["name"] for source in body["results"]] == ["a", "b"]
    assert body["previous"] is None
    assert body["next"].endswith("/api/v1/sources?limit=2&offset=2")
    assert [source["name"] for source in api(staff).get(body["next"]).json()["results"]] == ["c"]


def test_non_staff_list_shows_only_granted_sources(api, make_user, folder_source, grant):
    wiki, hr = folder_source("wiki", WIKI), folder_source("hr", HR)
    folder_source("finance", {"q.md": "numbers"})
    member = make_user("member", groups=["people"])
    grant(wiki, user=member)
    grant(hr, group="people")
    assert {source["id"] for source in page(api(member).get("/api/v1/sources"))} == {wiki.pk, hr.pk}
    assert page(api(make_user("outsider")).get("/api/v1/sources")) == []


def test_non_staff_reads_a_granted_source(api, alice, folder_source, grant):
    wiki = folder_source("wiki", WIKI)
    grant(wiki, user=alice)
    response = api(alice).get(f"/api/v1/sources/{wiki.pk}")
    assert response.status_code == 200
    assert response.json()["name"] == "wiki"


def test_staff_patches_name_and_enabled(api, staff, folder_source):
    wiki = folder_source("wiki", WIKI)
    response = api(staff).patch(f"/api/v1/sources/{wiki.pk}", {"name": "handbook", "enabled": False}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["name"] == "handbook"
    assert response.json()["enabled"] is False
    wiki.refresh_from_db()
    assert (wiki.name, wiki.enabled) == ("handbook", False)


def test_patched_config_is_validated_and_normalised(api, staff, folder_source, write_folder):
    wiki = folder_source("wiki", WIKI)
    elsewhere = write_folder("elsewhere", {"a.md": "text"})
    response = api(staff).patch(
        f"/api/v1/sources/{wiki.pk}", {"config": {"path": f"{elsewhere}/./", "exclude": ["tmp/*"]}}, format="json"
    )
    assert response.status_code == 200, response.content
    assert response.json()["config"] == {"path": str(elsewhere), "include": DEFAULT_INCLUDE, "exclude": ["tmp/*"]}


def test_refused_patch_changes_nothing(api, staff, folder_source):
    wiki = folder_source("wiki", WIKI)
    before = Source.objects.values().get(pk=wiki.pk)
    response = api(staff).patch(
        f"/api/v1/sources/{wiki.pk}", {"name": "renamed", "config": {"path": "relative"}}, format="json"
    )
    assert response.status_code == 400
    assert Source.objects.values().get(pk=wiki.pk) == before


def test_staff_deletes_a_source_with_its_documents(api, staff, folder_source, sync_now):
    wiki = folder_source("wiki", WIKI)
    sync_now(wiki)
    response = api(staff).delete(f"/api/v1/sources/{wiki.pk}")
    assert response.status_code == 204
    assert response.content == b""
    assert not Source.objects.filter(pk=wiki.pk).exists()
    assert api(staff).get(f"/api/v1/sources/{wiki.pk}").status_code == 404


# --- sync -------------------------------------------------------------------------------


def test_sync_request_is_accepted_with_a_queued_job(api, staff, folder_source, django_capture_on_commit_callbacks):
    wiki = folder_source("wiki", WIKI)
    with django_capture_on_commit_callbacks() as enqueued:
        response = api(staff).post(f"/api/v1/sources/{wiki.pk}/sync")
    assert response.status_code == 202
    job = SyncJob.objects.get()
    assert response.json()["job_id"] == job.pk
    assert (job.source_id, job.status, job.requested_by_id) == (wiki.pk, SyncJob.Status.QUEUED, staff.pk)
    assert len(enqueued) == 1  # the task goes to the broker once the job row is committed


def test_second_sync_request_while_queued_returns_the_same_job(
    api, staff, folder_source, django_capture_on_commit_callbacks
):
    wiki = folder_source("wiki", WIKI)
    with django_capture_on_commit_callbacks() as enqueued:
        first = api(staff).post(f"/api/v1/sources/{wiki.pk}/sync")
        second = api(staff).post(f"/api/v1/sources/{wiki.pk}/sync")
    assert first.status_code == second.status_code == 202
    assert second.json()["job_id"] == first.json()["job_id"]
    assert SyncJob.objects.count() == 1
    assert len(enqueued) == 1  # no second task for the same job


def test_sync_request_after_a_finished_job_starts_a_new_one(api, staff, folder_source, sync_now):
    wiki = folder_source("wiki", WIKI)
    finished = sync_now(wiki)
    response = api(staff).post(f"/api/v1/sources/{wiki.pk}/sync")
    assert response.status_code == 202
    assert response.json()["job_id"] != finished.pk


def test_sync_requests_for_different_sources_get_different_jobs(api, staff, folder_source):
    wiki, hr = folder_source("wiki", WIKI), folder_source("hr", HR)
    first = api(staff).post(f"/api/v1/sources/{wiki.pk}/sync").json()["job_id"]
    second = api(staff).post(f"/api/v1/sources/{hr.pk}/sync").json()["job_id"]
    assert first != second


def test_sync_job_shows_status_index_version_counts_and_errors(api, staff, folder_source, sync_now):
    wiki = folder_source("wiki", {**WIKI, "empty.md": ""})
    job = sync_now(wiki)
    response = api(staff).get(f"/api/v1/sync-jobs/{job.pk}")
    assert response.status_code == 200
    body = response.json()
    assert set(body) >= SYNC_JOB_FIELDS
    assert body["id"] == job.pk
    assert body["source"] == wiki.pk
    assert body["status"] == "partial"
    assert job.index_version_id is not None
    assert body["index_version"] == job.index_version_id
    assert body["counts"] == {"added": 2, "updated": 0, "unchanged": 0, "deleted": 0, "failed": 1, "purged": 0}
    assert body["errors"] == [{"document": "empty.md", "reason": "empty file"}]
    assert body["progress"] == {"done": 3, "total": 3}
    assert body["finished_at"] is not None


def test_queued_sync_job_has_no_index_version_yet(api, staff, folder_source):
    wiki = folder_source("wiki", WIKI)
    job_id = api(staff).post(f"/api/v1/sources/{wiki.pk}/sync").json()["job_id"]
    body = api(staff).get(f"/api/v1/sync-jobs/{job_id}").json()
    assert (body["status"], body["index_version"], body["counts"], body["errors"]) == ("queued", None, {}, [])
    assert body["progress"] == {"done": 0, "total": None}


def test_sync_sets_last_synced_at_on_the_source(api, staff, folder_source, sync_now):
    wiki = folder_source("wiki", WIKI)
    assert api(staff).get(f"/api/v1/sources/{wiki.pk}").json()["last_synced_at"] is None
    sync_now(wiki)
    assert api(staff).get(f"/api/v1/sources/{wiki.pk}").json()["last_synced_at"] is not None


# --- documents ----------------------------------------------------------------------------


@pytest.fixture
def synced(two_page_wiki_and_hr):
    """The shared corpus: deploy.md and oncall.md in the wiki, leave.md in HR, as in WIKI and HR above."""
    return two_page_wiki_and_hr


def test_documents_list_shows_only_documents_of_granted_sources(api, alice, grant, synced):
    wiki, _ = synced
    grant(wiki, user=alice)
    results = page(api(alice).get("/api/v1/documents"))
    assert sorted(document["external_id"] for document in results) == ["deploy.md", "oncall.md"]
    assert {document["source"] for document in results} == {wiki.pk}
    assert all(set(document) == DOCUMENT_FIELDS for document in results)


def test_documents_list_filters_by_source(api, alice, grant, synced):
    wiki, hr = synced
    grant(wiki, user=alice)
    grant(hr, user=alice)
    assert [d["external_id"] for d in page(api(alice).get(f"/api/v1/documents?source={hr.pk}"))] == ["leave.md"]
    assert len(page(api(alice).get(f"/api/v1/documents?source={wiki.pk}"))) == 2


def test_documents_filter_on_an_ungranted_source_is_empty(api, alice, grant, synced):
    wiki, hr = synced
    grant(wiki, user=alice)
    assert page(api(alice).get(f"/api/v1/documents?source={hr.pk}")) == []


def test_documents_without_grant_are_hidden_from_staff_too(api, staff, synced):
    assert page(api(staff).get("/api/v1/documents")) == []


def test_documents_are_visible_through_a_group_grant(api, make_user, grant, synced):
    _, hr = synced
    member = make_user("member", groups=["people"])
    grant(hr, group="people")
    assert [d["source"] for d in page(api(member).get("/api/v1/documents"))] == [hr.pk]


def test_document_detail_shows_a_readable_document(api, alice, grant, synced):
    wiki, _ = synced
    grant(wiki, user=alice)
    document = wiki.documents.get(external_id="deploy.md")
    response = api(alice).get(f"/api/v1/documents/{document.pk}")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == DOCUMENT_FIELDS
    assert (body["id"], body["source"], body["title"]) == (document.pk, wiki.pk, "Deploying")
    assert body["uri"].startswith("file://")


def test_document_detail_of_an_ungranted_source_is_404(api, alice, grant, synced):
    wiki, hr = synced
    grant(wiki, user=alice)
    response = api(alice).get(f"/api/v1/documents/{hr.documents.get().pk}")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_document_removed_from_the_folder_disappears_after_the_next_sync(api, alice, grant, folder_source, sync_now):
    wiki = folder_source("wiki", WIKI)
    grant(wiki, user=alice)
    sync_now(wiki)
    removed = wiki.documents.get(external_id="oncall.md")
    (Path(wiki.config["path"]) / "oncall.md").unlink()
    sync_now(wiki)
    assert [d["external_id"] for d in page(api(alice).get("/api/v1/documents"))] == ["deploy.md"]
    assert api(alice).get(f"/api/v1/documents/{removed.pk}").status_code == 404


# --- uploads, cancel, pause, progress ---------------------------------------------------------


@pytest.fixture
def uploads(db):
    from sources.services.crud import source_create

    return source_create(name="uploads", kind="upload", config={})


def upload(client, source, *files):
    from django.core.files.uploadedfile import SimpleUploadedFile

    body = {"file": [SimpleUploadedFile(name, content, content_type=kind) for name, content, kind in files]}
    return client.post(f"/api/v1/sources/{source.pk}/documents", body, format="multipart")


def test_uploaded_files_are_synced_replaced_by_name_and_removed(api, staff, uploads, sync_now):
    from tests.sources.files import docx_bytes

    client = api(staff)
    response = upload(
        client,
        uploads,
        ("leave.md", b"# Leave\n\nTwenty weeks.", "text/markdown"),
        ("policy.docx", docx_bytes([("h1", "Policy"), ("p", "Be kind.")]), "application/octet-stream"),
    )
    assert response.status_code == 201, response.content
    assert [f["name"] for f in response.json()] == ["leave.md", "policy.docx"]
    assert sync_now(uploads).counts["added"] == 2

    assert upload(client, uploads, ("leave.md", b"# Leave\n\nTwenty-four weeks.", "text/markdown")).status_code == 201
    assert [f["name"] for f in page(client.get(f"/api/v1/sources/{uploads.pk}/documents"))] == [
        "leave.md",
        "policy.docx",
    ]
    job = sync_now(uploads)
    assert (job.counts["updated"], job.counts["unchanged"]) == (1, 1)

    assert client.delete(f"/api/v1/sources/{uploads.pk}/documents/policy.docx").status_code == 204
    assert sync_now(uploads).counts["deleted"] == 1


def test_upload_with_metadata_reaches_the_revision_and_the_document_api(api, staff, alice, grant, uploads, sync_now):
    from django.core.files.uploadedfile import SimpleUploadedFile

    client = api(staff)
    content = b"---\nteam: finance\nstatus: draft\n---\n# Leave\n\nTwenty weeks."
    response = client.post(
        f"/api/v1/sources/{uploads.pk}/documents",
        {
            "file": [SimpleUploadedFile("leave.md", content, content_type="text/markdown")],
            "metadata": '{"status": "approved", "tags": ["hr"]}',
        },
        format="multipart",
    )
    assert response.status_code == 201, response.content
    assert response.json()[0]["metadata"] == {"status": "approved", "tags": ["hr"]}
    sync_now(uploads)
    grant(uploads, user=alice)
    (document,) = page(api(alice).get("/api/v1/documents"))
    # The uploader's metadata wins over the file's own front matter, key by key.
    assert document["metadata"] == {"team": "finance", "status": "approved", "tags": ["hr"]}
    assert api(alice).get(f"/api/v1/documents/{document['id']}").json()["metadata"] == document["metadata"]


def test_upload_with_oversized_metadata_is_a_400_and_stores_nothing(api, staff, uploads):
    from django.core.files.uploadedfile import SimpleUploadedFile

    response = api(staff).post(
        f"/api/v1/sources/{uploads.pk}/documents",
        {
            "file": [SimpleUploadedFile("a.md", b"# A", content_type="text/markdown")],
            "metadata": '{"k": "%s"}' % ("x" * 600),
        },
        format="multipart",
    )
    assert response.status_code == 400
    assert list(response.json()["error"]["details"]) == ["metadata"]
    assert not uploads.uploaded_files.exists()


def test_upload_to_a_folder_source_is_refused(api, staff, folder_source):
    wiki = folder_source("wiki", WIKI)
    response = upload(api(staff), wiki, ("a.md", b"# A", "text/markdown"))
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "not_an_upload_source"


def test_upload_over_the_size_limit_is_refused(api, staff, uploads, settings):
    settings.SOURCE_MAX_DOCUMENT_BYTES = 10
    response = upload(api(staff), uploads, ("a.md", b"# A long document", "text/markdown"))
    assert response.status_code == 413
    assert not uploads.uploaded_files.exists()


def test_cancel_a_queued_sync_job(api, staff, folder_source):
    wiki = folder_source("wiki", WIKI)
    job_id = api(staff).post(f"/api/v1/sources/{wiki.pk}/sync").json()["job_id"]
    response = api(staff).post(f"/api/v1/sync-jobs/{job_id}/cancel")
    assert response.status_code == 202
    assert response.json()["status"] == "cancelled"
    again = api(staff).post(f"/api/v1/sync-jobs/{job_id}/cancel")
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "not_cancellable"


def test_pause_and_resume_scheduled_syncs(api, staff, folder_source):
    wiki = folder_source("wiki", WIKI)
    body = api(staff).post(f"/api/v1/sources/{wiki.pk}/pause", {"reason": "migration"}, format="json").json()
    assert (body["sync_paused"], body["sync_paused_reason"]) == (True, "migration")
    assert api(staff).post(f"/api/v1/sources/{wiki.pk}/resume").json()["sync_paused"] is False


@pytest.mark.parametrize(
    ("kind", "config", "field"),
    [
        ("upload", {"path": "/tmp"}, "path"),
        ("git", {"repository": "relative"}, "repository"),
        ("http", {"start_url": "file:///etc/passwd"}, "start_url"),
        ("tickets", {"path": str(DEMO_CORPUS / "nonexistent.jsonl")}, "path"),
    ],
)
def test_invalid_config_per_kind_is_a_400_naming_the_field(api, staff, kind, config, field):
    response = api(staff).post("/api/v1/sources", {"name": "x", "kind": kind, "config": config}, format="json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_config" and field in error["details"]["config"]
