"""Database snapshots: what a build added to the test database, copied back in by each test that asks.

A shared corpus is synced once per session, for real (files, parser, embedding
model, version build), inside a transaction that is then rolled back. The rows the
sync added to every table are kept as ``COPY`` text; a test that asks for the
corpus copies them back inside its own transaction, and its rollback removes them
again. Tests that do not ask never see them.

The snapshot keeps the build's primary keys. Its sequences moved past them when it
was built (sequences are not rolled back), so rows a test adds never collide.
"""

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db import connection, transaction


@dataclass(frozen=True)
class Snapshot:
    rows: dict[str, bytes]  # table -> the rows the build added, as COPY text
    value: Any  # what the build returned


def _tables(cursor) -> list[str]:
    cursor.execute("SELECT quote_ident(tablename) FROM pg_tables WHERE schemaname = current_schema() ORDER BY 1")
    return [name for (name,) in cursor.fetchall()]


def _rows(cursor, table: str) -> Counter[bytes]:
    """Every row of ``table`` as a line of COPY text (newlines inside values are escaped)."""
    with cursor.cursor.copy(f"COPY {table} TO STDOUT") as copy:
        data = b"".join(bytes(block) for block in copy)
    return Counter(line + b"\n" for line in data.split(b"\n")[:-1])


def snapshot_take(build: Callable[[], Any]) -> Snapshot:
    """Run ``build()`` in a transaction that is rolled back, and keep the rows it added.

    The build may only add rows: one that changes or deletes rows that were already
    there cannot be replayed by inserting, so it fails here rather than in the tests.
    """
    assert not connection.in_atomic_block, "take snapshots from session fixtures, before a test's transaction opens"
    with transaction.atomic(), connection.cursor() as cursor:
        tables = _tables(cursor)
        before = {table: _rows(cursor, table) for table in tables}
        value = build()
        added, changed = {}, []
        for table in tables:
            after = _rows(cursor, table)
            if before[table] - after:
                changed.append(table)
            if new := after - before[table]:
                added[table] = b"".join(sorted(new.elements()))
        transaction.set_rollback(True)
    if changed:
        raise RuntimeError(f"a snapshot build may only add rows; it changed rows of {', '.join(changed)}")
    return Snapshot(rows=added, value=value)


def snapshot_restore(snapshot: Snapshot) -> Any:
    """Copy the snapshot's rows in (inside the caller's transaction); returns what the build returned.

    Triggers are off while they are copied, as ``pg_restore --disable-triggers`` does: the rows were
    written, triggers and foreign keys checked, when the snapshot was built, and with triggers on, a
    chunk copied before its embedding could not compute its half-precision copy (migration 0017).
    """
    with connection.cursor() as cursor:
        # Local to the caller's transaction: a failed COPY aborts it, and the setting goes with it.
        cursor.execute("SELECT set_config('session_replication_role', 'replica', true)")
        for table, data in snapshot.rows.items():
            with cursor.cursor.copy(f"COPY {table} FROM STDIN") as copy:
                copy.write(data)
        cursor.execute("SELECT set_config('session_replication_role', 'origin', true)")
    return snapshot.value
