"""The platform refuses to start with DEBUG off and the published development SECRET_KEY (or none).

Each case boots the settings in a fresh process against this session's database and
broker (nothing new is started); the embedded runtime's generated key is checked on
this session's own data directory.
"""

import os
import stat
import subprocess
import sys

import pytest
from django.conf import settings

from ragplatform import runtime
from tests.conftest import _database_url

DEVELOPMENT_KEY = "insecure-development-key-set-SECRET_KEY-in-production"
PRINT_KEY = "import django; django.setup(); from django.conf import settings; print(settings.SECRET_KEY)"


def boot(**env):
    from django.db import connection

    base = {key: value for key, value in os.environ.items() if key not in {"SECRET_KEY", "DEBUG", "DATABASE_URL"}}
    base.update(
        DJANGO_SETTINGS_MODULE="ragplatform.settings",
        DATABASE_URL=_database_url(connection.settings_dict),
        REDIS_URL=settings.CELERY_BROKER_URL,
    )
    base.update({key: value for key, value in env.items() if value is not None})
    for key in [key for key, value in env.items() if value is None]:
        base.pop(key, None)
    return subprocess.run(
        [sys.executable, "-c", PRINT_KEY], cwd=settings.BASE_DIR, env=base, capture_output=True, text=True, timeout=120
    )


def test_production_settings_refuse_the_development_key_or_none(db):
    for env in ({"SECRET_KEY": DEVELOPMENT_KEY}, {"SECRET_KEY": DEVELOPMENT_KEY, "DEBUG": "false"}, {"DEBUG": "false"}):
        result = boot(**env)
        assert result.returncode != 0, (env, result.stdout)
        assert "ImproperlyConfigured" in result.stderr and "SECRET_KEY" in result.stderr, result.stderr[-2000:]

    assert boot(SECRET_KEY="a-real-secret-of-some-length").stdout.strip() == "a-real-secret-of-some-length"
    assert boot(DEBUG="true").stdout.strip() == DEVELOPMENT_KEY  # developing on an external database


@pytest.mark.skipif(bool(os.environ.get("DATABASE_URL")), reason="an external database is configured")
def test_the_embedded_runtime_generates_its_own_key_once(db):
    first = boot(DATABASE_URL=None).stdout.strip()
    assert first and first != DEVELOPMENT_KEY and len(first) >= 50
    assert boot(DATABASE_URL=None).stdout.strip() == first  # kept: sessions survive a restart
    key_file = runtime.data_dir() / "secret_key"
    assert key_file.read_text().strip() == first
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
