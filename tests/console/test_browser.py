"""The console as an operator uses it, in a real browser at 1,280 x 800, against a live server.

Syncs started from the browser run on a real Celery worker; every page visited is
checked for sideways scrolling, and a screenshot of each is saved (``make screenshots``
writes them to docs/console/ for the README).
"""

import json
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import expect

from acl.services import document_access_list_set
from index_versions.models import IndexVersion
from index_versions.selectors import index_version_active, version_revisions
from sources.models import Document, Source
from tests.console.browser import assert_fits_the_window, log_in

pytestmark = [pytest.mark.browser]

SYNC_TIMEOUT_MS = 180_000  # the worker loads the embedding model on its first task


def visit(page, url: str) -> None:
    page.goto(url)
    assert_fits_the_window(page)


def sync_from_the_source_page(page) -> None:
    """Click Sync now and watch the live progress bar until the worker has finished the job."""
    page.get_by_role("button", name="Sync now").click()
    expect(page.locator("#source-panel")).to_have_attribute("data-live", "off", timeout=SYNC_TIMEOUT_MS)
    expect(page.locator("#progress-label")).to_have_text("100%")


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_operator_creates_syncs_undoes_and_rolls_back_a_source(
    page, celery_worker_process, write_folder, folder_source, sync_now, screenshots
):
    User.objects.create_superuser("operator", password="pw-operator")
    handbook = folder_source("Company handbook", {"holidays.md": "# Holidays\n\nTwenty-five days a year."})
    sync_now(handbook)
    folder = write_folder(
        "wiki",
        {
            "deploy.md": "# Deploying\n\nWe deploy in three waves, every Tuesday.",
            "oncall.md": "# On call\n\nThe on-call engineer answers pages within fifteen minutes.",
            "broken.pdf": b"%PDF-1.4 this is not really a PDF",
        },
    )
    log_in(page, "operator", "pw-operator")

    # Create a folder source from the console.
    visit(page, "/admin/sources/source/add/")
    page.fill("#id_name", "Engineering wiki")
    page.select_option("#id_kind", "folder")
    page.fill("#id_config", json.dumps({"path": str(folder)}))
    page.fill("#id_sync_interval_minutes", "60")
    page.click("input[name=_continue]")
    expect(page.locator("h1")).to_have_text("Engineering wiki")
    source = Source.objects.get(name="Engineering wiki")

    # Sync it on the worker and watch the progress bar reach 100%; the unreadable PDF is listed with its reason.
    sync_from_the_source_page(page)
    expect(page.locator("#sync-stage")).to_contain_text("finished with 1 failed document")
    errors = page.locator("#sync-errors")
    expect(errors).to_contain_text("broken.pdf")
    reason = source.sync_jobs.get().errors[0]["reason"]
    assert reason
    expect(errors).to_contain_text(reason)
    assert_fits_the_window(page)

    # A second sync changes the source; then undo it in one click, after seeing the diff.
    Path(folder, "oncall.md").unlink()
    Path(folder, "runbook.md").write_text("# Runbook\n\nRestart the indexer, then check the queue.")
    page.reload()
    sync_from_the_source_page(page)
    expect(page.locator("#sync-history tbody tr")).to_have_count(2)
    screenshots(page, "source")
    synced = index_version_active()

    page.get_by_role("link", name="Undo last sync…").click()
    assert_fits_the_window(page)
    expect(page.locator("#undo-summary")).to_contain_text("1 back, 1 removed, 0 changed back")
    expect(page.locator("#undo-diff")).to_contain_text("On call")
    expect(page.locator("#undo-diff")).to_contain_text("Runbook")
    screenshots(page, "undo")
    page.get_by_role("button", name="Yes, undo sync").click()
    expect(page.locator(".messagelist")).to_contain_text("undone")
    undone = index_version_active()
    assert undone.trigger == IndexVersion.Trigger.REVERT and undone.trigger_source_id == source.pk
    assert set(
        Document.objects.filter(source=source, pk__in=list(version_revisions(undone))).values_list("title", flat=True)
    ) == {
        "Deploying",
        "On call",
    }

    # The sources list and the home page tell how things stand.
    visit(page, "/admin/sources/source/")
    expect(page.locator("#result_list")).to_contain_text("Engineering wiki")
    screenshots(page, "sources")
    visit(page, "/admin/")
    for queue in ("interactive", "sync"):  # the fixture's worker consumes both and answers the broadcast
        expect(page.locator("#workers")).to_contain_text(f"1 live queue {queue} test-")
    expect(page.locator("#warnings")).to_contain_text("Scheduled syncs of Engineering wiki are paused")
    screenshots(page, "home")

    # Roll back from the versions page to the version the second sync built, after its diff.
    visit(page, "/admin/index_versions/indexversion/")
    screenshots(page, "versions")
    page.locator(f"#version-{synced.pk}").get_by_role("link", name="Roll back").click()
    assert_fits_the_window(page)
    expect(page.locator("#diff-summary")).to_contain_text("1 added, 1 removed, 0 changed")
    expect(page.locator("#content-main")).to_contain_text("Engineering wiki")
    expect(page.locator("#content-main")).to_contain_text("Runbook")
    screenshots(page, "rollback")
    page.get_by_role("button", name=f"Yes, activate version {synced.pk}").click()
    expect(page.locator(".messagelist")).to_contain_text(f"Version {synced.pk} is now active.")
    assert index_version_active() == synced

    for url in ("/admin/sources/syncjob/", "/admin/sources/document/", f"/admin/sources/source/{handbook.pk}/change/"):
        visit(page, url)


