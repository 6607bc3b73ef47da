import os
from pathlib import Path

import pytest

from ingest.lifecycle import sync_job_request
from ingest.runner import sync_job_run
from ragplatform.demo.load import DEMO_CORPUS
from ragplatform.exceptions import ApplicationError
from sources.connectors.folder import DEFAULT_INCLUDE
from sources.models import Document, DocumentRevision, Source, SyncJob
from sources.services.crud import source_create, source_update


def test_folder_config_is_normalised_with_default_globs(db, write_folder):
    root = write_folder("wiki", {"a.md": "text"})
    source = source_create(name="wiki", kind="folder", config={"path": str(root) + "/."})
    assert source.config == {"path": str(root), "include": DEFAULT_INCLUDE, "exclude": []}
    assert {"**/*.md", "**/*.pdf", "**/*.docx", "**/*.html"} <= set(DEFAULT_INCLUDE)


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({}, "path"),
        ({"path": "relative/dir"}, "path"),
        ({"path": str(DEMO_CORPUS / "nonexistent")}, "path"),
        ({"path": str(DEMO_CORPUS), "include": "*.md"}, "include"),
        ({"path": str(DEMO_CORPUS), "colour": "blue"}, "colour"),
    ],
)
def test_invalid_folder_config_is_refused_with_the_field_named(db, config, field):
    with pytest.raises(ApplicationError) as error:
        source_create(name="bad", kind="folder", config=config)
    assert error.value.code == "invalid_config"
    assert field in error.value.details["config"]
    assert not Source.objects.exists()


def test_unknown_kind_is_refused(db):
    with pytest.raises(ApplicationError) as error:
        source_create(name="bad", kind="ftp", config={})
    assert "kind" in error.value.details


def test_renaming_to_an_existing_name_is_refused(db, folder_source):
    folder_source("wiki", {"a.md": "text"})
    hr = folder_source("hr", {"a.md": "text"})
    with pytest.raises(ApplicationError):
        source_update(source=hr, data={"name": "wiki"})


def test_bad_documents_are_reported_and_the_rest_is_synced(folder_source, sync_now):
    source = folder_source(
        "wiki",
        {
            "good.md": "# Good\n\nReadable text.",
            "empty.md": "",
            "binary.txt": b"\x00\x01\x02\x03binary",
            "undecodable.txt": bytes(range(0x80, 0x100)) * 4,
        },
    )
    job = sync_now(source)
    assert job.status == SyncJob.Status.PARTIAL
    reasons = {error["document"]: error["reason"] for error in job.errors}
    assert reasons.keys() == {"empty.md", "binary.txt", "undecodable.txt"}
    assert "empty" in reasons["empty.md"]
    assert "binary" in reasons["binary.txt"]
    assert "undecodable" in reasons["undecodable.txt"]
    assert job.counts["added"] == 1 and job.counts["failed"] == 3
    assert list(Document.objects.values_list("external_id", flat=True)) == ["good.md"]


def test_a_document_that_turns_bad_keeps_its_previous_content(folder_source, sync_now):
    source = folder_source("wiki", {"a.md": "# A\n\nFirst text.", "b.md": "# B\n\nOther."})
    first = sync_now(source)
    Path(source.config["path"], "a.md").write_bytes(b"")
    second = sync_now(source)
    assert second.status == SyncJob.Status.PARTIAL
    assert second.counts["deleted"] == 0
    assert second.message == "no changes"  # nothing readable changed: the old version stays active
    assert first.index_version.state == "active"


def test_symlink_out_of_the_root_is_refused(folder_source, sync_now, tmp_path):
    secret = tmp_path / "secret.md"
    secret.write_text("top secret salary data")
    source = folder_source("wiki", {"a.md": "# A\n\nPublic."})
    os.symlink(secret, Path(source.config["path"], "leak.md"))
    job = sync_now(source)
    assert {"document": "leak.md", "reason": "refused: the path leads outside the source folder"} in job.errors
    assert not Document.objects.filter(external_id="leak.md").exists()


