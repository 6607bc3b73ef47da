"""What every benchmark does before importing the project: find it, pick its data directory, start Django.

Benchmarks run as scripts (``.venv/bin/python bench/<name>.py``), so this folder is
on ``sys.path`` and ``from benchsetup import ROOT, django_setup`` works.
"""

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def django_setup(*, data_dir: str | None = None) -> None:
    """Settings from the environment as usual; ``data_dir`` (under ``.data/``) unless RAG_DATA_DIR is set.

    A benchmark that builds data gets its own embedded servers, whose data it may
    replace, apart from those of ``make run`` and ``make test``.
    """
    sys.path.insert(0, str(ROOT))
    if data_dir is not None:
        os.environ.setdefault("RAG_DATA_DIR", str(ROOT / ".data" / data_dir))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ragplatform.settings")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("LOG_LEVEL", "WARNING")

    import django

    django.setup()
