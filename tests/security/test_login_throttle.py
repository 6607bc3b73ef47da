"""Password guessing is capped per username and per client address, on the token endpoint and the console.

Counters live in the real shared cache (Redis); a lockout refuses the right password
too, answers 429 with ``Retry-After`` on the API, and is audited once.
"""

import time

import pytest

from acl.models import AuditEvent


def token(client, username, password, address="127.0.0.1"):
    return client.post(
        "/api/v1/auth/token", {"username": username, "password": password}, format="json", REMOTE_ADDR=address
    )


@pytest.fixture
def anonymous(api):
    return api()


def test_thirty_wrong_passwords_lock_the_username_even_for_the_right_one(anonymous, alice, bob, settings):
    assert settings.LOGIN_FAILURES_PER_USERNAME == 5  # the default
    for _ in range(30):
        assert token(anonymous, "alice", "guess").status_code in (400, 429)
    locked = token(anonymous, "alice", "pw-alice")
    assert locked.status_code == 429, locked.content
    assert 0 < int(locked["Retry-After"]) <= settings.LOGIN_LOCKOUT_SECONDS
    error = locked.json()["error"]
    assert (error["code"], error["details"]) == ("login_locked", {})
    assert "username" in error["message"]
    assert token(anonymous, "bob", "pw-bob").status_code == 200  # another username, the same address


def test_the_fifth_failure_locks_and_the_lockout_is_audited_once(anonymous, alice):
    statuses = [token(anonymous, "alice", "guess").status_code for _ in range(7)]
    assert statuses == [400] * 5 + [429] * 2
    (event,) = AuditEvent.objects.filter(action="auth.lockout")
    assert event.target == "username:alice"
    assert event.details == {
        "scope": "username", "username": "alice", "address": "127.0.0.1", "failures": 5, "locked_for_seconds": 900,
    }  # fmt: skip


def test_usernames_are_locked_case_insensitively_and_unknown_ones_count_too(anonymous, alice):
    for username in ("Alice", "ALICE", "alice", "aLiCe", "alice "):
        token(anonymous, username, "guess")
    assert token(anonymous, "alice", "pw-alice").status_code == 429
    for _ in range(5):
        token(anonymous, "nobody", "guess")
    assert token(anonymous, "nobody", "guess").status_code == 429  # no hint whether the account exists


def test_a_correct_login_clears_the_usernames_failures(anonymous, alice):
    for _ in range(2):
        for _ in range(4):
            assert token(anonymous, "alice", "guess").status_code == 400
        assert token(anonymous, "alice", "pw-alice").status_code == 200
    for _ in range(5):
        token(anonymous, "alice", "guess")
    assert token(anonymous, "alice", "pw-alice").status_code == 429


def test_one_address_guessing_many_usernames_is_locked_out(anonymous, make_user, bob, settings):
    settings.LOGIN_FAILURES_PER_ADDRESS = 10
    for n in range(10):
        assert token(anonymous, f"user{n}", "guess", address="203.0.113.9").status_code == 400
    locked = token(anonymous, "bob", "pw-bob", address="203.0.113.9")
    assert locked.status_code == 429 and "address" in locked.json()["error"]["message"]
    assert token(anonymous, "bob", "pw-bob", address="198.51.100.7").status_code == 200
    assert AuditEvent.objects.get(action="auth.lockout").target == "address:203.0.113.9"


def test_the_lock_ends_after_the_lockout(anonymous, alice, settings):
    settings.LOGIN_LOCKOUT_SECONDS = 2
    for _ in range(5):
        token(anonymous, "alice", "guess")
    locked = token(anonymous, "alice", "pw-alice")
    assert locked.status_code == 429 and int(locked["Retry-After"]) <= 2
    time.sleep(2.1)
    assert token(anonymous, "alice", "pw-alice").status_code == 200


def admin_login(client, username, password):
    return client.post("/admin/login/?next=/admin/", {"username": username, "password": password, "next": "/admin/"})


def test_the_console_login_is_throttled_and_shares_the_lock_with_the_api(client, anonymous, staff):
    for _ in range(5):
        assert admin_login(client, "staff", "guess").status_code == 200  # the form again, with an error
    refused = admin_login(client, "staff", "pw-staff")
    assert refused.status_code == 200 and "_auth_user_id" not in client.session
    assert token(anonymous, "staff", "pw-staff").status_code == 429
    assert AuditEvent.objects.filter(action="auth.lockout", target="username:staff").count() == 1


def test_api_failures_lock_the_console_login(client, anonymous, staff):
    for _ in range(5):
        token(anonymous, "staff", "guess")
    admin_login(client, "staff", "pw-staff")
    assert "_auth_user_id" not in client.session
