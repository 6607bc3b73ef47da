import pytest
from django.contrib.auth.models import User

from sources.models import Document, Source


@pytest.fixture
def operator(db):
    return User.objects.create_superuser("operator", password="pw-operator")


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
