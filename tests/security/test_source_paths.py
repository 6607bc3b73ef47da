"""Folder, git and tickets sources read only under SOURCE_ALLOWED_PATHS, symlinks resolved, at every sync.

The suite allows pytest's temporary root (tests/conftest.py); these tests narrow the
roots to one folder under ``tmp_path`` and prove the refusal with paths outside it.
"""

import subprocess

import pytest

from acl.models import AuditEvent
from ragplatform.demo.load import DEMO_CORPUS
from sources.models import Document, Source, SyncJob
from sources.services.crud import source_create


@pytest.fixture
def allowed(tmp_path, settings):
    """Only ``tmp_path/allowed`` and the demo corpus may be read."""
    root = tmp_path / "allowed"
    root.mkdir()
    settings.SOURCE_ALLOWED_PATHS = [str(root), str(DEMO_CORPUS)]
    return root


def create(api, user, kind, config):
    return api(user).post("/api/v1/sources", {"name": "server files", "kind": kind, "config": config}, format="json")


def git_repository(path):
    path.mkdir(parents=True)
    (path / "README.md").write_text("# Secret repo\n")
    for command in (["init", "-q", "-b", "main"], ["add", "."], ["commit", "-q", "-m", "init"]):
        subprocess.run(["git", "-C", str(path), "-c", "user.name=t", "-c", "user.email=t@x", *command], check=True)
    return path


def test_etc_passwd_is_not_a_source(api, staff, allowed):
    response = create(api, staff, "folder", {"path": "/etc", "include": ["passwd"]})
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "path_not_allowed"
    assert str(allowed) in error["message"] and str(DEMO_CORPUS) in error["message"]  # the allowed roots, named
    assert "SOURCE_ALLOWED_PATHS" in error["details"]["config"]["path"]
    assert not Source.objects.exists()
    (event,) = AuditEvent.objects.filter(action="request.refused")
    assert (event.actor, event.details["code"]) == (staff, "path_not_allowed")


def test_every_file_based_kind_is_held_to_the_roots(api, staff, allowed, tmp_path):
    outside = tmp_path / "outside"
    repository = git_repository(outside / "repo")
    export = outside / "tickets.jsonl"
    export.write_text('{"id": 1, "title": "Payroll", "body": "secret"}\n')
    for kind, config in (
        ("git", {"repository": str(repository)}),
        ("git", {"repository": repository.as_uri()}),
        ("tickets", {"path": str(export)}),
        ("folder", {"path": str(allowed / ".." / "outside")}),  # .. is resolved first
    ):
        response = create(api, staff, kind, config)
        assert response.status_code == 400, (kind, response.content)
        assert response.json()["error"]["code"] == "path_not_allowed"
    assert create(api, staff, "folder", {"path": str(DEMO_CORPUS / "handbook")}).status_code == 201  # the default root


def test_a_symlink_out_of_an_allowed_root_is_refused(api, staff, allowed):
    (allowed / "looks-inside").symlink_to("/etc")
    response = create(api, staff, "folder", {"path": str(allowed / "looks-inside"), "include": ["passwd"]})
    assert response.status_code == 400 and response.json()["error"]["code"] == "path_not_allowed"


def test_a_refusal_does_not_tell_what_exists_outside_the_roots(api, staff, allowed):
    existing = create(api, staff, "folder", {"path": "/etc"}).json()["error"]
    missing = create(api, staff, "folder", {"path": "/etc-no-such-dir"}).json()["error"]
    assert existing["code"] == missing["code"] == "path_not_allowed"
    assert existing["message"].replace("/etc", "X") == missing["message"].replace("/etc-no-such-dir", "X")


def test_every_sync_checks_the_path_again(db, allowed, sync_now, settings):
    docs = allowed / "docs"
    docs.mkdir()
    (docs / "passwd").write_text("Nothing secret here.")
    source = source_create(name="docs", kind="folder", config={"path": str(docs), "include": ["passwd"]})
    # Someone with a shell on the server swaps the folder for a symlink to /etc.
    docs.rename(allowed / "docs.old")
    docs.symlink_to("/etc")
    job = sync_now(source)
    assert job.status == SyncJob.Status.FAILED
    assert "outside the allowed paths" in job.message
    assert not Document.objects.exists()

    # And roots narrowed after a source was saved no longer cover it.
    (allowed / "docs").unlink()
    (allowed / "docs.old").rename(docs)
    settings.SOURCE_ALLOWED_PATHS = [str(DEMO_CORPUS)]
    job = sync_now(source)
    assert job.status == SyncJob.Status.FAILED and "outside the allowed paths" in job.message
