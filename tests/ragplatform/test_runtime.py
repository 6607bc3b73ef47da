import os

import pytest
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
