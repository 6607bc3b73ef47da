"""A narrowed access list applies even when the same edit makes the record unreadable."""

import json

import pytest

from index_versions.selectors import document_list
from sources.models import Document, DocumentRevision
from sources.services.crud import source_create


def _export(path, *, viewers, body, team="infra"):
    record = {"key": "T-1", "subject": "Payroll incident", "body": body, "viewers": viewers, "team": team}
    path.write_text(json.dumps(record) + "\n")


@pytest.fixture
def ticket(db, tmp_path, sync_now, grant, alice, bob):
    export = tmp_path / "tickets.jsonl"
    _export(export, viewers=["alice", "bob"], body="The payroll run failed for March.")
    source = source_create(
        name="helpdesk",
        kind="tickets",
        config={
            "path": str(export), "id_field": "key", "title_field": "subject", "body_fields": ["body"],
            "access_field": "viewers", "metadata_fields": ["team"],
        },
    )  # fmt: skip
    grant(source, group="everyone")
    sync_now(source)
    document = Document.objects.get(source=source)
    assert set(document_list(user=bob)) == {document}
    return source, export, document


def _readers(document, *users) -> set[str]:
    return {user.username for user in users if document in set(document_list(user=user))}


def test_a_ticket_over_the_size_limit_still_takes_its_narrower_viewers(ticket, sync_now, settings, alice, bob):
    source, export, document = ticket
    settings.SOURCE_MAX_DOCUMENT_BYTES = 400
    _export(export, viewers=["alice"], body="x " * 500)
    job = sync_now(source)
    assert job.errors and "size limit" in job.errors[0]["reason"]
    assert _readers(document, alice, bob) == {"alice"}
    # The content stays what it was: only the access list moved.
    assert DocumentRevision.objects.filter(document=document).count() == 1


def test_a_ticket_with_oversized_metadata_still_takes_its_narrower_viewers(ticket, sync_now, alice, bob):
    source, export, document = ticket
    _export(export, viewers=["alice"], body="The payroll run failed for March.", team="t" * 5000)
    job = sync_now(source)
    assert job.errors and "metadata" in job.errors[0]["reason"]
    assert _readers(document, alice, bob) == {"alice"}
