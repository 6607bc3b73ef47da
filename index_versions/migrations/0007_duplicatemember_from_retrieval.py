# Duplicate groups are data of a version: the model moves from retrieval to index_versions.
# The rows stay; the table is renamed, and only Django's state of the model moves.

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("index_versions", "0006_chunk_context"),
        ("retrieval", "0003_version_evaluation"),
        ("sources", "0004_document_metadata"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="DuplicateMember",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        ("group", models.BigIntegerField()),
                        (
                            "kind",
                            models.CharField(
                                choices=[("exact", "Same normalised text"), ("near", "Near-duplicate (MinHash)")],
                                max_length=8,
                            ),
                        ),
                        ("is_canonical", models.BooleanField(default=False)),
                        (
                            "document",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE, related_name="+", to="sources.document"
                            ),
                        ),
                        (
                            "version",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="+",
                                to="index_versions.indexversion",
                            ),
                        ),
                    ],
                    options={
                        "db_table": "retrieval_duplicatemember",
                        "indexes": [models.Index(fields=["version", "group"], name="duplicate_member_group")],
                        "constraints": [
                            models.UniqueConstraint(fields=("version", "document"), name="duplicate_member_unique")
                        ],
                    },
                ),
            ],
            database_operations=[],
        ),
        migrations.AlterModelTable(name="duplicatemember", table=None),
    ]
