import pytest
from django.contrib.auth.models import Permission


def permissions_named(*names: str) -> list[Permission]:
    found = []
    for name in names:
        app_label, codename = name.split(".")
        found.append(Permission.objects.get(content_type__app_label=app_label, codename=codename))
    return found


@pytest.fixture
def staff_holding(make_user):
    """``staff_holding(permissions)``: a staff user (not superuser) holding exactly those permissions."""

    def make(permissions, username="clerk"):
        user = make_user(username, is_staff=True)
        user.user_permissions.set(permissions_named(*permissions))
        return user

    return make
