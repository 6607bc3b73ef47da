"""The audit page: filters by action, actor, source and time; the filtered events as JSONL."""

import json

from acl.models import AuditEvent
from sources.services.schedules import source_schedule_pause, source_schedule_resume


def test_audit_filters_and_exports_the_filtered_events_as_jsonl(client, operator, folder_source, make_user):
    wiki, hr = folder_source("wiki", {"a.md": "alpha"}), folder_source("hr", {"b.md": "beta"})
    alice = make_user("alice", is_staff=True)
    source_schedule_pause(source=wiki, actor=operator)
    source_schedule_pause(source=hr, actor=alice)
    source_schedule_resume(source=wiki, actor=alice)
    client.force_login(operator)

    page = client.get("/admin/acl/auditevent/", {"source": wiki.pk}).content.decode()
    assert "Export as JSONL" in page and f"source={wiki.pk}" in page
    assert page.count(f"source:{wiki.pk}") >= 2 and f"source:{hr.pk}" not in page

    export = client.get("/admin/acl/auditevent/export/", {"source": wiki.pk, "actor__id__exact": alice.pk})
    assert export["Content-Type"] == "application/x-ndjson"
    lines = [json.loads(line) for line in b"".join(export.streaming_content).decode().splitlines()]
    assert [(line["action"], line["actor"], line["target"]) for line in lines] == [
        (AuditEvent.Action.SCHEDULE_RESUME, "alice", f"source:{wiki.pk}")
    ]

    by_action = client.get("/admin/acl/auditevent/export/", {"action": AuditEvent.Action.SCHEDULE_PAUSE})
    assert len(b"".join(by_action.streaming_content).decode().splitlines()) == 2
    today = client.get("/admin/acl/auditevent/", {"created_at__gte": "2000-01-01T00:00:00+00:00"}).content.decode()
    assert "3 audit events" in today
