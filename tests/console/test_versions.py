"""The versions page of the admin console: rollback with a diff first, pinning."""

from pathlib import Path

import pytest

from index_versions.models import IndexVersion
from index_versions.selectors import index_version_active
from tests.corpus import corpus_sync


def _drop_oncall_and_sync_again(source):
    old = source.sync_jobs.get().index_version_id
    Path(source.config["path"], "oncall.md").unlink()
    return old, corpus_sync(source).index_version_id


@pytest.fixture(scope="session")
def two_versions_snapshot(corpus_snapshot):
    wiki = {"deploy.md": "# Deploying\n\nThree waves.", "oncall.md": "# On call\n\nPages."}
    return corpus_snapshot(wiki=wiki, then=_drop_oncall_and_sync_again)


@pytest.fixture
def two_versions(corpus_restore, two_versions_snapshot):
    """The wiki synced, then synced again without its on-call page: ``(old, new)``, new active."""
    corpus_restore(two_versions_snapshot)
    old, new = two_versions_snapshot.extra
    return IndexVersion.objects.get(pk=old), IndexVersion.objects.get(pk=new)


def test_versions_page_offers_roll_back_for_older_versions(client, operator, two_versions):
    old, _ = two_versions
    client.force_login(operator)
    page = client.get("/admin/index_versions/indexversion/").content.decode()
    assert f"/admin/index_versions/indexversion/{old.pk}/activate/" in page
    assert "Roll back" in page


def test_roll_back_shows_the_diff_before_switching(client, operator, two_versions):
    old, new = two_versions
    client.force_login(operator)
    confirmation = client.get(f"/admin/index_versions/indexversion/{old.pk}/activate/")
    assert confirmation.status_code == 200
    assert "1 added, 0 removed, 0 changed" in confirmation.content.decode()
    assert "On call" in confirmation.content.decode()
    assert index_version_active() == new  # nothing switched on GET

    response = client.post(f"/admin/index_versions/indexversion/{old.pk}/activate/")

    assert response.status_code == 302
    assert index_version_active() == old


def test_pin_action_pins_the_selected_versions(client, operator, two_versions):
    old, _ = two_versions
    client.force_login(operator)
    client.post("/admin/index_versions/indexversion/", {"action": "pin", "_selected_action": [old.pk]})
    assert IndexVersion.objects.get(pk=old.pk).pinned


def test_non_staff_cannot_open_the_activation_page(client, alice, two_versions):
    old, new = two_versions
    client.force_login(alice)
    client.post(f"/admin/index_versions/indexversion/{old.pk}/activate/")
    assert index_version_active() == new


def test_timeline_shows_trigger_source_counts_and_pin_buttons(client, operator, two_versions):
    old, _ = two_versions
    client.force_login(operator)
    page = client.get("/admin/index_versions/indexversion/").content.decode()
    assert 'id="versions-timeline"' in page
    assert "Sync: <strong>wiki</strong>" in page
    assert "sync #" in page and "2 documents" in page and "1 document ·" in page
    assert f'formaction="/admin/index_versions/indexversion/{old.pk}/pin/"' in page


def test_pin_button_pins_and_unpins(client, operator, two_versions):
    old, _ = two_versions
    client.force_login(operator)
    client.post(f"/admin/index_versions/indexversion/{old.pk}/pin/", {"pinned": "1"})
    assert IndexVersion.objects.get(pk=old.pk).pinned
    client.post(f"/admin/index_versions/indexversion/{old.pk}/pin/", {"pinned": "0"})
    assert not IndexVersion.objects.get(pk=old.pk).pinned


def test_roll_back_diff_names_the_source(client, operator, two_versions):
    old, _ = two_versions
    client.force_login(operator)
    page = client.get(f"/admin/index_versions/indexversion/{old.pk}/activate/").content.decode()
    assert '<h3 class="console-section">wiki</h3>' in page
    assert "Roll back to index version" in page
