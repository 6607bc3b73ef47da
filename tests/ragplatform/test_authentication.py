"""Service accounts: API keys, on-behalf-of, and the rate limits, through the real API."""

import pytest
from rest_framework.test import APIClient

from acl.models import AuditEvent
from acl.services import api_key_create, api_key_revoke, service_account_create


@pytest.fixture
def synced(wiki_and_hr):
    return wiki_and_hr


@pytest.fixture
def app_client(db):
    """``app_client(may_act_on_behalf=...)`` -> (client with a fresh key, account, raw key)."""

    def make(*, may_act_on_behalf: bool, name: str = "chatbot"):
        account = service_account_create(name=name, may_act_on_behalf=may_act_on_behalf)
        _, raw_key = api_key_create(service_account=account)
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Api-Key {raw_key}")
        return client, account, raw_key

    return make


def search(client, query="parental leave and deploys", **headers):
    return client.post("/api/v1/search", {"query": query, "k": 10}, format="json", **headers)


def test_on_behalf_of_request_sees_exactly_the_users_results(api, app_client, alice, bob, grant, synced):
    wiki, hr = synced
    grant(wiki, user=alice)
    grant(hr, user=alice)
    grant(wiki, user=bob)
    client, account, _ = app_client(may_act_on_behalf=True)
    grant(hr, user=account.user)  # the account's own access must not leak into delegated calls
    for user in (alice, bob):
        direct = search(api(user)).json()["results"]
        delegated = search(client, HTTP_X_ON_BEHALF_OF=user.username)
        assert delegated.status_code == 200, delegated.content
        assert delegated.json()["results"] == direct
    assert {hit["source_id"] for hit in search(client, HTTP_X_ON_BEHALF_OF="bob").json()["results"]} == {wiki.pk}


def test_on_behalf_of_search_is_audited_with_both_identities(app_client, alice, grant, synced):
    wiki, _ = synced
    grant(wiki, user=alice)
    client, account, _ = app_client(may_act_on_behalf=True)
    body = search(client, HTTP_X_ON_BEHALF_OF="alice").json()
    event = AuditEvent.objects.get(pk=body["id"])
    assert (event.action, event.actor, event.service_account) == ("search", alice, account)
    assert event.result_count == len(body["results"]) and event.index_version == body["index_version"]


def test_service_account_without_permission_gets_403_for_on_behalf_of(app_client, alice, synced):
    client, _, _ = app_client(may_act_on_behalf=False)
    response = search(client, HTTP_X_ON_BEHALF_OF="alice")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"
    assert search(client).status_code == 200  # its own identity still works


def test_people_may_not_send_on_behalf_of(api, alice, bob, synced):
    response = search(api(alice), HTTP_X_ON_BEHALF_OF="bob")
    assert response.status_code == 403
    assert not AuditEvent.objects.filter(action="search").exists()


@pytest.mark.parametrize("target", ["nobody-by-that-name", "", "svc-other"])
def test_on_behalf_of_an_unknown_user_or_a_service_account_is_refused(app_client, synced, target):
    client, _, _ = app_client(may_act_on_behalf=True)
    service_account_create(name="other")
    assert search(client, HTTP_X_ON_BEHALF_OF=target).status_code == 403


def test_delegated_request_carries_no_staff_rights(app_client, staff, folder_source):
    client, _, _ = app_client(may_act_on_behalf=True)
    response = client.post("/api/v1/groups", {"name": "x"}, format="json", HTTP_X_ON_BEHALF_OF="staff")
    assert response.status_code == 403
    assert client.get("/api/v1/audit", HTTP_X_ON_BEHALF_OF="staff").status_code == 403


def test_service_account_without_on_behalf_of_searches_with_its_own_grants(app_client, grant, synced):
    wiki, _ = synced
    client, account, _ = app_client(may_act_on_behalf=True)
    assert search(client).json()["results"] == []
    grant(wiki, user=account.user)
    assert {hit["source_id"] for hit in search(client).json()["results"]} == {wiki.pk}


def test_revoked_or_wrong_key_gets_401(app_client, synced):
    client, account, raw_key = app_client(may_act_on_behalf=True)
    api_key_revoke(key=account.keys.get())
    response = search(client)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "authentication_failed"
    other = APIClient()
    other.credentials(HTTP_AUTHORIZATION="Api-Key rag_deadbeef_nope")
    assert search(other).status_code == 401
    other.credentials(HTTP_AUTHORIZATION=f"Api-Key {raw_key} extra")
    assert search(other).status_code == 401


@pytest.fixture
def fresh_throttles(settings):
    """Low rates for this test, and counters that start at zero (they live in Redis)."""
    from django.core.cache import cache

    cache.clear()
    yield settings
    cache.clear()


def test_per_user_rate_limit_returns_429_with_retry_after(api, alice, synced, fresh_throttles):
    fresh_throttles.REST_FRAMEWORK = {
        **fresh_throttles.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"api_key": "100/min", "user": "2/min"},
    }
    client = api(alice)
    assert [search(client).status_code for _ in range(2)] == [200, 200]
    response = search(client)
    assert response.status_code == 429
    assert response.json()["error"]["code"] == "throttled"
    assert 0 < int(response["Retry-After"]) <= 60


def test_per_key_rate_limit_counts_every_user_the_key_acts_for(app_client, alice, bob, synced, fresh_throttles):
    fresh_throttles.REST_FRAMEWORK = {
        **fresh_throttles.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"api_key": "3/min", "user": "100/min"},
    }
    client, _, _ = app_client(may_act_on_behalf=True)
    codes = [search(client, HTTP_X_ON_BEHALF_OF=name).status_code for name in ("alice", "bob", "alice", "bob")]
    assert codes == [200, 200, 200, 429]
    other, _, _ = app_client(may_act_on_behalf=True, name="other-app")
    assert search(other, HTTP_X_ON_BEHALF_OF="bob").status_code == 200  # another key has its own budget
