# Index versions share their rows: per-version membership (one row per document per version)
# becomes spans on the version-id axis (docs/versions.md). Every existing version keeps exactly
# its content, the active version and the history: spans are the runs of consecutive versions
# holding the same revision; duplicate groups likewise; fingerprints are recomputed in the
# incremental scheme and every held revision gets its duplicate-detection signature.

import django.contrib.postgres.fields
import django.contrib.postgres.indexes
import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

OPEN = 2**63 - 1

SPANS_FROM_ROWS = """
WITH v AS (
    SELECT id, row_number() OVER (ORDER BY id) AS n, lead(id) OVER (ORDER BY id) AS next_id
    FROM index_versions_indexversion
), held AS (
    SELECT {key}, v.id, v.n, v.next_id FROM {table} t JOIN v ON v.id = t.version_id
), runs AS (
    SELECT *, n - row_number() OVER (PARTITION BY {partition} ORDER BY n) AS run FROM held
)
INSERT INTO {target} ({key}, valid_from, valid_to)
SELECT {key}, min(id), CASE WHEN bool_or(next_id IS NULL) THEN {open} ELSE max(next_id) END
FROM runs GROUP BY {key}, run
"""

ROW_HASH = "('x' || substr(md5(document_id::text || ':' || revision_id::text), 1, 16))::bit(64)::bigint"


