"""Feedback on searches and answers, and the staff JSONL export with the audit's privacy applied."""

import json

import pytest

from retrieval.models import Feedback


@pytest.fixture
def wiki(wiki_alone, grant, alice):
    grant(wiki_alone, user=alice)
    return wiki_alone


def rate(client, event_id, rating="up", comment=""):
    return client.post("/api/v1/feedback", {"id": event_id, "rating": rating, "comment": comment}, format="json")


def export(client, kind):
    response = client.get(f"/api/v1/feedback/export?kind={kind}")
    assert response.status_code == 200 and response["Content-Type"] == "application/x-ndjson"
    return [json.loads(line) for line in b"".join(response.streaming_content).decode().splitlines()]


def test_rating_a_search_then_rating_it_again_replaces_the_rating(api, alice, wiki):
    client = api(alice)
    search_id = client.post("/api/v1/search", {"query": "deploys"}, format="json").json()["id"]
    assert rate(client, search_id, "up").status_code == 201
    response = rate(client, search_id, "down", "wrong document")
    assert response.status_code == 201
    assert response.json() == {"id": search_id, "rating": "down", "comment": "wrong document"}
    assert list(Feedback.objects.values_list("rating", "comment")) == [("down", "wrong document")]


def test_nobody_rates_someone_elses_event_or_a_non_search_event(api, alice, bob, wiki, staff):
    search_id = api(alice).post("/api/v1/search", {"query": "deploys"}, format="json").json()["id"]
    assert rate(api(bob), search_id).status_code == 404
    grant_event = api(staff).post("/api/v1/grants", {"source": wiki.pk, "user": bob.pk}, format="json")
    assert grant_event.status_code == 201
    from acl.models import AuditEvent

    not_a_search = AuditEvent.objects.filter(action="grant.create").latest("id").pk
    assert rate(api(staff), not_a_search).status_code == 404
    assert rate(api(alice), search_id, "sideways").status_code == 400
    assert not Feedback.objects.exists()


def test_export_is_staff_only_and_applies_the_audit_privacy_settings(api, alice, staff, wiki, settings):
    settings.AUDIT_QUERY_TEXT = "redact"
    settings.AUDIT_ANSWER_TEXT = "keep"
    client = api(alice)
    body = client.post("/api/v1/answer", {"query": "how do deploys roll out, ticket 4711?"}, format="json").json()
    assert rate(client, body["id"], "up", "call me at 555 1234").status_code == 201
    assert api(alice).get("/api/v1/feedback/export").status_code == 403

    (row,) = export(api(staff), "evaluation")
    assert row["query"] == "how do deploys roll out, ticket [number]?" and row["comment"] == "call me at [number]"
    assert row["kind"] == "answer" and row["cited_chunks"] == [c["chunk_id"] for c in body["citations"]]
    (chat,) = export(api(staff), "fine-tuning")
    assert [m["role"] for m in chat["messages"]] == ["system", "user", "assistant"]
    assert chat["messages"][1]["content"] == "how do deploys roll out, ticket [number]?"
    assert "three waves" in chat["messages"][2]["content"]


def test_dropped_queries_and_unkept_answers_are_not_exported(api, alice, staff, wiki, settings):
    settings.AUDIT_QUERY_TEXT = "drop"
    client = api(alice)
    body = client.post("/api/v1/answer", {"query": "deploys"}, format="json").json()
    rate(client, body["id"], "up")
    assert export(api(staff), "evaluation") == [] and export(api(staff), "fine-tuning") == []
    settings.AUDIT_QUERY_TEXT = "keep"  # AUDIT_ANSWER_TEXT stays "drop": no chat rows without the answer
    body = client.post("/api/v1/answer", {"query": "deploys"}, format="json").json()
    rate(client, body["id"], "up")
    assert [row["query"] for row in export(api(staff), "evaluation")] == ["deploys"]
    assert export(api(staff), "fine-tuning") == []
