"""Access-list entries are unambiguous: typed entries match only their kind; an empty ticket field means one thing.

Group names share a namespace with usernames and emails, and ``user:``/``group:`` pin
the kind. A group named ``user:alice`` must not make its members alice, nor a user
named ``group:eng`` a member of eng. A tickets export's empty access field (missing,
null, "", [], separators only) is hidden by default, or left to the source grant with
``SOURCE_TICKETS_EMPTY_ACCESS=source``.
"""

import json

from django.contrib.auth.models import Group, User

from acl.services import document_access_list_set
from sources.services.crud import source_create


def readable(api, user, source) -> list[str]:
    response = api(user).get(f"/api/v1/documents?source={source.pk}&limit=100")
    assert response.status_code == 200, response.content
    return sorted(document["external_id"] for document in response.json()["results"])


def test_typed_entries_match_only_their_kind(api, alice, make_user, grant, sync_folders):
    (wiki,) = sync_folders(
        wiki={name: f"# {name}\n\nText of {name}." for name in ("for-alice.md", "for-eng.md", "bare.md")}
    )
    impostor = make_user("bob", groups=["user:alice"])  # a group named like a typed user entry
    pretender = User.objects.create_user("group:eng", password="pw")  # a username like a typed group entry
    engineer = make_user("erin", groups=["eng"])
    grant(wiki, group="everyone")
    documents = {document.external_id: document for document in wiki.documents.all()}
    document_access_list_set(document=documents["for-alice.md"], principals=["user:alice"])
    document_access_list_set(document=documents["for-eng.md"], principals=["group:eng"])
    document_access_list_set(document=documents["bare.md"], principals=["alice", "eng"])

    assert readable(api, alice, wiki) == ["bare.md", "for-alice.md"]
    assert readable(api, impostor, wiki) == []
    assert readable(api, pretender, wiki) == []
    assert readable(api, engineer, wiki) == ["bare.md", "for-eng.md"]
    # The odd group is still reachable by its typed name.
    document_access_list_set(document=documents["for-alice.md"], principals=["group:user:alice"])
    assert readable(api, impostor, wiki) == ["for-alice.md"]
    assert readable(api, alice, wiki) == ["bare.md"]
    assert Group.objects.filter(name="user:alice").exists()


RECORDS = [
    {"id": "empty-string", "title": "A", "body": "Ticket A.", "viewers": ""},
    {"id": "missing", "title": "B", "body": "Ticket B."},
    {"id": "null", "title": "C", "body": "Ticket C.", "viewers": None},
    {"id": "empty-list", "title": "D", "body": "Ticket D.", "viewers": []},
    {"id": "separators", "title": "E", "body": "Ticket E.", "viewers": " , ; "},
    {"id": "listed", "title": "F", "body": "Ticket F.", "viewers": "alice"},
]


def tickets_source(tmp_path, name):
    export = tmp_path / f"{name}.jsonl"
    export.write_text("\n".join(json.dumps(record) for record in RECORDS))
    return source_create(name=name, kind="tickets", config={"path": str(export), "access_field": "viewers"})


def test_an_empty_ticket_access_field_hides_the_ticket_by_default(api, alice, grant, tmp_path, sync_now, settings):
    assert settings.SOURCE_TICKETS_EMPTY_ACCESS == "hidden"  # the default
    hidden = tickets_source(tmp_path, "hidden")
    sync_now(hidden)
    grant(hidden, user=alice)
    assert readable(api, alice, hidden) == ["listed"]

    settings.SOURCE_TICKETS_EMPTY_ACCESS = "source"
    granted = tickets_source(tmp_path, "granted")
    sync_now(granted)
    grant(granted, user=alice)
    assert readable(api, alice, granted) == sorted(record["id"] for record in RECORDS)
