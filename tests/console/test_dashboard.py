"""The console's home: services, the active version and why, per-source sync status, warnings."""

from pathlib import Path

from django.urls import reverse
from django.utils import timezone

from index_versions.services.activation import index_version_activate
from sources.models import SyncJob
from sources.services.schedules import source_schedule_pause


def test_home_is_the_product_dashboard_not_a_list_of_models(client, operator, folder_source, sync_now):
    wiki = folder_source("wiki", {"a.md": "# A\n\nalpha", "broken.pdf": b"%PDF-1.4 not really"})
    job = sync_now(wiki)
    client.force_login(operator)
    page = client.get("/admin/").content.decode()
    assert "<title>Overview | RAG platform console</title>" in page
    assert "Django administration" not in page
    assert "PostgreSQL" in page and "Redis reachable" in page
    assert f"Version {job.index_version_id}" in page and "activated by its sync" in page
    assert "finished with 1 failed document" in page and "broken.pdf" in page
    for hidden in ("Clocked", "Solar events", "Intervals", "Crontabs", "Tokens"):
        assert hidden not in page


def test_home_lists_every_queue_and_warns_when_no_worker_consumes_it(client, operator):
    client.force_login(operator)
    page = client.get("/admin/").content.decode()
    for queue in ("interactive", "sync"):
        assert f"queue <strong>{queue}</strong>" in page
        assert f"No live worker consumes the {queue} queue" in page


def test_home_warns_of_paused_schedules_stale_jobs_and_failed_syncs(client, operator, folder_source, settings):
    wiki = folder_source("wiki", {"a.md": "alpha"})
    hr = folder_source("hr", {"b.md": "beta"})
    source_schedule_pause(source=wiki, actor=operator, reason="investigating")
    stale = SyncJob.objects.create(
        source=hr, status=SyncJob.Status.RUNNING, heartbeat_at=timezone.now() - timezone.timedelta(hours=1)
    )
    client.force_login(operator)
    page = client.get("/admin/").content.decode()
    assert "Scheduled syncs of wiki are paused" in page and "investigating" in page
    assert f"Sync job #{stale.pk} of hr has made no progress" in page
    stale.status, stale.message, stale.finished_at = SyncJob.Status.FAILED, "disk gone", timezone.now()
    stale.save()
    assert "The last sync of hr failed: disk gone" in client.get("/admin/").content.decode()


def test_home_shows_why_a_rolled_back_version_is_active(client, operator, folder_source, sync_now):
    wiki = folder_source("wiki", {"a.md": "alpha"})
    first = sync_now(wiki).index_version
    Path(wiki.config["path"], "b.md").write_text("beta")
    sync_now(wiki)
    index_version_activate(version=first, actor=operator, reason="console")
    client.force_login(operator)
    page = client.get(reverse("admin:index")).content.decode()
    assert (
        f"<strong>Version {first.pk}</strong>" in page
        and "activated by hand (a rollback or roll-forward) by operator" in page
    )
    assert "Scheduled syncs of wiki are paused" in page  # so the next sync does not undo the rollback
