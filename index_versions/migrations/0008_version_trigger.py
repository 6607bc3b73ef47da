# What made each version, for the console's timeline; existing versions get it from their notes.

import django.db.models.deletion
from django.db import migrations, models


def triggers_from_notes(apps, schema_editor):
    IndexVersion = apps.get_model("index_versions", "IndexVersion")
    SyncJob = apps.get_model("sources", "SyncJob")
    jobs = dict(SyncJob.objects.filter(index_version__isnull=False).values_list("index_version_id", "source_id"))
    for version in IndexVersion.objects.filter(trigger=""):
        note = version.note
        if note.startswith("sync #"):
            version.trigger, version.trigger_source_id = "sync", jobs.get(version.pk)
        elif note.startswith("revert "):
            version.trigger = "revert"
        elif note.startswith("rebuild"):
            version.trigger = "rebuild"
        elif note.startswith("evaluation of"):
            version.trigger = "evaluation"
        else:
            continue
        version.save(update_fields=["trigger", "trigger_source"])


class Migration(migrations.Migration):
    dependencies = [
        ("index_versions", "0007_duplicatemember_from_retrieval"),
        ("sources", "0004_document_metadata"),
    ]

    operations = [
        migrations.AddField(
            model_name="indexversion",
            name="trigger",
            field=models.CharField(
                blank=True,
                choices=[
                    ("sync", "Sync"),
                    ("revert", "Revert of one source"),
                    ("rebuild", "Rebuild under another pipeline"),
                    ("evaluation", "Evaluation corpus"),
                ],
                max_length=16,
            ),
        ),
        migrations.AddField(
            model_name="indexversion",
            name="trigger_source",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="+",
                to="sources.source",
            ),
        ),
        migrations.RunPython(triggers_from_notes, migrations.RunPython.noop),
    ]
