"""Search as a user: exactly that user's results, audited as their search with the staff member recorded."""

import pytest

from acl.models import AuditEvent
from acl.services import service_account_create


@pytest.fixture
def corpus(sync_folders, grant, make_user):
    wiki, hr = sync_folders(
        wiki={"deploy.md": "# Deploying\n\nWe deploy in three waves, every Tuesday."},
        hr={"leave.md": "# Parental leave\n\nEmployees get sixteen weeks of parental leave."},
    )
    alice, bob = make_user("alice"), make_user("bob")
    grant(wiki, user=alice)
    grant(hr, user=alice)
    grant(wiki, user=bob)
    return alice, bob


def _titles(page: str) -> set[str]:
    return {title for title in ("Deploying", "Parental leave") if f"<strong>{title}</strong>" in page}


def test_two_users_see_their_own_results_and_each_search_is_audited_as_theirs(client, operator, corpus):
    alice, bob = corpus
    client.force_login(operator)
    query = {"query": "parental leave weeks", "mode": "hybrid", "k": 10}
    as_alice = client.post("/admin/search/", {**query, "username": "alice"}).content.decode()
    as_bob = client.post("/admin/search/", {**query, "username": "bob"}).content.decode()
    assert _titles(as_alice) == {"Deploying", "Parental leave"}
    assert _titles(as_bob) == {"Deploying"}
    assert "plan " in as_alice and " ms " in as_alice
    events = AuditEvent.objects.filter(action=AuditEvent.Action.SEARCH).order_by("id")
    assert [event.actor for event in events] == [alice, bob]
    assert all(event.details["console_actor"] == {"id": operator.pk, "username": "operator"} for event in events)


def test_a_service_account_acting_for_a_user_needs_on_behalf_rights(client, operator, corpus):
    alice, _ = corpus
    reader = service_account_create(name="bot", may_act_on_behalf=False)
    relay = service_account_create(name="relay", may_act_on_behalf=True)
    client.force_login(operator)
    refused = client.post(
        "/admin/search/", {"query": "leave", "username": "alice", "service_account": reader.pk}
    ).content.decode()
    assert "bot may not act on behalf of users" in refused
    page = client.post(
        "/admin/search/", {"query": "leave", "username": "alice", "service_account": relay.pk}
    ).content.decode()
    assert "Parental leave" in page and "through service account relay" in page
    event = AuditEvent.objects.get(action=AuditEvent.Action.SEARCH)
    assert event.actor == alice and event.service_account == relay
