from django.conf import settings
from django.db import models
from django.db.models import Q


class Source(models.Model):
    """A place documents come from, synced by a connector of its ``kind``."""

    class Kind(models.TextChoices):
        FOLDER = "folder", "Folder"

    name = models.CharField(max_length=200, unique=True)
    kind = models.CharField(max_length=32, choices=Kind.choices)
    config = models.JSONField(default=dict, blank=True)
    enabled = models.BooleanField(default=True)
    last_synced_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name


class Document(models.Model):
    """One document of a source, identified by its stable id in the source system.

    The fields mirror the newest revision seen by a sync; the text itself lives in
    :class:`DocumentRevision`, which index versions refer to.
    """

    source = models.ForeignKey(Source, on_delete=models.CASCADE, related_name="documents")
    external_id = models.CharField(max_length=1024)
    title = models.CharField(max_length=500)
    uri = models.CharField(max_length=2048)
    content_hash = models.CharField(max_length=64)
    modified_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["source_id", "external_id"]
        constraints = [
            models.UniqueConstraint(fields=["source", "external_id"], name="document_unique_external_id"),
        ]

    def __str__(self):
        return self.title


class DocumentRevision(models.Model):
    """An immutable state of a document's content; index versions point at revisions."""

    document = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="revisions")
    content_hash = models.CharField(max_length=64)
    title = models.CharField(max_length=500)
    uri = models.CharField(max_length=2048)
    content = models.TextField()
    modified_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["document", "content_hash"], name="revision_unique_content"),
        ]

    def __str__(self):
        return f"{self.title} @ {self.content_hash[:12]}"


class SyncJob(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        PARTIAL = "partial", "Partial"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    IN_FLIGHT = (Status.QUEUED, Status.RUNNING)

    source = models.ForeignKey(Source, on_delete=models.CASCADE, related_name="sync_jobs")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    index_version = models.ForeignKey(
        "index_versions.IndexVersion", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    counts = models.JSONField(default=dict, blank=True)
    errors = models.JSONField(default=list, blank=True)
    message = models.CharField(max_length=500, blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            # One sync at a time per source: a second request gets the job in flight.
            models.UniqueConstraint(
                fields=["source"],
                condition=Q(status__in=["queued", "running"]),
                name="syncjob_one_in_flight_per_source",
            ),
        ]

    def __str__(self):
        return f"sync #{self.pk} of {self.source} ({self.status})"

    @property
    def is_finished(self) -> bool:
        return self.status not in self.IN_FLIGHT
