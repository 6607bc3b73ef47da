"""Planner options scoped to one read-only statement (``ragplatform.sql.read_only_planned``)."""

import pytest
from django.db import DatabaseError, connection, transaction
from django.test.utils import CaptureQueriesContext

from ragplatform.sql import INDEX_PROBES_ONLY, planner_options_set, read_only_planned

pytestmark = pytest.mark.django_db


def _setting(cursor, name: str) -> str | None:
    cursor.execute("SELECT current_setting(%s, true)", [name])
    return cursor.fetchone()[0]


def test_options_hold_inside_and_end_with_it_even_inside_a_callers_transaction():
    with transaction.atomic(), connection.cursor() as outer:
        with read_only_planned({**INDEX_PROBES_ONLY, "hnsw.ef_search": "77"}) as cursor:
            assert [_setting(cursor, name) for name in INDEX_PROBES_ONLY] == ["off", "off", "off"]
            assert _setting(cursor, "hnsw.ef_search") == "77"
            planner_options_set(cursor, {"enable_hashjoin": "on"})
            assert _setting(cursor, "enable_hashjoin") == "on"
        assert [_setting(outer, name) for name in INDEX_PROBES_ONLY] == ["on", "on", "on"]
        assert _setting(outer, "hnsw.ef_search") in (None, "", "40")


def test_what_runs_inside_is_rolled_back_and_an_error_leaves_the_callers_transaction_usable():
    with transaction.atomic(), connection.cursor() as outer:
        outer.execute("CREATE TEMPORARY TABLE planned_probe (n int)")
        with read_only_planned(INDEX_PROBES_ONLY) as cursor:
            cursor.execute("INSERT INTO planned_probe VALUES (1)")
        with pytest.raises(ZeroDivisionError), read_only_planned(INDEX_PROBES_ONLY) as cursor:
            cursor.execute("SELECT 1")
            raise ZeroDivisionError
        outer.execute("SELECT count(*) FROM planned_probe")
        assert outer.fetchone()[0] == 0
        assert _setting(outer, "enable_seqscan") == "on"


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("prepared", [False, True])
def test_outside_a_transaction_it_is_read_only_and_its_options_end_with_it(prepared):
    with read_only_planned({"enable_seqscan": "off"}, prepared=prepared) as cursor:
        assert _setting(cursor, "transaction_read_only") == "on"
        assert _setting(cursor, "enable_seqscan") == "off"
    with pytest.raises(DatabaseError, match="read-only transaction"), read_only_planned({}, prepared=prepared) as c:
        c.execute("CREATE TABLE planned_write (n int)")
    with connection.cursor() as cursor:
        assert _setting(cursor, "enable_seqscan") == "on"
        assert _setting(cursor, "transaction_read_only") == "off"
        cursor.execute("SELECT to_regclass('planned_write')")
        assert cursor.fetchone()[0] is None


@pytest.mark.django_db(transaction=True)
def test_a_prepared_cursor_binds_on_the_server_and_logs_its_statements_with_their_values():
    with CaptureQueriesContext(connection) as queries:
        for n in range(3):
            with read_only_planned({}, prepared=True) as cursor:
                cursor.execute("SELECT %(n)s::int + 1 AS planned_probe", {"n": n})
                assert cursor.fetchone()[0] == n + 1
    assert [q["sql"] for q in queries.captured_queries if "planned_probe" in q["sql"]] == [
        f"SELECT {n}::int + 1 AS planned_probe" for n in range(3)
    ]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT generic_plans + custom_plans FROM pg_prepared_statements WHERE statement LIKE %s",
            ["%planned_probe%"],
        )
        assert cursor.fetchone()[0] == 2  # prepared on its second run, and run again on its third
