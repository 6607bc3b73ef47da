"""``make smoke`` end to end: boot on fresh embedded servers, sync via the worker, search as two users."""

import os
import subprocess
import sys

import pytest
from django.conf import settings


@pytest.mark.e2e
@pytest.mark.worker
def test_quickstart_smoke_boots_syncs_and_enforces_grants(tmp_path):
    env = {key: value for key, value in os.environ.items() if key not in {"DATABASE_URL", "REDIS_URL", "PORT"}}
    env["RAG_DATA_DIR"] = str(tmp_path / "data")
    env["DEMO_PASSWORD"] = "smoke-test-password"
    env["WEB_CONCURRENCY"] = "1"  # one web worker loading the model, not two competing for the test machine's cores
    result = subprocess.run(
        [sys.executable, "manage.py", "quickstart", "--smoke"],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    output = result.stdout + result.stderr
    (tmp_path / "out.log").write_text(output)
    assert result.returncode == 0, output[-4000:]
    assert "alice searched" in output and "bob searched" in output
    assert "smoke test passed" in output
    assert "Parental leave policy" in output.split("alice searched")[1].split("bob searched")[0]
    assert "Parental leave policy" not in output.split("bob searched")[1]
    # The servers it started are stopped again.
    assert "stopped embedded redis, postgres" in output
