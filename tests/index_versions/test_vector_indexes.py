"""The HNSW graphs' build parameters: every graph, old or new, is built with ef_construction 128."""

import pytest
from django.db import connection

from index_versions.services.storage import vector_index_ensure
from tests.migrating import latest, migrated

BEFORE = [("index_versions", "0015_posting_document")]


def _graphs() -> dict[str, str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname, pg_get_indexdef(c.oid) FROM pg_class c JOIN pg_index i ON i.indexrelid = c.oid "
            "WHERE i.indrelid = 'index_versions_embedding'::regclass AND c.relname LIKE 'embedding_vector_%%_hnsw'"
        )
        return dict(cursor.fetchall())


@pytest.mark.django_db(transaction=True)
def test_the_upgrade_rebuilds_every_graph_with_ef_construction_128_keeping_its_dimension():
    migrated(BEFORE)
    try:
        assert "ef_construction='64'" in _graphs()["embedding_vector_384_hnsw"]
        with connection.cursor() as cursor:  # a graph an older release made for another model's dimension
            cursor.execute(
                "CREATE INDEX embedding_vector_8_hnsw ON index_versions_embedding "
                "USING hnsw ((vector::vector(8)) vector_cosine_ops) WITH (m = 16, ef_construction = 64) "
                "WHERE dimensions = 8"
            )
            # An earlier try that stopped between dropping a graph and renaming its rebuilt one into place.
            cursor.execute(
                "CREATE INDEX embedding_vector_9_hnsw_rebuilt ON index_versions_embedding "
                "USING hnsw ((vector::vector(9)) vector_cosine_ops) WITH (m = 16, ef_construction = 128) "
                "WHERE dimensions = 9"
            )
        migrated(latest())
        graphs = _graphs()
        assert set(graphs) == {"embedding_vector_384_hnsw", "embedding_vector_8_hnsw", "embedding_vector_9_hnsw"}
        assert all("ef_construction='128'" in definition for definition in graphs.values())
        assert "(dimensions = 8)" in graphs["embedding_vector_8_hnsw"]
        assert "vector(8)" in graphs["embedding_vector_8_hnsw"]
    finally:
        with connection.cursor() as cursor:
            for name in ("embedding_vector_8_hnsw", "embedding_vector_9_hnsw", "embedding_vector_9_hnsw_rebuilt"):
                cursor.execute(f"DROP INDEX IF EXISTS {name}")
        migrated(latest())


@pytest.mark.django_db(transaction=True)
def test_a_new_dimension_gets_a_graph_built_as_the_upgraded_ones():
    try:
        vector_index_ensure(dimensions=12)
        assert "ef_construction='128'" in _graphs()["embedding_vector_12_hnsw"]
    finally:
        with connection.cursor() as cursor:
            cursor.execute("DROP INDEX IF EXISTS embedding_vector_12_hnsw")
