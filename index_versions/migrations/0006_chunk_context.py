import django.contrib.postgres.indexes
import django.contrib.postgres.search
from django.db import migrations, models


class Migration(migrations.Migration):
    """Chunks carry their context (title and section path), and full-text search indexes it.

    A generated column cannot change its expression in place, so the search vector
    and its GIN index are dropped and created again from the new expression.
    Existing chunks get their section path as context: what they were indexed by.
    """

    dependencies = [
        ("index_versions", "0005_chunk_search_vector"),
    ]

    operations = [
        migrations.AddField(
            model_name="chunk",
            name="context",
            field=models.CharField(blank=True, default="", max_length=1000),
        ),
        migrations.RunSQL(
            "UPDATE index_versions_chunk SET context = section WHERE context = ''",
            reverse_sql=migrations.RunSQL.noop,
        ),
        migrations.RemoveIndex(model_name="chunk", name="chunk_search_vector_gin"),
        migrations.RemoveField(model_name="chunk", name="search_vector"),
        migrations.AddField(
            model_name="chunk",
            name="search_vector",
            field=models.GeneratedField(
                db_persist=True,
                expression=django.contrib.postgres.search.CombinedSearchVector(
                    django.contrib.postgres.search.SearchVector("context", config="english", weight="A"),
                    "||",
                    django.contrib.postgres.search.SearchVector("text", config="english", weight="B"),
                    django.contrib.postgres.search.SearchConfig("english"),
                ),
                output_field=django.contrib.postgres.search.SearchVectorField(),
            ),
        ),
        migrations.AddIndex(
            model_name="chunk",
            index=django.contrib.postgres.indexes.GinIndex(fields=["search_vector"], name="chunk_search_vector_gin"),
        ),
    ]
