"""Access lists carry their document's source, kept equal to it by a (document, source) foreign key."""

import django.db.models.deletion
from django.db import migrations, models

# Not deferrable: a list written with another source's id fails at its INSERT, not at some later commit.
# ON UPDATE CASCADE: should a document ever move to another source, its list moves with it.
_FOREIGN_KEY = """
    ALTER TABLE acl_documentaccesslist ADD CONSTRAINT access_list_document_source
    FOREIGN KEY (document_id, source_id) REFERENCES sources_document (id, source_id)
    ON UPDATE CASCADE ON DELETE CASCADE
"""


class Migration(migrations.Migration):
    dependencies = [
        ("acl", "0007_login_lockout_action"),
        ("sources", "0007_document_id_source"),
    ]

    operations = [
        migrations.AddField(
            model_name="documentaccesslist",
            name="source",
            field=models.ForeignKey(
                editable=False,
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="+",
                to="sources.source",
            ),
        ),
        migrations.RunSQL(
            [
                # The new column's foreign key checks now, or the ALTER TABLE below would find them pending.
                "SET CONSTRAINTS ALL IMMEDIATE",
                "UPDATE acl_documentaccesslist dal SET source_id = d.source_id"
                " FROM sources_document d WHERE d.id = dal.document_id",
            ],
            reverse_sql=migrations.RunSQL.noop,
        ),
        migrations.AlterField(
            model_name="documentaccesslist",
            name="source",
            field=models.ForeignKey(
                editable=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="+",
                to="sources.source",
            ),
        ),
        migrations.RunSQL(
            _FOREIGN_KEY,
            reverse_sql="ALTER TABLE acl_documentaccesslist DROP CONSTRAINT access_list_document_source",
        ),
    ]
