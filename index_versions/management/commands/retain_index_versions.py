from django.core.management.base import BaseCommand

from index_versions.services.retention import index_versions_retain


class Command(BaseCommand):
    help = "Apply version retention (newest N + active + pinned) and collect unused storage."

    def add_arguments(self, parser):
        parser.add_argument("--keep", type=int, default=None, help="versions to keep (default INDEX_VERSIONS_KEEP)")

    def handle(self, *args, keep=None, **options):
        result = index_versions_retain(keep=keep)
        self.stdout.write(
            f"deleted {result['versions']} versions, {result['revisions']} revisions, {result['embeddings']} embeddings"
        )
