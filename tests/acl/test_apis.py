"""REST contract of grants, and their effect on the next search."""

import pytest
from django.contrib.auth.models import Group

from acl.models import AuditEvent, SourceGrant
from tests.corpus import HR, WIKI

GRANT_FIELDS = {"id", "source", "user", "group", "created_at"}


def page(response) -> list:
    assert response.status_code == 200, response.content[:500]
    body = response.json()
    assert set(body) == {"count", "next", "previous", "results"}
    return body["results"]


def search_sources(client, query: str) -> set[int]:
    response = client.post("/api/v1/search", {"query": query, "k": 10}, format="json")
    assert response.status_code == 200, response.content[:500]
    return {hit["source_id"] for hit in response.json()["results"]}


# --- create -------------------------------------------------------------------------------


def test_staff_grants_a_source_to_a_user(api, staff, alice, folder_source):
    wiki = folder_source("wiki", WIKI)
    response = api(staff).post("/api/v1/grants", {"source": wiki.pk, "user": alice.pk}, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) == GRANT_FIELDS
    grant = SourceGrant.objects.get()
    assert (body["id"], body["source"], body["user"], body["group"]) == (grant.pk, wiki.pk, alice.pk, None)
    assert grant.created_by == staff


def test_staff_grants_a_source_to_a_group(api, staff, folder_source):
    wiki = folder_source("wiki", WIKI)
    people = Group.objects.create(name="people")
    response = api(staff).post("/api/v1/grants", {"source": wiki.pk, "group": people.pk}, format="json")
    assert response.status_code == 201, response.content
    assert (response.json()["user"], response.json()["group"]) == (None, people.pk)


def test_explicit_null_for_the_other_principal_is_accepted(api, staff, alice, folder_source):
    wiki = folder_source("wiki", WIKI)
    response = api(staff).post("/api/v1/grants", {"source": wiki.pk, "user": alice.pk, "group": None}, format="json")
    assert response.status_code == 201, response.content


def test_grant_creation_is_audited(api, staff, alice, folder_source):
    wiki = folder_source("wiki", WIKI)
    grant_id = api(staff).post("/api/v1/grants", {"source": wiki.pk, "user": alice.pk}, format="json").json()["id"]
    event = AuditEvent.objects.get(action="grant.create")
    assert event.actor == staff
    assert event.target == f"source:{wiki.pk}"
    assert event.details["grant"] == grant_id


def test_same_user_may_be_granted_two_sources(api, staff, alice, folder_source):
    wiki, hr = folder_source("wiki", WIKI), folder_source("hr", HR)
    for source in (wiki, hr):
        response = api(staff).post("/api/v1/grants", {"source": source.pk, "user": alice.pk}, format="json")
        assert response.status_code == 201
    assert SourceGrant.objects.filter(user=alice).count() == 2


def test_duplicate_grant_is_409_and_names_the_existing_grant(api, staff, alice, folder_source, grant):
    wiki = folder_source("wiki", WIKI)
    existing = grant(wiki, user=alice)
    response = api(staff).post("/api/v1/grants", {"source": wiki.pk, "user": alice.pk}, format="json")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "duplicate"
    assert response.json()["error"]["details"] == {"id": existing.pk}
    assert SourceGrant.objects.count() == 1


def test_non_staff_cannot_create_grants(api, alice, folder_source):
    wiki = folder_source("wiki", WIKI)
    response = api(alice).post("/api/v1/grants", {"source": wiki.pk, "user": alice.pk}, format="json")
    assert response.status_code == 403
    assert not SourceGrant.objects.exists()


# --- list ---------------------------------------------------------------------------------


def test_staff_lists_every_grant(api, staff, alice, bob, folder_source, grant):
    wiki, hr = folder_source("wiki", WIKI), folder_source("hr", HR)
    grants = [grant(wiki, user=alice), grant(hr, user=bob), grant(hr, group="people")]
    results = page(api(staff).get("/api/v1/grants"))
    assert [g["id"] for g in results] == [g.pk for g in grants]
    assert all(set(g) == GRANT_FIELDS for g in results)


def test_non_staff_lists_only_the_grants_that_apply_to_them(api, make_user, bob, folder_source, grant):
    wiki, hr = folder_source("wiki", WIKI), folder_source("hr", HR)
    member = make_user("member", groups=["people", "eng"])
    direct = grant(wiki, user=member)
    through_group = grant(hr, group="people")
    grant(wiki, group="eng")  # a second group grant must not duplicate rows
    grant(hr, user=bob)
    grant(wiki, group="sales")
    ids = [g["id"] for g in page(api(member).get("/api/v1/grants"))]
    assert len(ids) == len(set(ids)) == 3
    assert {direct.pk, through_group.pk} <= set(ids)
    assert page(api(make_user("outsider")).get("/api/v1/grants")) == []


# --- delete -------------------------------------------------------------------------------


