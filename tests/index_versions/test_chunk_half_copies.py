"""Each chunk's half-precision copy of its embedding: written by the database on any write, filled on upgrade."""

import pytest
from django.db import IntegrityError, connection, transaction

from index_versions.models import Chunk, Embedding
from tests.corpus import HR, WIKI
from tests.migrating import latest, migrated

BEFORE = [("index_versions", "0016_hnsw_ef_construction_128")]

_DIFFERING = """
    SELECT count(*), count(*) FILTER (WHERE c.embedding_half IS DISTINCT FROM e.vector::halfvec)
    FROM index_versions_chunk c JOIN index_versions_embedding e ON e.id = c.embedding_id
"""


def _copies() -> tuple[int, int]:
    """(chunks, chunks whose copy is not their embedding's vector at half precision)."""
    with connection.cursor() as cursor:
        cursor.execute(_DIFFERING)
        return cursor.fetchone()


def test_every_chunk_a_sync_writes_holds_its_embedding_at_half_precision(folder_source, sync_now):
    sync_now(folder_source("wiki", {**WIKI, **HR}))

    chunks, differing = _copies()

    assert chunks > 0 and differing == 0


def test_a_copy_follows_its_chunks_embedding_and_cannot_be_written_otherwise(folder_source, sync_now):
    sync_now(folder_source("wiki", {**WIKI, **HR}))
    chunk, other = Chunk.objects.order_by("pk")[:2]
    assert chunk.embedding_id != other.embedding_id

    Chunk.objects.filter(pk=chunk.pk).update(embedding_half=other.embedding_half)
    assert _copies()[1] == 0  # the database wrote the chunk's own copy back
    Chunk.objects.filter(pk=chunk.pk).update(embedding_id=other.embedding_id)
    assert _copies()[1] == 0
    assert Chunk.objects.get(pk=chunk.pk).embedding_half == other.embedding_half


def test_a_chunk_whose_embedding_is_not_stored_is_refused(folder_source, sync_now):
    sync_now(folder_source("wiki", WIKI))
    chunk = Chunk.objects.first()
    missing = (Embedding.objects.order_by("-pk").values_list("pk", flat=True).first() or 0) + 1000

    with pytest.raises(IntegrityError, match="is not stored"), transaction.atomic():
        Chunk.objects.create(revision_id=chunk.revision_id, pipeline_id=chunk.pipeline_id, ordinal=99,
                             text="orphan", embedding_id=missing)  # fmt: skip


@pytest.mark.django_db(transaction=True)
def test_the_upgrade_fills_the_copies_of_existing_chunks_and_indexes_them(folder_source, sync_now):
    sync_now(folder_source("wiki", {**WIKI, **HR}))
    migrated(BEFORE)
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM index_versions_chunk")
            (before,) = cursor.fetchone()
        migrated(latest())

        chunks, differing = _copies()
        assert chunks == before > 0 and differing == 0
        with connection.cursor() as cursor:
            cursor.execute("SELECT indexdef FROM pg_indexes WHERE indexname = 'chunk_exact_scan'")
            (definition,) = cursor.fetchone()
        assert "(revision_id, pipeline_id) INCLUDE (id, embedding_id, embedding_half)" in definition
    finally:
        migrated(latest())


@pytest.mark.django_db(transaction=True)
def test_an_upgrade_stopped_half_way_finishes_on_the_next_try(folder_source, sync_now):
    """A try that added the column, then failed while building the index, left an invalid one: the next try ends it."""
    sync_now(folder_source("wiki", {**WIKI, **HR}))
    migrated(BEFORE)
    try:
        with connection.cursor() as cursor:
            cursor.execute("ALTER TABLE index_versions_chunk ADD COLUMN embedding_half halfvec")
            cursor.execute("CREATE INDEX chunk_exact_scan ON index_versions_chunk (revision_id)")
            cursor.execute("UPDATE pg_index SET indisvalid = false WHERE indexrelid = 'chunk_exact_scan'::regclass")
        migrated(latest())

        assert _copies()[1] == 0
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT i.indisvalid, pg_get_indexdef(i.indexrelid) FROM pg_index i"
                " WHERE i.indexrelid = 'chunk_exact_scan'::regclass"
            )
            valid, definition = cursor.fetchone()
        assert valid and "INCLUDE (id, embedding_id, embedding_half)" in definition
    finally:
        migrated(latest())
