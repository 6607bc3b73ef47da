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
