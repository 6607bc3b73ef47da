"""Planner options scoped to one read-only statement (``ragplatform.sql.read_only_planned``)."""

import pytest
from django.db import connection, transaction

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
