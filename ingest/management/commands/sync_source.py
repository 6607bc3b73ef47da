"""``python manage.py sync_source <id>``: sync a source now, in this process, with a progress bar."""

from django.core.management.base import BaseCommand, CommandError
from django.db import IntegrityError

from ingest.runner import sync_job_run
from sources.models import Source, SyncJob


class Command(BaseCommand):
    help = "Sync a source in this process (no worker needed), showing progress."

    def add_arguments(self, parser):
        parser.add_argument("source_id", type=int)

    def handle(self, *args, source_id, **options):
        from tqdm import tqdm

        source = Source.objects.filter(pk=source_id).first()
        if source is None:
            raise CommandError(f"no source with id {source_id}")
        if not source.enabled:
            raise CommandError(f"source {source} is disabled; enable it first")
        try:
            job = SyncJob.objects.create(source=source)
        except IntegrityError:
            running = SyncJob.objects.get(source=source, status__in=SyncJob.IN_FLIGHT)
            raise CommandError(f"sync job #{running.pk} of {source} is already {running.status}") from None
        self.stdout.write(f"sync job #{job.pk} of {source} ({source.kind})")
        with tqdm(desc="documents", unit="doc", file=self.stdout._out, dynamic_ncols=True) as bar:

            def progress(done, total):
                bar.total = total
                bar.n = done
                bar.refresh()

            job = sync_job_run(job_id=job.pk, progress=progress)
        self.stdout.write(f"{job.status}: {job.counts} {job.message}".rstrip())
        for error in job.errors:
            self.stdout.write(f"  {error['document']}: {error['reason']}")
        if job.index_version_id:
            self.stdout.write(f"index version {job.index_version_id} is active")
        if job.status == SyncJob.Status.FAILED:
            raise CommandError(job.message)
