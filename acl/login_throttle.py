"""Password guessing, capped: failed logins counted per username and per client address.

Counters live in the shared cache (``CACHES``: Redis), so every web process sees the
same ones. ``LOGIN_FAILURES_PER_USERNAME`` failures for one username, or
``LOGIN_FAILURES_PER_ADDRESS`` from one address, within ``LOGIN_LOCKOUT_SECONDS`` lock
that username (or address) for ``LOGIN_LOCKOUT_SECONDS``: every login is then refused,
the right password included, and the lockout is audited once. The token endpoint
answers 429 with ``Retry-After``; :class:`acl.backends.LoginThrottledBackend` applies
the same to every other password login (the console's). See docs/security.md.
"""

import hashlib
import math
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache

from acl.models import AuditEvent
from acl.services import audit_record

_PREFIX = "login-throttle"


@dataclass(frozen=True)
class LoginLock:
    """Logins are refused for ``retry_after`` more seconds, because of too many failures for ``scope``."""

    scope: str  # "username" or "address"
    retry_after: int


def _username_key(username: str) -> str:
    # Case-folded (Alice and alice share a counter) and hashed (any text makes a safe cache key).
    return hashlib.sha256(username.strip().casefold().encode()).hexdigest()


def _scopes(username: str, address: str | None) -> list[tuple[str, str, int]]:
    """``(scope, key, limit)`` of each counter a login attempt counts against; a limit of 0 is off."""
    scopes = [("username", _username_key(username), settings.LOGIN_FAILURES_PER_USERNAME)]
    if address:
        scopes.append(("address", address, settings.LOGIN_FAILURES_PER_ADDRESS))
    return [(scope, key, limit) for scope, key, limit in scopes if limit > 0]


def login_lock_check(*, username: str, address: str | None) -> LoginLock | None:
    """The lock refusing a login by ``username`` from ``address`` now, if any (the longest one)."""
    now = time.time()
    locks = cache.get_many([f"{_PREFIX}:lock:{scope}:{key}" for scope, key, _ in _scopes(username, address)])
    found = None
    for name, unlocks_at in locks.items():
        retry_after = math.ceil(unlocks_at - now)
        if retry_after > 0 and (found is None or retry_after > found.retry_after):
            found = LoginLock(scope=name.split(":")[2], retry_after=retry_after)
    return found


def login_failure_record(*, username: str, address: str | None) -> LoginLock | None:
    """Count a failed login; the failure that reaches a limit locks and is audited. Returns the new lock."""
    seconds = settings.LOGIN_LOCKOUT_SECONDS
    new_lock = None
    for scope, key, limit in _scopes(username, address):
        counter = f"{_PREFIX}:failures:{scope}:{key}"
        cache.add(counter, 0, timeout=seconds)  # the window opens with the first failure
        try:
            failures = cache.incr(counter)
        except ValueError:  # expired between add and incr: this failure opens a new window
            cache.add(counter, 1, timeout=seconds)
            failures = 1
        if failures < limit:
            continue
        cache.delete(counter)  # after the lock, a fresh window
        # add, not set: of concurrent failures past the limit, one locks and audits.
        if cache.add(f"{_PREFIX}:lock:{scope}:{key}", time.time() + seconds, timeout=seconds):
            new_lock = LoginLock(scope=scope, retry_after=seconds)
            audit_record(
                actor=None,
                action=AuditEvent.Action.LOGIN_LOCKOUT,
                target=f"{scope}:{username[:100] if scope == 'username' else address}",
                details={
                    "scope": scope,
                    "username": username[:150],
                    "address": address,
                    "failures": failures,
                    "locked_for_seconds": seconds,
                },
            )
    return new_lock


def login_success_record(*, username: str) -> None:
    """A correct login clears its username's failures (not its address's: those are other usernames' guesses)."""
    cache.delete(f"{_PREFIX}:failures:username:{_username_key(username)}")


def client_address(request) -> str | None:
    """The caller's address as the server socket saw it (``REMOTE_ADDR``).

    Behind a reverse proxy every caller shares the proxy's address: see
    ``LOGIN_FAILURES_PER_ADDRESS`` in docs/security.md.
    """
    meta = getattr(request, "META", None) or {}
    return meta.get("REMOTE_ADDR") or None
