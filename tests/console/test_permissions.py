"""The permissions pages: who may read each source, a user's effective access, Check access, grants and revokes."""

from pathlib import Path

import pytest
from django.contrib.auth.models import Group, User
from django.db import transaction
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from acl.models import AuditEvent, SourceGrant
from acl.services import document_access_list_set
from console.selectors import access_explain
from index_versions.selectors import document_list
from sources.models import Document


def _readable(user, document) -> bool:
    return document_list(user=user).filter(pk=document.pk).exists()


@pytest.fixture(scope="session")
def permissions_wiki_snapshot(corpus_snapshot):
    return corpus_snapshot(wiki={"a.md": "# Alpha\n\nalpha", "b.md": "# Beta\n\nbeta"})


@pytest.fixture
def wiki(corpus_restore, permissions_wiki_snapshot):
    """A synced source with two documents: a.md (given access lists by the tests) and b.md."""
    (source,) = corpus_restore(permissions_wiki_snapshot)
    return source


def test_overview_lists_users_groups_everyone_and_access_listed_documents(client, operator, wiki, grant, make_user):
    make_user("alice", groups=["engineering"])
    make_user("bob", groups=["engineering"])
    carol = make_user("carol")
    grant(wiki, group="engineering")
    grant(wiki, user=carol)
    grant(wiki, group="everyone")
    document_access_list_set(document=wiki.documents.get(external_id="a.md"), principals=["group:engineering"])
    client.force_login(operator)
    page = client.get("/admin/acl/sourcegrant/").content.decode()
    assert 'group <strong>engineering</strong> <span class="console-quiet">(2 members)</span>' in page
    assert "user <strong>carol</strong>" in page
    assert "<strong>everyone</strong>" in page
    assert "1 document</td>" in page  # with its own access list


def test_grant_by_principal_name_creates_a_missing_group_and_audits(client, operator, wiki):
    client.force_login(operator)
    client.post("/admin/acl/sourcegrant/grant/", {"source": wiki.pk, "principal": "group:auditors"})
    grant = SourceGrant.objects.get(source=wiki)
    assert grant.group.name == "auditors" and grant.created_by == operator
    actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert {AuditEvent.Action.GROUP_CREATE, AuditEvent.Action.GRANT_CREATE} <= actions

    client.post(f"/admin/acl/sourcegrant/{grant.pk}/revoke/")
    assert not SourceGrant.objects.exists()
    assert AuditEvent.objects.filter(action=AuditEvent.Action.GRANT_DELETE, actor=operator).exists()


def test_grant_to_an_unknown_user_is_refused_with_a_message(client, operator, wiki):
    client.force_login(operator)
    response = client.post("/admin/acl/sourcegrant/grant/", {"source": wiki.pk, "principal": "user:ghost"}, follow=True)
    assert "No user or group named &#x27;ghost&#x27;" in response.content.decode()
    assert not SourceGrant.objects.exists()


def test_user_page_shows_each_readable_source_and_the_grant_behind_it(
    client, operator, wiki, folder_source, sync_now, grant, make_user
):
    hr = folder_source("hr", {"leave.md": "# Leave\n\nTwenty days."})
    sync_now(hr)
    folder_source("finance", {"budget.md": "# Budget"})
    alice = make_user("alice", groups=["engineering"])
    grant(wiki, group="engineering")
    grant(hr, user=alice)
    document_access_list_set(document=wiki.documents.get(external_id="a.md"), principals=["group:hr-only"])
    client.force_login(operator)
    page = client.get(f"/admin/acl/sourcegrant/user/{alice.pk}/").content.decode()
    assert "group engineering" in page and "direct grant to alice" in page
    assert "1 of 2" in page and "1 hidden by their access lists" in page
    assert "No grant on: finance." in page


def test_membership_changes_from_the_user_page(client, operator, make_user):
    alice = make_user("alice")
    group = Group.objects.create(name="engineering")
    client.force_login(operator)
    client.post("/admin/acl/sourcegrant/membership/", {"user": alice.pk, "group": group.pk, "op": "add"})
    assert alice.groups.filter(pk=group.pk).exists()
    client.post("/admin/acl/sourcegrant/membership/", {"user": alice.pk, "group": group.pk, "op": "remove"})
    assert not alice.groups.filter(pk=group.pk).exists()


