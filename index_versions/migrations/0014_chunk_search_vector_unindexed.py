# The keyword leg reads KeywordPosting and matches its candidates by primary key, so no plan uses
# the GIN index on search_vector any more: every chunk written paid for it, and nothing read it.

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("index_versions", "0013_keyword_postings"),
    ]

    operations = [
        migrations.RemoveIndex(model_name="chunk", name="chunk_search_vector_gin"),
    ]
