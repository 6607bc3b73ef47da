# The model now lives in index_versions (its migration 0007 took over the table); only the state goes here.

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("retrieval", "0003_version_evaluation"),
        ("index_versions", "0007_duplicatemember_from_retrieval"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(state_operations=[migrations.DeleteModel(name="DuplicateMember")]),
    ]
