"""Every page for a staff user limited by permissions: what they may not use is not offered, a forged POST gets 403."""

from pathlib import Path

import pytest
from django.contrib.auth.models import Group

from acl.models import SourceGrant
from index_versions.models import IndexVersion
from index_versions.selectors import index_version_active
from sources.models import SyncJob
from tests.corpus import corpus_sync


def _add_b_and_sync_again(wiki):
    first = wiki.sync_jobs.get().index_version_id
    Path(wiki.config["path"], "b.md").write_text("# B\n\nbeta")
    corpus_sync(wiki)
    return first


@pytest.fixture(scope="session")
def synced_twice_snapshot(corpus_snapshot):
    return corpus_snapshot(wiki={"a.md": "# A\n\nalpha"}, then=_add_b_and_sync_again)


@pytest.fixture
def synced(corpus_restore, synced_twice_snapshot):
    """A source synced twice, so that there is a version to roll back to and a sync to undo."""
    (wiki,) = corpus_restore(synced_twice_snapshot)
    return wiki, IndexVersion.objects.get(pk=synced_twice_snapshot.extra)


def _nav(page: str) -> set[str]:
    labels = ("Sources", "Versions", "Permissions", "Search as a user", "Audit")
    return {label for label in labels if f'">{label}</a>' in page}


def test_a_viewer_of_sources_sees_no_buttons_and_every_write_is_refused(client, limited_staff, synced):
    wiki, _ = synced
    client.force_login(limited_staff("sources.view_source"))
    assert _nav(client.get("/admin/").content.decode()) == {"Sources"}
    page = client.get(f"/admin/sources/source/{wiki.pk}/change/").content.decode()
    for button in ("Sync now", "Pause schedule", "Undo last sync", "Cancel sync"):
        assert button not in page
    assert "Sync history" not in page  # job records need sources.view_syncjob
    for action in ("sync", "cancel", "pause", "resume", "undo"):
        assert client.post(f"/admin/sources/source/{wiki.pk}/{action}/").status_code == 403, action
    assert not SyncJob.objects.filter(status__in=SyncJob.IN_FLIGHT).exists()
    for url in (
        "/admin/index_versions/indexversion/",
        "/admin/acl/sourcegrant/",
        "/admin/search/",
        "/admin/acl/auditevent/",
    ):
        assert client.get(url).status_code == 403, url


def test_sync_permission_offers_sync_now_but_not_the_schedule(client, limited_staff, synced):
    wiki, _ = synced
    client.force_login(limited_staff("sources.view_source", "sources.sync_source", "sources.view_syncjob"))
    page = client.get(f"/admin/sources/source/{wiki.pk}/change/").content.decode()
    assert "Sync now" in page and "Pause schedule" not in page and "Undo last sync" not in page
    assert "Sync history" in page
    assert client.post(f"/admin/sources/source/{wiki.pk}/sync/").status_code == 302
    assert SyncJob.objects.filter(source=wiki, status=SyncJob.Status.QUEUED).exists()
    assert client.post(f"/admin/sources/source/{wiki.pk}/pause/").status_code == 403


def test_change_and_activate_permissions_offer_pause_and_undo(client, limited_staff, synced):
    wiki, _ = synced
    client.force_login(
        limited_staff("sources.view_source", "sources.change_source", "index_versions.activate_indexversion")
    )
    page = client.get(f"/admin/sources/source/{wiki.pk}/change/").content.decode()
    assert "Pause schedule" in page and "Undo last sync" in page and "Sync now" not in page
    assert client.post(f"/admin/sources/source/{wiki.pk}/pause/").status_code == 302
    assert client.get(f"/admin/sources/source/{wiki.pk}/undo/").status_code == 200


def test_a_viewer_of_versions_gets_no_roll_back_or_pin(client, limited_staff, synced):
    _, first = synced
    active = index_version_active()
    client.force_login(limited_staff("index_versions.view_indexversion"))
    page = client.get("/admin/index_versions/indexversion/").content.decode()
    assert 'id="versions-timeline"' in page
    assert "Roll back" not in page and ">Pin<" not in page
    assert client.get(f"/admin/index_versions/indexversion/{first.pk}/activate/").status_code == 403
    assert client.post(f"/admin/index_versions/indexversion/{first.pk}/activate/").status_code == 403
    assert client.post(f"/admin/index_versions/indexversion/{first.pk}/pin/", {"pinned": "1"}).status_code == 403
    assert index_version_active() == active


def test_pin_permission_alone_pins_but_does_not_roll_back(client, limited_staff, synced):
    _, first = synced
    client.force_login(limited_staff("index_versions.view_indexversion", "index_versions.change_indexversion"))
    page = client.get("/admin/index_versions/indexversion/").content.decode()
    assert ">Pin<" in page and "Roll back" not in page
    assert client.post(f"/admin/index_versions/indexversion/{first.pk}/pin/", {"pinned": "1"}).status_code == 302


def test_a_viewer_of_grants_checks_access_but_cannot_grant_revoke_or_change_groups(
    client, limited_staff, synced, grant, make_user
):
    wiki, _ = synced
    alice = make_user("alice", groups=["engineering"])
    existing = grant(wiki, group="engineering")
    client.force_login(limited_staff("acl.view_sourcegrant"))
    page = client.get("/admin/acl/sourcegrant/").content.decode()
    assert "grant-form" not in page and "Revoke" not in page
    assert (
        "Can read" in client.get("/admin/acl/sourcegrant/check/", {"user": "alice", "document": "A"}).content.decode()
    )
    user_page = client.get(f"/admin/acl/sourcegrant/user/{alice.pk}/").content.decode()
    assert "Add to group" not in user_page
    assert client.post("/admin/acl/sourcegrant/grant/", {"source": wiki.pk, "principal": "alice"}).status_code == 403
    assert client.post(f"/admin/acl/sourcegrant/{existing.pk}/revoke/").status_code == 403
    group = Group.objects.get(name="engineering")
    membership = {"user": alice.pk, "group": group.pk, "op": "remove"}
    assert client.post("/admin/acl/sourcegrant/membership/", membership).status_code == 403
    assert SourceGrant.objects.count() == 1 and alice.groups.filter(pk=group.pk).exists()


def test_granting_to_a_new_group_needs_the_add_group_permission(client, limited_staff, synced):
    wiki, _ = synced
    client.force_login(limited_staff("acl.view_sourcegrant", "acl.add_sourcegrant"))
    client.post("/admin/acl/sourcegrant/grant/", {"source": wiki.pk, "principal": "group:auditors"})
    assert not Group.objects.filter(name="auditors").exists() and not SourceGrant.objects.exists()


def test_search_as_user_and_audit_need_their_permissions(client, limited_staff, synced, make_user):
    make_user("alice")
    client.force_login(limited_staff("acl.search_as_user", "acl.view_auditevent"))
    assert _nav(client.get("/admin/").content.decode()) == {"Search as a user", "Audit"}
    assert client.post("/admin/search/", {"query": "alpha", "username": "alice"}).status_code == 200
    assert client.get("/admin/acl/auditevent/export/").status_code == 200


def test_the_dashboard_hides_what_the_user_may_not_view(client, limited_staff, synced):
    client.force_login(limited_staff())
    page = client.get("/admin/").content.decode()
    assert client.get("/admin/").status_code == 200
    assert 'id="source-status"' not in page and 'id="active-version"' not in page
    assert 'id="health"' in page
