from django.contrib.auth.models import Group

from acl.selectors import visible_source_ids


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
