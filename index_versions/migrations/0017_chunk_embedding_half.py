"""Each chunk keeps its embedding at half precision, in an index the exact vector scan reads alone.

The exact scan of a caller's visible chunks probed an embedding per chunk: at 1% of a million chunks,
10,000 probes were 17 of its 41 ms (docs/benchmarks.md, 2026-12-07). The copy is written by the database
from the chunk's embedding (a trigger), so no write path can leave it out; existing chunks are filled in
batches, then the index is built beside the table (CONCURRENTLY). Not atomic, so every step may find the
last try's work: the column and trigger are made if missing, only chunks still without a copy are filled,
and an index a failed build left invalid is dropped and built again.
"""

import pgvector.django
from django.db import migrations, models

_BATCH = 20_000

_TRIGGER = [
    """
CREATE OR REPLACE FUNCTION chunk_embedding_half() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.embedding_half := (SELECT e.vector::halfvec FROM index_versions_embedding e WHERE e.id = NEW.embedding_id);
    IF NEW.embedding_half IS NULL THEN
        RAISE EXCEPTION 'chunk % of revision %: embedding % is not stored', NEW.ordinal, NEW.revision_id,
            NEW.embedding_id USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN NEW;
END
$$""",
    """
CREATE OR REPLACE TRIGGER chunk_embedding_half BEFORE INSERT OR UPDATE OF embedding_id, embedding_half
    ON index_versions_chunk FOR EACH ROW EXECUTE FUNCTION chunk_embedding_half()""",
]

_TRIGGER_DROPPED = [
    "DROP TRIGGER IF EXISTS chunk_embedding_half ON index_versions_chunk",
    "DROP FUNCTION IF EXISTS chunk_embedding_half()",
]


def _copies_filled(apps, schema_editor):
    """Every chunk's copy, a batch of ids per statement (each its own transaction): no long lock, no huge one."""
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("SELECT min(id), max(id) FROM index_versions_chunk WHERE embedding_half IS NULL")
        low, high = cursor.fetchone()
        if low is None:
            return
        for start in range(low, high + 1, _BATCH):
            # Set to NULL, the trigger writes the copy: one definition of it.
            cursor.execute(
                "UPDATE index_versions_chunk SET embedding_half = NULL"
                " WHERE id >= %s AND id < %s AND embedding_half IS NULL",
                [start, start + _BATCH],
            )


_INDEX = (
    "CREATE INDEX CONCURRENTLY chunk_exact_scan ON index_versions_chunk"
    " (revision_id, pipeline_id) INCLUDE (id, embedding_id, embedding_half)"
)


def _index_built(apps, schema_editor):
    """The index, unless a valid one is there; one left invalid by a failed concurrent build is replaced."""
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass('chunk_exact_scan')")
        found = cursor.fetchone()
        if found and found[0]:
            return
        if found:
            cursor.execute("DROP INDEX CONCURRENTLY chunk_exact_scan")
        cursor.execute(_INDEX)


def _index_dropped(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("DROP INDEX CONCURRENTLY IF EXISTS chunk_exact_scan")


class Migration(migrations.Migration):
    atomic = False  # batches of their own, and CREATE INDEX CONCURRENTLY

    dependencies = [("index_versions", "0016_hnsw_ef_construction_128")]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AddField(
                    model_name="chunk",
                    name="embedding_half",
                    field=pgvector.django.HalfVectorField(editable=False, null=True),
                ),
                migrations.AddIndex(
                    model_name="chunk",
                    index=models.Index(
                        fields=["revision", "pipeline"],
                        include=["id", "embedding", "embedding_half"],
                        name="chunk_exact_scan",
                    ),
                ),
            ],
            database_operations=[
                migrations.RunSQL(
                    "ALTER TABLE index_versions_chunk ADD COLUMN IF NOT EXISTS embedding_half halfvec",
                    "ALTER TABLE index_versions_chunk DROP COLUMN IF EXISTS embedding_half",
                ),
                migrations.RunSQL(_TRIGGER, _TRIGGER_DROPPED),
                migrations.RunPython(_copies_filled, migrations.RunPython.noop),
                migrations.RunPython(_index_built, _index_dropped),
            ],
        ),
    ]
