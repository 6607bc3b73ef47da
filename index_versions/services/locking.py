"""The one lock every change of the version history takes."""

from django.db import connection

# Serialises "read the active version, derive a new one from it, activate": two
# syncs finishing together must not each copy the same parent and lose the other's change.
_VERSION_LOCK_KEY = 0x1D5_0001


def versions_lock() -> None:
    """Take the version-history lock until the end of the current transaction."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_VERSION_LOCK_KEY])