@pytest.mark.django_db(transaction=True)
def test_permissions_admin_grants_checks_access_and_searches_as_two_users(
    page, sync_folders, make_user, grant, screenshots
):
    User.objects.create_superuser("operator", password="pw-operator")
    wiki, hr = sync_folders(
        wiki={
            "deploy.md": "# Deploying\n\nWe deploy in three waves, every Tuesday.",
            "salaries.md": "# Salary bands\n\nBands are reviewed every spring by the leads.",
        },
        hr={"leave.md": "# Parental leave\n\nEmployees get sixteen weeks of paid parental leave."},
    )
    make_user("alice", groups=["engineering", "people-ops"])
    make_user("bob", groups=["engineering"])
    grant(hr, group="people-ops")
    salaries = wiki.documents.get(external_id="salaries.md")
    document_access_list_set(document=salaries, principals=["group:leads"])
    log_in(page, "operator", "pw-operator")

    # Grant the wiki to a group from the permissions page.
    visit(page, "/admin/acl/sourcegrant/")
    row = page.locator(f"#source-{wiki.pk}")
    row.locator("input[name=principal]").fill("group:engineering")
    row.get_by_role("button", name="Grant").click()
    expect(page.locator(".messagelist")).to_contain_text("Group engineering may now read wiki")
    expect(page.locator(f"#source-{wiki.pk}")).to_contain_text("group engineering (2 members)")
    expect(page.locator(f"#source-{wiki.pk}")).to_contain_text("1 document")
    screenshots(page, "permissions")

    # One user's effective access, and a Check access explanation.
    page.fill("#user-lookup input[name=username]", "bob")
    page.locator("#user-lookup").get_by_role("button", name="Show").click()
    assert_fits_the_window(page)
    access = page.locator("#effective-access")
    expect(access).to_contain_text("wiki")
    expect(access).to_contain_text("group engineering")
    expect(access).to_contain_text("1 of 2")
    expect(page.locator("#content-main")).to_contain_text("No grant on: hr.")
    screenshots(page, "user-access")

    page.fill("#check-access-form input[name=user]", "bob")
    page.fill("#check-access-form input[name=document]", "Salary bands")
    page.locator("#check-access-form").get_by_role("button", name="Check").click()
    assert_fits_the_window(page)
    expect(page.locator("#decision")).to_contain_text("Cannot read. Hidden by the document's access list")
    expect(page.locator("#decision")).to_contain_text("group:leads")
    screenshots(page, "check-access")

    # Search as two users: alice reads the HR policy, bob does not.
    results = {}
    for username in ("alice", "bob"):
        visit(page, "/admin/search/")
        page.fill("#id_query", "how many weeks of parental leave")
        page.fill("#search-form input[name=username]", username)
        page.get_by_role("button", name="Search").click()
        expect(page.locator("#searched-as")).to_have_text(username)
        assert_fits_the_window(page)
        results[username] = page.locator("#search-results li strong").all_inner_texts()
        if username == "alice":
            screenshots(page, "search")
    assert "Parental leave" in results["alice"]
    assert "Parental leave" not in results["bob"] and "Deploying" in results["bob"]

    # The audit trail has both searches, with the operator who ran them.
    visit(page, "/admin/acl/auditevent/?action=search")
    expect(page.locator("#result_list tbody tr")).to_have_count(2)
    expect(page.locator("#result_list")).to_contain_text("console_actor")
    screenshots(page, "audit")
    with page.expect_download() as download:
        page.click("#audit-export")
    lines = Path(download.value.path()).read_text().splitlines()
    assert sorted(json.loads(line)["actor"] for line in lines) == ["alice", "bob"]

    for url in ("/admin/sources/source/", "/admin/", "/admin/auth/user/", "/admin/acl/serviceaccount/"):
        visit(page, url)
