"""Records an operator never edits by hand leave the console: beat's schedule tables and raw API tokens.

Beat's periodic tasks stay (under "Records") so a stuck schedule can be seen; the
schedules they point at are implementation detail. Embedding and chunk rows were
never registered. Tokens are issued by ``POST /api/v1/auth/token``.
"""

from django.contrib import admin
from django_celery_beat.models import ClockedSchedule, CrontabSchedule, IntervalSchedule, SolarSchedule
from rest_framework.authtoken.models import TokenProxy

HIDDEN_MODELS = (ClockedSchedule, CrontabSchedule, IntervalSchedule, SolarSchedule, TokenProxy)

for model in HIDDEN_MODELS:
    if admin.site.is_registered(model):
        admin.site.unregister(model)
