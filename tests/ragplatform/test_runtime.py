import os
import subprocess
import sys

import pytest
from django.conf import settings
from django.db import connection

from ragplatform import runtime


def test_pgvector_extension_is_0_8_or_newer(db):
    with connection.cursor() as cursor:
        cursor.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'")
        (version,) = cursor.fetchone()
    major, minor = (int(part) for part in version.split(".")[:2])
    assert (major, minor) >= (0, 8)


@pytest.mark.skipif(bool(os.environ.get("DATABASE_URL")), reason="an external database is configured")
def test_embedded_database_is_postgresql_18_under_the_data_dir(db):
    assert connection.pg_version // 10000 == 18
    assert str(runtime.data_dir()) in connection.settings_dict["HOST"]


@pytest.mark.skipif(bool(os.environ.get("REDIS_URL")), reason="an external Redis is configured")
def test_embedded_redis_answers_on_its_socket_under_the_data_dir(settings):
    import redis

    assert f"redis+socket://{runtime.data_dir()}/redis/redis.sock" == settings.CELERY_BROKER_URL
    client = redis.Redis(unix_socket_path=str(runtime.data_dir() / "redis" / "redis.sock"))
    assert client.ping()


@pytest.mark.skipif(bool(os.environ.get("DATABASE_URL") or os.environ.get("REDIS_URL")), reason="external servers")
def test_attaching_again_returns_the_same_servers():
    assert runtime.embedded_database_url() == runtime.embedded_database_url()
    assert runtime.embedded_redis_url() == runtime.embedded_redis_url()


@pytest.mark.skipif(bool(os.environ.get("DATABASE_URL")), reason="an external database is configured")
def test_embedded_server_runs_with_the_buffers_sized_for_this_machine(db):
    wanted = runtime.embedded_postgres_settings()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_size_bytes(current_setting('shared_buffers')), pg_size_bytes(%s),"
            " pg_size_bytes(current_setting('effective_cache_size')), pg_size_bytes(%s)",
            [wanted["shared_buffers"], wanted["effective_cache_size"]],
        )
        shared_now, shared_wanted, cache_now, cache_wanted = cursor.fetchone()
    assert shared_now == shared_wanted > 128 * 2**20
    assert cache_now == cache_wanted


def test_shared_buffers_are_a_quarter_of_memory_within_bounds_unless_set(monkeypatch):
    assert [runtime.shared_buffers_for(mb) for mb in (256, 24000, 128 * 1024)] == ["128MB", "6000MB", "8192MB"]
    monkeypatch.setenv("EMBEDDED_POSTGRES_SHARED_BUFFERS", "300MB")
    assert runtime.embedded_postgres_settings()["shared_buffers"] == "300MB"


SHOW_SHARED_BUFFERS = """
import psycopg
from ragplatform import runtime
with psycopg.connect(runtime.embedded_database_url()) as connection:
    print(connection.execute("SHOW shared_buffers").fetchone()[0])
runtime.stop_embedded_services()
"""


@pytest.mark.skipif(bool(os.environ.get("DATABASE_URL")), reason="an external database is configured")
def test_a_new_data_directory_starts_with_the_settings_and_a_changed_setting_applies_at_the_next_start(tmp_path):
    def first_start_shows(shared_buffers: str) -> str:
        env = {key: value for key, value in os.environ.items() if key != "XDG_RUNTIME_DIR"}
        env.update(RAG_DATA_DIR=str(tmp_path / "data"), EMBEDDED_POSTGRES_SHARED_BUFFERS=shared_buffers)
        result = subprocess.run(
            [sys.executable, "-c", SHOW_SHARED_BUFFERS], cwd=settings.BASE_DIR, env=env, capture_output=True, text=True
        )
        assert result.returncode == 0, result.stderr[-2000:]
        return result.stdout.strip()

    assert first_start_shows("200MB") == "200MB"  # initdb, then a restart with the settings
    assert first_start_shows("300MB") == "300MB"
