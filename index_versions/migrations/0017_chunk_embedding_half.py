"""Each chunk keeps its embedding at half precision, in an index the exact vector scan reads alone.

The exact scan of a caller's visible chunks probed an embedding per chunk: at 1% of a million chunks,
10,000 probes were 17 of its 41 ms (docs/benchmarks.md, 2026-12-07). The copy is written by the database
from the chunk's embedding (a trigger), so no write path can leave it out; existing chunks are filled in
batches, then the index is built beside the table (CONCURRENTLY). Not atomic: a try stopped half way
fills only the chunks still without a copy on the next one.
"""

import pgvector.django
from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models

_BATCH = 20_000

_TRIGGER = [
    """
CREATE FUNCTION chunk_embedding_half() RETURNS trigger LANGUAGE plpgsql AS $$
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
CREATE TRIGGER chunk_embedding_half BEFORE INSERT OR UPDATE OF embedding_id, embedding_half
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


class Migration(migrations.Migration):
    atomic = False  # batches of their own, and CREATE INDEX CONCURRENTLY

    dependencies = [("index_versions", "0016_hnsw_ef_construction_128")]

    operations = [
        migrations.AddField(
            model_name="chunk",
            name="embedding_half",
            field=pgvector.django.HalfVectorField(editable=False, null=True),
        ),
        migrations.RunSQL(_TRIGGER, _TRIGGER_DROPPED),
        migrations.RunPython(_copies_filled, migrations.RunPython.noop),
        AddIndexConcurrently(
            model_name="chunk",
            index=models.Index(
                fields=["revision", "pipeline"], include=["id", "embedding", "embedding_half"], name="chunk_exact_scan"
            ),
        ),
    ]
