from django.core.management.base import BaseCommand

from acl.services import audit_purge


class Command(BaseCommand):
    help = "Delete audit events older than AUDIT_RETENTION_DAYS (or --older-than-days)."

    def add_arguments(self, parser):
        parser.add_argument("--older-than-days", type=int, default=None)

    def handle(self, *args, older_than_days=None, **options):
        deleted = audit_purge(older_than_days=older_than_days)
        self.stdout.write(f"deleted {deleted} audit events")
