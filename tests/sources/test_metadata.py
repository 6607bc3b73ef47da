"""Document metadata: front matter, limits, and what a sync makes of it (a change of metadata is a change)."""

import json

import pytest

from sources.metadata import MAX_KEYS, MetadataError, front_matter, metadata_clean, metadata_validate
from sources.models import DocumentRevision, SyncJob
from sources.services.crud import source_create

POLICY = b"""---
title: "Travel policy"
status: approved
version: 3
draft: false
tags: [finance, travel]
owners:
  - alice
  - 'bob'
nested:
  key: value
---
# Travel

Book economy class.
"""


def test_front_matter_keeps_flat_values_lists_and_types():
    assert front_matter(POLICY) == {
        "title": "Travel policy",
        "status": "approved",
        "version": 3,
        "draft": False,
        "tags": ["finance", "travel"],
        "owners": ["alice", "bob"],
    }


@pytest.mark.parametrize(
    "content",
    [
        b"# No front matter\n\nstatus: approved\n",
        b"---\nstatus: approved\n# never closed\n",
        b"--- not a fence\nstatus: approved\n---\n",
        b"",
    ],
)
def test_text_without_a_closed_front_matter_block_has_no_metadata(content):
    assert front_matter(content) == {}


def test_yaml_features_beyond_flat_keys_are_skipped_not_interpreted():
    content = b"---\nanchor: &a value\nblock: |\n  text\nmap: {a: 1}\nok: yes\n---\nbody"
    assert front_matter(content) == {"ok": "yes"}  # "yes" stays a string: no YAML 1.1 booleans


def test_clean_drops_nested_values_nulls_and_invalid_keys():
    assert metadata_clean({"status": "open", "assignee": {"name": "a"}, "due": None, "bad\nkey": 1, "n": [1, {}]}) == {
        "status": "open",
        "n": [1],
    }


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({f"k{i}": 1 for i in range(MAX_KEYS + 1)}, "keys"),
        ({"k": "x" * 501}, "characters"),
        ({"k": {"nested": 1}}, "string, number, boolean"),
        ({"k": [[1]]}, "list"),
        ({"bad key!": 1}, "invalid"),
        ({f"k{i}": "x" * 400 for i in range(MAX_KEYS)}, "bytes"),
        ({"k": float("nan")}, "finite"),
        ("status=open", "object"),
    ],
)
def test_metadata_over_the_limits_is_refused_with_a_reason(value, message):
    with pytest.raises(MetadataError, match=message):
        metadata_validate(value)


def test_front_matter_becomes_the_revisions_metadata_and_leaves_the_text(folder_source, sync_now):
    source = folder_source("handbook", {"travel.md": POLICY.decode(), "plain.md": "# Plain\n\nNo metadata."})
    assert sync_now(source).status == SyncJob.Status.SUCCEEDED
    travel = DocumentRevision.objects.get(document__external_id="travel.md")
    assert travel.metadata["status"] == "approved" and travel.metadata["tags"] == ["finance", "travel"]
    # Front matter is metadata, not text; its title names the document.
    assert travel.content.startswith("# Travel\n") and "status:" not in travel.content
    assert travel.title == travel.document.title == "Travel policy"
    assert DocumentRevision.objects.get(document__external_id="plain.md").metadata == {}


def test_a_change_of_metadata_alone_makes_a_new_revision(folder_source, sync_now):
    source = folder_source("handbook", {"travel.md": POLICY.decode()})
    sync_now(source)
    first = DocumentRevision.objects.get(document__external_id="travel.md")
    path = source.config["path"] + "/travel.md"
    with open(path, "w") as changed:
        changed.write(POLICY.decode().replace("status: approved", "status: retired"))
    job = sync_now(source)
    assert job.counts["updated"] == 1
    revisions = DocumentRevision.objects.filter(document__external_id="travel.md").order_by("pk")
    assert [r.metadata["status"] for r in revisions] == ["approved", "retired"]
    assert revisions[1].document.content_hash == revisions[1].content_hash != first.content_hash
    assert sync_now(source).counts["unchanged"] == 1  # and the same metadata again is no change


def test_oversized_metadata_fails_that_document_with_a_reason(db, tmp_path, sync_now):
    export = tmp_path / "tickets.jsonl"
    records = [
        {"id": "T-1", "title": "VPN", "body": "VPN drops.", "notes": "x" * 600},
        {"id": "T-2", "title": "Printer", "body": "No toner.", "notes": "short"},
    ]
    export.write_text("\n".join(json.dumps(r) for r in records))
    source = source_create(name="helpdesk", kind="tickets", config={"path": str(export), "metadata_fields": ["notes"]})
    job = sync_now(source)
    assert job.status == SyncJob.Status.PARTIAL
    assert [e["document"] for e in job.errors] == ["T-1"] and "500 characters" in job.errors[0]["reason"]
    assert DocumentRevision.objects.get(document__external_id="T-2").metadata == {"notes": "short"}


def test_ticket_fields_become_metadata(db, tmp_path, sync_now):
    export = tmp_path / "tickets.jsonl"
    record = {
        "id": "T-1", "title": "VPN drops", "body": "Hourly.", "status": "open", "priority": 2,
        "labels": ["network", "vpn"], "assignee": "ops", "reporter": {"name": "nested, dropped"},
    }  # fmt: skip
    export.write_text(json.dumps(record))
    fields = ["status", "priority", "labels", "assignee", "reporter"]
    source = source_create(name="helpdesk", kind="tickets", config={"path": str(export), "metadata_fields": fields})
    sync_now(source)
    assert DocumentRevision.objects.get(document__external_id="T-1").metadata == {
        "status": "open", "priority": 2, "labels": ["network", "vpn"], "assignee": "ops",
    }  # fmt: skip
