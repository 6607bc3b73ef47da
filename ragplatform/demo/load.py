"""Loading the demo data the Quickstart runs on (users, groups, sources and grants)."""

from dataclasses import dataclass
from pathlib import Path

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction

from acl.models import SourceGrant
from sources.models import Source
from sources.services.crud import source_create

DEMO_CORPUS = Path(__file__).resolve().parent / "corpus"

# source name -> (corpus folder, group granted read access)
DEMO_SOURCES = {
    "Engineering wiki": ("engineering", "engineering"),
    "HR policies": ("hr", "people-ops"),
    "Company handbook": ("handbook", "everyone"),
}
# username -> (is staff, groups)
DEMO_USERS = {
    "admin": (True, ["everyone"]),
    "alice": (False, ["everyone", "engineering", "people-ops"]),
    "bob": (False, ["everyone", "engineering"]),
}


@dataclass(frozen=True)
class DemoData:
    created: bool
    sources: list[Source]


@transaction.atomic
def demo_load(*, password: str) -> DemoData:
    """Create the demo users, groups, sources and grants, once.

    Staff status gives ``admin`` the console, not search results: it reads only what
    the "everyone" group may. Existing users keep their passwords.
    """
    User = get_user_model()
    groups = {name: Group.objects.get_or_create(name=name)[0] for _, name in DEMO_SOURCES.values()}
    for username, (is_staff, group_names) in DEMO_USERS.items():
        user, created = User.objects.get_or_create(
            username=username, defaults={"is_staff": is_staff, "is_superuser": is_staff}
        )
        if created:
            user.set_password(password)
            user.save(update_fields=["password"])
            user.groups.set([groups[name] for name in group_names])

    created = False
    sources = []
    for name, (folder, group_name) in DEMO_SOURCES.items():
        source = Source.objects.filter(name=name).first()
        if source is None:
            source = source_create(name=name, kind=Source.Kind.FOLDER, config={"path": str(DEMO_CORPUS / folder)})
            SourceGrant.objects.create(source=source, group=groups[group_name])
            created = True
        sources.append(source)
    return DemoData(created=created, sources=sources)