def test_staff_deletes_a_grant(api, staff, alice, folder_source, grant):
    existing = grant(folder_source("wiki", WIKI), user=alice)
    response = api(staff).delete(f"/api/v1/grants/{existing.pk}")
    assert response.status_code == 204
    assert not SourceGrant.objects.exists()
    assert AuditEvent.objects.filter(action="grant.delete", actor=staff).count() == 1
    assert api(staff).delete(f"/api/v1/grants/{existing.pk}").status_code == 404


def test_non_staff_cannot_delete_grants_not_even_their_own(api, alice, folder_source, grant):
    own = grant(folder_source("wiki", WIKI), user=alice)
    assert api(alice).delete(f"/api/v1/grants/{own.pk}").status_code == 403
    assert SourceGrant.objects.filter(pk=own.pk).exists()


# --- effect on search ---------------------------------------------------------------------


@pytest.fixture
def synced(wiki_and_hr):
    return wiki_and_hr


def test_grant_created_via_api_reveals_source_on_next_search(api, staff, alice, synced):
    _, hr = synced
    assert search_sources(api(alice), "parental leave") == set()
    api(staff).post("/api/v1/grants", {"source": hr.pk, "user": alice.pk}, format="json")
    assert search_sources(api(alice), "parental leave") == {hr.pk}


def test_revoked_grant_hides_source_on_next_search(api, staff, alice, grant, synced):
    wiki, hr = synced
    grant(wiki, user=alice)
    hr_grant = grant(hr, user=alice)
    client = api(alice)
    assert search_sources(client, "parental leave") == {wiki.pk, hr.pk}
    assert api(staff).delete(f"/api/v1/grants/{hr_grant.pk}").status_code == 204
    assert search_sources(client, "parental leave") == {wiki.pk}


def test_revoked_group_grant_hides_source_from_members_on_next_search(api, staff, make_user, grant, synced):
    _, hr = synced
    member = make_user("member", groups=["people"])
    group_grant = grant(hr, group="people")
    assert search_sources(api(member), "parental leave") == {hr.pk}
    assert api(staff).delete(f"/api/v1/grants/{group_grant.pk}").status_code == 204
    assert search_sources(api(member), "parental leave") == set()


def test_revoked_grant_also_hides_the_source_and_its_documents(api, staff, alice, grant, synced):
    _, hr = synced
    hr_grant = grant(hr, user=alice)
    document = hr.documents.get()
    assert api(alice).get(f"/api/v1/sources/{hr.pk}").status_code == 200
    assert api(alice).get(f"/api/v1/documents/{document.pk}").status_code == 200
    api(staff).delete(f"/api/v1/grants/{hr_grant.pk}")
    assert api(alice).get(f"/api/v1/sources/{hr.pk}").status_code == 404
    assert api(alice).get(f"/api/v1/documents/{document.pk}").status_code == 404


# --- groups and membership ------------------------------------------------------------------


def test_staff_creates_a_group_and_manages_its_members(api, staff, alice):
    client = api(staff)
    response = client.post("/api/v1/groups", {"name": "eng"}, format="json")
    assert response.status_code == 201, response.content
    group_id = response.json()["id"]
    assert client.post("/api/v1/groups", {"name": "eng"}, format="json").status_code == 409
    assert client.post(f"/api/v1/groups/{group_id}/members", {"user": alice.pk}, format="json").status_code == 201
    assert [m["username"] for m in page(client.get(f"/api/v1/groups/{group_id}/members"))] == ["alice"]
    assert client.delete(f"/api/v1/groups/{group_id}/members/{alice.pk}").status_code == 204
    assert client.delete(f"/api/v1/groups/{group_id}/members/{alice.pk}").status_code == 404
    actions = list(AuditEvent.objects.order_by("id").values_list("action", flat=True))
    assert actions == ["group.create", "group.member_add", "group.member_remove"]


def test_non_staff_see_only_their_own_groups_and_cannot_manage_them(api, make_user):
    member = make_user("member", groups=["eng"])
    make_user("other", groups=["sales"])
    eng = Group.objects.get(name="eng")
    assert [g["name"] for g in page(api(member).get("/api/v1/groups"))] == ["eng"]
    assert api(member).post("/api/v1/groups", {"name": "x"}, format="json").status_code == 403
    assert api(member).get(f"/api/v1/groups/{eng.pk}/members").status_code == 403
    assert api(member).post(f"/api/v1/groups/{eng.pk}/members", {"user": member.pk}, format="json").status_code == 403
    assert api(member).delete(f"/api/v1/groups/{eng.pk}/members/{member.pk}").status_code == 403


def test_removing_a_member_hides_the_groups_sources_on_next_search(api, staff, make_user, grant, synced):
    _, hr = synced
    member = make_user("member", groups=["people"])
    grant(hr, group="people")
    assert search_sources(api(member), "parental leave") == {hr.pk}
    people = Group.objects.get(name="people")
    assert api(staff).delete(f"/api/v1/groups/{people.pk}/members/{member.pk}").status_code == 204
    assert search_sources(api(member), "parental leave") == set()


# --- service accounts and keys --------------------------------------------------------------


