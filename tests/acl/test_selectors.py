import pytest
from django.contrib.auth.models import Group, User
from django.db import transaction
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from acl.models import DocumentAccessList, SourceGrant
from acl.selectors import visible_source_ids
from acl.services import document_access_list_set
from index_versions.selectors import document_list


def _visible(user):
    return {row["source_id"] for row in visible_source_ids(user=user)}


def test_no_grant_means_no_access(db, folder_source, alice):
    folder_source("wiki", {"a.md": "text"})
    assert _visible(alice) == set()


def test_user_grant_gives_access_to_that_source_only(db, folder_source, grant, alice):
    wiki = folder_source("wiki", {"a.md": "text"})
    folder_source("hr", {"b.md": "text"})
    grant(wiki, user=alice)
    assert _visible(alice) == {wiki.pk}


def test_group_grant_gives_access_to_members_only(db, folder_source, grant, make_user):
    wiki = folder_source("wiki", {"a.md": "text"})
    member = make_user("member", groups=["eng"])
    outsider = make_user("outsider", groups=["sales"])
    grant(wiki, group="eng")
    assert _visible(member) == {wiki.pk}
    assert _visible(outsider) == set()


def test_leaving_a_group_removes_access_on_next_query(db, folder_source, grant, make_user):
    wiki = folder_source("wiki", {"a.md": "text"})
    member = make_user("member", groups=["eng"])
    grant(wiki, group="eng")
    member.groups.remove(Group.objects.get(name="eng"))
    assert _visible(member) == set()


def test_staff_and_superusers_get_nothing_without_a_grant(db, folder_source, make_user):
    folder_source("wiki", {"a.md": "text"})
    root = make_user("root", is_staff=True)
    root.is_superuser = True
    root.save()
    assert _visible(root) == set()


def test_inactive_user_sees_nothing_even_with_a_grant(db, folder_source, grant, alice):
    wiki = folder_source("wiki", {"a.md": "text"})
    grant(wiki, user=alice)
    alice.is_active = False
    alice.save()
    assert _visible(alice) == set()


# --- document access lists and the document-level filter -------------------------------------

# Principals that match nobody, together more than a B-tree entry of the covering index may hold.
_FILLERS = [f"group:nobody-of-this-name-{n:04d}" for n in range(120)]


@pytest.fixture(scope="session")
def listed_snapshot(corpus_snapshot):
    return corpus_snapshot(wiki={"a.md": "# A\n\nalpha", "b.md": "# B\n\nbeta"})


@pytest.fixture
def listed(corpus_restore, listed_snapshot, grant):
    """A synced source with two documents, granted to the group "staff-all"."""
    (wiki,) = corpus_restore(listed_snapshot)
    grant(wiki, group="staff-all")
    return wiki


def _documents(user) -> set[str]:
    return set(document_list(user=user).values_list("external_id", flat=True))


@pytest.mark.parametrize(
    "principal", ["member", "user:member", "Member@Example.org", "user:member@example.org", "readers", "group:readers"]
)
def test_access_list_names_the_user_by_username_email_or_group(listed, make_user, principal):
    member = make_user("member", groups=["staff-all", "readers"])
    member.email = "member@example.org"
    member.save()
    document_access_list_set(document=listed.documents.get(external_id="a.md"), principals=[principal])
    assert _documents(member) == {"a.md", "b.md"}


@pytest.mark.parametrize("principal", ["nobody", "group:member", "user:readers", "MEMBER", "ghost@example.org"])
def test_access_list_without_the_user_hides_the_document(listed, make_user, principal):
    member = make_user("member", groups=["staff-all", "readers"])
    document_access_list_set(document=listed.documents.get(external_id="a.md"), principals=[principal])
    assert _documents(member) == {"b.md"}


def test_user_created_later_matches_a_list_naming_them(listed, make_user):
    document_access_list_set(document=listed.documents.get(external_id="a.md"), principals=["latecomer"])
    latecomer = make_user("latecomer", groups=["staff-all"])
    assert _documents(latecomer) == {"a.md", "b.md"}


def test_joining_a_listed_group_reveals_the_document_on_next_query(listed, make_user):
    member = make_user("member", groups=["staff-all"])
    document_access_list_set(document=listed.documents.get(external_id="a.md"), principals=["group:auditors"])
    assert _documents(member) == {"b.md"}
    member.groups.add(Group.objects.create(name="auditors"))
    assert _documents(member) == {"a.md", "b.md"}


