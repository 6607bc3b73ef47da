"""The tickets connector: JSON Lines and CSV exports, one document per record."""

import json

import pytest

from acl.models import DocumentAccessList
from ragplatform.exceptions import ApplicationError
from sources.models import Document, DocumentRevision, SyncJob
from sources.services.crud import source_create


def test_jsonl_tickets_become_documents_with_their_access_lists(db, tmp_path, sync_now):
    export = tmp_path / "tickets.jsonl"
    records = [
        {"key": "T-1", "subject": "VPN drops", "problem": "VPN drops hourly.", "fix": "Update the client.",
         "team": "infra", "viewers": ["alice", "ops@example.com"], "updated": "2026-01-02T10:00:00Z"},
        {"key": "T-2", "subject": "Printer", "problem": "Out of toner.", "fix": "Order toner.", "viewers": ""},
    ]  # fmt: skip
    export.write_text("\n".join(json.dumps(r) for r in records) + "\n{not json\n" + json.dumps({"subject": "no id"}))
    source = source_create(
        name="helpdesk",
        kind="tickets",
        config={
            "path": str(export), "id_field": "key", "title_field": "subject", "body_fields": ["problem", "fix"],
            "access_field": "viewers", "modified_field": "updated", "metadata_fields": ["team"],
        },
    )  # fmt: skip
    assert source.config["format"] == "jsonl"
    job = sync_now(source)
    assert job.status == SyncJob.Status.PARTIAL
    assert {e["document"] for e in job.errors} == {"line 3", "line 4"}
    vpn = Document.objects.get(external_id="T-1")
    assert vpn.title == "VPN drops" and vpn.modified_at.year == 2026
    text = DocumentRevision.objects.get(document=vpn).content
    assert text.startswith("# VPN drops\n\n## problem\n\nVPN drops hourly.\n\n## fix\n\nUpdate the client.")
    assert "team: infra" in text
    assert sorted(DocumentAccessList.objects.get(document=vpn).principals) == ["alice", "ops@example.com"]
    # An empty access field hides the ticket by default (SOURCE_TICKETS_EMPTY_ACCESS; tests/security).
    assert DocumentAccessList.objects.get(document__external_id="T-2").principals == []


def test_csv_faq_maps_columns(db, tmp_path, sync_now):
    export = tmp_path / "faq.csv"
    export.write_text("id,question,answer\n1,How do I reset my password?,Use the self-service portal.\n2,,\n")
    source = source_create(
        name="faq", kind="tickets", config={"path": str(export), "title_field": "question", "body_fields": ["answer"]}
    )
    job = sync_now(source)
    assert job.counts["added"] == 1
    assert job.errors == [{"document": "2", "reason": "record has no text"}]
    assert Document.objects.get(external_id="1").title == "How do I reset my password?"


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({"path": "relative.jsonl"}, "path"),
        ({"path": "{dir}"}, "path"),
        ({"path": "{file}", "format": "xml"}, "format"),
        ({"path": "{file}", "body_fields": []}, "body_fields"),
        ({"path": "{file}", "id_field": 3}, "id_field"),
        ({"path": "{file}", "colour": "blue"}, "colour"),
    ],
)
def test_invalid_tickets_config_is_refused_with_the_field_named(db, tmp_path, config, field):
    (tmp_path / "t.jsonl").write_text("{}")
    values = {"dir": str(tmp_path), "file": str(tmp_path / "t.jsonl")}
    config = {k: v.format(**values) if isinstance(v, str) else v for k, v in config.items()}
    with pytest.raises(ApplicationError) as error:
        source_create(name="bad", kind="tickets", config=config)
    assert field in error.value.details["config"]
