"""The password login of every client (the token endpoint, the console) under the login throttle."""

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.core.exceptions import PermissionDenied

from acl.login_throttle import client_address, login_failure_record, login_lock_check, login_success_record


class LoginThrottledBackend(ModelBackend):
    """Django's username/password backend, refusing while the username or the address is locked out.

    Raising ``PermissionDenied`` (rather than returning ``None``) stops ``authenticate()``
    there, so no other backend checks the password either. Failures and successes are
    counted here, once per attempt, whichever login form made it.
    """

    def authenticate(self, request, username=None, password=None, **kwargs):
        if username is None:
            username = kwargs.get(get_user_model().USERNAME_FIELD)
        if username is None or password is None:
            return None
        address = client_address(request)
        if login_lock_check(username=username, address=address) is not None:
            raise PermissionDenied("Too many failed logins; try again later.")
        user = super().authenticate(request, username=username, password=password, **kwargs)
        if user is None:
            login_failure_record(username=username, address=address)
        else:
            login_success_record(username=username)
        return user
