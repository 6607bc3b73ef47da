"""Postings carry their chunk's document, so a search probes its access list before the version's membership."""

from django.db import migrations, models

_BACKFILL = """
    UPDATE index_versions_keywordposting p SET document_id = r.document_id
    FROM sources_documentrevision r WHERE r.id = p.revision_id
"""


class Migration(migrations.Migration):
    dependencies = [
        ("index_versions", "0014_chunk_search_vector_unindexed"),
        ("sources", "0007_document_id_source"),
    ]

    operations = [
        # The index goes first, so that the backfill does not maintain it row by row; it is built once at the end.
        migrations.RemoveIndex(model_name="keywordposting", name="posting_impact"),
        migrations.AddField(model_name="keywordposting", name="document_id", field=models.BigIntegerField(null=True)),
        migrations.RunSQL(_BACKFILL, reverse_sql=migrations.RunSQL.noop),
        migrations.AlterField(model_name="keywordposting", name="document_id", field=models.BigIntegerField()),
        migrations.AddIndex(
            model_name="keywordposting",
            index=models.Index(
                fields=["pipeline", "lexeme", "-impact"],
                include=("chunk", "revision_id", "document_id", "source_id", "frequency", "length"),
                name="posting_impact",
            ),
        ),
    ]
