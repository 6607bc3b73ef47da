import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ragplatform.settings")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

application = get_wsgi_application()

# Load the models before this worker accepts a request (see ragplatform.warmup).
from django.conf import settings  # noqa: E402

from index_versions.embedding import query_threads_set  # noqa: E402
from ragplatform.warmup import models_warm_up  # noqa: E402

query_threads_set()
if settings.MODELS_WARM_UP:
    models_warm_up()
