"""Who may call an endpoint: authenticated users read; staff holding the model permission write.

Staff status alone opens nothing. A view lists the Django model permissions each of its
staff operations needs in ``staff_permissions`` (HTTP method -> permission, or a tuple of
permissions that are all needed); staff get them from the ready-made groups (operator,
access admin, auditor: ``acl.roles``) or one by one, superusers hold them all. A method the
view implements but does not list is refused: a new operation is closed until someone names
its permission.
See docs/security.md.
"""

from rest_framework import exceptions
from rest_framework.permissions import SAFE_METHODS, BasePermission


class PermissionMissing(exceptions.PermissionDenied):
    """403 for staff lacking a permission; ``details`` (the error's) names the permissions."""

    def __init__(self, permissions: list[str]):
        super().__init__(f"This needs the permission {', '.join(permissions)}; staff status alone is not enough.")
        self.details = {"permissions": permissions}


def required_permissions(view, method: str) -> tuple[str, ...] | None:
    """The permissions ``view`` needs for ``method`` (HEAD and OPTIONS as GET); ``None``: not a staff operation."""
    declared = getattr(view, "staff_permissions", None)
    assert declared is not None, (
        f"{type(view).__name__} uses a staff permission class: set staff_permissions = {{method: permission}}."
    )
    needed = declared.get("GET" if method in ("HEAD", "OPTIONS") else method)
    if needed is None:
        return None
    return (needed,) if isinstance(needed, str) else tuple(needed)


def _staff_operation_allowed(request, view) -> bool:
    user = request.user
    if not (user and user.is_authenticated):
        return False  # 401: authentication comes first
    if request.method.lower() not in view.http_method_names or not hasattr(view, request.method.lower()):
        return True  # the view answers 405 Method Not Allowed
    needed = required_permissions(view, request.method)
    if not user.is_staff or needed is None:
        return False  # 403 with the class's message
    missing = [permission for permission in needed if not user.has_perm(permission)]
    if missing:
        raise PermissionMissing(missing)
    return True


class IsStaff(BasePermission):
    """Staff holding the view's ``staff_permissions`` for this method."""

    message = "Only staff may do this."

    def has_permission(self, request, view):
        return _staff_operation_allowed(request, view)


class ReadAnyWriteStaff(BasePermission):
    """Authenticated users read (what their ACL lets them see); staff holding ``staff_permissions`` write."""

    message = "Only staff may change this."

    def has_permission(self, request, view):
        if not (request.user and request.user.is_authenticated):
            return False
        return request.method in SAFE_METHODS or _staff_operation_allowed(request, view)


class IsSuperuser(BasePermission):
    """Superusers only: operations no delegated role should hold (cutting the audit trail)."""

    message = "Only a superuser may do this."

    def has_permission(self, request, view):
        user = request.user
        if not (user and user.is_authenticated):
            return False
        return bool(user.is_active and user.is_superuser)
