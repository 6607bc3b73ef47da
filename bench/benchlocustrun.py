"""The one Locust command line, for ``bench/load.py`` and ``bench/benchlocust.py --smoke``.

A module of its own because importing Locust (``benchlocust.py``) monkey-patches
threads, which breaks Django in the importing process; this file never imports it.
"""

import csv
import os
import subprocess
import sys
from pathlib import Path

LOCUSTFILE = Path(__file__).with_name("benchlocust.py")


def locust_run(url: str, token: str, clients: int, seconds: int, workdir: Path) -> dict[str, dict]:
    """Locust headless against ``url``: ``clients`` readers of ``benchlocust.py`` for ``seconds``; stats per name."""
    prefix = workdir / f"c{clients}"
    subprocess.run(
        [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless",
         "--host", url, "--users", str(clients), "--spawn-rate", str(clients), "--run-time", f"{seconds}s",
         "--csv", str(prefix), "--only-summary", "--loglevel", "ERROR", "--exit-code-on-error", "0"],
        env={**os.environ, "LOAD_TOKEN": token}, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    with open(f"{prefix}_stats.csv") as stats:
        return {row["Name"]: row for row in csv.DictReader(stats)}
