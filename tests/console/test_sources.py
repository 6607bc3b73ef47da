from pathlib import Path

from acl.models import AuditEvent
from index_versions.models import IndexVersion
from index_versions.selectors import document_list, index_version_active, version_revisions
from sources.models import Document, Source, SyncJob


def test_purge_action_asks_for_confirmation_then_purges(client, operator, folder_source, sync_now):
    sync_now(folder_source("hr", {"salary.md": "# Salaries\n\nSecret."}))
    document = Document.objects.get()
    client.force_login(operator)
    form = {"action": "purge", "_selected_action": [document.pk]}

    confirmation = client.post("/admin/sources/document/", form)
    assert "Yes, purge for good" in confirmation.content.decode()
    assert Document.objects.get().purged_at is None

    client.post("/admin/sources/document/", {**form, "confirmed": "yes"})
    assert Document.objects.get().purged_at is not None


def test_source_form_refuses_an_invalid_config(client, operator):
    client.force_login(operator)
    response = client.post(
        "/admin/sources/source/add/", {"name": "bad", "kind": "folder", "config": '{"path": "relative"}'}
    )
    assert response.status_code == 200
    assert "must be an absolute path" in response.content.decode()
    assert not Source.objects.exists()


def test_documents_page_links_the_stale_duplicates_report_listing_copies_that_disagree(
    client, operator, folder_source, sync_now
):
    import os
    import time

    text = "# Expense policy\n\nTravel expenses are reimbursed within thirty days of the claim, with receipts."
    archive, handbook = folder_source("archive", {"policy.md": text}), folder_source("handbook", {"policy.md": text})
    os.utime(os.path.join(archive.config["path"], "policy.md"), (time.time() - 30 * 86400,) * 2)
    sync_now(archive)
    sync_now(handbook)
    client.force_login(operator)
    assert "/admin/sources/document/stale-duplicates/" in client.get("/admin/sources/document/").content.decode()
    page = client.get("/admin/sources/document/stale-duplicates/").content.decode()
    assert "1 group," in page and page.count("Expense policy") == 2 and "archive" in page and "handbook" in page
    narrower = client.get("/admin/sources/document/stale-duplicates/?min_days=31").content.decode()
    assert "None: every copy agrees" in narrower


def test_sources_list_shows_last_sync_failing_documents_and_schedule(client, operator, folder_source, sync_now):
    wiki = folder_source("wiki", {"a.md": "# A\n\nalpha", "broken.pdf": b"%PDF-1.4 not really"})
    sync_now(wiki)
    Source.objects.filter(pk=wiki.pk).update(sync_interval_minutes=60)
    client.force_login(operator)
    page = client.get("/admin/sources/source/").content.decode()
    assert "finished with 1 failed document" in page
    assert '<span class="badge bad">1</span>' in page  # failing
    assert "every 60 min" in page


def test_source_page_lists_history_errors_and_the_operator_buttons(client, operator, folder_source, sync_now):
    wiki = folder_source("wiki", {"a.md": "# A\n\nalpha", "broken.pdf": b"%PDF-1.4 not really"})
    job = sync_now(wiki)
    client.force_login(operator)
    page = client.get(f"/admin/sources/source/{wiki.pk}/change/").content.decode()
    assert f"#{job.pk}" in page and "broken.pdf" in page
    assert job.errors[0]["reason"] in page
    for button in ("Sync now", "Pause schedule", "Undo last sync"):
        assert button in page
    assert 'data-live="off"' in page  # nothing in flight: the page does not poll
    assert "Building the index version" not in page


def test_finished_job_reads_as_finished_not_by_its_last_phase(client, operator, folder_source, sync_now):
    job = sync_now(folder_source("wiki", {"a.md": "# A\n\nalpha"}))
    assert job.phase == SyncJob.Phase.FINISH
    client.force_login(operator)
    for url in ("/admin/sources/syncjob/", f"/admin/sources/syncjob/{job.pk}/change/", "/admin/"):
        page = client.get(url).content.decode()
        assert "succeeded" in page, url
        assert "Building the index version" not in page, url


