from django.core.management.base import BaseCommand

from ragplatform import runtime


class Command(BaseCommand):
    help = "Show or stop the embedded PostgreSQL and Redis under RAG_DATA_DIR (started on demand)."

    def add_arguments(self, parser):
        parser.add_argument("action", choices=["status", "stop"])

    def handle(self, *args, action, **options):
        if action == "stop":
            stopped = runtime.stop_embedded_services(only_started_here=False)
            self.stdout.write(f"stopped: {', '.join(stopped) or 'nothing was running'}")
            return
        self.stdout.write(f"data directory: {runtime.data_dir()}")
        self.stdout.write(f"database: {runtime.database_url()}")
        self.stdout.write(f"broker:   {runtime.redis_url()}")
