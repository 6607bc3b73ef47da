"""Every HNSW graph rebuilt with ef_construction 128 (was 64): filtered recall@10 at a million chunks rose
at every visibility, at about the same insert cost (docs/benchmarks.md, 2026-12-07).

Built beside the old graph (CONCURRENTLY), which then makes way under its name: searches and syncs go on
during the build. Not atomic: a try that failed while building leaves an unfinished ``*_rebuilt`` index,
dropped on the next try; one stopped between the drop and the rename leaves a whole one, renamed then.
"""

import re

from django.conf import settings
from django.db import migrations

_EF_CONSTRUCTION = 128

_GRAPHS = """
    SELECT c.relname, pg_get_indexdef(c.oid) FROM pg_class c
    JOIN pg_index i ON i.indexrelid = c.oid
    WHERE i.indrelid = 'index_versions_embedding'::regclass AND c.relname ~ '^embedding_vector_[0-9]+_hnsw(_rebuilt)?$'
"""


def _graphs_rebuilt(apps, schema_editor, *, ef_construction: int = _EF_CONSTRUCTION):
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("SELECT set_config('maintenance_work_mem', %s, false)", [settings.HNSW_BUILD_MEMORY])
        cursor.execute(_GRAPHS)
        graphs = dict(cursor.fetchall())
        for name, definition in graphs.items():
            if name.endswith("_rebuilt"):
                original = name.removesuffix("_rebuilt")
                if original not in graphs:  # an old graph is dropped only once its rebuilt one is whole
                    cursor.execute(f"ALTER INDEX {name} RENAME TO {original}")
                continue
            rebuilt = f"{name}_rebuilt"
            # The graph's own definition, only its build parameter changed: its dimension and partial predicate stay.
            statement = definition.replace(f"INDEX {name} ON", f"INDEX CONCURRENTLY {rebuilt} ON", 1)
            statement = re.sub(r"ef_construction='?\d+'?", f"ef_construction='{ef_construction}'", statement)
            cursor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {rebuilt}")
            cursor.execute(statement)
            cursor.execute(f"DROP INDEX CONCURRENTLY {name}")
            cursor.execute(f"ALTER INDEX {rebuilt} RENAME TO {name}")
        cursor.execute("RESET maintenance_work_mem")


def _graphs_restored(apps, schema_editor):
    _graphs_rebuilt(apps, schema_editor, ef_construction=64)


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY cannot run in a transaction

    dependencies = [("index_versions", "0015_posting_document")]

    operations = [migrations.RunPython(_graphs_rebuilt, _graphs_restored)]