def test_everyone_group_is_implicit_for_grants_and_lists(listed, make_user, grant, settings):
    loner = make_user("loner")
    assert _visible(loner) == set()
    grant(listed, group="everyone")
    assert _visible(loner) == {listed.pk}
    document_access_list_set(document=listed.documents.get(external_id="a.md"), principals=["everyone"])
    assert _documents(loner) == {"a.md", "b.md"}
    settings.ACL_EVERYONE_GROUP = ""
    assert _visible(loner) == set()
    # The visibility SQL compiled for this user above named the everyone group; turning it off recompiles it.
    assert _documents(loner) == set()


def test_only_a_list_that_fits_a_b_tree_entry_is_held_in_the_index(listed):
    """The database keeps the copy the searches read from the index: the list itself, or NULL if too large."""
    document = listed.documents.get(external_id="a.md")
    document_access_list_set(document=document, principals=["group:readers", "member"])
    assert DocumentAccessList.objects.get(document=document).indexed_principals == ["group:readers", "member"]
    document_access_list_set(document=document, principals=[*_FILLERS, "member"])
    assert DocumentAccessList.objects.get(document=document).indexed_principals is None
    document_access_list_set(document=document, principals=["member"])
    assert DocumentAccessList.objects.get(document=document).indexed_principals == ["member"]


def test_a_list_too_large_for_the_index_is_stored_and_checked_beside_small_ones(listed, make_user):
    """Hundreds of principals of the longest kind: stored whole, and each document of the source is checked by its
    own list, whichever of the two probes reads it."""
    named, unnamed = make_user("member", groups=["staff-all"]), make_user("outsider", groups=["staff-all"])
    huge = [f"group:{n:03d}-" + "x" * 310 for n in range(200)]  # 320 characters each: 64 kB in all
    document_access_list_set(document=listed.documents.get(external_id="a.md"), principals=[*huge, "member"])
    document_access_list_set(document=listed.documents.get(external_id="b.md"), principals=["outsider"])
    assert DocumentAccessList.objects.get(document__external_id="a.md").principals[-1] == "member"
    assert _documents(named) == {"a.md"}
    assert _documents(unnamed) == {"b.md"}


def test_document_listing_filter_is_one_query(listed, make_user, django_assert_num_queries):
    member = make_user("member", groups=["staff-all"])
    document_access_list_set(document=listed.documents.get(external_id="a.md"), principals=["member"])
    with django_assert_num_queries(1) as queries:
        assert len(list(document_list(user=member))) == 2
    assert "acl_documentaccesslist" in queries.captured_queries[0]["sql"]


@hypothesis_settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    grants=st.sets(st.sampled_from(["user", "group:g1", "group:g2", "group:everyone"])),
    member_of=st.sets(st.sampled_from(["g1", "g2"])),
    access_list=st.none() | st.lists(st.sampled_from(["u", "user:u", "g1", "group:g2", "x", "U@e.com"]), max_size=3),
    too_large_for_the_index=st.booleans(),
)
def test_document_list_matches_the_rule(listed, grants, member_of, access_list, too_large_for_the_index):
    """Random grants, memberships and access lists: the filter agrees with the rule, stated here.

    A list may also carry principals that match nobody, enough of them that it is too large for the
    index that holds the others (acl migration 0009): it is checked from the table, by the same rule.
    """
    if access_list is not None and too_large_for_the_index:
        access_list = access_list + _FILLERS
    document = listed.documents.get(external_id="a.md")
    with transaction.atomic():
        user = User.objects.create(username="u", email="u@e.com")
        groups = {name: Group.objects.get_or_create(name=name)[0] for name in ("g1", "g2", "everyone")}
        user.groups.set([groups[name] for name in member_of])
        for principal in grants:
            if principal == "user":
                SourceGrant.objects.create(source=listed, user=user)
            else:
                SourceGrant.objects.create(source=listed, group=groups[principal.removeprefix("group:")])
        document_access_list_set(document=document, principals=access_list)

        in_groups = member_of | {"everyone"}
        names = {"u", "user:u", "u@e.com", "user:u@e.com"} | in_groups | {f"group:{g}" for g in in_groups}
        granted = "user" in grants or any(f"group:{g}" in grants for g in in_groups)
        listed_ok = access_list is None or bool(names & {p.lower() if "@" in p else p for p in access_list})
        assert ("a.md" in _documents(user)) == (granted and listed_ok)
        assert ("b.md" in _documents(user)) == granted
        transaction.set_rollback(True)
