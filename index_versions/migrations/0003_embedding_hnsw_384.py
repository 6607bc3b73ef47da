"""HNSW cosine index for 384-dimension embeddings (all-MiniLM-L6-v2).

The vector column has no fixed dimension so that models of different sizes can
coexist; HNSW needs one, so each dimension gets a partial expression index, and
queries order by the same expression with ``dimensions = N`` in their WHERE.
"""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("index_versions", "0002_initial")]

    operations = [
        migrations.RunSQL(
            sql="""
                CREATE INDEX embedding_vector_384_hnsw ON index_versions_embedding
                USING hnsw ((vector::vector(384)) vector_cosine_ops)
                WITH (m = 16, ef_construction = 64)
                WHERE dimensions = 384
            """,
            reverse_sql="DROP INDEX embedding_vector_384_hnsw",
        ),
    ]