def test_include_and_exclude_globs_select_files(folder_source, sync_now, db):
    source = folder_source("wiki", {"docs/a.md": "# A\n\nText.", "drafts/b.md": "# B\n\nText.", "c.rst": "C"})
    source_update(source=source, data={"config": {**source.config, "exclude": ["drafts/*"]}})
    sync_now(source)
    assert list(Document.objects.values_list("external_id", flat=True)) == ["docs/a.md"]


def test_second_sync_request_while_one_is_queued_returns_the_same_job(folder_source):
    source = folder_source("wiki", {"a.md": "text"})
    first, created = sync_job_request(source=source)
    second, created_again = sync_job_request(source=source)
    assert created and not created_again
    assert first.pk == second.pk


def test_disabled_source_cannot_be_synced(folder_source):
    source = folder_source("wiki", {"a.md": "text"})
    source = source_update(source=source, data={"enabled": False})
    with pytest.raises(ApplicationError) as error:
        sync_job_request(source=source)
    assert error.value.code == "source_disabled"


def test_running_a_job_twice_does_the_work_once(folder_source, sync_now):
    job = sync_now(folder_source("wiki", {"a.md": "# A\n\nText."}))
    assert sync_job_run(job_id=job.pk) is None  # a redelivered task finds the job already done
    assert SyncJob.objects.get(pk=job.pk).status == SyncJob.Status.SUCCEEDED


# --- compliance purge ------------------------------------------------------------------


def test_purge_removes_the_document_from_every_version_and_rollback_cannot_restore_it(
    folder_source, sync_now, grant, alice, staff
):
    from acl.models import AuditEvent
    from index_versions.models import Chunk, Embedding, IndexVersion, MembershipSpan
    from index_versions.services.activation import index_version_activate
    from index_versions.services.purge import document_purge
    from retrieval.search import search

    source = folder_source(
        "hr", {"salary.md": "# Salaries\n\nThe CEO earns 900,000 euros.", "leave.md": "# Leave\n\nTwenty weeks."}
    )
    grant(source, user=alice)
    old = sync_now(source).index_version
    Path(source.config["path"], "leave.md").write_text("# Leave\n\nTwenty-four weeks.")
    sync_now(source)
    salary = Document.objects.get(external_id="salary.md")

    document_purge(document=salary, actor=staff)

    assert not MembershipSpan.objects.filter(document=salary).exists()
    assert not Chunk.objects.filter(text__contains="900,000").exists()
    assert not DocumentRevision.objects.filter(document=salary).exists()
    assert Embedding.objects.count() == Chunk.objects.values("embedding").distinct().count()
    index_version_activate(version=old, reason="rollback")  # the retired version lost it too
    assert IndexVersion.objects.get(pk=old.pk).counts["documents"] == 1
    assert not any("900,000" in hit.text for hit in search(user=alice, query="CEO salary", k=10).results)
    event = AuditEvent.objects.get(action="document.purge")
    assert event.actor == staff and old.pk in event.details["versions"]
    assert "salary" not in str(event.details)  # the external id may itself be personal data


def test_a_purged_document_is_not_taken_in_again_by_the_next_sync(folder_source, sync_now, staff):
    from index_versions.services.purge import document_purge

    source = folder_source("hr", {"salary.md": "# Salaries\n\nSecret.", "leave.md": "# Leave\n\nTwenty weeks."})
    sync_now(source)
    document_purge(document=Document.objects.get(external_id="salary.md"), actor=staff)
    Path(source.config["path"], "leave.md").write_text("# Leave\n\nChanged.")
    job = sync_now(source)
    assert job.counts["purged"] == 1
    assert not DocumentRevision.objects.filter(document__external_id="salary.md").exists()
    purged = Document.objects.get(external_id=Document.tombstone_key("salary.md"))
    assert purged.purged_at is not None and purged.title == "(purged)" and purged.uri == ""