def test_check_access_explains_group_grant_access_list_and_no_grant(client, operator, wiki, grant, make_user):
    alice = make_user("alice", groups=["engineering"])
    make_user("bob")
    grant(wiki, group="engineering")
    a = wiki.documents.get(external_id="a.md")
    document_access_list_set(document=a, principals=["group:people-ops"])
    client.force_login(operator)

    granted = client.get("/admin/acl/sourcegrant/check/", {"user": "alice", "document": "Beta"}).content.decode()
    assert "Can read. Granted via group engineering; the document has no access list of its own." in granted
    hidden = client.get("/admin/acl/sourcegrant/check/", {"user": "alice", "document": a.pk}).content.decode()
    assert "Cannot read. Hidden by the document&#x27;s access list: it names group:people-ops" in hidden
    nogrant = client.get("/admin/acl/sourcegrant/check/", {"user": "bob", "document": a.pk}).content.decode()
    assert "Cannot read. No grant: neither bob nor any of their groups (none) may read wiki." in nogrant
    assert not _readable(alice, a)


@pytest.mark.parametrize(
    ("setup", "allowed"),
    [
        ({"grant": "user"}, True),
        ({"grant": "group", "member": True}, True),
        ({"grant": "group", "member": False}, False),
        ({"grant": "everyone"}, True),
        ({}, False),
        ({"grant": "user", "list": ["alice"]}, True),
        ({"grant": "user", "list": ["user:alice@example.org"]}, True),
        ({"grant": "group", "member": True, "list": ["group:readers"]}, True),
        ({"grant": "user", "list": ["group:readers"]}, False),
        ({"grant": "user", "list": []}, False),
        ({"grant": "user", "list": ["ALICE"]}, False),
        ({"grant": "everyone", "list": ["everyone"]}, True),
        ({"grant": "user", "inactive": True}, False),
        ({"grant": "user", "deleted": True}, False),
    ],
)
def test_check_access_verdict_equals_the_search_filter(wiki, sync_now, make_user, grant, setup, allowed):
    alice = make_user("alice", groups=["readers"] if setup.get("member") else [])
    alice.email = "Alice@Example.org"
    alice.is_active = not setup.get("inactive")
    alice.save()
    if setup.get("grant") == "user":
        grant(wiki, user=alice)
    elif setup.get("grant") == "group":
        grant(wiki, group="readers")
    elif setup.get("grant") == "everyone":
        grant(wiki, group="everyone")
    document = wiki.documents.get(external_id="a.md")
    if "list" in setup:
        document_access_list_set(document=document, principals=setup["list"])
    if setup.get("deleted"):
        Path(wiki.config["path"], "a.md").unlink()
        sync_now(wiki)
    decision = access_explain(user=alice, document=document)
    assert decision.allowed == _readable(alice, document) == allowed, decision.verdict


@hypothesis_settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    grants=st.sets(st.sampled_from(["user", "group:g1", "group:g2", "group:everyone"])),
    member_of=st.sets(st.sampled_from(["g1", "g2"])),
    access_list=st.none() | st.lists(st.sampled_from(["u", "user:u", "g1", "group:g2", "x", "U@e.com"]), max_size=3),
)
def test_check_access_agrees_with_document_list_for_random_rules(wiki, grants, member_of, access_list):
    document = Document.objects.get(source=wiki, external_id="a.md")
    with transaction.atomic():
        user = User.objects.create(username="u", email="u@e.com")
        groups = {name: Group.objects.get_or_create(name=name)[0] for name in ("g1", "g2", "everyone")}
        user.groups.set([groups[name] for name in member_of])
        for principal in grants:
            if principal == "user":
                SourceGrant.objects.create(source=wiki, user=user)
            else:
                SourceGrant.objects.create(source=wiki, group=groups[principal.removeprefix("group:")])
        document_access_list_set(document=document, principals=access_list)
        assert access_explain(user=user, document=document).allowed == _readable(user, document)
        transaction.set_rollback(True)
