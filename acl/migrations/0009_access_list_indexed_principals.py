"""Access lists readable from an index alone: a search checks thousands of them per query.

The keyword leg through access lists at a million chunks probed 9,677 lists for one query, 5 us each, most of
it reading each list's table row (docs/benchmarks.md, 2026-12-07). A covering index holds the principals where
they fit in a B-tree entry (about 2.7 kB); the rare larger list is read from the table, found by partial
indexes that hold only those.
"""

import django.contrib.postgres.fields
from django.db import migrations, models
from django.db.models import BooleanField, Case, F, Func, Q, When

# A varchar[] takes 24 bytes of header and at most 7 more than each element's text; under 2,000 bytes
# the entry (with its document id) stays well below the B-tree limit, 2,704 bytes.
_FITS = """
CREATE FUNCTION acl_principals_fit_index(principals varchar[]) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
RETURN (SELECT 24 + coalesce(sum(octet_length(p) + 7), 0) <= 2000 FROM unnest(principals) p)
"""


class Migration(migrations.Migration):
    dependencies = [("acl", "0008_access_list_source")]

    operations = [
        migrations.RunSQL(_FITS, "DROP FUNCTION acl_principals_fit_index(varchar[])"),
        migrations.AddField(
            model_name="documentaccesslist",
            name="indexed_principals",
            field=models.GeneratedField(
                db_persist=True,
                expression=Case(
                    When(
                        Func(F("principals"), function="acl_principals_fit_index", output_field=BooleanField()),
                        then=F("principals"),
                    ),
                    default=None,
                ),
                output_field=django.contrib.postgres.fields.ArrayField(
                    base_field=models.CharField(max_length=320), size=None
                ),
            ),
        ),
        migrations.AddIndex(
            model_name="documentaccesslist",
            index=models.Index(fields=["document"], include=["indexed_principals"], name="access_list_principals"),
        ),
        migrations.AddIndex(
            model_name="documentaccesslist",
            index=models.Index(
                condition=Q(indexed_principals__isnull=True), fields=["document"], name="access_list_large"
            ),
        ),
        migrations.AddIndex(
            model_name="documentaccesslist",
            index=models.Index(
                condition=Q(indexed_principals__isnull=True), fields=["source"], name="access_list_large_source"
            ),
        ),
    ]