def test_live_panel_polls_while_a_sync_is_queued(client, operator, folder_source):
    wiki = folder_source("wiki", {"a.md": "# A\n\nalpha"})
    client.force_login(operator)
    client.post(f"/admin/sources/source/{wiki.pk}/sync/")
    job = SyncJob.objects.get(source=wiki)
    assert job.status == SyncJob.Status.QUEUED and job.requested_by == operator
    panel = client.get(f"/admin/sources/source/{wiki.pk}/live/").content.decode()
    assert 'data-live="on"' in panel and "queued" in panel and "Cancel sync" in panel

    client.post(f"/admin/sources/source/{wiki.pk}/cancel/")
    job.refresh_from_db()
    assert job.status == SyncJob.Status.CANCELLED
    assert 'data-live="off"' in client.get(f"/admin/sources/source/{wiki.pk}/live/").content.decode()


def test_pause_and_resume_the_schedule_from_the_source_page(client, operator, folder_source):
    wiki = folder_source("wiki", {"a.md": "alpha"})
    client.force_login(operator)
    client.post(f"/admin/sources/source/{wiki.pk}/pause/")
    wiki.refresh_from_db()
    assert wiki.sync_paused
    client.post(f"/admin/sources/source/{wiki.pk}/resume/")
    wiki.refresh_from_db()
    assert not wiki.sync_paused
    actions = list(AuditEvent.objects.filter(actor=operator).values_list("action", flat=True))
    assert AuditEvent.Action.SCHEDULE_PAUSE in actions and AuditEvent.Action.SCHEDULE_RESUME in actions


def test_undo_last_sync_shows_the_diff_then_restores_the_source_without_embedding(
    client, operator, folder_source, sync_now
):
    wiki = folder_source("wiki", {"deploy.md": "# Deploying\n\nThree waves.", "oncall.md": "# On call\n\nPages."})
    hr = folder_source("hr", {"leave.md": "# Leave\n\nTwenty days."})
    sync_now(wiki)
    sync_now(hr)
    before = index_version_active()
    Path(wiki.config["path"], "oncall.md").unlink()
    Path(wiki.config["path"], "deploy.md").write_text("# Deploying\n\nFour waves now.")
    Path(wiki.config["path"], "new.md").write_text("# New page\n\nFresh.")
    last = sync_now(wiki)
    client.force_login(operator)

    confirmation = client.get(f"/admin/sources/source/{wiki.pk}/undo/").content.decode()
    assert "1 back, 1 removed, 1 changed back" in confirmation
    assert "On call" in confirmation and "New page" in confirmation and "Deploying" in confirmation
    assert f"Yes, undo sync #{last.pk}" in confirmation
    assert index_version_active() == last.index_version  # nothing switched on GET

    client.post(f"/admin/sources/source/{wiki.pk}/undo/")

    restored = index_version_active()
    assert restored.trigger == IndexVersion.Trigger.REVERT and restored.trigger_source_id == wiki.pk
    assert version_revisions(restored, source_id=wiki.pk) == version_revisions(before, source_id=wiki.pk)
    assert version_revisions(restored, source_id=hr.pk) == version_revisions(before, source_id=hr.pk)
    assert restored.counts["embeddings_computed"] == 0
    wiki.refresh_from_db()
    assert wiki.sync_paused
    again = client.get(f"/admin/sources/source/{wiki.pk}/undo/").content.decode()
    assert "nothing to undo" in again


def test_source_form_saves_through_the_service(client, operator, tmp_path):
    client.force_login(operator)
    response = client.post(
        "/admin/sources/source/add/",
        {"name": "docs", "kind": "folder", "config": f'{{"path": "{tmp_path}"}}', "enabled": "on"},
    )
    assert response.status_code == 302
    assert Source.objects.get(name="docs").config["path"] == str(tmp_path)
    assert list(document_list(user=operator)) == []
