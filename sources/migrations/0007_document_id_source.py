from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("sources", "0006_document_tombstones"),
    ]

    operations = [
        migrations.AddConstraint(
            model_name="document",
            constraint=models.UniqueConstraint(fields=("id", "source"), name="document_id_source"),
        ),
    ]
