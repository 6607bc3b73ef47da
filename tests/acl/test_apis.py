"""REST contract of grants, and their effect on the next search."""

import pytest
from django.contrib.auth.models import Group

from acl.models import AuditEvent, SourceGrant

GRANT_FIELDS = {"id", "source", "user", "group", "created_at"}
WIKI = {"deploy.md": "# Deploying\n\nDeploys roll out in three waves with a bake time between waves."}
HR = {"leave.md": "# Parental leave\n\nEmployees get twenty weeks of paid parental leave."}


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
def synced(folder_source, sync_now):
    wiki, hr = folder_source("wiki", WIKI), folder_source("hr", HR)
    sync_now(wiki)
    sync_now(hr)
    return wiki, hr


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