def test_staff_creates_a_service_account_and_a_key_shown_once(api, staff):
    client = api(staff)
    created = client.post("/api/v1/service-accounts", {"name": "chatbot", "may_act_on_behalf": True}, format="json")
    assert created.status_code == 201, created.content
    account = created.json()
    assert (account["name"], account["may_act_on_behalf"], account["keys"]) == ("chatbot", True, [])
    key = client.post(f"/api/v1/service-accounts/{account['id']}/keys")
    assert key.status_code == 201
    body = key.json()
    assert set(body) == {"id", "prefix", "key", "created_at"} and body["prefix"] in body["key"]
    listed = page(client.get(f"/api/v1/service-accounts/{account['id']}/keys"))
    assert listed == [
        {"id": body["id"], "prefix": body["prefix"], "created_at": body["created_at"], "revoked_at": None}
    ]
    accounts = page(client.get("/api/v1/service-accounts"))
    assert body["key"] not in str(accounts) and accounts[0]["keys"][0]["prefix"] == body["prefix"]


def test_staff_rotates_and_revokes_keys(api, staff):
    client = api(staff)
    account = client.post("/api/v1/service-accounts", {"name": "chatbot"}, format="json").json()
    first = client.post(f"/api/v1/service-accounts/{account['id']}/keys").json()
    rotated = client.post(f"/api/v1/service-accounts/{account['id']}/keys/{first['id']}/rotate")
    assert rotated.status_code == 201
    second = rotated.json()
    assert second["key"] != first["key"]
    assert client.post(f"/api/v1/service-accounts/{account['id']}/keys/{first['id']}/rotate").status_code == 409
    assert client.delete(f"/api/v1/service-accounts/{account['id']}/keys/{second['id']}").status_code == 204
    app = api()
    for raw in (first["key"], second["key"]):
        app.credentials(HTTP_AUTHORIZATION=f"Api-Key {raw}")
        assert app.get("/api/v1/sources").status_code == 401
    assert client.delete(f"/api/v1/service-accounts/{account['id']}/keys/987654").status_code == 404


def test_key_works_until_revoked(api, staff):
    client = api(staff)
    account = client.post("/api/v1/service-accounts", {"name": "chatbot"}, format="json").json()
    key = client.post(f"/api/v1/service-accounts/{account['id']}/keys").json()
    app = api()
    app.credentials(HTTP_AUTHORIZATION=f"Api-Key {key['key']}")
    assert app.get("/api/v1/sources").status_code == 200
    client.delete(f"/api/v1/service-accounts/{account['id']}/keys/{key['id']}")
    assert app.get("/api/v1/sources").status_code == 401


def test_service_accounts_and_keys_are_staff_only(api, alice, staff):
    account = api(staff).post("/api/v1/service-accounts", {"name": "chatbot"}, format="json").json()
    client = api(alice)
    assert client.get("/api/v1/service-accounts").status_code == 403
    assert client.post("/api/v1/service-accounts", {"name": "x"}, format="json").status_code == 403
    assert client.get(f"/api/v1/service-accounts/{account['id']}/keys").status_code == 403
    assert client.post(f"/api/v1/service-accounts/{account['id']}/keys").status_code == 403


# --- audit ------------------------------------------------------------------------------------


def test_staff_reads_the_audit_trail_of_searches_with_retained_query_text(api, staff, alice, grant, synced, settings):
    settings.AUDIT_QUERY_TEXT = "redact"
    wiki, _ = synced
    grant(wiki, user=alice)
    api(alice).post("/api/v1/search", {"query": "deploys by bob@corp.com in 2024", "k": 3}, format="json")
    events = page(api(staff).get("/api/v1/audit?action=search"))
    assert len(events) == 1
    event = events[0]
    assert (event["actor"], event["service_account"], event["result_count"]) == (alice.pk, None, 1)
    assert event["details"]["query"] == "deploys by [email] in [number]"
    assert page(api(staff).get(f"/api/v1/audit?actor={staff.pk}&action=search")) == []
    assert api(staff).get("/api/v1/audit?action=nonsense").status_code == 400


def test_audit_is_staff_only(api, alice):
    assert api(alice).get("/api/v1/audit").status_code == 403
    assert api(alice).post("/api/v1/audit/purge", {}, format="json").status_code == 403


def test_a_superuser_purges_the_audit_trail(api, superuser):
    AuditEvent.objects.create(action="search")
    response = api(superuser).post("/api/v1/audit/purge", {"older_than_days": 0}, format="json")
    assert response.status_code == 200
    assert response.json() == {"deleted": 1}
    assert list(AuditEvent.objects.values_list("action", flat=True)) == ["audit.purge"]


def test_a_retention_past_any_date_is_a_400_not_a_500(api, superuser):
    """Found by the larger fuzz run (bench/fuzz.py): a huge older_than_days overflowed the date arithmetic."""
    AuditEvent.objects.create(action="search")
    response = api(superuser).post("/api/v1/audit/purge", {"older_than_days": 10**12}, format="json")
    assert response.status_code == 400
    assert "older_than_days" in response.json()["error"]["details"]
    assert AuditEvent.objects.filter(action="search").count() == 1  # nothing deleted
