import pytest
from django.contrib.auth.models import Permission, User


@pytest.fixture
def operator(db):
    return User.objects.create_superuser("operator", password="pw-operator")


@pytest.fixture
def limited_staff(db):
    """``limited_staff("app.codename", ...)``: a staff user holding only those permissions."""

    def make(*permissions: str, username: str = "limited"):
        user = User.objects.create_user(username, password=f"pw-{username}", is_staff=True)
        for name in permissions:
            app_label, codename = name.split(".")
            user.user_permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))
        return User.objects.get(pk=user.pk)  # a fresh instance: no stale permission cache

    return make