def spans_from_rows(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(
            SPANS_FROM_ROWS.format(
                key="document_id, revision_id, source_id",
                partition="document_id, revision_id",
                table="index_versions_versiondocument",
                target="index_versions_membershipspan",
                open=OPEN,
            )
        )
        cursor.execute(
            SPANS_FROM_ROWS.format(
                key='document_id, "group", kind, is_canonical',
                partition='document_id, "group", kind, is_canonical',
                table="index_versions_duplicatemember",
                target="index_versions_duplicatespan",
                open=OPEN,
            )
        )


def fingerprints_recomputed(apps, schema_editor):
    IndexVersion = apps.get_model("index_versions", "IndexVersion")
    with schema_editor.connection.cursor() as cursor:
        for version in IndexVersion.objects.all():
            cursor.execute(
                f"""
                SELECT source_id, count(*), sum(({ROW_HASH})::numeric) FROM index_versions_membershipspan
                WHERE valid_from <= %s AND valid_to > %s GROUP BY source_id
                """,
                [version.pk, version.pk],
            )
            version.source_fingerprints = {
                str(source): f"{count}:{int(total) % 2**64:016x}" for source, count, total in sorted(cursor.fetchall())
            }
            version.save(update_fields=["source_fingerprints"])


def signatures_computed(apps, schema_editor):
    from index_versions.duplicate_detection import scheme, signature

    RevisionSignature = apps.get_model("index_versions", "RevisionSignature")
    DocumentRevision = apps.get_model("sources", "DocumentRevision")
    MembershipSpan = apps.get_model("index_versions", "MembershipSpan")
    threshold = settings.DUPLICATES_NEAR_THRESHOLD
    held = sorted(set(MembershipSpan.objects.values_list("revision_id", flat=True)))
    for start in range(0, len(held), 500):
        batch = DocumentRevision.objects.filter(pk__in=held[start : start + 500]).values_list("pk", "content")
        rows = []
        for revision_id, content in batch:
            sig = signature(content, threshold=threshold)
            rows.append(
                RevisionSignature(
                    revision_id=revision_id, exact_key=sig.exact_key, bands=list(sig.bands), scheme=scheme(threshold)
                )
            )
        RevisionSignature.objects.bulk_create(rows)


class Migration(migrations.Migration):
    dependencies = [
        ("index_versions", "0008_version_trigger"),
        ("sources", "0004_document_metadata"),
    ]

    operations = [
        migrations.CreateModel(
            name="CollectionMark",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("revisions_checked_to", models.BigIntegerField(default=0)),
            ],
        ),
        migrations.CreateModel(
            name="DuplicateSpan",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("group", models.BigIntegerField()),
                (
                    "kind",
                    models.CharField(
                        choices=[("exact", "Same normalised text"), ("near", "Near-duplicate (MinHash)")], max_length=8
                    ),
                ),
                ("is_canonical", models.BooleanField(default=False)),
                ("valid_from", models.BigIntegerField()),
                ("valid_to", models.BigIntegerField(default=9223372036854775807)),
                (
                    "document",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE, related_name="+", to="sources.document"
                    ),
                ),
            ],
        ),
        migrations.CreateModel(
            name="MembershipSpan",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("valid_from", models.BigIntegerField()),
                ("valid_to", models.BigIntegerField(default=9223372036854775807)),
                (
                    "document",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE, related_name="+", to="sources.document"
                    ),
                ),
                (
                    "revision",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE, related_name="+", to="sources.documentrevision"
                    ),
                ),
                (
                    "source",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE, related_name="+", to="sources.source"
                    ),
                ),
            ],
        ),
        migrations.CreateModel(
            name="RevisionSignature",
            fields=[
                (
                    "revision",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        primary_key=True,
                        related_name="+",
                        serialize=False,
                        to="sources.documentrevision",
                    ),
                ),
                ("exact_key", models.CharField(db_index=True, max_length=64)),
                (
                    "bands",
                    django.contrib.postgres.fields.ArrayField(
                        base_field=models.BigIntegerField(), blank=True, default=list, size=None
                    ),
                ),
                ("scheme", models.CharField(max_length=32)),
            ],
            options={
                "indexes": [
                    django.contrib.postgres.indexes.GinIndex(fields=["bands"], name="revision_signature_bands")
                ],
            },
        ),
        migrations.AddIndex(
            model_name="duplicatespan",
            index=models.Index(
                fields=["document", "valid_from"], include=("valid_to", "group"), name="dupspan_document"
            ),
        ),
        migrations.AddIndex(
            model_name="duplicatespan",
            index=models.Index(fields=["group", "valid_from"], include=("valid_to", "document"), name="dupspan_group"),
        ),
        migrations.AddIndex(
            model_name="duplicatespan",
            index=models.Index(fields=["valid_from"], name="dupspan_valid_from"),
        ),
        migrations.AddIndex(
            model_name="duplicatespan",
            index=models.Index(fields=["valid_to"], name="dupspan_valid_to"),
        ),
        migrations.AddConstraint(
            model_name="duplicatespan",
            constraint=models.CheckConstraint(
                condition=models.Q(("valid_from__lt", models.F("valid_to"))), name="duplicate_span_not_empty"
            ),
        ),
        migrations.AddIndex(
            model_name="membershipspan",
            index=models.Index(
                fields=["revision", "valid_from"], include=("valid_to", "document", "source"), name="span_revision"
            ),
        ),
        migrations.AddIndex(
            model_name="membershipspan",
            index=models.Index(
                fields=["source", "valid_to"], include=("valid_from", "document", "revision"), name="span_source"
            ),
        ),
        migrations.AddIndex(
            model_name="membershipspan",
            index=models.Index(fields=["document", "valid_from"], name="span_document"),
        ),
        migrations.AddIndex(
            model_name="membershipspan",
            index=models.Index(fields=["valid_from"], name="span_valid_from"),
        ),
        migrations.AddIndex(
            model_name="membershipspan",
            index=models.Index(fields=["valid_to"], name="span_valid_to"),
        ),
        migrations.AddConstraint(
            model_name="membershipspan",
            constraint=models.CheckConstraint(
                condition=models.Q(("valid_from__lt", models.F("valid_to"))), name="membership_span_not_empty"
            ),
        ),
        migrations.RunPython(spans_from_rows, migrations.RunPython.noop, elidable=False),
        migrations.RunPython(fingerprints_recomputed, migrations.RunPython.noop),
        migrations.RunPython(signatures_computed, migrations.RunPython.noop),
        migrations.DeleteModel(
            name="DuplicateMember",
        ),
        migrations.DeleteModel(
            name="VersionDocument",
        ),
    ]
